"""Parquet text datasets: fields, streaming in bounded batches, and damaged files."""

from __future__ import annotations

import io
import os

import pytest

from schemas.document import DeadLetter, Document, Rejected
from transforms.readers import parquet, read_file, reasons
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


# --- one bad row costs only itself; no value larger than max_record_bytes is read --------


def _unchecked_strings(values: list[bytes]):
    """A string array holding `values` as they are: pyarrow does not check them, and
    neither does the Parquet writer, so a file can hold strings that are not UTF-8."""
    raw = pa.array(values, pa.binary())
    return pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())


def test_a_string_that_is_not_utf8_costs_its_row_not_its_batch(tmp_path):
    texts = [b"good 1", b"surrogate \xed\xa0\x80 bytes", b"good 2", b"bad \xff byte", b"good 3"]
    path = tmp_path / "web.parquet"
    pq.write_table(pa.table({"text": _unchecked_strings(texts), "id": list("abcde")}), path)
    records = _read(path)
    assert [getattr(r, "text", None) for r in records] == ["good 1", None, "good 2", None, "good 3"]
    dead = [r for r in records if isinstance(r, DeadLetter)]
    assert [d.line for d in dead] == [2, 4]
    assert all("column 'text' is not valid UTF-8" in d.error for d in dead)


def test_code_content_that_is_not_utf8_is_binary(tmp_path):
    path = tmp_path / "the-stack.parquet"
    content = _unchecked_strings([b"print('ok')\n", b"\x89PNG\xff\xfe\n"])
    table = pa.table({"content": content, "path": ["a.py", "b.py"], "licenses": [["MIT"]] * 2})
    pq.write_table(table, path)
    doc, rejected = _read(path)
    assert doc.text == "print('ok')\n"
    assert (rejected.reason, rejected.doc.id) == (reasons.BINARY, "web:the-stack.parquet:2")


@pytest.mark.parametrize("column", ["text", "content"])
def test_a_value_over_max_record_bytes_is_rejected_too_large_with_its_fields(tmp_path, column):
    values = ["small one", "x" * 5000, "small two"]
    table = pa.table({column: values, "id": ["s1", "big", "s2"], "path": ["a.py"] * 3})
    table = table.append_column("licenses", pa.array([["MIT"]] * 3))
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    first, rejected, last = _read(path, ReaderConfig(max_record_bytes=1000))
    assert (first.text, last.text) == ("small one", "small two")
    assert isinstance(rejected, Rejected) and rejected.reason == reasons.TOO_LARGE
    assert (rejected.doc.id, rejected.doc.text, rejected.doc.source) == ("big", "", "web")


def test_any_error_while_mapping_a_row_costs_only_that_row(tmp_path, monkeypatch):
    real = parquet.record_to_document

    def flaky(record, text, file, row):
        if text == "boom":
            raise ValueError("a bug in the field mapping")
        return real(record, text, file, row)

    monkeypatch.setattr(parquet, "record_to_document", flaky)
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["a", "boom", "c"]}), path)
    first, dead, last = _read(path)
    assert (first.text, last.text) == ("a", "c")
    assert dead.line == 2 and "ValueError" in dead.error


def test_batches_hold_fewer_rows_when_rows_are_large(tmp_path):
    path = tmp_path / "big-rows.parquet"
    texts = [os.urandom(50_000).hex() for _ in range(40)]  # 100 kB rows, incompressible
    pq.write_table(pa.table({"text": texts}), path)
    meta = pq.ParquetFile(path).metadata.row_group(0)
    config = ReaderConfig(parquet_batch_rows=256, parquet_batch_bytes=1 << 20)
    assert parquet._batch_rows(meta, ["text"], config) == 10
    assert parquet._batch_rows(meta, ["text"], ReaderConfig()) == 256  # 64 MiB hold 655 rows
    assert [d.text for d in _read(path, config)] == texts
