"""Lay packed rows out as token shards that all hold the same number of rows.

Documents are packed in groups (group g becomes shard g), and groups come out with
different row counts. Every data-parallel rank must stream the same number of rows, so
each shard keeps its group's first `rows_per_shard` rows, the rows beyond that spill, in
group order, into the shards that are short, in shard order, and the last
`total_rows % shard_count` spilled rows are dropped (counted in the manifest). Only the
spilled rows move, and where each goes follows from the groups' token counts alone, so the
groups can be packed independently and in any order.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenizer.pack import TAIL_PAD, PackConfig


@dataclass(frozen=True)
class Block:
    """`count` rows starting at row `first` of a packed group go to shard `shard`, starting
    at row `position` there."""

    shard: int
    first: int
    count: int
    position: int


@dataclass(frozen=True)
class ShardLayout:
    """Where the rows of every packed group go. group_tokens / group_documents: per group,
    the tokens (documents + one end-of-text each) and documents it packs."""

    seq_len: int
    tail: str
    group_tokens: tuple[int, ...]
    group_documents: tuple[int, ...]

    @property
    def shard_count(self) -> int:
        return len(self.group_tokens)

    def group_rows(self, group: int) -> int:
        full, tail = divmod(self.group_tokens[group], self.seq_len)
        return full + (1 if tail and self.tail == TAIL_PAD else 0)

    @property
    def total_rows(self) -> int:
        return sum(self.group_rows(g) for g in range(self.shard_count))

    @property
    def rows_per_shard(self) -> int:
        return self.total_rows // self.shard_count if self.shard_count else 0

    @property
    def rows_dropped(self) -> int:
        """Rows packed but left out so that every shard holds the same number."""
        return self.total_rows - self.rows_per_shard * self.shard_count

    @property
    def tail_tokens_dropped(self) -> int:
        if self.tail == TAIL_PAD:
            return 0
        return sum(t % self.seq_len for t in self.group_tokens)

    @property
    def pad_tokens(self) -> int:
        if self.tail != TAIL_PAD:
            return 0
        return sum(-t % self.seq_len for t in self.group_tokens)

    def kept_rows(self, group: int) -> int:
        """How many of the group's rows the shards hold: always its first ones, since the
        rows left out (a dropped tail, the spilled rows dropped to even the shards out) are
        a group's last."""
        return sum(block.count for block in self.blocks(group))

    def blocks(self, group: int) -> list[Block]:
        """Where the rows of `group` go; rows not covered by any block are dropped."""
        per_shard = self.rows_per_shard
        own = [min(self.group_rows(g), per_shard) for g in range(self.shard_count)]
        excess = [self.group_rows(g) - own[g] for g in range(self.shard_count)]
        deficit = [per_shard - own[s] for s in range(self.shard_count)]
        blocks = [Block(group, 0, own[group], 0)] if own[group] else []
        # The group's spilled rows are [start, end) in the sequence of all spilled rows;
        # shard s takes the slots [slot, slot + deficit[s]) of that sequence.
        start = sum(excess[:group])
        end = start + excess[group]
        slot = 0
        for shard in range(self.shard_count):
            lo, hi = max(start, slot), min(end, slot + deficit[shard])
            if lo < hi:
                first, position = own[group] + lo - start, own[shard] + lo - slot
                blocks.append(Block(shard, first, hi - lo, position))
            slot += deficit[shard]
            if slot >= end:
                break
        return blocks

    def to_dict(self) -> dict:
        return {
            "shards": self.shard_count,
            "rows_per_shard": self.rows_per_shard,
            "rows_dropped_for_equal_shards": self.rows_dropped,
            "document_tokens": sum(self.group_tokens),
            "documents": sum(self.group_documents),
            "tail_tokens_dropped": self.tail_tokens_dropped,
            "pad_tokens": self.pad_tokens,
        }


def layout_for(group_totals: dict[int, tuple[int, int]], shard_count: int, config: PackConfig):
    """ShardLayout from group -> (tokens, documents); groups absent from the dict are empty."""
    totals = [group_totals.get(g, (0, 0)) for g in range(shard_count)]
    return ShardLayout(
        seq_len=config.seq_len,
        tail=config.tail,
        group_tokens=tuple(t for t, _ in totals),
        group_documents=tuple(d for _, d in totals),
    )
