"""LSH banding: datasketch's choice of (bands, rows), band hashes, estimated Jaccard.

Beam-free. A pair of documents with Jaccard similarity s shares all r rows of one band with
probability s**r, so it is a candidate (shares at least one of b bands) with probability
P(s) = 1 - (1 - s**r)**b (`candidate_probability`). datasketch picks (b, r),
b*r <= num_perm, minimising
    w_fp * integral_0^t P(s) ds  +  w_fn * integral_t^1 (1 - P(s)) ds
over b = 1..num_perm, r = 1..num_perm // b (first minimum in that order wins). Both
integrands are polynomials of degree b*r <= num_perm in s, so Gauss-Legendre quadrature
with num_perm // 2 + 1 nodes integrates them exactly (up to rounding); datasketch uses
scipy's adaptive quad, which agrees to ~1e-14. The weights are settings (config.py): the
pipeline verifies every candidate, so its default weighs false negatives 19 times more.

A candidate becomes an edge only if its estimated Jaccard (the share of equal signature
values, ~ Binomial(num_perm, s) / num_perm) reaches the threshold (`verified_probability`):
that, not the banding, bounds the recall just above the threshold (at 128 permutations and
threshold 0.8, a pair at Jaccard 0.82 passes with probability 0.72, at 0.86 with 0.97).
"""

from __future__ import annotations

import functools
import math

import numpy as np

_M64 = (1 << 64) - 1
_BAND_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


@functools.lru_cache(maxsize=64)
def optimal_param(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive/negative areas (see module doc)."""
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    # Map [-1, 1] onto [0, t] and [t, 1].
    s_low, w_low = (nodes + 1) * threshold / 2, weights * threshold / 2
    s_high, w_high = threshold + (nodes + 1) * (1 - threshold) / 2, weights * (1 - threshold) / 2
    best, best_error = (0, 0), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = float(np.dot(w_low, 1 - (1 - s_low**r) ** b))
            fn = float(np.dot(w_high, (1 - s_high**r) ** b))
            error = fp * fp_weight + fn * fn_weight
            if error < best_error:
                best, best_error = (b, r), error
    return best


def candidate_probability(similarity, bands: int, rows: int):
    """Probability that a pair at Jaccard `similarity` shares at least one band."""
    return 1 - (1 - np.asarray(similarity, dtype=float) ** rows) ** bands


def verified_probability(similarity: float, num_perm: int, threshold: float) -> float:
    """Probability that a pair at Jaccard `similarity` has an estimated Jaccard of at least
    `threshold` (independent permutations: equal values ~ Binomial(num_perm, similarity)),
    i.e. passes `bucket_edges`' verification."""
    need = _min_equal(num_perm, threshold)
    return float(
        sum(
            math.comb(num_perm, k) * similarity**k * (1 - similarity) ** (num_perm - k)
            for k in range(need, num_perm + 1)
        )
    )


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, element-wise on uint64 (wrapping arithmetic)."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(N, num_perm) signatures -> (N, bands) uint64: a hash of each band's `rows` values
    (band i uses columns i*rows .. (i+1)*rows - 1, as datasketch's MinHashLSH). The band
    index is mixed in, so equal values in different bands give different hashes."""
    sig = signatures.astype(np.uint64, copy=False)
    out = np.empty((sig.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(bands):
            h = np.full(sig.shape[0], i + 1, dtype=np.uint64)
            for column in range(i * rows, (i + 1) * rows):
                h = fmix64(h * _BAND_MULTIPLIER + sig[:, column])
            out[:, i] = h
    return out


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Share of equal MinHash values (datasketch's `MinHash.jaccard`); `b` may be 2-D."""
    return np.mean(np.asarray(b) == np.asarray(a), axis=-1)


def bucket_edges(members, threshold: float, max_compare: int | None = None) -> list[tuple]:
    """Verified edges among the members of one LSH bucket.

    `members`: (rank, signature bytes as little-endian uint32) pairs; ranks are totally
    ordered and a rank whose first item is -1 is a document of an earlier run (two of those
    are never compared). Members are taken in rank order; each is compared with the
    lower-ranked ones (at most `max_compare` of them) and linked, when its estimated
    Jaccard with one is at least `threshold`, unless the two are already connected by an
    edge of this bucket. So the edges span exactly the connectivity of the verified pairs
    (for buckets within `max_compare`), with at most len(members) - 1 edges.
    Returns (lower rank, higher rank) pairs in a deterministic order.
    """
    members = sorted(set(members))
    if len(members) < 2:
        return []
    ranks = [m[0] for m in members]
    sigs = np.frombuffer(b"".join(m[1] for m in members), dtype="<u4").reshape(len(members), -1)
    need = _min_equal(sigs.shape[1], threshold)
    if len(members) == 2 and max_compare != 0:  # most buckets: one comparison
        both_old = ranks[0][0] == -1 and ranks[1][0] == -1
        similar = np.count_nonzero(sigs[0] == sigs[1]) >= need
        return [(ranks[0], ranks[1])] if similar and not both_old else []
    parent = list(range(len(members)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    edges = []
    for i, j in _similar_pairs(sigs, need, max_compare):
        if ranks[i][0] == -1 and ranks[j][0] == -1:
            continue
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
            edges.append((ranks[j], ranks[i]))
    return edges


def _similar_pairs(sigs: np.ndarray, need: int, max_compare: int | None):
    """(i, j), j < min(i, max_compare), with at least `need` equal values, in the order
    i, then j ascending; compared in blocks of rows (at most ~4M values at once)."""
    n, num_perm = sigs.shape
    cap = n if max_compare is None else max_compare
    width = min(n - 1, cap)
    step = max(1, (1 << 22) // max(1, width * num_perm))
    for start in range(1, n, step):
        stop = min(start + step, n)
        w = min(stop - 1, cap)
        equal = (sigs[start:stop, None, :] == sigs[None, :w, :]).sum(axis=2)
        allowed = np.arange(w)[None, :] < np.minimum(np.arange(start, stop), cap)[:, None]
        rows, cols = np.nonzero((equal >= need) & allowed)
        yield from zip((rows + start).tolist(), cols.tolist(), strict=True)


@functools.lru_cache(maxsize=64)
def _min_equal(num_perm: int, threshold: float) -> int:
    """The fewest equal values out of `num_perm` whose share (as `estimated_jaccard`
    computes it) is at least `threshold`; num_perm + 1 when none is."""
    return next((k for k in range(num_perm + 1) if k / num_perm >= threshold), num_perm + 1)
