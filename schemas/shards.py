"""How output shards are counted and named: the same rule for every folder of a run."""

from __future__ import annotations

import math


def shard_name(prefix: str, index: int, count: int, extension: str) -> str:
    """`tokens-00000-of-00008.parquet` style names: sortable and self-describing."""
    return f"{prefix}-{index:05d}-of-{count:05d}.{extension}"


def shard_count(total_weight: int, target_weight: int, multiple_of: int = 1) -> int:
    """Shards needed to keep each near `target_weight`; at least one; a multiple of N."""
    shards = max(1, math.ceil(total_weight / max(target_weight, 1)))
    return math.ceil(shards / multiple_of) * multiple_of
