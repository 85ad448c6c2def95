"""Shingling: word n-grams of normalized text, vectorized over a batch with pyarrow. Beam-free.

Normalization: lowercase (Unicode); delete every character that is not a letter, digit,
combining mark or whitespace ("don't" -> "dont", "e-mail" -> "email"); turn every run of
whitespace (ASCII whitespace and Unicode separators, category Z) into one space; trim. The
words are what the spaces separate. A document with at least n words has the shingles
words[i:i+n] for every i; a shorter one (an empty one too) has one shingle, all its words.
A shingle's text is its words joined by single spaces, i.e. a slice of the normalized text.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

_NOT_WORD = r"[^\p{L}\p{N}\p{M}\s\p{Z}]+"
# Every whitespace run except a lone ASCII space (the common case, left alone: replacing
# each space costs ~10x more). Unicode category Z is space, U+00A0, U+1680, U+2000-U+200A,
# U+2028, U+2029, U+202F, U+205F, U+3000.
_ODD_SPACE = (
    r"[\t\n\x0b\x0c\r\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)
_SPACES = r"[\s\p{Z}]*" + _ODD_SPACE + r"[\s\p{Z}]*| {2,}"


def normalize_batch(texts: list[str]) -> pa.Array:
    """Texts -> normalized texts (large_string array): words separated by single spaces."""
    lowered = pc.utf8_lower(pa.array(texts, pa.large_string()))
    kept = pc.replace_substring_regex(lowered, _NOT_WORD, "")
    spaced = pc.replace_substring_regex(kept, _SPACES, " ")
    out = pc.utf8_trim(spaced, " ")
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def shingles(text: str, ngram: int = 5) -> list[str]:
    """The shingles of one text, in order (duplicates kept); see the module docstring."""
    normalized = normalize_batch([text])[0].as_py()
    words = normalized.split(" ") if normalized else []
    if len(words) < ngram:
        return [" ".join(words)]
    return [" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]
