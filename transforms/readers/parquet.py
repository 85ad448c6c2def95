"""Parquet files: text datasets (a `text` column) or The Stack-style code (`content`).

Rows are streamed in batches with `ParquetFile.iter_batches`, reading only the columns
used and buffering column chunks in pieces (`pre_buffer` off), so memory is bounded by a
batch and a few pages, not by the file or a row group. A batch holds at most
`parquet_batch_rows` rows and, by the row group's own size statistics, about
`parquet_batch_bytes` of column data. A file with a `text` column is a text dataset,
mapped like JSON lines (id, url, timestamp/date, language, meta.pile_set_name); otherwise
a `content` (or `code`) column makes it code (fields and checks in `code.py`).

A text or content value longer than `max_record_bytes` (UTF-8 bytes) is not turned into
a Python string: the row becomes `Rejected(doc, "read", "too_large")` with its other
fields and empty text. A row that cannot be turned into a record (a string column holding
bytes that are not UTF-8, which pyarrow reads without checking; any error while mapping
it) is that row's DeadLetter; code content that is not UTF-8 is Rejected `binary` as in
`code.py`. A damaged page loses the rest of its row group (one DeadLetter naming the rows).

Dead letters: `line` is the 1-based row number, `offset` the byte offset of the row
group holding the row (for an unreadable footer: where the footer length is stored).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import BinaryIO

from schemas.document import DeadLetter, Document, Rejected
from transforms.readers import code, reasons
from transforms.readers.config import DEFAULT_CONFIG, ReaderConfig
from transforms.readers.files import InputFile
from transforms.readers.jsonl import record_to_document
from transforms.readers.records import guarded

SUFFIXES = (".parquet",)
TEXT_COLUMNS = (
    "text",
    "id",
    "url",
    "timestamp",
    "date",
    "created",
    "language",
    "lang",
    "source",
    "meta",
    "metadata",
)
# Column chunks are read in pieces of this size rather than whole.
READ_BUFFER_BYTES = 1 << 20


def read_parquet(
    file: InputFile, handle: BinaryIO, *, config: ReaderConfig = DEFAULT_CONFIG
) -> Iterator[Document | Rejected | DeadLetter]:
    """Documents, Rejected (code checks) and DeadLetters of one Parquet file, from its
    seekable binary handle."""
    import pyarrow.parquet as pq  # lazy: only Parquet inputs need it

    def dead(error: str, row: int | None, offset: int | None) -> DeadLetter:
        return DeadLetter(file.source, file.path, error, row, offset)

    try:
        parquet = pq.ParquetFile(handle, buffer_size=READ_BUFFER_BYTES, pre_buffer=False)
        names = set(parquet.schema_arrow.names)
        offsets = _row_group_offsets(parquet)
    except Exception as err:  # noqa: BLE001 - a damaged footer or not Parquet at all
        yield dead(f"not a readable Parquet file: {err}", None, max(file.size - 8, 0))
        return
    is_code = "text" not in names and any(c in names for c in code.TEXT_FIELDS)
    if not is_code and "text" not in names:
        yield dead(f"no 'text' or 'content' column (columns: {', '.join(sorted(names))})", None, 0)
        return
    columns = [c for c in (code.FIELDS if is_code else TEXT_COLUMNS) if c in names]
    text_columns = [c for c in (code.TEXT_FIELDS if is_code else ("text",)) if c in names]
    row = 0  # rows handed out or dead-lettered so far
    for group, offset in enumerate(offsets):
        meta = parquet.metadata.row_group(group)
        group_end = row + meta.num_rows
        batches = parquet.iter_batches(
            batch_size=_batch_rows(meta, columns, config), row_groups=[group], columns=columns
        )
        while True:
            # Only decoding is guarded here: a damaged page loses the rest of its row group.
            try:
                batch = next(batches, None)
            except Exception as err:  # noqa: BLE001
                yield dead(
                    f"Parquet row group {group} is damaged; rows {row + 1}-{group_end} lost: {err}",
                    row + 1,
                    offset,
                )
                row = group_end
                break
            if batch is None:
                break
            try:
                batch, oversized = _drop_oversized(batch, text_columns, config.max_record_bytes)
            except Exception:  # noqa: BLE001 - a column pyarrow cannot measure: rows judge
                oversized = frozenset()
            for index, record in enumerate(_batch_records(batch, is_code)):
                row += 1
                yield _row(record, file, row, offset, is_code, index in oversized, config)


def _row(record, file: InputFile, row: int, offset: int, is_code: bool, too_large: bool, config):
    """One row (a dict, or why it could not be converted) -> its record; never raises."""

    def dead(error: str) -> DeadLetter:
        return DeadLetter(file.source, file.path, error, row, offset)

    if isinstance(record, str):
        return dead(record)
    return guarded(lambda: _mapped(record, file, row, is_code, too_large, config), dead, "row")


def _mapped(record: dict, file: InputFile, row: int, is_code: bool, too_large: bool, config):
    """A row -> Document, Rejected, or what is wrong with it (a str)."""
    if too_large:
        doc = (
            code.code_fields(record, file, row)
            if is_code
            else record_to_document(record, "", file, row)
        )
        return Rejected(replace(doc, text=""), reasons.READ_STAGE, reasons.TOO_LARGE)
    if is_code:
        if not any(isinstance(record.get(f), str | bytes) for f in code.TEXT_FIELDS):
            return "no 'content' in this row"
        return code.code_document(record, file, row, config)
    text = record.get("text")
    if not isinstance(text, str):
        kind = "null" if text is None else type(text).__name__
        return f"'text' is {kind}, not a string"
    return record_to_document(record, text, file, row)


def _batch_rows(meta, columns: list[str], config: ReaderConfig) -> int:
    """Rows per batch: `parquet_batch_rows`, fewer when the row group's rows are large."""
    try:
        read = sum(
            meta.column(i).total_uncompressed_size
            for i in range(meta.num_columns)
            if meta.column(i).path_in_schema.split(".", 1)[0] in columns
        )
    except Exception:  # noqa: BLE001 - statistics a writer left out
        return config.parquet_batch_rows
    per_row = max(read / max(meta.num_rows, 1), 1.0)
    return max(1, min(config.parquet_batch_rows, int(config.parquet_batch_bytes / per_row)))


