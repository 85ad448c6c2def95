"""Shingling: word n-grams of normalized text, vectorized over a batch with pyarrow. Beam-free.

Normalization: lowercase (Unicode), delete every character that is not a letter, digit,
combining mark or whitespace (so "don't" -> "dont", "e-mail" -> "email"), split on runs of
Unicode whitespace. A document with at least n words has the shingles
words[i:i+n] for every i; a shorter one (including an empty one) has one shingle, all its
words. A shingle's text is its words joined by single spaces.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NOT_WORD = r"[^\p{L}\p{N}\p{M}\s]+"


def words_batch(texts: list[str]) -> tuple[pa.Array, np.ndarray]:
    """Texts -> (every document's words, concatenated in order; word count per document)."""
    normalized = pc.replace_substring_regex(
        pc.utf8_lower(pa.array(texts, pa.string())), _NOT_WORD, ""
    )
    split = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(normalized))
    words = pc.list_flatten(split)
    parents = pc.list_parent_indices(split)
    nonempty = pc.not_equal(pc.binary_length(words), 0)
    words = pc.filter(words, nonempty)
    parents = pc.filter(parents, nonempty).to_numpy(zero_copy_only=False)
    counts = np.bincount(parents, minlength=len(texts)).astype(np.int64)
    if isinstance(words, pa.ChunkedArray):
        words = words.combine_chunks()
    return words, counts


def shingles(text: str, ngram: int = 5) -> list[str]:
    """The shingles of one text, in order (duplicates kept); see the module docstring."""
    words = words_batch([text])[0].to_pylist()
    if len(words) < ngram:
        return [" ".join(words)]
    return [" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]
