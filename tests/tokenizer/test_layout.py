"""Shard layout: every token shard gets the same number of rows; only spilled rows move."""

import random

import pytest

from tokenizer.layout import ShardLayout, layout_for
from tokenizer.pack import TAIL_DROP, TAIL_PAD, PackConfig


def _placement(layout: ShardLayout) -> dict[int, list[tuple[int, int]]]:
    """shard -> [(group, row)] in shard row order, from every group's blocks."""
    slots: dict[int, dict[int, tuple[int, int]]] = {s: {} for s in range(layout.shard_count)}
    for group in range(layout.shard_count):
        for block in layout.blocks(group):
            for i in range(block.count):
                position = block.position + i
                assert position not in slots[block.shard], "two rows in one place"
                slots[block.shard][position] = (group, block.first + i)
    return {s: [rows[p] for p in sorted(rows)] for s, rows in slots.items()}


@pytest.mark.parametrize("tail", [TAIL_DROP, TAIL_PAD])
@pytest.mark.parametrize("seed", range(5))
def test_every_shard_gets_the_same_rows_and_only_the_remainder_is_dropped(tail, seed):
    rng = random.Random(seed)
    shards = rng.choice([1, 2, 4, 8])
    totals = {g: (rng.randint(0, 5000), rng.randint(1, 30)) for g in range(shards)}
    layout = layout_for(totals, shards, PackConfig(seq_len=64, tail=tail))
    placement = _placement(layout)
    per_shard = layout.rows_per_shard
    assert all(len(rows) == per_shard for rows in placement.values())
    # Positions are contiguous 0..per_shard-1 and each group's rows go out at most once.
    placed = [row for rows in placement.values() for row in rows]
    assert len(set(placed)) == len(placed) == per_shard * shards
    assert layout.rows_dropped == layout.total_rows - len(placed) < shards
    for group in range(shards):
        rows = sorted(r for g, r in placed if g == group)
        assert rows == list(range(len(rows)))  # a group keeps a prefix; its tail spills
        assert layout.kept_rows(group) == len(rows)
        own = [r for g, r in placement[group] if g == group]
        assert own == list(range(min(per_shard, layout.group_rows(group))))


def test_rows_per_group_follow_the_tail_mode():
    totals = {0: (130, 2), 1: (64, 1)}
    dropped = layout_for(totals, 2, PackConfig(seq_len=64, tail=TAIL_DROP))
    assert [dropped.group_rows(g) for g in range(2)] == [2, 1]
    assert dropped.tail_tokens_dropped == 2 and dropped.pad_tokens == 0
    padded = layout_for(totals, 2, PackConfig(seq_len=64, tail=TAIL_PAD))
    assert [padded.group_rows(g) for g in range(2)] == [3, 1]
    assert padded.pad_tokens == 62 and padded.tail_tokens_dropped == 0
    assert padded.rows_per_shard == 2 and padded.rows_dropped == 0


def test_fewer_rows_than_shards_leaves_every_shard_empty():
    layout = layout_for({0: (200, 3)}, 4, PackConfig(seq_len=64))
    assert layout.total_rows == 3 and layout.rows_per_shard == 0 and layout.rows_dropped == 3
    assert all(layout.blocks(g) == [] for g in range(4))
    assert layout.to_dict()["rows_dropped_for_equal_shards"] == 3
