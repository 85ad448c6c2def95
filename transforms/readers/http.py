"""Read-only http:// and https:// for Beam's FileSystems (Beam ships no HTTP filesystem).

Importing this module registers both schemes, so `FileSystems.open` and `FileSystems.match`
accept `https://data.commoncrawl.org/...` (Common Crawl's public endpoint). A URL matches
itself when a HEAD request finds it; a 404 matches nothing (there is no globbing over HTTP).

A read streams one GET response and opens a new ranged GET (`Range: bytes=N-`) only after a
seek or a broken connection, so a WARC streams over one connection, a connection dropped
mid-body resumes at the byte where it stopped, and Parquet can seek to its footer.
Transient failures (timeouts, resets, truncated bodies, 408/429/5xx such as Common Crawl's
503 Slow Down) are retried `RETRIES` times with exponential backoff; the rest (404, 403, a
host that does not resolve) fail at once, because retrying them only delays the dead
letter.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
import urllib.error
import urllib.request

from apache_beam.io.filesystem import (
    BeamIOError,
    CompressedFile,
    CompressionTypes,
    FileMetadata,
    FileSystem,
    MatchResult,
)
from apache_beam.io.filesystemio import Downloader, DownloaderStream

USER_AGENT = "curate-pipeline/0.1"
TIMEOUT_SECONDS = 60
RETRIES = 5
# The first wait; it doubles with each retry (1 + 2 + 4 + 8 + 16 s at most).
BACKOFF_SECONDS = 1.0
READ_BUFFER_BYTES = 8 << 20
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
NOT_FOUND_STATUS = frozenset({404, 410})


def is_transient(err: BaseException) -> bool:
    """True for an error that a later attempt may not see."""
    if isinstance(err, urllib.error.HTTPError):
        return err.code in RETRY_STATUS
    if isinstance(err, urllib.error.URLError):  # the reason is the underlying error
        err = err.reason
    # A host that does not resolve (offline, a typo) stays so for the minute of backoff; a
    # bad certificate too.
    if isinstance(err, socket.gaierror | ssl.SSLCertVerificationError):
        return False
    return isinstance(
        err, TimeoutError | ConnectionError | http.client.HTTPException | ssl.SSLError
    )


def with_retries(action):
    """`action()`, retried with exponential backoff while it fails transiently."""
    for attempt in range(RETRIES + 1):
        try:
            return action()
        except Exception as err:
            if attempt == RETRIES or not is_transient(err):
                raise
        time.sleep(BACKOFF_SECONDS * 2**attempt)
    raise AssertionError("unreachable")


def _get(url: str, method: str = "GET", byte_range: str | None = None):
    headers = {"User-Agent": USER_AGENT}
    if byte_range:
        headers["Range"] = f"bytes={byte_range}"
    request = urllib.request.Request(url, headers=headers, method=method)
    return urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)


def http_size(url: str) -> int:
    """The size of `url` from HEAD, else from a one-byte ranged GET's Content-Range."""

    def size() -> int:
        with _get(url, "HEAD") as response:
            if (length := response.headers.get("Content-Length")) is not None:
                return int(length)
        with _get(url, byte_range="0-0") as response:
            total = (response.headers.get("Content-Range") or "").rpartition("/")[2]
            if not total.isdigit():
                raise BeamIOError(f"{url}: the server gives no size (no Content-Length/Range)")
            return int(total)

    return with_retries(size)


class HttpDownloader(Downloader):
    """Byte ranges of one URL, served from one streaming response while reads are
    sequential."""

    def __init__(self, url: str):
        self.url = url
        self._size = None
        self._response = None
        self._position = 0  # offset of the next byte `_response` yields

    @property
    def size(self) -> int:
        if self._size is None:
            self._size = http_size(self.url)
        return self._size

    def get_range(self, start: int, end: int) -> bytes:
        return with_retries(lambda: self._read(start, end))

    def _read(self, start: int, end: int) -> bytes:
        try:
            if self._response is None or self._position != start:
                self._open(start)
            data = self._response.read(end - start)
            if not data:  # the server closed the connection before the promised length
                raise http.client.IncompleteRead(b"", end - start)
        except Exception:
            self.close()  # the next attempt resumes at `start` with a ranged GET
            raise
        self._position += len(data)
        return data

    def _open(self, start: int) -> None:
        self.close()
        response = _get(self.url, byte_range=f"{start}-" if start else None)
        if start and response.status != 206:  # the server ignored Range: skip ahead
            remaining = start
            while remaining:
                skipped = response.read(min(remaining, 1 << 20))
                if not skipped:
                    response.close()
                    raise http.client.IncompleteRead(b"", remaining)
                remaining -= len(skipped)
        self._response, self._position = response, start

    def close(self) -> None:
        """Closes the open response, if any (a later read opens a new one)."""
        if self._response is not None:
            self._response.close()
            self._response = None


class _HttpStream(DownloaderStream):
    """A DownloaderStream that also closes the connection when it is closed."""

    def close(self):
        if not self.closed:
            self._downloader.close()
        super().close()


class HttpFileSystem(FileSystem):
    """Read-only `http://` for FileSystems: open, match (one URL per pattern), size, exists."""

    @classmethod
    def scheme(cls):
        return "http"

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/")] + [p.strip("/") for p in paths])

    def split(self, path):
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        raise BeamIOError(f"HTTP cannot list {dir_or_prefix}: name files, not globs")

    def match(self, patterns, limits=None):
        results, errors = [], {}
        for pattern in patterns:
            try:
                results.append(MatchResult(pattern, [self.metadata(pattern)]))
            except urllib.error.HTTPError as err:
                if err.code not in NOT_FOUND_STATUS:
                    errors[pattern] = err
                results.append(MatchResult(pattern, []))
            except Exception as err:  # noqa: BLE001 - reported like other filesystems do
                errors[pattern] = err
        if errors:
            raise BeamIOError("Match operation failed", errors)
        return results

    def open(
        self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO
    ):
        stream = _HttpStream(HttpDownloader(path), read_buffer_size=READ_BUFFER_BYTES)
        raw = io.BufferedReader(stream, buffer_size=READ_BUFFER_BYTES)
        compression_type = FileSystem._get_compression_type(path, compression_type)
        if compression_type == CompressionTypes.UNCOMPRESSED:
            return raw
        return CompressedFile(raw, compression_type=compression_type)

    def exists(self, path):
        try:
            http_size(path)
        except urllib.error.HTTPError as err:
            if err.code in NOT_FOUND_STATUS:
                return False
            raise
        return True

    def size(self, path):
        return http_size(path)

    def last_updated(self, path):
        return 0.0

    def checksum(self, path):
        return str(http_size(path))

    def metadata(self, path):
        return FileMetadata(path, http_size(path), 0.0)

    def _read_only(self, *args, **kwargs):
        raise BeamIOError("http(s):// is read-only here")

    create = copy = rename = delete = mkdirs = _read_only


class HttpsFileSystem(HttpFileSystem):
    """Read-only `https://` for FileSystems."""

    @classmethod
    def scheme(cls):
        return "https"
