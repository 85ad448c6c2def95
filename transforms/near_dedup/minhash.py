"""MinHash signatures in NumPy batches, identical to datasketch's MinHash. Beam-free.

A shingle is hashed to 32 bits by `shingle_hash32` (its vectorized twin works on the word
bytes of a whole batch at once: no Python call per shingle). The signature is then what
`datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash32, scheme=scheme)` holds after
`update_batch` with the UTF-8 shingles:

- permutations drawn as datasketch draws them from `np.random.RandomState(seed)`:
  "legacy": per permutation a = randint(1, p), b = randint(0, p) with p = 2**61 - 1, and
  value = ((a * h + b) mod 2**64 mod p) & (2**32 - 1) in uint64;
  "affine32": a = 2 * randint(0, 2**31, num_perm) + 1 (odd), b = randint(0, 2**32, num_perm),
  value = a * fmix32(h) + b in uint32 (fmix32: MurmurHash3's 32-bit finalizer);
- the signature is the minimum value over the document's shingles, per permutation.
"""

from __future__ import annotations

import numpy as np

from transforms.near_dedup.lsh import fmix64
from transforms.near_dedup.shingle import words_batch

_M64 = (1 << 64) - 1
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
_BYTE_BASE = 0x100000001B3  # FNV-1 64-bit prime: a Horner base for word bytes
_LENGTH_MULTIPLIER = 0x9E3779B97F4A7C15
_WORD_BASE = 0xC2B2AE3D27D4EB4F
_ROWS_PER_CHUNK = 4096  # shingles per (rows, num_perm) block: stays cache-sized


# --- reference hash (one shingle, pure Python): the datasketch `hashfunc` ----------------


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    return h ^ (h >> 33)


def _word_hash_int(word: bytes) -> int:
    h = 0
    for byte in word:
        h = (h * _BYTE_BASE + byte) & _M64
    return _fmix64_int((h + len(word) * _LENGTH_MULTIPLIER) & _M64)


def shingle_hash32(shingle: bytes) -> int:
    """32-bit hash of a UTF-8 shingle (words joined by single spaces): a Horner combination
    of 64-bit word hashes plus the word count, finalized with fmix64, top 32 bits."""
    words = shingle.split(b" ") if shingle else []
    h = 0
    for word in words:
        h = (h * _WORD_BASE + _word_hash_int(word)) & _M64
    return _fmix64_int((h + len(words)) & _M64) >> 32


# --- vectorized ----------------------------------------------------------------------------


def _powers(base: int, count: int) -> np.ndarray:
    out = np.ones(max(count, 1), dtype=np.uint64)
    if count > 1:
        out[1:] = np.cumprod(np.full(count - 1, base, dtype=np.uint64), dtype=np.uint64)
    return out


def word_hashes(words) -> np.ndarray:
    """pyarrow string array (no empty strings) -> uint64 hash per word (`_word_hash_int`)."""
    n = len(words)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = np.frombuffer(words.buffers()[1], dtype=np.int32)[words.offset : words.offset + n + 1]
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(words.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    lengths = np.diff(offsets)
    # Byte k of a word of length L weighs base**(L-1-k): Horner's sum, evaluated at once.
    from_end = np.repeat(offsets[1:], lengths) - 1 - np.arange(offsets[0], offsets[-1])
    with np.errstate(over="ignore"):
        terms = data.astype(np.uint64) * _powers(_BYTE_BASE, int(lengths.max()))[from_end]
        poly = np.add.reduceat(terms, offsets[:-1] - offsets[0], dtype=np.uint64)
        return fmix64(poly + lengths.astype(np.uint64) * np.uint64(_LENGTH_MULTIPLIER))


def shingle_hashes(texts: list[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Texts -> (uint32 `shingle_hash32` of every shingle, documents in order; shingles per
    document, each >= 1)."""
    words, counts = words_batch(texts)
    wh = word_hashes(words)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    full = counts >= ngram
    per_doc = np.where(full, counts - ngram + 1, 1)
    total = int(per_doc.sum())
    h = np.empty(total, dtype=np.uint64)
    slot_is_full = np.repeat(full, per_doc)
    with np.errstate(over="ignore"):
        if full.any():
            span = len(wh) - ngram + 1
            grams = np.zeros(span, dtype=np.uint64)
            for j in range(ngram):
                grams = grams * np.uint64(_WORD_BASE) + wh[j : j + span]
            n_full = per_doc[full]
            local = np.arange(int(n_full.sum())) - np.repeat(np.cumsum(n_full) - n_full, n_full)
            h[slot_is_full] = grams[np.repeat(starts[full], n_full) + local] + np.uint64(ngram)
        short = np.flatnonzero(~full)
        values = np.zeros(len(short), dtype=np.uint64)
        for k, doc in enumerate(short):
            acc = np.uint64(0)
            for w in wh[starts[doc] : starts[doc] + counts[doc]]:
                acc = acc * np.uint64(_WORD_BASE) + w
            values[k] = acc + np.uint64(counts[doc])
        h[~slot_is_full] = values
        return (fmix64(h) >> np.uint64(32)).astype(np.uint32), per_doc


def permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) drawn exactly as datasketch's MinHash draws them for `scheme`."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        pairs = [
            (gen.randint(1, _MERSENNE, dtype=np.uint64), gen.randint(0, _MERSENNE, dtype=np.uint64))
            for _ in range(num_perm)
        ]
        a, b = np.array(pairs, dtype=np.uint64).T
        return a.copy(), b.copy()
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


class MinHasher:
    """Signatures for batches of texts. Holds the permutations; build once per worker."""

    def __init__(
        self, num_perm: int = 128, seed: int = 1, scheme: str = "affine32", ngram: int = 5
    ):
        self.num_perm, self.seed, self.scheme, self.ngram = num_perm, seed, scheme, ngram
        self.a, self.b = permutations(num_perm, seed, scheme)

    def signatures(self, texts: list[str]) -> np.ndarray:
        """Texts -> (len(texts), num_perm) signatures: uint32 ("affine32") or uint64
        ("legacy", values < 2**32), equal to datasketch's `MinHash.hashvalues`."""
        dtype = np.uint64 if self.scheme == "legacy" else np.uint32
        out = np.empty((len(texts), self.num_perm), dtype=dtype)
        if not texts:
            return out
        hashes, per_doc = shingle_hashes(texts, self.ngram)
        hv = hashes.astype(np.uint64) if self.scheme == "legacy" else _fmix32(hashes)
        bounds = np.concatenate([[0], np.cumsum(per_doc)])
        doc = 0
        with np.errstate(over="ignore"):
            while doc < len(texts):
                # As many whole documents as fit in one block (at least one).
                last = max(
                    doc + 1,
                    int(np.searchsorted(bounds, bounds[doc] + _ROWS_PER_CHUNK, "right")) - 1,
                )
                last = min(last, len(texts))
                rows = hv[bounds[doc] : bounds[last], None]
                if self.scheme == "legacy":
                    values = (rows * self.a + self.b) % _MERSENNE & _MAX32
                else:
                    values = rows * self.a
                    values += self.b
                out[doc:last] = np.minimum.reduceat(values, bounds[doc:last] - bounds[doc], axis=0)
                doc = last
        return out
