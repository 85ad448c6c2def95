"""Common Crawl path listings (`warc.paths.gz`, `wet.paths.gz`) -> the files they name.

A listing holds one path per line, relative to the crawl's base URL, e.g.
`crawl-data/CC-MAIN-2024-22/segments/.../warc/CC-MAIN-...-00000.warc.gz`. Each line
becomes an InputFile at `commoncrawl_base_url` + the line; a line that is already a URL or
an absolute path is taken as it is. Blank lines and `#` comments are skipped. The line is
the file's `relative_path`, so fallback record ids do not depend on the base URL (a mirror
gives the same ids). The size of a named file is unknown (-1) until it is read: looking up
90,000 sizes would make matching slow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas.document import DeadLetter
from transforms.readers.compression import (
    CorruptInput,
    compression_of,
    iter_file_chunks,
    read_chunks,
)
from transforms.readers.config import ReaderConfig
from transforms.readers.files import InputFile

SUFFIXES = (".paths", ".paths.gz")
UNKNOWN_SIZE = -1
# A listing line longer than this is damage, not a path.
MAX_LINE_BYTES = 64 << 10
_URL = re.compile(r"^[a-zA-Z][-a-zA-Z0-9+.]*://")
_FILE_URL = "file://"


def is_listing(path: str) -> bool:
    """True for a Common Crawl path listing (`*.paths` or `*.paths.gz`)."""
    return path.lower().endswith(SUFFIXES)


def join_base(base: str, line: str) -> str:
    """Where a listed path is: base + line, unless the line is a URL or an absolute path.

    file:// URLs become plain paths: Beam's FileSystems has no `file` scheme.
    """
    if line.startswith(_FILE_URL):
        return line[len(_FILE_URL) :]
    if _URL.match(line) or line.startswith("/"):
        return line
    if base.startswith(_FILE_URL):
        base = base[len(_FILE_URL) :]
    if not base:
        return line
    return base.rstrip("/") + "/" + line


def expand_listing(
    source: str, listing: str, config: ReaderConfig
) -> Iterator[InputFile | DeadLetter]:
    """The files `listing` names, in its order, at most `config.max_files_per_listing`.

    A listing that cannot be read (missing, damaged compression, not text) becomes a
    DeadLetter at the line where reading stopped, after the files named before it.
    """
    limit = config.max_files_per_listing
    named = 0
    line_no = 0
    offset = 0  # decompressed offset of the line being read
    try:
        with FileSystems.open(listing, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            for raw in _lines(read_chunks(iter_file_chunks(handle), compression_of(listing))):
                if limit is not None and named >= limit:
                    return
                line = raw.decode("utf-8").strip()  # raises at line_no + 1, `offset`
                line_no += 1
                offset += len(raw) + 1
                if line and not line.startswith("#"):
                    named += 1
                    yield InputFile(
                        source, join_base(config.commoncrawl_base_url, line), line, UNKNOWN_SIZE
                    )
    except CorruptInput as err:
        yield DeadLetter(source, listing, f"damaged listing: {err}", line_no + 1, err.offset)
        return
    except Exception as err:  # noqa: BLE001 - missing, unreachable or not text
        yield DeadLetter(source, listing, f"cannot read listing: {err!r}", line_no + 1, offset)
        return
    if named == 0:
        yield DeadLetter(source, listing, "listing names no files", None, 0)


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        *lines, pending = (pending + chunk).split(b"\n")
        if len(pending) > MAX_LINE_BYTES:
            raise ValueError(f"a line longer than {MAX_LINE_BYTES} bytes: not a path listing")
        yield from lines
    if pending:
        yield pending