def _drop_oversized(batch, columns: list[str], limit: int):
    """(batch with values longer than `limit` bytes in `columns` set to null, the indices of
    their rows), so that no such value becomes a Python string."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = None
    for name in columns:
        index = batch.schema.get_field_index(name)
        column = batch.column(index)
        kind = column.type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)) and not (
            pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
        ):
            continue
        over = pc.fill_null(pc.greater(pc.binary_length(column), limit), False)
        if not pc.any(over).as_py():
            continue
        batch = batch.set_column(index, name, pc.if_else(over, pa.scalar(None, kind), column))
        rows = over if rows is None else pc.or_(rows, over)
    if rows is None:
        return batch, frozenset()
    return batch, frozenset(i for i, flag in enumerate(rows.to_pylist()) if flag)


def _batch_records(batch, is_code: bool) -> list[dict | str]:
    """The rows of a batch as dicts; a row pyarrow cannot convert (bytes that are not
    UTF-8 in a string column) is a str saying why, or, for code content, its bytes."""
    try:
        return batch.to_pylist()
    except Exception:  # noqa: BLE001 - find the rows at fault one by one
        pass
    records = []
    for index in range(batch.num_rows):
        record = {}
        for name in batch.schema.names:
            column = batch.column(name)
            try:
                record[name] = column[index].as_py()
            except UnicodeDecodeError as err:
                if is_code and name in code.TEXT_FIELDS:
                    import pyarrow as pa

                    record[name] = column.slice(index, 1).cast(pa.binary())[0].as_py()
                    continue
                record = f"column '{name}' is not valid UTF-8: {err.reason} at byte {err.start}"
                break
            except Exception as err:  # noqa: BLE001
                record = f"column '{name}' cannot be read: {err!r}"
                break
        records.append(record)
    return records


def _row_group_offsets(parquet) -> list[int]:
    """Byte offset of each row group's first column chunk."""
    offsets = []
    for i in range(parquet.num_row_groups):
        column = parquet.metadata.row_group(i).column(0)
        starts = [column.data_page_offset]
        if column.has_dictionary_page and column.dictionary_page_offset:
            starts.append(column.dictionary_page_offset)
        offsets.append(min(starts))
    return offsets
