"""Record types, Parquet schemas and the run manifest."""

from schemas.document import DeadLetter, Document, Rejected, stable_hash64

__all__ = [
    "DeadLetter",
    "Document",
    "Rejected",
    "stable_hash64",
]
