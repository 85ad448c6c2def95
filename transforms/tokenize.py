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
from schemas.document import Document, pickled_by_fields, text_key
from schemas.shards import shard_name
from tokenizer.encode import (
    encode_batch_count,
    encode_batch_of,
    encode_on_one_core,
    encode_texts,
    load_tokenizer,
)
from tokenizer.formats import DOCUMENT_FORMATS, LITDATA, PARQUET, SPLITS, TRAIN, VALIDATION
from tokenizer.layout import ShardLayout
from tokenizer.litdata import litdata_index
from tokenizer.plan import (
    RowBlock,
    ShardShape,
    TokenShardsConfig,
    UnpackedCopies,
    add_totals,
    add_unpacked,
    in_validation,
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
VALIDATION_KEY = "tokens.validation"  # 1 for a document of the validation split, else 0


@pickled_by_fields
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


def with_packed_copies(
    encoded: EncodedDocument, unpacked: Mapping, validation_fraction: float
) -> Document:
    """The encoded document's Document with PACKED_COPIES_KEY and CUT_COPIES_KEY set, from
    (doc id, content hash) -> UnpackedCopies of the documents not whole in the parquet
    shards, and VALIDATION_KEY."""
    doc = encoded.doc
    cut, dropped = unpacked.get((doc.id, text_key(doc.text)), UnpackedCopies())
    scores = {
        **doc.scores,
        PACKED_COPIES_KEY: encoded.copies - cut - dropped,
        CUT_COPIES_KEY: cut,
        VALIDATION_KEY: int(in_validation(doc.id, validation_fraction)),
    }
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


@dataclass(frozen=True, slots=True)
class _DocumentFile:
    """A file of a document format (`tokenizer.formats`): relative path, bytes, metadata."""

    path: str
    data: bytes
    metadata: dict


class _PackGroup(beam.DoFn):
    """(group, [TokenCopy or None]) -> (shard, ShardShape | RowBlock) (see
    `TokenShardsConfig.pack_group`), a _DocumentFile per file of the group in each document
    format, and an _Unpacked for every copy the shards do not hold whole. None is the
    marker that keeps an empty group present. One mixed output, split with `split_by_type`
    (tagged outputs do not work on the DaskRunner)."""

    def __init__(self, config: TokenShardsConfig):
        self.config = config

    def setup(self):
        self.cache = _TokenizerCache()

    def process(self, group, tokenizer_json, layout: ShardLayout):
        index, members = group
        tokenizer = self.cache.get(tokenizer_json)
        special_ids = self.config.special_ids(tokenizer)
        copies = [m for m in members if m is not None]
        yield from self.config.pack_group(index, copies, special_ids, layout)
        vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
        for path, data, metadata in self.config.document_files(
            index, copies, special_ids[0], vocab_size, layout.shard_count
        ):
            yield _DocumentFile(path, data, metadata)
        for key, unpacked in self.config.unpacked_copies(index, copies, layout):
            yield _Unpacked(key, unpacked)


def assemble_shard(split: str, shard: int, parts: list[ShardShape | RowBlock]):
    """A shard's parts -> (relative path, parquet bytes, metadata)."""
    count, rows, doc_starts = join_shard(shard, parts)
    name = shard_name(split, shard, count, "parquet")
    metadata = {
        "format": PARQUET,
        "split": split,
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
        parts, files, unpacked_copies = split_by_type(
            packed, "Split", tuple, _DocumentFile, _Unpacked
        )
        unpacked = (
            unpacked_copies
            | "UnpackedKeys" >> beam.Map(lambda u: (u.key, u.copies))
            | "UnpackedPerDocument" >> beam.CombinePerKey(add_unpacked)
        )
        split = config.split
        shards = (
            parts
            | "Assemble" >> beam.GroupByKey()
            | "Serialize" >> beam.MapTuple(lambda shard, parts: assemble_shard(split, shard, parts))
            | "Write" >> beam.ParDo(WriteFile(self.output_dir))
        )
        document_files = (
            files
            | "DocumentFiles" >> beam.Map(lambda f: (f.path, f.data, f.metadata))
            | "WriteDocumentFiles" >> beam.ParDo(WriteFile(self.output_dir))
        )
        written = (shards, document_files) | "AllFiles" >> beam.Flatten()
        return written, layout, unpacked


class WriteTokens(beam.PTransform):
    """EncodedDocuments -> every token file of the run: the documents of each split
    (`in_validation`, none to validation when `validation_fraction` is 0) through
    PackAndWrite in each format of `config.formats`, plus litdata's index.json per split.
    -> (file metadata dicts, {split: one-element PCollection of its ShardLayout},
    ((doc id, content hash), UnpackedCopies) of both splits); `token_sections` turns them
    into the manifest's sections."""

    def __init__(self, tokenizer_json, output_dir: str, config: TokenShardsConfig, fraction=0.0):
        super().__init__()
        self.tokenizer_json = tokenizer_json
        self.output_dir = output_dir
        self.config = config
        self.fraction = fraction

    def expand(self, encoded):
        fraction = self.fraction
        splits = {TRAIN: encoded}
        if fraction:
            splits = {
                TRAIN: encoded
                | "TrainSplit" >> beam.Filter(lambda e: not in_validation(e.doc.id, fraction)),
                VALIDATION: encoded
                | "ValidationSplit" >> beam.Filter(lambda e: in_validation(e.doc.id, fraction)),
            }
        files, layouts, unpacked = [], {}, []
        for split, docs in splits.items():
            config = dataclasses.replace(self.config, split=split)
            name = "Tokens" if split == TRAIN else "ValidationTokens"
            written, layout, not_whole = docs | name >> PackAndWrite(
                self.tokenizer_json, self.output_dir, config
            )
            files.append(written)
            layouts[split] = layout
            unpacked.append(not_whole)
        files = files | "TokenFiles" >> beam.Flatten()
        if LITDATA in self.config.formats:
            indexes = (
                files
                | "LitdataChunks" >> beam.Filter(lambda m: m["format"] == LITDATA)
                | "LitdataBySplit" >> beam.Map(lambda m: (m["split"], m))
                | "LitdataGroup" >> beam.GroupByKey()
                | "LitdataIndex" >> beam.MapTuple(_litdata_index_file)
                | "LitdataWriteIndex" >> beam.ParDo(WriteFile(self.output_dir))
            )
            files = (files, indexes) | "WithLitdataIndex" >> beam.Flatten()
        return files, layouts, unpacked | "Unpacked" >> beam.Flatten()


def _litdata_index_file(split: str, chunks) -> tuple[str, bytes, dict]:
    """litdata's index.json of one split's chunk files."""
    chunks = sorted(chunks, key=lambda m: m["path"])
    listing = [
        {"filename": m["path"].rsplit("/", 1)[1], "tokens": m["tokens"], "bytes": m["bytes"]}
        for m in chunks
    ]
    data = litdata_index(listing, np.dtype(chunks[0]["dtype"]))
    facts = {"format": LITDATA, "split": split, "dtype": chunks[0]["dtype"], "documents": 0}
    return f"{LITDATA}/{split}/index.json", data, {**facts, "tokens": 0}


def token_sections(
    config: TokenShardsConfig, fraction: float, files: list[dict], layouts: dict, unpacked
) -> dict:
    """The manifest's token sections from WriteTokens' outputs: `tokens` (the train
    split's parquet rows, as ever), `validation` (the same for the validation split, None
    without one), `splits` (copies and tokens each side) and `formats` (the document
    formats' files per split)."""

    def parquet(split: str) -> dict:
        shards = sorted(
            (m for m in files if m["format"] == PARQUET and m["split"] == split),
            key=lambda m: m["path"],
        )
        not_whole = {
            k: u
            for k, u in unpacked.items()
            if in_validation(k[0], fraction) == (split == VALIDATION)
        }
        return {
            "seq_len": config.pack.seq_len,
            "dp_world_size": config.dp_world_size,
            "rows": sum(s["rows"] for s in shards),
            "tokens": sum(s["tokens"] for s in shards),
            **layouts[split].to_dict(),
            **unpacked_totals(not_whole),
            "shards": shards,
        }

    formats = {}
    for fmt in (f for f in config.formats if f in DOCUMENT_FORMATS):
        section = {}
        for split in (s for s in SPLITS if s in layouts):  # not the side inputs' order
            listed = sorted(
                (m for m in files if m["format"] == fmt and m["split"] == split),
                key=lambda m: m["path"],
            )
            section[split] = {
                "dtype": listed[0]["dtype"] if listed else None,
                "files": [
                    {k: v for k, v in m.items() if k not in ("format", "split", "dtype")}
                    for m in listed
                ],
            }
        formats[fmt] = section
    splits = {
        split: {"copies": sum(layout.group_documents), "tokens": sum(layout.group_tokens)}
        for split, layout in sorted(layouts.items(), key=lambda kv: SPLITS.index(kv[0]))
    }
    return {
        "tokens": parquet(TRAIN),
        "validation": {"fraction": fraction, **parquet(VALIDATION)}
        if VALIDATION in layouts
        else None,
        "splits": splits,
        "formats": formats,
    }
