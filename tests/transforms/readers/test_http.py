"""The read-only http(s):// filesystem against a local server that misbehaves on purpose.

`serve` is also used by the listing and ReadInputs tests: a threaded http.server on
127.0.0.1 serving bytes from a dict, with HEAD, `Range: bytes=N-`, and faults per path.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import urllib.error
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas.document import DeadLetter, Document
from transforms.readers import http as http_fs
from transforms.readers import read_file
from transforms.readers.files import InputFile

# Faults, each used up by one request to its path (a list plays them in order):
UNAVAILABLE = "503"  # answer 503 Service Unavailable (Common Crawl's "Slow Down")
DROP = "drop"  # promise the whole body, send half of it, close the connection
IGNORE_RANGE = "ignore-range"  # answer a ranged GET with 200 and the whole file


class _Handler(BaseHTTPRequestHandler):
    def do_HEAD(self):
        self._answer(body=False)

    def do_GET(self):
        self._answer(body=True)

    def log_message(self, *args):  # keep test output clean
        pass

    def _answer(self, body: bool):
        server = self.server
        path = self.path
        byte_range = self.headers.get("Range")
        server.log.append((self.command, path, byte_range))
        faults = server.faults.get(path) or []
        fault = faults.pop(0) if faults else None
        if fault == UNAVAILABLE:
            self.send_error(503, "Slow Down")
            return
        data = server.files.get(path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if byte_range and fault != IGNORE_RANGE:
            start = int(byte_range.removeprefix("bytes=").split("-")[0])
            end = byte_range.split("-")[1]
            stop = int(end) + 1 if end else len(data)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
            data = data[start:stop]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not body:
            return
        if fault == DROP:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a dropped connection is on purpose
        pass


@contextlib.contextmanager
def serve(files: dict[str, bytes], faults: dict[str, list[str]] | None = None) -> Iterator:
    """A server on 127.0.0.1 for `files` (URL path -> bytes); yields it, with `.url` (no
    trailing slash), `.log` ([(method, path, Range header)]) and `.faults` (editable)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.files = dict(files)
    server.faults = {path: list(fs) for path, fs in (faults or {}).items()}
    server.log = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def no_backoff(monkeypatch):
    """Retries without waiting, so the fault tests take milliseconds."""
    monkeypatch.setattr(http_fs, "BACKOFF_SECONDS", 0.0)


