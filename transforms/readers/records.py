"""What every reader checks before handing a record out, and how it reports a lost stream.

A JSON string may hold a lone surrogate (`"\\ud800"`): Python reads it into a str that
UTF-8 cannot encode, and the job would die later where the text is hashed or written. So
every Document (and the document of every Rejected) is checked here, and a record that
fails becomes a DeadLetter at its own position. Dead letters themselves are made safe
to write by escaping such characters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from schemas.document import DeadLetter, Document, Rejected

# Every str field of a Document (`scores` is filled by later stages).
STRING_FIELDS = (
    "id",
    "text",
    "source",
    "source_file",
    "url",
    "timestamp",
    "sub_source",
    "lang",
    "content_type",
)


def encoding_error(record: Document | Rejected) -> str | None:
    """Why `record` (a Document, or a Rejected's document) cannot be written as UTF-8, or
    None when every string field can."""
    doc = record.doc if isinstance(record, Rejected) else record
    try:
        # Fast path (most records): every field ASCII, checked without a copy.
        if (
            doc.text.isascii()
            and doc.id.isascii()
            and doc.source.isascii()
            and doc.source_file.isascii()
            and (doc.url is None or doc.url.isascii())
            and (doc.timestamp is None or doc.timestamp.isascii())
            and (doc.sub_source is None or doc.sub_source.isascii())
            and (doc.lang is None or doc.lang.isascii())
            and (doc.content_type is None or doc.content_type.isascii())
        ):
            return None
    except AttributeError:
        pass  # a field that is not a string: named below
    for name in STRING_FIELDS:
        value = getattr(doc, name)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"'{name}' is a {type(value).__name__}, not a string"
        if value.isascii():
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            return (
                f"'{name}' cannot be encoded as UTF-8: lone surrogate "
                f"U+{ord(value[err.start]):04X} at character {err.start}"
            )
    return None


def guarded(
    build: Callable[[], Document | Rejected | str],
    dead: Callable[[str], DeadLetter],
    what: str,
) -> Document | Rejected | DeadLetter:
    """One record: `build()`'s Document or Rejected, or `dead(error)` when it raises (any
    exception, RecursionError included: one record, never the file), returns what is wrong
    (a str), or gives a record UTF-8 cannot write. `what` names the record in the error."""
    try:
        result = build()
    except Exception as err:  # noqa: BLE001 - one record, not the file
        return dead(f"{what} could not be read: {err!r}")
    if isinstance(result, str):
        return dead(result)
    if error := encoding_error(result):
        return dead(error)
    return result


def writable(text: str) -> str:
    """`text`, with what UTF-8 cannot encode (lone surrogates) as backslash escapes."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def writable_letter(letter: DeadLetter) -> DeadLetter:
    """`letter` with every string field made writable (errors may quote the input)."""
    fields = {}
    for name in ("source", "source_file", "error", "snippet"):
        value = getattr(letter, name)
        if isinstance(value, str) and (safe := writable(value)) is not value:
            fields[name] = safe
    return dataclasses.replace(letter, **fields) if fields else letter


def unread_note(read: int, raw_taken: int | None, size: int, compressed: bool) -> str:
    """How much of a file was left unread when its byte stream failed: `read` bytes of its
    (decompressed) stream were read and `raw_taken` of its `size` raw bytes were taken
    (either may be unknown: None, or size -1)."""
    if not compressed:
        if size >= 0 and raw_taken is not None:
            return f"{read} bytes were read, {max(size - raw_taken, 0)} of its {size} left unread"
        return f"{read} bytes were read, the rest left unread"
    note = f"{read} decompressed bytes were read"
    if raw_taken is None:
        return note + ", the rest left unread"
    if size < 0:
        return note + f", the compressed bytes after the first {raw_taken} left unread"
    left = max(size - raw_taken, 0)
    return note + f", {left} of its {size} compressed bytes left unread"
