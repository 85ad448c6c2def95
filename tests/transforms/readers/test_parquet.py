"""Parquet text datasets: fields, streaming in bounded batches, and damaged files."""

from __future__ import annotations

import io
import os

import pytest

from schemas.document import DeadLetter, Document
from transforms.readers import read_file
from transforms.readers.config import ReaderConfig
from transforms.readers.files import InputFile
from transforms.readers.parquet import read_parquet

pa = pytest.importorskip("pyarrow", reason="pyarrow is needed for the Parquet reader tests")
pq = pytest.importorskip("pyarrow.parquet")


def _read(path, config: ReaderConfig | None = None) -> list:
    file = InputFile("web", str(path), os.path.basename(path), os.path.getsize(path))
    return list(read_file(file, config or ReaderConfig()))


def test_text_dataset_fields(tmp_path):
    table = pa.table(
        {
            "text": ["first page", None, "third page"],
            "id": ["a-1", "a-2", None],
            "url": ["https://example.com/1", None, "https://example.com/3"],
            "timestamp": ["2019-04-21T18:54:04Z", None, None],
            "meta": [{"pile_set_name": "Pile-CC"}, None, {"pile_set_name": "Wikipedia (en)"}],
            "token_count": [2, 0, 2],  # not used
        }
    )
    path = tmp_path / "web.parquet"
    pq.write_table(table, path)
    first, dead, third = _read(path)
    assert (first.id, first.url, first.timestamp, first.sub_source) == (
        "a-1",
        "https://example.com/1",
        "2019-04-21T18:54:04Z",
        "Pile-CC",
    )
    assert first.text == "first page" and first.source_file == str(path)
    assert isinstance(dead, DeadLetter) and dead.line == 2 and "'text' is null" in dead.error
    # No id: file + row number.
    assert third.id == "web:web.parquet:3" and third.sub_source == "Wikipedia (en)"


def test_rows_stream_in_batches_across_row_groups(tmp_path):
    rows = 2000
    # Random hex text does not compress, so the file is as large as its text (~6 MB).
    texts = [os.urandom(1500).hex() for _ in range(rows)]
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=100)
    size = os.path.getsize(path)

    class CountingFile(io.FileIO):
        read_bytes = 0

        def read(self, n=-1):
            data = super().read(n)
            CountingFile.read_bytes += len(data)
            return data

        def readinto(self, b):
            n = super().readinto(b)
            CountingFile.read_bytes += n or 0
            return n

    file = InputFile("web", str(path), "big.parquet", size)
    with CountingFile(path) as handle:
        records = read_parquet(file, handle, config=ReaderConfig(parquet_batch_rows=16))
        first = next(records)
        # The first document comes after the footer and the first row group's pages, not
        # after the whole file.
        assert first.text == texts[0]
        assert CountingFile.read_bytes < size / 4
        rest = list(records)
    assert [d.text for d in [first, *rest]] == texts
    assert [d.id for d in rest[-2:]] == ["web:big.parquet:1999", "web:big.parquet:2000"]


def test_damaged_row_group_loses_only_its_rows(tmp_path):
    table = pa.table({"text": [f"doc {i} " * 20 for i in range(300)]})
    path = tmp_path / "damaged.parquet"
    pq.write_table(table, path, row_group_size=100)
    column = pq.ParquetFile(path).metadata.row_group(1).column(0)
    start = min(column.data_page_offset, column.dictionary_page_offset or column.data_page_offset)
    blob = bytearray(path.read_bytes())
    blob[start : start + column.total_compressed_size] = bytes(column.total_compressed_size)
    path.write_bytes(bytes(blob))
    records = _read(path)
    docs = [r for r in records if isinstance(r, Document)]
    (dead,) = [r for r in records if isinstance(r, DeadLetter)]
    assert [d.text for d in docs] == table.column("text").to_pylist()[:100] + (
        table.column("text").to_pylist()[200:]
    )
    assert "row group 1 is damaged; rows 101-200 lost" in dead.error
    assert (dead.line, dead.offset, dead.source_file) == (101, start, str(path))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "footer"])
def test_corrupt_parquet_file_is_a_dead_letter(tmp_path, damage):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": ["a", "b"]}), path)
    blob = path.read_bytes()
    if damage == "garbage":
        blob = b"this is not parquet at all" * 10
    elif damage == "truncated":
        blob = blob[: len(blob) // 2]
    else:  # the footer's length points outside the file
        blob = blob[:-8] + (10**9).to_bytes(4, "little") + b"PAR1"
    path.write_bytes(blob)
    (dead,) = _read(path)
    assert isinstance(dead, DeadLetter) and dead.source_file == str(path)
    assert "not a readable Parquet file" in dead.error


def test_parquet_without_a_text_or_content_column(tmp_path):
    path = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), path)
    (dead,) = _read(path)
    assert "no 'text' or 'content' column (columns: x)" in dead.error


def test_empty_parquet_file_holds_no_records(tmp_path):
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), path)
    (dead,) = _read(path)
    assert dead.error == "file holds no records"
