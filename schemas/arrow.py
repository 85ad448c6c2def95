"""Explicit pyarrow schemas of every Parquet file the pipeline writes, and their converters."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.document import Document, Rejected

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("sub_source", pa.string()),
        pa.field("url", pa.string()),
        pa.field("timestamp", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("scores", pa.map_(pa.string(), pa.float64())),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("content_type", pa.string()),
    ]
)

# `text` holds the dropped document PII-redacted as the kept ones are, unless
# stages.pii.rejected_text is "full" (transforms/pii/dropped.py).
REJECTED_SCHEMA = (
    DOCUMENT_SCHEMA.append(pa.field("stage", pa.string(), nullable=False))
    .append(pa.field("reason", pa.string(), nullable=False))
    # The id of the document kept in this one's place (exact_dup, near_dup), else null.
    .append(pa.field("duplicate_of", pa.string()))
)

TOKENS_SCHEMA = pa.schema(
    [
        # Exactly seq_len token ids per row.
        pa.field("input_ids", pa.list_(pa.int32()), nullable=False),
        # Positions in the row where a new document starts (for document-masked attention);
        # a row that begins inside a document does not list 0.
        pa.field("doc_starts", pa.list_(pa.int32()), nullable=False),
    ]
)

PARQUET_WRITE_OPTIONS = {"compression": "zstd", "use_dictionary": ["source", "sub_source", "lang"]}


def _document_columns(docs: list[Document]) -> dict[str, list]:
    return {
        "id": [d.id for d in docs],
        "source": [d.source for d in docs],
        "sub_source": [d.sub_source for d in docs],
        "url": [d.url for d in docs],
        "timestamp": [d.timestamp for d in docs],
        "lang": [d.lang for d in docs],
        "text": [d.text for d in docs],
        "scores": [sorted(d.scores.items()) for d in docs],
        "source_file": [d.source_file for d in docs],
        "content_type": [d.content_type for d in docs],
    }


def documents_to_table(docs: list[Document]) -> pa.Table:
    """Documents (in the given order) -> a table with DOCUMENT_SCHEMA."""
    return pa.table(_document_columns(docs), schema=DOCUMENT_SCHEMA)


def rejected_to_table(rejected: list[Rejected]) -> pa.Table:
    """Rejected documents -> a table with REJECTED_SCHEMA (document columns + stage, reason,
    duplicate_of)."""
    columns = _document_columns([r.doc for r in rejected])
    columns["stage"] = [r.stage for r in rejected]
    columns["reason"] = [r.reason for r in rejected]
    columns["duplicate_of"] = [r.duplicate_of for r in rejected]
    return pa.table(columns, schema=REJECTED_SCHEMA)


def table_to_documents(table: pa.Table) -> list[Document]:
    """The inverse of `documents_to_table` (also accepts a REJECTED_SCHEMA table)."""
    return [
        Document(
            id=row["id"],
            text=row["text"],
            source=row["source"],
            source_file=row["source_file"],
            url=row["url"],
            timestamp=row["timestamp"],
            sub_source=row["sub_source"],
            lang=row["lang"],
            scores=dict(row["scores"] or []),
            content_type=row.get("content_type"),
        )
        for row in table.to_pylist()
    ]


def token_rows_to_table(rows: np.ndarray, doc_starts: list[list[int]]) -> pa.Table:
    """A (n_rows, seq_len) int32 array plus per-row document starts -> TOKENS_SCHEMA table."""
    n_rows, seq_len = rows.shape
    offsets = np.arange(0, (n_rows + 1) * seq_len, seq_len, dtype=np.int32)
    input_ids = pa.ListArray.from_arrays(pa.array(offsets), pa.array(rows.reshape(-1)))
    starts = pa.array(doc_starts, type=pa.list_(pa.int32()))
    return pa.Table.from_arrays([input_ids, starts], schema=TOKENS_SCHEMA)


def table_to_parquet_bytes(table: pa.Table, row_group_size: int | None = None) -> bytes:
    """Serialize a table to Parquet bytes (zstd). Same table + same pyarrow = same bytes."""
    sink = io.BytesIO()
    use_dictionary = [c for c in PARQUET_WRITE_OPTIONS["use_dictionary"] if c in table.column_names]
    pq.write_table(
        table,
        sink,
        compression=PARQUET_WRITE_OPTIONS["compression"],
        use_dictionary=use_dictionary or False,
        row_group_size=row_group_size,
    )
    return sink.getvalue()


# Near-dedup: one row per input document of a dedup run (`kept` marks the survivor of its
# cluster; `cluster_id` is the survivor's id, or an earlier run's survivor's id).
CLUSTERS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("cluster_id", pa.string(), nullable=False),
        pa.field("kept", pa.bool_(), nullable=False),
    ]
)

# Near-dedup history: one row per survivor, its LSH band hashes and MinHash signature. The
# MinHash/LSH parameters the rows were made with are in the schema metadata (`near_dedup`).
NEAR_DEDUP_INDEX_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("band_hashes", pa.list_(pa.uint64()), nullable=False),
        pa.field("signature", pa.list_(pa.uint32()), nullable=False),
    ]
)


def clusters_to_table(rows: list[tuple[str, str, bool]]) -> pa.Table:
    """(id, cluster_id, kept) tuples -> a table with CLUSTERS_SCHEMA."""
    ids, clusters, kept = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    return pa.table({"id": ids, "cluster_id": clusters, "kept": kept}, schema=CLUSTERS_SCHEMA)


def near_dedup_index_to_table(
    rows: list[tuple[str, str, list[int], np.ndarray]], params: dict
) -> pa.Table:
    """(id, source_file, band hashes, uint32 signature) tuples + the parameters -> a table with
    NEAR_DEDUP_INDEX_SCHEMA and `near_dedup` metadata (JSON of `params`)."""
    columns = {
        "id": [r[0] for r in rows],
        "source_file": [r[1] for r in rows],
        "band_hashes": [list(r[2]) for r in rows],
        "signature": [np.asarray(r[3], dtype=np.uint32) for r in rows],
    }
    schema = NEAR_DEDUP_INDEX_SCHEMA.with_metadata(
        {"near_dedup": json.dumps(params, sort_keys=True)}
    )
    return pa.table(columns, schema=schema)
