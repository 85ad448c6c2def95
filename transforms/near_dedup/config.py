"""Settings of the `near_dedup` stage (YAML: `stages: {near_dedup: {...}}`). Beam-free."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from transforms.near_dedup.lsh import optimal_param
from transforms.settings import config_from_dict

SCHEMES = ("affine32", "legacy")


@dataclass(frozen=True)
class NearDedupConfig:
    """MinHash LSH near-duplicate removal; every stage that touches signatures shares it.

    ngram:          words per shingle (default 5, as in Gopher / FineWeb's MinHash dedup).
    num_perm:       MinHash permutations (default 128; datasketch's default).
    seed:           seed of the permutations (default 1; datasketch's default).
    scheme:         datasketch's permutation scheme: "affine32" (datasketch >= 2.0 default)
                    or "legacy" (the only one before 2.0). Signatures equal
                    `datasketch.MinHash(num_perm, seed, hashfunc=shingle_hash32, scheme=...)`.
    threshold:      Jaccard similarity at which two documents are duplicates (default 0.8,
                    datasketch's MinHashLSH default; Lee et al. 2022 use 0.8 on 5-grams).
    bands, rows:    LSH banding; None (both) chooses them from `threshold` by minimising
                    the weighted false positive + false negative areas, as datasketch does.
    false_positive_weight, false_negative_weight: the weights of that optimisation
                    (default 0.05 / 0.95; datasketch's MinHashLSH uses 0.5 / 0.5). Every
                    candidate pair is verified (`verify`) before it becomes an edge, so a
                    false positive of the banding costs one signature comparison while a
                    false negative loses a duplicate for good: the default favours recall.
                    At threshold 0.8 and 128 permutations it gives 16 bands x 8 rows (a pair
                    at Jaccard 0.82 is a candidate with probability 0.974; datasketch's
                    9 x 13 gives 0.51); at thresholds 0.5-0.95 with 128 permutations, 0.95 or
                    more at threshold + 0.02. See bench/dedup.py for recall and cost.
    verify:         a candidate pair (sharing a band) becomes an edge only if its estimated
                    Jaccard (share of equal signature values) is at least `threshold`.
    max_bucket_compare: verification compares each member of a band bucket with at most
                    this many lower-ranked members (bounds the cost of huge buckets, which
                    in practice hold copies of one text); None compares with all.
    survivor_score: a `Document.scores` key: the highest value survives in a cluster; None
                    (default), a missing or NaN value ranks below any value; ties and the
                    rest go to the smallest id (then source file).
    max_rounds:     unrolled large-star + small-star rounds of connected components, grouped
                    by node; what is not a star forest after them is finished on one worker
                    (exact either way). Clusters of near duplicates settle in a few rounds; a
                    chain of 10**4 documents linked in rank order (the worst shape we know)
                    needs 14. Each round costs two groupings, a latency that dominates on
                    Dask; see components.py.
    index_input:    globs of band-hash index files of earlier runs; documents that duplicate
                    an indexed survivor are dropped (earlier runs win).
    index_output:   directory to write this run's survivors' index to; None: not written.
    batch_size:     most documents per vectorized signature batch.
    """

    ngram: int = 5
    num_perm: int = 128
    seed: int = 1
    scheme: str = "affine32"
    threshold: float = 0.8
    bands: int | None = None
    rows: int | None = None
    false_positive_weight: float = 0.05
    false_negative_weight: float = 0.95
    verify: bool = True
    max_bucket_compare: int | None = 1000
    survivor_score: str | None = None
    max_rounds: int = 6
    index_input: tuple[str, ...] = ()
    index_output: str | None = None
    batch_size: int = 1024

    def __post_init__(self):
        if self.ngram < 1:
            raise ValueError(f"stages.near_dedup.ngram must be at least 1, got {self.ngram}")
        if self.num_perm < 1:
            raise ValueError(f"stages.near_dedup.num_perm must be positive, got {self.num_perm}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"stages.near_dedup.scheme must be one of {SCHEMES}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("stages.near_dedup.threshold must be in (0, 1]")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("stages.near_dedup: set both bands and rows, or neither")
        if self.bands is not None and (
            self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm
        ):
            raise ValueError("stages.near_dedup: need bands, rows >= 1, bands*rows <= num_perm")
        weights = (self.false_positive_weight, self.false_negative_weight)
        if min(weights) < 0 or max(weights) <= 0:
            raise ValueError(
                "stages.near_dedup: false_positive_weight and false_negative_weight must be "
                "non-negative and not both zero"
            )
        if self.max_rounds < 1 or self.batch_size < 1:
            raise ValueError("stages.near_dedup: max_rounds and batch_size must be positive")

    @classmethod
    def from_dict(cls, mapping: Mapping | None) -> NearDedupConfig:
        """From a YAML/JSON mapping; unknown keys raise ValueError."""
        return config_from_dict(cls, mapping, "stages.near_dedup")

    @property
    def band_rows(self) -> tuple[int, int]:
        """(bands, rows): as set, or the weighted optimum for `threshold` (`optimal_param`)."""
        if self.bands is not None:
            return self.bands, self.rows
        return optimal_param(
            self.threshold, self.num_perm, self.false_positive_weight, self.false_negative_weight
        )

    def index_params(self) -> dict:
        """What must match for an index of another run to be comparable with this one."""
        bands, rows = self.band_rows
        return {
            "format": 1,
            "ngram": self.ngram,
            "num_perm": self.num_perm,
            "seed": self.seed,
            "scheme": self.scheme,
            "bands": bands,
            "rows": rows,
        }


def rank_nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
