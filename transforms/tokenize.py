"""Tokenize curated documents and write packed token shards of equal row counts.

`EncodeDocuments`: documents are grouped into batches by a stable hash of their id and
encoded with the pipeline's tokenizer (a side input) in `encode_batch` calls
(`tokenizer.encode`). `PackAndWrite` runs the packing plan of `tokenizer.plan`: every copy
of an encoded document goes to a group, groups are packed into rows of exactly seq_len
tokens, and the rows are laid out so that every shard holds the same number of rows. It
also names the copies the shards do not hold whole, and `with_packed_copies` writes onto
each curated document how many of its copies are in the shards (`tokens.copies`) and how
many are there cut short (`tokens.cut_copies`): what a training run really sees of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from schemas.arrow import table_to_parquet_bytes, token_rows_to_table
from schemas.document import Document, text_key
from schemas.shards import shard_name
from tokenizer.encode import (
    encode_batch_count,
    encode_batch_of,
    encode_on_one_core,
    encode_texts,
    load_tokenizer,
)
from tokenizer.layout import ShardLayout
from tokenizer.plan import (
    RowBlock,
    ShardShape,
    TokenShardsConfig,
    UnpackedCopies,
    add_totals,
    add_unpacked,
    join_shard,
    token_copies,
)
from transforms.common import split_by_type
from transforms.write import WriteFile

ROWS_PER_ROW_GROUP = 1024
# Document.scores keys, in every run: copies whose every token (end-of-text included) is in
# the token shards, and copies that begin there but are cut short by the rows packing
# leaves out. A copy that is neither fell wholly in those rows.
PACKED_COPIES_KEY = "tokens.copies"
CUT_COPIES_KEY = "tokens.cut_copies"


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


def encode_documents(tokenizer, docs: list[Document]) -> list[EncodedDocument]:
    """Documents -> EncodedDocuments, in order, with a tokenizer from
    `tokenizer.encode.load_tokenizer`."""
    ids = encode_texts(tokenizer, [d.text for d in docs])
    return [EncodedDocument(doc, doc_ids) for doc, doc_ids in zip(docs, ids, strict=True)]


def with_packed_copies(encoded: EncodedDocument, unpacked: Mapping) -> Document:
    """The encoded document's Document with PACKED_COPIES_KEY and CUT_COPIES_KEY set, from
    (doc id, content hash) -> UnpackedCopies of the documents not whole in the shards."""
    doc = encoded.doc
    cut, dropped = unpacked.get((doc.id, text_key(doc.text)), UnpackedCopies())
    scores = {**doc.scores, PACKED_COPIES_KEY: encoded.copies - cut - dropped, CUT_COPIES_KEY: cut}
    return dataclasses.replace(doc, scores=scores)


def unpacked_totals(unpacked: Mapping) -> dict:
    """The manifest's count of what packing left out, from `with_packed_copies`' mapping:
    copies cut, copies dropped and the documents they belong to."""
    return {
        "copies_cut": sum(u.cut for u in unpacked.values()),
        "copies_dropped": sum(u.dropped for u in unpacked.values()),
        "documents_not_all_copies_whole": len(unpacked),
    }


class _TokenizerCache:
    """Builds the tokenizer from side-input JSON once per worker, not per element."""

    def __init__(self):
        self._json = None
        self.tokenizer = None

    def get(self, tokenizer_json: str):
        if tokenizer_json is not self._json and tokenizer_json != self._json:
            self.tokenizer = load_tokenizer(tokenizer_json)
            self._json = tokenizer_json
        return self.tokenizer


class _EncodeBatch(beam.DoFn):
    """(batch key, [Document]) -> EncodedDocument per document, with the side-input
    tokenizer; on one core per call when `one_core` (see `encode_on_one_core`)."""

    def __init__(self, one_core: bool):
        super().__init__()
        self.one_core = one_core

    def setup(self):
        if self.one_core:
            encode_on_one_core()
        self.cache = _TokenizerCache()
        self.tokens = Metrics.counter("Tokens", "document_tokens")

    def process(self, batch, tokenizer_json):
        for encoded in encode_documents(self.cache.get(tokenizer_json), list(batch[1])):
            self.tokens.inc(len(encoded.ids))
            yield encoded


class EncodeDocuments(beam.PTransform):
    """Documents + tokenizer JSON (singleton PCollection) -> EncodedDocuments. `one_core`:
    each encoding call on the worker thread alone, for runners that run many at once."""

    def __init__(self, tokenizer_json, one_core: bool = False):
        super().__init__()
        self.tokenizer_json = tokenizer_json
        self.one_core = one_core

    def expand(self, docs):
        batches = beam.pvalue.AsSingleton(
            docs
            | "CountDocs" >> beam.combiners.Count.Globally()
            | "BatchCount" >> beam.Map(encode_batch_count)
        )
        # The GroupByKey also keeps Encode out of the stage that reads the documents, which
        # feeds the tokenizer Encode waits for: fused, that stage would wait on itself
        # ("watermark-pending bundles did not execute").
        return (
            docs
            | "BatchKey" >> beam.Map(lambda d, n: (encode_batch_of(d.id, n), d), batches)
            | "Batches" >> beam.GroupByKey()
            | "Encode"
            >> beam.ParDo(_EncodeBatch(self.one_core), beam.pvalue.AsSingleton(self.tokenizer_json))
        )


@dataclass(frozen=True, slots=True)
class _Unpacked:
    """One copy the shards do not hold whole: key (doc id, content hash), UnpackedCopies."""

    key: tuple[str, bytes]
    copies: UnpackedCopies


class _PackGroup(beam.DoFn):
    """(group, [TokenCopy or None]) -> (shard, ShardShape | RowBlock) (see
    `TokenShardsConfig.pack_group`), and an _Unpacked for every copy the shards do not hold
    whole. None is the marker that keeps an empty group present. One mixed output, split
    with `split_by_type` (tagged outputs do not work on the DaskRunner)."""

    def __init__(self, config: TokenShardsConfig):
        self.config = config

    def setup(self):
        self.cache = _TokenizerCache()

    def process(self, group, tokenizer_json, layout: ShardLayout):
        index, members = group
        special_ids = self.config.special_ids(self.cache.get(tokenizer_json))
        copies = [m for m in members if m is not None]
        yield from self.config.pack_group(index, copies, special_ids, layout)
        for key, unpacked in self.config.unpacked_copies(index, copies, layout):
            yield _Unpacked(key, unpacked)


def assemble_shard(shard: int, parts: list[ShardShape | RowBlock]):
    """A shard's parts -> (relative path, parquet bytes, metadata)."""
    count, rows, doc_starts = join_shard(shard, parts)
    name = shard_name("tokens", shard, count, "parquet")
    metadata = {
        "rows": int(rows.shape[0]),
        "tokens": int(rows.size),
        "document_starts": sum(len(s) for s in doc_starts),
    }
    table = token_rows_to_table(rows, doc_starts)
    return f"tokens/{name}", table_to_parquet_bytes(table, ROWS_PER_ROW_GROUP), metadata


