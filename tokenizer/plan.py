"""The packing plan of the token shards: where every document's tokens go. Beam-free.

Each encoded document goes into the token stream `copies` times (1 unless the balance
stage repeats it), every copy followed by the end-of-text token (`token_copies`). From the
total token count, `TokenShardsConfig.shard_count` gives the number of groups and shards (a
multiple of the data-parallel world size, each near the target size); a copy goes to group
`hash % count` (`group_of`); inside a group copies are packed in `CopyKey` order into rows
of exactly seq_len tokens (`pack_group`), and `ShardLayout` evens the groups out so that
every shard holds the same number of rows (`layout`). `join_shard` puts one shard's rows
back together from the parts the groups send it, and `unpacked_copies` names the copies
the shards do not hold whole (cut or dropped at a group's end), so that every document
can say how often it is really in the shards. `transforms.tokenize` runs this in Beam;
the benchmark runs it in one process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from schemas.document import stable_hash64, text_key
from schemas.shards import shard_count
from tokenizer.formats import DOCUMENT_FORMATS, PARQUET, TRAIN, document_files
from tokenizer.layout import ShardLayout, layout_for
from tokenizer.pack import PackConfig, pack
from tokenizer.train import EOS_TOKEN, PAD_TOKEN

TOKEN_BYTES = 4  # int32


class CopyKey(NamedTuple):
    """Sort key of one copy of a document in the packed stream; `order_hash` also picks its
    group."""

    order_hash: int
    doc_id: str
    content: bytes
    copy: int


class TokenCopy(NamedTuple):
    """One copy of a document's token ids (no end-of-text) and its place in the stream."""

    key: CopyKey
    ids: np.ndarray

    @property
    def tokens(self) -> int:
        """Tokens the copy takes in the packed stream (ids + end-of-text)."""
        return len(self.ids) + 1


def in_validation(doc_id: str, fraction: float) -> bool:
    """Whether a document belongs to the validation split: a stable hash of its id alone
    (salted, so that it does not follow the packing order), so every copy of it, and the
    near-duplicate cluster it survived for, stays on one side."""
    return stable_hash64(f"validation\x00{doc_id}") < fraction * 2.0**64


def copy_keys(doc_id: str, text: str, copies: int = 1) -> list[CopyKey]:
    """Sort keys of a document's copies. The first copy is keyed by the hash of the id (so
    an unbalanced run is laid out the same way), later copies by a hash of (id, copy), so
    that copies land apart, usually in other shards."""
    content = text_key(text)
    return [
        CopyKey(stable_hash64(doc_id if c == 0 else f"{doc_id}\x00copy{c}"), doc_id, content, c)
        for c in range(copies)
    ]


def token_copies(doc_id: str, text: str, ids: np.ndarray, copies: int = 1) -> list[TokenCopy]:
    """The copies of one encoded document that go into the token stream."""
    return [TokenCopy(key, ids) for key in copy_keys(doc_id, text, copies)]


class UnpackedCopies(NamedTuple):
    """Copies of one document that the token shards do not hold whole: `cut` copies begin
    in the shards but lose their end (at least their end-of-text) to a row left out,
    `dropped` copies have no token there."""

    cut: int = 0
    dropped: int = 0


def add_unpacked(values: Iterable[UnpackedCopies]) -> UnpackedCopies:
    """The sum of UnpackedCopies (a combiner: partial sums come back in)."""
    cut = dropped = 0
    for value in values:
        cut, dropped = cut + value.cut, dropped + value.dropped
    return UnpackedCopies(cut, dropped)


