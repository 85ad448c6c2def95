"""LSH banding: datasketch's choice of (bands, rows), band hashes, estimated Jaccard.

Beam-free. A pair of documents with Jaccard similarity s shares all r rows of one band with
probability s**r, so it is a candidate (shares at least one of b bands) with probability
P(s) = 1 - (1 - s**r)**b. datasketch picks (b, r), b*r <= num_perm, minimising
    w_fp * integral_0^t P(s) ds  +  w_fn * integral_t^1 (1 - P(s)) ds
over b = 1..num_perm, r = 1..num_perm // b (first minimum in that order wins). Both
integrands are polynomials of degree b*r <= num_perm in s, so Gauss-Legendre quadrature
with num_perm // 2 + 1 nodes integrates them exactly (up to rounding); datasketch uses
scipy's adaptive quad, which agrees to ~1e-14.
"""

from __future__ import annotations

import functools

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
    ranks = [m[0] for m in members]
    sigs = np.stack([np.frombuffer(m[1], dtype="<u4") for m in members])
    parent = list(range(len(members)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    edges = []
    for i in range(1, len(members)):
        limit = i if max_compare is None else min(i, max_compare)
        similar = np.flatnonzero(estimated_jaccard(sigs[i], sigs[:limit]) >= threshold)
        for j in similar:
            if ranks[i][0] == -1 and ranks[j][0] == -1:
                continue
            ri, rj = root(i), root(int(j))
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
                edges.append((ranks[j], ranks[i]))
    return edges
