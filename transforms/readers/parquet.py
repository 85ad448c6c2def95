"""Parquet files: text datasets (a `text` column) or The Stack-style code (`content`).

Rows are streamed in batches of `parquet_batch_rows` with `ParquetFile.iter_batches`,
reading only the columns used and buffering column chunks in pieces (`pre_buffer` off), so
memory is bounded by a batch and a few pages, not by the file or a row group. A file with a
`text` column is a text dataset, mapped like JSON lines (id, url, timestamp/date, language,
meta.pile_set_name); otherwise a `content` (or `code`) column makes it code (fields and
checks in `code.py`).

Dead letters: `line` is the 1-based row number, `offset` the byte offset of the row
group holding the row (for an unreadable footer: where the footer length is stored).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from schemas.document import DeadLetter, Document, Rejected
from transforms.readers import code
from transforms.readers.config import DEFAULT_CONFIG, ReaderConfig
from transforms.readers.files import InputFile
from transforms.readers.jsonl import record_to_document

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
    row = 0  # rows handed out or dead-lettered so far
    for group, offset in enumerate(offsets):
        group_end = row + parquet.metadata.row_group(group).num_rows
        batches = parquet.iter_batches(
            batch_size=config.parquet_batch_rows, row_groups=[group], columns=columns
        )
        while True:
            # Only decoding is guarded: a damaged page loses the rest of its row group, while
            # a bug in mapping a row must not pass for damage.
            try:
                batch = next(batches, None)
                records = [] if batch is None else batch.to_pylist()
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
            for record in records:
                row += 1
                yield _row(record, file, row, offset, is_code, config)


def _row(record: dict, file: InputFile, row: int, offset: int, is_code: bool, config):
    if is_code:
        if not any(isinstance(record.get(f), str | bytes) for f in code.TEXT_FIELDS):
            return DeadLetter(file.source, file.path, "no 'content' in this row", row, offset)
        return code.code_document(record, file, row, config)
    text = record.get("text")
    if not isinstance(text, str):
        kind = "null" if text is None else type(text).__name__
        return DeadLetter(file.source, file.path, f"'text' is {kind}, not a string", row, offset)
    return record_to_document(record, text, file, row)


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