def add_totals(pairs: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """(tokens, documents) pairs -> their sums (a combiner: partial sums come back in)."""
    tokens = documents = 0
    for t, d in pairs:
        tokens, documents = tokens + t, documents + d
    return tokens, documents


SHAPE = "shape"
ROWS = "rows"


class ShardShape(NamedTuple):
    """Part of a shard, sent once by the group of the same index, empty or not: how many
    shards there are, how many rows each holds and how long a row is."""

    shard_count: int
    rows_per_shard: int
    seq_len: int
    kind: str = SHAPE


class RowBlock(NamedTuple):
    """Part of a shard: packed rows (int32, one per row) and their document starts, to go
    at row `position` of the shard."""

    position: int
    rows: np.ndarray
    doc_starts: list[list[int]]
    kind: str = ROWS


@dataclass(frozen=True)
class TokenShardsConfig:
    """How the token shards are laid out. pack: row length and tail (tokenizer.pack);
    dp_world_size: the shard count is a multiple of it; target_bytes: int32 tokens per shard
    to aim at; eos_token follows every document, pad_token fills a padded tail (both are
    looked up in the tokenizer); split names the files (`tokenizer.formats`); formats: the
    token files to write (`tokenizer.formats.OUTPUT_FORMATS`)."""

    pack: PackConfig = field(default_factory=PackConfig)
    dp_world_size: int = 1
    target_bytes: int = 256 << 20
    eos_token: str = EOS_TOKEN
    pad_token: str = PAD_TOKEN
    split: str = TRAIN
    formats: tuple[str, ...] = (PARQUET,)

    def shard_count(self, total_tokens: int) -> int:
        """Groups (and shards) for `total_tokens` tokens in the stream."""
        return shard_count(total_tokens * TOKEN_BYTES, self.target_bytes, self.dp_world_size)

    def group_of(self, copy: TokenCopy, total_tokens: int) -> int:
        """The group a copy is packed in."""
        return copy.key.order_hash % self.shard_count(total_tokens)

    def layout(self, group_totals: dict[int, tuple[int, int]], total_tokens: int) -> ShardLayout:
        """Where every group's rows go, from group -> (tokens, documents)."""
        return layout_for(group_totals, self.shard_count(total_tokens), self.pack)

    def special_ids(self, tokenizer) -> tuple[int, int]:
        """(end-of-text id, pad id) in `tokenizer`."""
        return tokenizer.token_to_id(self.eos_token), tokenizer.token_to_id(self.pad_token)

    def pack_group(
        self,
        group: int,
        members: Iterable[TokenCopy],
        special_ids: tuple[int, int],
        layout: ShardLayout,
    ) -> list[tuple[int, ShardShape | RowBlock]]:
        """Pack one group's copies in key order -> (shard, part) for the shard of the same
        index (its ShardShape) and for every block of rows the group sends (RowBlock)."""
        if PARQUET not in self.formats:
            return []
        eos_id, pad_id = special_ids
        ordered = sorted(members, key=lambda c: c.key)
        packed = pack([c.ids for c in ordered], eos_id, pad_id, self.pack)
        shape = ShardShape(layout.shard_count, layout.rows_per_shard, layout.seq_len)
        parts = [(group, shape)]
        for block in layout.blocks(group):
            rows = slice(block.first, block.first + block.count)
            parts.append(
                (block.shard, RowBlock(block.position, packed.rows[rows], packed.doc_starts[rows]))
            )
        return parts

    def document_files(
        self, group: int, members: Iterable[TokenCopy], eos_id: int, vocab_size: int, count: int
    ) -> list[tuple[str, bytes, dict]]:
        """One group's files in every document format asked for (`tokenizer.formats`): its
        copies whole, in key order, as (relative path, bytes, metadata); `count` groups."""
        ordered = [c.ids for c in sorted(members, key=lambda c: c.key)]
        return [
            file
            for fmt in self.formats
            if fmt in DOCUMENT_FORMATS
            for file in document_files(fmt, self.split, group, count, ordered, eos_id, vocab_size)
        ]

    def unpacked_copies(
        self, group: int, members: Iterable[TokenCopy], layout: ShardLayout
    ) -> list[tuple[tuple[str, bytes], UnpackedCopies]]:
        """The copies of one group that the shards do not hold whole, each as ((doc id,
        content hash), UnpackedCopies of one copy). The shards keep a leading run of a
        group's rows (`ShardLayout.kept_rows`), so in key order the copies are whole, then
        at most one is cut, then the rest are dropped. Only a group's last rows are left
        out (a dropped tail and under one row per shard to even them out), so these are few.
        Without parquet rows, every copy is whole in the document formats."""
        if PARQUET not in self.formats:
            return []
        kept = layout.kept_rows(group) * layout.seq_len
        ordered = sorted(members, key=lambda c: c.key)
        ends = np.cumsum(np.fromiter((c.tokens for c in ordered), np.int64, len(ordered)))
        first_short = int(np.searchsorted(ends, kept, side="right"))
        return [
            (
                (copy.key.doc_id, copy.key.content),
                UnpackedCopies(1, 0) if end - copy.tokens < kept else UnpackedCopies(0, 1),
            )
            for copy, end in zip(ordered[first_short:], ends[first_short:].tolist(), strict=True)
        ]


def join_shard(
    shard: int, parts: Iterable[ShardShape | RowBlock]
) -> tuple[int, np.ndarray, list[list[int]]]:
    """One shard's parts -> (shard count, rows, doc_starts); AssertionError if the rows are
    not the rows per shard the layout promised."""
    parts = list(parts)
    (shape, *_) = [p for p in parts if p.kind == SHAPE]
    blocks = sorted((p for p in parts if p.kind == ROWS), key=lambda b: b.position)
    rows = (
        np.concatenate([b.rows for b in blocks])
        if blocks
        else np.zeros((0, shape.seq_len), dtype=np.int32)
    )
    doc_starts = [starts for b in blocks for starts in b.doc_starts]
    if len(rows) != shape.rows_per_shard:
        raise AssertionError(f"shard {shard}: {len(rows)} rows, not {shape.rows_per_shard}")
    return shape.shard_count, rows, doc_starts