def _read_all(url: str) -> bytes:
    with FileSystems.open(url, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return handle.read()


DATA = bytes(range(256)) * 4000  # 1,024,000 bytes


def test_open_match_exists_and_size(no_backoff):
    with serve({"/d/a.bin": DATA}) as server:
        url = server.url + "/d/a.bin"
        assert _read_all(url) == DATA
        (result,) = FileSystems.match([url])
        assert [(m.path, m.size_in_bytes) for m in result.metadata_list] == [(url, len(DATA))]
        assert FileSystems.match([server.url + "/missing.bin"])[0].metadata_list == []
        assert FileSystems.exists(url) and not FileSystems.exists(server.url + "/missing.bin")
        handle = FileSystems.open(url, compression_type=CompressionTypes.UNCOMPRESSED)
        assert handle.read(3) == DATA[:3]
        downloader = handle.raw._downloader
        handle.close()
        assert downloader._response is None  # closing the file closes the connection
        # One GET streams a file: no ranged requests while reads are sequential.
        assert [e for e in server.log if e[0] == "GET"] == [("GET", "/d/a.bin", None)] * 2


def test_503_once_is_retried(no_backoff):
    with serve({"/a.bin": DATA}, faults={"/a.bin": [UNAVAILABLE]}) as server:
        assert _read_all(server.url + "/a.bin") == DATA
        assert server.log[:2] == [("HEAD", "/a.bin", None), ("HEAD", "/a.bin", None)]


def test_connection_dropped_mid_body_resumes_with_a_ranged_get(no_backoff):
    faults = {"/a.bin": [None, DROP]}  # the HEAD answers normally, the first GET breaks
    with serve({"/a.bin": DATA}, faults=faults) as server:
        assert _read_all(server.url + "/a.bin") == DATA
        gets = [e for e in server.log if e[0] == "GET"]
        assert gets == [("GET", "/a.bin", None), ("GET", "/a.bin", f"bytes={len(DATA) // 2}-")]


def test_seek_opens_a_ranged_get_and_a_server_that_ignores_range_still_works(no_backoff):
    # HEAD, the first GET and the ranged GET after the first seek answer normally; the
    # ranged GET after the second seek gets the whole file, and the reader skips ahead.
    faults = {"/a.bin": [None, None, None, IGNORE_RANGE]}
    with serve({"/a.bin": DATA}, faults=faults) as server:
        with FileSystems.open(server.url + "/a.bin", compression_type="uncompressed") as f:
            assert f.read(10) == DATA[:10]
            f.seek(-3, os.SEEK_END)
            assert f.read() == DATA[-3:]
            f.seek(600_000)
            assert f.read(5) == DATA[600_000:600_005]
        assert [r for m, _, r in server.log if m == "GET"] == [
            None,
            f"bytes={len(DATA) - 3}-",
            "bytes=600000-",
        ]


def test_404_fails_at_once_and_becomes_a_dead_letter(no_backoff):
    with serve({}) as server:
        url = server.url + "/crawl/x.warc.gz"
        (dead,) = read_file(InputFile("cc", url, "crawl/x.warc.gz", -1))
        assert isinstance(dead, DeadLetter)
        assert dead.source_file == url and "404" in dead.error
        assert len(server.log) == 1  # not retried


def test_persistent_503_gives_up_after_the_retries(no_backoff):
    with serve({"/a.bin": DATA}, faults={"/a.bin": [UNAVAILABLE] * 10}) as server:
        with pytest.raises(urllib.error.HTTPError, match="503"):
            http_fs.http_size(server.url + "/a.bin")
        assert len(server.log) == http_fs.RETRIES + 1


def test_which_errors_are_retried():
    def http_error(code):
        return urllib.error.HTTPError("http://x", code, "", {}, None)

    assert http_fs.is_transient(http_error(503)) and http_fs.is_transient(http_error(429))
    assert not http_fs.is_transient(http_error(404)) and not http_fs.is_transient(http_error(403))
    assert http_fs.is_transient(urllib.error.URLError(ConnectionResetError()))
    assert http_fs.is_transient(TimeoutError())
    # An unknown host: retrying only delays the dead letter (and Beam's DirectRunner opens
    # its Prism download URL through this filesystem, so every offline test would wait).
    unknown_host = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert not http_fs.is_transient(urllib.error.URLError(unknown_host))
    assert not http_fs.is_transient(ValueError("bug"))


def test_read_only():
    with pytest.raises(Exception, match="read-only"):
        FileSystems.create("http://127.0.0.1:9/x")


def test_wet_fixture_and_parquet_over_http_with_faults(fixtures, tmp_path, no_backoff):
    import pyarrow as pa
    import pyarrow.parquet as pq

    wet = (fixtures / "commoncrawl" / "CC-MAIN-2024-22-whirlwind.warc.wet.gz").read_bytes()
    table = pa.table({"text": [f"row {i} " * 50 for i in range(2000)]})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=500)
    files = {"/w.warc.wet.gz": wet, "/t.parquet": (tmp_path / "t.parquet").read_bytes()}
    faults = {"/w.warc.wet.gz": [UNAVAILABLE, None, DROP], "/t.parquet": [UNAVAILABLE]}
    with serve(files, faults=faults) as server:
        wet_records = list(read_file(InputFile("cc", server.url + "/w.warc.wet.gz", "w", -1)))
        (doc,) = wet_records
        assert isinstance(doc, Document) and doc.url == "https://an.wikipedia.org/wiki/Escopete"
        assert ("GET", "/w.warc.wet.gz", f"bytes={len(wet) // 2}-") in server.log  # resumed
        rows = list(read_file(InputFile("t", server.url + "/t.parquet", "t.parquet", -1)))
        assert [d.text for d in rows] == table.column("text").to_pylist()
        # Parquet reads the footer first: a seek, so a ranged GET.
        assert any(p == "/t.parquet" and r for _, p, r in server.log)
