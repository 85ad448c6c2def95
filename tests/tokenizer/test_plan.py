"""The packing plan: groups, order inside a group, shard parts put back together."""

from collections import Counter

import numpy as np
import pytest

from tokenizer.pack import PackConfig
from tokenizer.plan import (
    ROWS,
    SHAPE,
    TOKEN_BYTES,
    RowBlock,
    ShardShape,
    TokenShardsConfig,
    UnpackedCopies,
    add_totals,
    add_unpacked,
    copy_keys,
    join_shard,
    token_copies,
)

EOS, PAD = 0, 1


def test_copies_are_keyed_apart_and_the_first_by_the_id_alone():
    first, second = copy_keys("doc-1", "some text", copies=2)
    assert first == copy_keys("doc-1", "other text")[0][:2] + (first.content, 0)
    assert (first.copy, second.copy) == (0, 1) and first.order_hash != second.order_hash
    assert first.content == second.content != copy_keys("doc-1", "other text")[0].content


def test_the_shard_count_is_a_multiple_of_the_world_size():
    config = TokenShardsConfig(dp_world_size=4, target_bytes=100 * TOKEN_BYTES)
    assert [config.shard_count(n) for n in (0, 100, 401, 1601)] == [4, 4, 8, 20]


def test_packed_groups_come_back_as_equal_shards():
    config = TokenShardsConfig(PackConfig(seq_len=4), dp_world_size=2, target_bytes=4 * 5)
    copies = [
        c
        for i, n in enumerate([3, 7, 1, 5, 2, 9])
        for c in token_copies(f"d{i}", f"text {i}", np.arange(2, 2 + n, dtype=np.int32))
    ]
    total = sum(c.tokens for c in copies)
    groups: dict[int, list] = {}
    for c in copies:
        groups.setdefault(config.group_of(c, total), []).append(c)
    totals = {g: add_totals((c.tokens, 1) for c in members) for g, members in groups.items()}
    layout = config.layout(totals, total)
    assert layout.shard_count == config.shard_count(total)
    parts: dict[int, list] = {}
    for g in range(layout.shard_count):
        # Arrival order inside a group does not matter: copies are packed in key order.
        members = list(reversed(groups.get(g, [])))
        for shard, part in config.pack_group(g, members, (EOS, PAD), layout):
            assert part.kind in (SHAPE, ROWS)
            parts.setdefault(shard, []).append(part)
    for shard in range(layout.shard_count):
        count, rows, starts = join_shard(shard, parts[shard])
        assert count == layout.shard_count
        assert rows.shape == (layout.rows_per_shard, 4) and len(starts) == len(rows)


def test_a_shard_short_of_rows_is_an_error():
    parts = [ShardShape(1, 2, 4), RowBlock(0, np.zeros((1, 4), dtype=np.int32), [[0]])]
    with pytest.raises(AssertionError, match="1 rows, not 2"):
        join_shard(0, parts)


@pytest.mark.parametrize("tail", ["drop", "pad"])
@pytest.mark.parametrize("seed", range(4))
def test_unpacked_copies_are_what_the_shards_lack(tail, seed):
    """Every document's tokens are one value of its own, so the shards themselves say how
    many copies of it begin there (document starts) and how many of its tokens they hold;
    the copies named cut or dropped must agree, and every end-of-text is a whole copy."""
    rng = np.random.default_rng(seed)
    config = TokenShardsConfig(
        PackConfig(seq_len=8, tail=tail), dp_world_size=2, target_bytes=TOKEN_BYTES * 60
    )
    lengths = {f"d{i}": int(n) for i, n in enumerate(rng.integers(1, 14, size=40))}
    value = {doc: 10 + i for i, doc in enumerate(lengths)}
    planned = {doc: int(rng.integers(1, 4)) for doc in lengths}
    copies = [
        c
        for doc, n in lengths.items()
        for c in token_copies(doc, doc, np.full(n, value[doc], np.int32), planned[doc])
    ]
    total = sum(c.tokens for c in copies)
    groups: dict[int, list] = {}
    for c in copies:
        groups.setdefault(config.group_of(c, total), []).append(c)
    layout = config.layout(
        {g: add_totals((c.tokens, 1) for c in m) for g, m in groups.items()}, total
    )
    assert layout.shard_count > 2
    parts: dict[int, list] = {}
    unpacked: dict[str, list] = {}
    for g in range(layout.shard_count):
        for shard, part in config.pack_group(g, groups.get(g, []), (EOS, PAD), layout):
            parts.setdefault(shard, []).append(part)
        for (doc, content), one in config.unpacked_copies(g, groups.get(g, []), layout):
            assert content == copy_keys(doc, doc)[0].content
            unpacked.setdefault(doc, []).append(one)
    shards = [join_shard(s, parts[s]) for s in range(layout.shard_count)]
    held = np.concatenate([rows.ravel() for _, rows, _ in shards])
    starts = Counter(
        int(rows[r, start])
        for _, rows, doc_starts in shards
        for r, row in enumerate(doc_starts)
        for start in row
    )
    lost = sum(len(v) for v in unpacked.values())
    assert lost > 0 or tail == "pad"
    whole_total = 0
    for doc, n in lengths.items():
        cut, dropped = add_unpacked(unpacked.get(doc, []))
        whole = planned[doc] - cut - dropped
        whole_total += whole
        assert starts[value[doc]] == whole + cut
        tokens = int((held == value[doc]).sum())
        assert whole * n + cut <= tokens <= (whole + cut) * n
    assert int((held == EOS).sum()) == whole_total
    assert add_unpacked([UnpackedCopies(1, 0), UnpackedCopies(0, 2)]) == (1, 2)
