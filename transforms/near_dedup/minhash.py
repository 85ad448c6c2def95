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
from transforms.near_dedup.shingle import normalize_batch

_M64 = (1 << 64) - 1
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
_BASE = 0x100000001B3  # FNV-1 64-bit prime: odd, so invertible modulo 2**64
_BASE_INVERSE = pow(_BASE, -1, 1 << 64)
_LENGTH_MULTIPLIER = 0x9E3779B97F4A7C15
_ROWS_PER_CHUNK = 16384  # shingles per (num_perm, rows) block


# --- reference hash (one shingle, pure Python): the datasketch `hashfunc` ----------------


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    return h ^ (h >> 33)


def shingle_hash32(shingle: bytes) -> int:
    """32-bit hash of a shingle's UTF-8 bytes: the polynomial sum(byte_t * BASE**t) plus
    length * constant, modulo 2**64, finalized with fmix64; the top 32 bits."""
    h, power = 0, 1
    for byte in shingle:
        h = (h + byte * power) & _M64
        power = (power * _BASE) & _M64
    return _fmix64_int((h + len(shingle) * _LENGTH_MULTIPLIER) & _M64) >> 32


# --- vectorized ----------------------------------------------------------------------------


class _Powers:
    """BASE**t and BASE**-t modulo 2**64 for t < n, grown on demand, shared by the threads
    of a process. The two tables are one immutable snapshot, replaced whole when it grows:
    a reader takes the snapshot once, so it never sees one table grown and not the other
    (two threads growing at once only compute the same tables twice)."""

    def __init__(self):
        one = np.ones(1, dtype=np.uint64)
        self._tables = (one, one)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        up, down = self._tables
        if len(up) < n:
            size = max(n, 2 * len(up))
            up = np.cumprod(np.full(size, _BASE, dtype=np.uint64), dtype=np.uint64)
            up = np.concatenate([[np.uint64(1)], up[:-1]])
            down = np.cumprod(np.full(size, _BASE_INVERSE, dtype=np.uint64), dtype=np.uint64)
            down = np.concatenate([[np.uint64(1)], down[:-1]])
            up.flags.writeable = down.flags.writeable = False
            self._tables = (up, down)
        return up[:n], down[:n]


_POWERS = _Powers()


def shingle_hashes(texts: list[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Texts -> (uint32 `shingle_hash32` of every shingle, documents in order; shingles per
    document, each >= 1).

    One pass of prefix sums over the normalized bytes of the whole batch, with
    P[k] = sum_{t<k} byte_t * BASE**t, gives any slice's polynomial as
    (P[end] - P[start]) * BASE**-start: a shingle is a slice, so no Python runs per word.
    """
    normalized = normalize_batch(texts)
    n_docs = len(texts)
    offsets = np.frombuffer(normalized.buffers()[1], dtype=np.int64)
    offsets = offsets[normalized.offset : normalized.offset + n_docs + 1]
    data = np.frombuffer(normalized.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    up, down = _POWERS.get(len(data) + 1)
    prefix = np.zeros(len(data) + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.cumsum(data * up[: len(data)], dtype=np.uint64, out=prefix[1:])
    # Words: starts after a space or at a non-empty document's start; ends (exclusive) at a
    # space or a non-empty document's end.
    doc_starts, doc_ends = offsets[:-1], offsets[1:]
    nonempty = doc_ends > doc_starts
    spaces = np.flatnonzero(data == 32)
    flag = np.zeros(len(data) + 1, dtype=bool)
    flag[spaces + 1] = True
    flag[doc_starts[nonempty]] = True
    word_starts = np.flatnonzero(flag[:-1])
    flag[:] = False
    flag[spaces] = True
    flag[doc_ends[nonempty]] = True
    word_ends = np.flatnonzero(flag)
    first_word = np.searchsorted(word_starts, doc_starts)
    counts = np.searchsorted(word_starts, doc_ends) - first_word
    full = counts >= ngram
    per_doc = np.where(full, counts - ngram + 1, 1)
    doc_of_slot = np.repeat(np.arange(n_docs), per_doc)
    local = np.arange(int(per_doc.sum())) - np.repeat(np.cumsum(per_doc) - per_doc, per_doc)
    first = first_word[doc_of_slot] + local  # first word of each shingle
    last = first + np.where(full, ngram, counts)[doc_of_slot] - 1  # last word
    empty = counts[doc_of_slot] == 0
    lo = np.where(
        empty,
        doc_starts[doc_of_slot],
        word_starts[np.minimum(first, len(word_starts) - 1)] if len(word_starts) else 0,
    )
    hi = np.where(empty, lo, word_ends[np.maximum(last, 0)] if len(word_ends) else 0)
    with np.errstate(over="ignore"):
        h = (prefix[hi] - prefix[lo]) * down[lo]
        h += (hi - lo).astype(np.uint64) * np.uint64(_LENGTH_MULTIPLIER)
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
        self._buffer = np.empty((num_perm, _ROWS_PER_CHUNK), dtype=np.uint32)

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
                # (num_perm, shingles) layout: the per-document minimum runs along rows in
                # memory, ~3x faster than reducing down columns.
                column = hv[None, bounds[doc] : bounds[last]]
                if self.scheme == "legacy":
                    values = (self.a[:, None] * column + self.b[:, None]) % _MERSENNE & _MAX32
                else:  # in a reused buffer: fresh 8 MB temporaries cost page faults
                    width = column.shape[1]
                    values = (
                        self._buffer[:, :width]
                        if width <= _ROWS_PER_CHUNK
                        else np.empty((self.num_perm, width), dtype=np.uint32)
                    )
                    np.multiply(self.a[:, None], column, out=values)
                    values += self.b[:, None]
                starts = bounds[doc:last] - bounds[doc]
                out[doc:last] = np.minimum.reduceat(values, starts, axis=1).T
                doc = last
        return out