class PackAndWrite(beam.PTransform):
    """EncodedDocuments + tokenizer JSON (a one-element PCollection) -> (token shard
    metadata dicts, one-element PCollection of the ShardLayout, ((doc id, content hash),
    UnpackedCopies) per document not all of whose copies are whole in the shards), laid out
    as `config` says (row length and tail, data-parallel world size, shard size, special
    tokens)."""

    def __init__(self, tokenizer_json, output_dir: str, config: TokenShardsConfig):
        super().__init__()
        self.tokenizer_json = tokenizer_json
        self.output_dir = output_dir
        self.config = config

    def expand(self, encoded):
        config = self.config
        copies = encoded | "Copies" >> beam.FlatMap(
            lambda e: token_copies(e.doc.id, e.doc.text, e.ids, e.copies)
        )
        total = beam.pvalue.AsSingleton(
            copies
            | "CountTokens" >> beam.Map(lambda c: c.tokens)
            | "TotalTokens" >> beam.CombineGlobally(sum)
        )
        grouped = copies | "AssignGroup" >> beam.Map(lambda c, n: (config.group_of(c, n), c), total)
        layout = (
            grouped
            | "GroupSizes" >> beam.MapTuple(lambda g, c: (g, (c.tokens, 1)))
            | "GroupTotals" >> beam.CombinePerKey(add_totals)
            | "AllGroups" >> beam.combiners.ToDict()
            | "Layout" >> beam.Map(config.layout, total)
        )
        # One (g, None) marker per group keeps empty groups in the grouping; it comes from
        # the layout as a main input, not from another side-input read.
        every_group = layout | "EveryGroup" >> beam.FlatMap(
            lambda lay: [(g, None) for g in range(lay.shard_count)]
        )
        packed = (
            (grouped, every_group)
            | "WithEmptyGroups" >> beam.Flatten()
            | "Group" >> beam.GroupByKey()
            | "Pack"
            >> beam.ParDo(
                _PackGroup(config),
                beam.pvalue.AsSingleton(self.tokenizer_json),
                beam.pvalue.AsSingleton(layout),
            )
        )
        parts, unpacked_copies = split_by_type(packed, "Split", tuple, _Unpacked)
        unpacked = (
            unpacked_copies
            | "UnpackedKeys" >> beam.Map(lambda u: (u.key, u.copies))
            | "UnpackedPerDocument" >> beam.CombinePerKey(add_unpacked)
        )
        shards = (
            parts
            | "Assemble" >> beam.GroupByKey()
            | "Serialize" >> beam.MapTuple(assemble_shard)
            | "Write" >> beam.ParDo(WriteFile(self.output_dir))
        )
        return shards, layout, unpacked
