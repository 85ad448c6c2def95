import io

import numpy as np
import pyarrow.parquet as pq

from schemas.arrow import (
    DOCUMENT_SCHEMA,
    REJECTED_SCHEMA,
    TOKENS_SCHEMA,
    documents_to_table,
    rejected_to_table,
    table_to_documents,
    table_to_parquet_bytes,
    token_rows_to_table,
)
from schemas.document import Document, Rejected

DOCS = [
    Document(
        "a",
        "text \u00e9 \U0001f600",
        "web",
        "/in/a.jsonl",
        url="http://x",
        lang="en",
        scores={"q": 0.5},
    ),
    Document("b", "more", "pile", "/in/b.jsonl.zst", sub_source="FreeLaw", timestamp="2020"),
    Document(
        "<urn:uuid:2aabeff2-67f5-4608-8466-e87c6296e2b6>",
        "Escopete",
        "cc",
        "/in/c.warc.gz",
        url="https://an.wikipedia.org/wiki/Escopete",
        timestamp="2024-05-18T01:58:10Z",
        content_type="text/html",
    ),
]


def _round_trip(table):
    return pq.read_table(io.BytesIO(table_to_parquet_bytes(table)))


def test_documents_round_trip():
    table = _round_trip(documents_to_table(DOCS))
    assert table.schema.equals(DOCUMENT_SCHEMA)
    assert table_to_documents(table) == DOCS
    assert table.column("content_type").to_pylist() == [None, None, "text/html"]


def test_table_without_content_type_column_reads_as_none():
    """Parquet written before the column existed still reads back."""
    table = documents_to_table(DOCS).drop_columns(["content_type"])
    assert [d.content_type for d in table_to_documents(table)] == [None, None, None]


def test_rejected_round_trip():
    rejected = [
        Rejected(DOCS[0], "normalize", "empty"),
        Rejected(DOCS[1], "near_dedup", "near_dup", duplicate_of=DOCS[2].id),
    ]
    table = _round_trip(rejected_to_table(rejected))
    assert table.schema.equals(REJECTED_SCHEMA)
    assert table.column("reason").to_pylist() == ["empty", "near_dup"]
    assert table.column("duplicate_of").to_pylist() == [None, DOCS[2].id]
    assert table_to_documents(table) == DOCS[:2]


def test_token_rows_round_trip():
    rows = np.arange(12, dtype=np.int32).reshape(3, 4)
    table = _round_trip(token_rows_to_table(rows, [[0], [], [1, 3]]))
    assert table.schema.equals(TOKENS_SCHEMA)
    assert table.column("input_ids").to_pylist() == rows.tolist()
    assert table.column("doc_starts").to_pylist() == [[0], [], [1, 3]]


def test_serialization_is_deterministic():
    assert table_to_parquet_bytes(documents_to_table(DOCS)) == table_to_parquet_bytes(
        documents_to_table(list(DOCS))
    )


def test_clusters_and_near_dedup_index_round_trip():
    import json

    from schemas.arrow import (
        CLUSTERS_SCHEMA,
        NEAR_DEDUP_INDEX_SCHEMA,
        clusters_to_table,
        near_dedup_index_to_table,
    )

    rows = [("a", "a", True), ("b", "a", False)]
    table = pq.read_table(io.BytesIO(table_to_parquet_bytes(clusters_to_table(rows))))
    assert table.schema.equals(CLUSTERS_SCHEMA)
    assert [tuple(r.values()) for r in table.to_pylist()] == rows
    assert clusters_to_table([]).num_rows == 0

    index = [("a", "/in/a", [2**64 - 1, 5], np.array([1, 2**32 - 1], dtype=np.uint32))]
    params = {"num_perm": 2, "bands": 2}
    data = table_to_parquet_bytes(near_dedup_index_to_table(index, params))
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.equals(NEAR_DEDUP_INDEX_SCHEMA)
    assert json.loads(table.schema.metadata[b"near_dedup"]) == params
    assert table.to_pylist() == [
        {
            "id": "a",
            "source_file": "/in/a",
            "band_hashes": [2**64 - 1, 5],
            "signature": [1, 2**32 - 1],
        }
    ]
