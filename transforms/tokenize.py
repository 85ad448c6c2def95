"""Tokenize curated documents and write packed token shards of equal row counts.

`EncodeDocuments`: documents are grouped into batches by a stable hash of their id and
encoded with the pipeline's tokenizer (a side input) in `encode_batch` calls.
`PackAndWrite`: each encoded document goes into the token stream `copies` times (1 unless
the balance stage repeats it), every copy followed by the end-of-text token. Copies go to
group `hash % n` (n from the total token count and the target shard size, a multiple of the
data-parallel world size), are ordered by (hash, id, text hash, copy) inside a group and
packed into rows of exactly seq_len tokens; `tokenizer.layout` then evens the groups out
so that every shard holds the same number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from schemas.arrow import table_to_parquet_bytes, token_rows_to_table
from schemas.document import Document, stable_hash64, text_key
from tokenizer.layout import ShardLayout, layout_for
from tokenizer.pack import PackConfig, pack
from tokenizer.train import EOS_TOKEN, PAD_TOKEN
from transforms.write import WriteFile, shard_count, shard_name

TOKEN_BYTES = 4  # int32
ROWS_PER_ROW_GROUP = 1024
# Documents per encode_batch call, and the mean size of the groups documents are batched
# in (by a stable hash of their id, so batches do not depend on arrival order).
ENCODE_CALL_DOCS = 1024
ENCODE_BATCH_DOCS = 4096


@dataclass(slots=True)
class EncodedDocument:
    """A curated document, its token ids (no end-of-text) and how many times it goes into
    the token shards."""

    doc: Document
    ids: np.ndarray
    copies: int = 1

    @property
    def tokens(self) -> int:
        """Tokens one copy takes in the packed stream (ids + end-of-text)."""
        return len(self.ids) + 1


def copy_order_keys(encoded: EncodedDocument) -> list[tuple]:
    """Sort keys of the document's copies in the packed stream. The first copy is keyed by
    the hash of the id (so an unbalanced run is laid out the same way), later copies by a
    hash of (id, copy), so that copies land apart, usually in other shards."""
    doc = encoded.doc
    content = text_key(doc.text)
    return [
        (stable_hash64(doc.id if c == 0 else f"{doc.id}\x00copy{c}"), doc.id, content, c)
        for c in range(encoded.copies)
    ]


class _TokenizerCache:
    """Builds a `tokenizers.Tokenizer` from side-input JSON once per worker, not per element.

    It encodes special tokens written in a document ("<|endoftext|>" on a page about GPT) as
    the plain text they are: otherwise the page would carry an end-of-text in its middle,
    splitting it in two in the token stream, out of step with `doc_starts`."""

    def __init__(self):
        self._json = None
        self.tokenizer = None

    def get(self, tokenizer_json: str):
        if tokenizer_json is not self._json and tokenizer_json != self._json:
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_str(tokenizer_json)
            self.tokenizer.encode_special_tokens = True
            self._json = tokenizer_json
        return self.tokenizer


class _EncodeBatch(beam.DoFn):
    """(batch key, [Document]) -> EncodedDocument per document, with the side-input
    tokenizer. `encode_batch` is several times faster per document than `encode` (less
    per-call overhead, and it uses every core)."""

    def setup(self):
        self.cache = _TokenizerCache()
        self.tokens = Metrics.counter("Tokens", "document_tokens")

    def process(self, batch, tokenizer_json):
        tokenizer = self.cache.get(tokenizer_json)
        # encode_batch_fast skips the character offsets we do not use (tokenizers >= 0.21).
        encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
        docs = list(batch[1])
        for start in range(0, len(docs), ENCODE_CALL_DOCS):
            chunk = docs[start : start + ENCODE_CALL_DOCS]
            for doc, encoding in zip(
                chunk, encode([d.text for d in chunk], add_special_tokens=False), strict=True
            ):
                ids = np.asarray(encoding.ids, dtype=np.int32)
                self.tokens.inc(len(ids))
                yield EncodedDocument(doc, ids)


class EncodeDocuments(beam.PTransform):
    """Documents + tokenizer JSON (singleton PCollection) -> EncodedDocuments."""

    def __init__(self, tokenizer_json):
        super().__init__()
        self.tokenizer_json = tokenizer_json

    def expand(self, docs):
        batches = beam.pvalue.AsSingleton(
            docs
            | "CountDocs" >> beam.combiners.Count.Globally()
            | "BatchCount" >> beam.Map(lambda n: max(1, n // ENCODE_BATCH_DOCS))
        )
        # The GroupByKey also keeps Encode out of the stage that reads the documents, which
        # feeds the tokenizer Encode waits for: fused, that stage would wait on itself
        # ("watermark-pending bundles did not execute").
        return (
            docs
            | "BatchKey" >> beam.Map(lambda d, n: (stable_hash64(d.id) % n, d), batches)
            | "Batches" >> beam.GroupByKey()
            | "Encode" >> beam.ParDo(_EncodeBatch(), beam.pvalue.AsSingleton(self.tokenizer_json))
        )


class _ShardShape(NamedTuple):
    shard_count: int
    rows_per_shard: int


class _PackGroup(beam.DoFn):
    """(group, [(key, ids) or None]) -> (shard, block) per block of rows it sends, where a
    block is (position, rows, doc_starts), plus (group, shape) for its own shard: shape is
    (shard count, rows per shard), so that every shard is assembled, empty or not, without
    reading the layout again."""

    def __init__(self, config: PackConfig, eos_token: str = EOS_TOKEN, pad_token: str = PAD_TOKEN):
        self.config = config
        self.eos_token, self.pad_token = eos_token, pad_token

    def setup(self):
        self.cache = _TokenizerCache()

    def process(self, group, tokenizer_json, layout: ShardLayout):
        index, members = group
        tokenizer = self.cache.get(tokenizer_json)
        packed = pack(
            [ids for _, ids in sorted((m for m in members if m is not None), key=lambda m: m[0])],
            tokenizer.token_to_id(self.eos_token),
            tokenizer.token_to_id(self.pad_token),
            self.config,
        )
        yield index, _ShardShape(layout.shard_count, layout.rows_per_shard)
        for block in layout.blocks(index):
            rows = slice(block.first, block.first + block.count)
            yield block.shard, (block.position, packed.rows[rows], packed.doc_starts[rows])


def _assemble_shard(group, seq_len: int):
    """(shard, [shape, block, ...]) -> (relative path, parquet bytes, metadata)."""
    index, parts = group
    (shard_count, rows_per_shard), *_ = [p for p in parts if isinstance(p, _ShardShape)]
    blocks = sorted((p for p in parts if not isinstance(p, _ShardShape)), key=lambda b: b[0])
    rows = (
        np.concatenate([b[1] for b in blocks]) if blocks else np.zeros((0, seq_len), dtype=np.int32)
    )
    doc_starts = [starts for b in blocks for starts in b[2]]
    if len(rows) != rows_per_shard:
        raise AssertionError(f"shard {index}: {len(rows)} rows, not {rows_per_shard}")
    name = shard_name("tokens", index, shard_count, "parquet")
    metadata = {
        "rows": int(rows.shape[0]),
        "tokens": int(rows.size),
        "document_starts": sum(len(s) for s in doc_starts),
    }
    table = token_rows_to_table(rows, doc_starts)
    return f"tokens/{name}", table_to_parquet_bytes(table, ROWS_PER_ROW_GROUP), metadata


def _add_pairs(pairs) -> tuple[int, int]:
    """(tokens, documents) pairs -> their sums (a combiner: partial sums come back in)."""
    tokens = documents = 0
    for t, d in pairs:
        tokens, documents = tokens + t, documents + d
    return tokens, documents


class PackAndWrite(beam.PTransform):
    """EncodedDocuments + tokenizer JSON -> (token shard metadata dicts, one-element
    PCollection of the ShardLayout). `eos_token` follows every document, `pad_token` fills a
    padded tail; both are looked up in the tokenizer."""

    def __init__(
        self,
        tokenizer_json,
        output_dir,
        config: PackConfig,
        dp_world_size,
        target_bytes,
        eos_token: str = EOS_TOKEN,
        pad_token: str = PAD_TOKEN,
    ):
        super().__init__()
        self.tokenizer_json = tokenizer_json
        self.output_dir = output_dir
        self.config = config
        self.dp_world_size = dp_world_size
        self.target_bytes = target_bytes
        self.eos_token, self.pad_token = eos_token, pad_token

    def shard_count_of(self, total_tokens: int) -> int:
        return shard_count(total_tokens * TOKEN_BYTES, self.target_bytes, self.dp_world_size)

    def expand(self, encoded):
        config, shard_count_of = self.config, self.shard_count_of
        copies = encoded | "Copies" >> beam.FlatMap(
            lambda e: [(key, e.ids) for key in copy_order_keys(e)]
        )
        total = beam.pvalue.AsSingleton(
            copies
            | "CountTokens" >> beam.Map(lambda item: len(item[1]) + 1)
            | "TotalTokens" >> beam.CombineGlobally(sum)
        )
        grouped = copies | "AssignGroup" >> beam.Map(
            lambda item, n: (item[0][0] % shard_count_of(n), item), total
        )
        layout = (
            grouped
            | "GroupSizes" >> beam.MapTuple(lambda g, item: (g, (len(item[1]) + 1, 1)))
            | "GroupTotals" >> beam.CombinePerKey(_add_pairs)
            | "AllGroups" >> beam.combiners.ToDict()
            | "Layout"
            >> beam.Map(lambda totals, n: layout_for(totals, shard_count_of(n), config), total)
        )
        # One (g, None) marker per group keeps empty groups in the grouping; it comes from
        # the layout as a main input, not from another side-input read.
        every_group = layout | "EveryGroup" >> beam.FlatMap(
            lambda lay: [(g, None) for g in range(lay.shard_count)]
        )
        shards = (
            (grouped, every_group)
            | "WithEmptyGroups" >> beam.Flatten()
            | "Group" >> beam.GroupByKey()
            | "Pack"
            >> beam.ParDo(
                _PackGroup(config, self.eos_token, self.pad_token),
                beam.pvalue.AsSingleton(self.tokenizer_json),
                beam.pvalue.AsSingleton(layout),
            )
            | "Assemble" >> beam.GroupByKey()
            | "Serialize" >> beam.Map(_assemble_shard, config.seq_len)
            | "Write" >> beam.ParDo(WriteFile(self.output_dir))
        )
        return shards, layout
