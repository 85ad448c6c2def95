"""Near-duplicate removal: MinHash LSH + connected components computed in Beam.

Beam-free cores: `shingle` (word n-grams), `minhash` (vectorized signatures identical to
datasketch), `lsh` (band choice, band hashes, bucket verification), `components`
(large-star / small-star steps, settling and finishing what they leave), `history`
(cross-run index).
The PTransforms are in `transform`.
"""

from transforms.near_dedup.config import NearDedupConfig
from transforms.near_dedup.transform import (
    DROP_NEAR_DUP,
    STAGE,
    Assignment,
    ClusterDocs,
    ConnectedComponents,
    NearDedup,
    WriteIndex,
    near_survivor_rank,
)

__all__ = [
    "DROP_NEAR_DUP",
    "STAGE",
    "Assignment",
    "ClusterDocs",
    "ConnectedComponents",
    "NearDedup",
    "NearDedupConfig",
    "WriteIndex",
    "near_survivor_rank",
]
