"""Encode document texts with a tokenizer.json, the way the token shards need them. Beam-free.

Documents are encoded in batches keyed by a stable hash of their id (so batches do not
depend on arrival order), in `encode_batch` calls of ENCODE_CALL_DOCS documents: several
times faster per document than `encode` (less per-call overhead, and it uses every core).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from schemas.document import stable_hash64

# Documents per encode_batch call, and the mean size of the groups documents are batched in.
# The groups are the unit of parallelism of encoding: 512 documents (under 1 s of encoding)
# gives 11 groups on a 6,000-document corpus for the workers to share, where 4096 gave 2.
# Which group a document is in never changes its tokens.
ENCODE_CALL_DOCS = 1024
ENCODE_BATCH_DOCS = 512


def encode_batch_count(documents: int) -> int:
    """How many encode batches `documents` documents are spread over (at least one)."""
    return max(1, documents // ENCODE_BATCH_DOCS)


def encode_batch_of(doc_id: str, batch_count: int) -> int:
    """The encode batch of a document, by a stable hash of its id."""
    return stable_hash64(doc_id) % batch_count


def load_tokenizer(tokenizer_json: str):
    """A `tokenizers.Tokenizer` from tokenizer.json text that encodes special tokens written
    in a document ("<|endoftext|>" on a page about GPT) as the plain text they are:
    otherwise the page would carry an end-of-text in its middle, splitting it in two in the
    token stream, out of step with `doc_starts`."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.encode_special_tokens = True
    return tokenizer


def encode_on_one_core() -> None:
    """Make every later `encode_batch` call of this process run on the calling thread
    (tokenizers reads TOKENIZERS_PARALLELISM at each call). For runners that run one
    encoding per core already: the tokenizer's own thread pool, one per process, would
    put several threads on each core and spin them. Tokens do not change."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def encode_texts(tokenizer, texts: list[str]) -> Iterator[np.ndarray]:
    """The int32 token ids of every text (no special tokens added), in order, from
    `encode_batch` calls of ENCODE_CALL_DOCS texts."""
    # encode_batch_fast skips the character offsets we do not use (tokenizers >= 0.21).
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    for start in range(0, len(texts), ENCODE_CALL_DOCS):
        for encoding in encode(texts[start : start + ENCODE_CALL_DOCS], add_special_tokens=False):
            yield np.asarray(encoding.ids, dtype=np.int32)
