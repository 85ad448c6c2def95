"""Tokenize curated documents and write packed token shards.

Documents are grouped into batches by a stable hash of their id and encoded with the
pipeline's tokenizer (a side input) in `encode_batch` calls, each followed by the
end-of-text token. Documents go to shard `hash(id) % n` (n from the total token count and
the target shard size, a multiple of the data-parallel world size), are ordered by
(hash of id, id, hash of text) inside a shard, then packed into rows of exactly seq_len tokens.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from schemas.arrow import table_to_parquet_bytes, token_rows_to_table
from schemas.document import stable_hash64
from tokenizer.pack import PackConfig, pack
from tokenizer.train import EOS_TOKEN, PAD_TOKEN
from transforms.exact_dedup import text_key
from transforms.write import GroupIntoShards, WriteFile, shard_count, shard_name

TOKEN_BYTES = 4  # int32
ROWS_PER_ROW_GROUP = 1024
# Documents per encode_batch call, and the mean size of the groups documents are batched
# in (by a stable hash of their id, so batches do not depend on arrival order).
ENCODE_CALL_DOCS = 1024
ENCODE_BATCH_DOCS = 4096


class _TokenizerCache:
    """Builds a `tokenizers.Tokenizer` from side-input JSON once per worker, not per element."""

    def __init__(self):
        self._json = None
        self.tokenizer = None

    def get(self, tokenizer_json: str):
        if tokenizer_json is not self._json and tokenizer_json != self._json:
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_str(tokenizer_json)
            self._json = tokenizer_json
        return self.tokenizer


class _EncodeBatch(beam.DoFn):
    """(batch key, [Document]) -> ((hash(id), id, text hash), int32 token ids) per document,
    with the side-input tokenizer. `encode_batch` is several times faster per document than
    `encode` (less per-call overhead, and it uses every core). The key orders documents
    inside a shard; the text hash breaks ties between documents that share an id."""

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
                yield (stable_hash64(doc.id), doc.id, text_key(doc.text)), ids


class _PackShard(beam.DoFn):
    """(shard index, [(key, ids)]) -> (relative path, parquet bytes, metadata)."""

    def __init__(self, config: PackConfig, shard_count_of):
        self.config = config
        self.shard_count_of = shard_count_of

    def setup(self):
        self.cache = _TokenizerCache()

    def process(self, group, tokenizer_json, total_tokens):
        index, members = group
        ordered = sorted(members, key=lambda m: m[0])
        tokenizer = self.cache.get(tokenizer_json)
        packed = pack(
            [ids for _, ids in ordered],
            tokenizer.token_to_id(EOS_TOKEN),
            tokenizer.token_to_id(PAD_TOKEN),
            self.config,
        )
        table = token_rows_to_table(packed.rows, packed.doc_starts)
        name = shard_name("tokens", index, self.shard_count_of(total_tokens), "parquet")
        metadata = {
            "rows": int(packed.rows.shape[0]),
            "tokens": int(packed.rows.size),
            "documents": packed.documents,
            "document_tokens": packed.tokens,
            "tail_tokens_dropped": packed.tail_tokens_dropped,
            "pad_tokens": packed.pad_tokens,
        }
        yield f"tokens/{name}", table_to_parquet_bytes(table, ROWS_PER_ROW_GROUP), metadata


class TokenizeAndWrite(beam.PTransform):
    """Documents + tokenizer JSON (singleton PCollection) -> token shard metadata dicts."""

    def __init__(self, tokenizer_json, output_dir, config: PackConfig, dp_world_size, target_bytes):
        super().__init__()
        self.tokenizer_json = tokenizer_json
        self.output_dir = output_dir
        self.config = config
        self.dp_world_size = dp_world_size
        self.target_bytes = target_bytes

    def shard_count_of(self, total_tokens: int) -> int:
        return shard_count(total_tokens * TOKEN_BYTES, self.target_bytes, self.dp_world_size)

    def expand(self, docs):
        tokenizer = beam.pvalue.AsSingleton(self.tokenizer_json)
        shard_count_of = self.shard_count_of
        batches = beam.pvalue.AsSingleton(
            docs
            | "CountDocs" >> beam.combiners.Count.Globally()
            | "BatchCount" >> beam.Map(lambda n: max(1, n // ENCODE_BATCH_DOCS))
        )
        # The GroupByKey also keeps Encode out of the stage that reads the documents, which
        # feeds the tokenizer Encode waits for: fused, that stage would wait on itself
        # ("watermark-pending bundles did not execute").
        encoded = (
            docs
            | "BatchKey" >> beam.Map(lambda d, n: (stable_hash64(d.id) % n, d), batches)
            | "Batches" >> beam.GroupByKey()
            | "Encode" >> beam.ParDo(_EncodeBatch(), tokenizer)
        )
        total = beam.pvalue.AsSingleton(
            encoded
            | "CountTokens" >> beam.Map(lambda item: len(item[1]) + 1)
            | "TotalTokens" >> beam.CombineGlobally(sum)
        )
        return (
            encoded
            | "AssignShard"
            >> beam.Map(lambda item, n: (item[0][0] % shard_count_of(n), item), total)
            | "Group" >> GroupIntoShards(shard_count_of, total)
            | "Pack" >> beam.ParDo(_PackShard(self.config, shard_count_of), tokenizer, total)
            | "Write" >> beam.ParDo(WriteFile(self.output_dir))
        )
