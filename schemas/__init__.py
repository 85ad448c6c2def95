"""Record types, Parquet schemas and the token shard reader."""

from schemas.document import DeadLetter, Document, Rejected, stable_hash64
from schemas.reader import iter_sequences, shard_paths

__all__ = [
    "DeadLetter",
    "Document",
    "Rejected",
    "iter_sequences",
    "shard_paths",
    "stable_hash64",
]
