"""Record types, Parquet schemas and the token shard reader (torch_dataset: import it alone)."""

from schemas.document import DeadLetter, Document, Rejected, stable_hash64
from schemas.reader import SequenceReader, iter_sequences, shard_paths

__all__ = [
    "DeadLetter",
    "Document",
    "Rejected",
    "SequenceReader",
    "iter_sequences",
    "shard_paths",
    "stable_hash64",
]
