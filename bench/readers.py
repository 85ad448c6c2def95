"""WARC reading + HTML extraction throughput, ours against what a user would write, and
peak memory on a large WARC.

    python -m bench.readers [--size-mb 200] [--large-gb 1.0] [--workdir DIR]

1. Builds a Common Crawl-like `.warc.gz` (one gzip member per record; request, response and
   metadata records) from the real HTTP responses in ../shared/fixtures/commoncrawl, each
   copy with a new record id and URL, until it holds `--size-mb` MB of WARC data.
2. In one run, on that file: our reader (`transforms.readers.read_file`: FastWARC +
   charset detection + Resiliparse), the same with Trafilatura, and the straightforward
   user code: a warcio loop with Trafilatura (and, to separate parsing from extraction,
   warcio with Resiliparse and the two parsers with no extraction).
3. With `--large-gb`, writes a file of at least that many GB on disk and reads it with our
   reader in a child process, sampling its RSS, next to a file a tenth of its size: the
   peak must not grow with the file.

MB are 10**6 bytes of uncompressed WARC data. Results go to bench/results/readers.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.common import MB, environment, log, result_row, timed

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "commoncrawl"
SOURCE_WARCS = ("CC-MAIN-2020-34-sample.warc.gz", "CC-MAIN-2024-22-whirlwind.warc.gz")
RESULTS = Path(__file__).resolve().parent / "results" / "readers.json"
HTML_TYPES = ("text/html", "application/xhtml+xml")


# --- corpus ---------------------------------------------------------------------------


def _fixture_responses() -> list[tuple[str, bytes]]:
    """(target URI, HTTP response bytes: status line, headers, body) of the fixtures' pages."""
    from fastwarc import ArchiveIterator, WarcRecordType

    pages = []
    for name in SOURCE_WARCS:
        with open(FIXTURES / name, "rb") as f:
            for record in ArchiveIterator(
                f, record_types=WarcRecordType.response, parse_http=False
            ):
                pages.append((record.headers["WARC-Target-URI"], record.reader.read()))
    if not pages:
        raise SystemExit(f"no responses found in {FIXTURES}")
    return pages


def _member(headers: list[tuple[str, str]], block: bytes, level: int) -> bytes:
    """One WARC record as its own gzip member, as Common Crawl writes them."""
    head = ["WARC/1.0", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(block)}"]
    record = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + block + b"\r\n\r\n"
    return gzip.compress(record, compresslevel=level, mtime=0), len(record)


def _records(pages: list[tuple[str, bytes]], level: int) -> Iterator[tuple[bytes, int]]:
    """Endless request / response / metadata triples, each response a fixture page."""
    import hashlib

    copy = 0
    while True:
        for uri, http in pages:
            copy += 1
            url = f"{uri}{'&' if '?' in uri else '?'}copy={copy}"
            date = "2024-05-18T01:58:10Z"
            common = [("WARC-Target-URI", url), ("WARC-Date", date)]
            request = f"GET /?copy={copy} HTTP/1.1\r\nHost: example\r\n\r\n".encode()
            yield _member(
                [("WARC-Type", "request"), *common, ("WARC-Record-ID", f"<urn:q:{copy}>")],
                request,
                level,
            )
            digest = "sha1:" + _base32_sha1(hashlib.sha1(http).digest())
            yield _member(
                [
                    ("WARC-Type", "response"),
                    *common,
                    ("WARC-Record-ID", f"<urn:r:{copy}>"),
                    ("WARC-Block-Digest", digest),
                    ("Content-Type", "application/http; msgtype=response"),
                ],
                http,
                level,
            )
            metadata = f"fetchTimeMs: {copy % 997}\r\n".encode()
            yield _member(
                [("WARC-Type", "metadata"), *common, ("WARC-Record-ID", f"<urn:m:{copy}>")],
                metadata,
                level,
            )


def _base32_sha1(digest: bytes) -> str:
    import base64

    return base64.b32encode(digest).decode("ascii")


def write_warc(path: Path, size_bytes: int, level: int = 6, on_disk: bool = False) -> dict:
    """Write a `.warc.gz` of `size_bytes` uncompressed (or, with `on_disk`, compressed)
    bytes; reuse it when one of the same parameters exists. Returns its description."""
    description = path.with_suffix(".json")
    spec = {"size_bytes": size_bytes, "level": level, "on_disk": on_disk}
    if path.exists() and description.exists():
        known = json.loads(description.read_text())
        if known["spec"] == spec:
            return known
    pages = _fixture_responses()
    raw = written = records = 0
    with open(path, "wb") as out:
        for member, length in _records(pages, level):
            out.write(member)
            raw += length
            written += len(member)
            records += 1
            if (written if on_disk else raw) >= size_bytes and records % 3 == 0:
                break
    known = {"spec": spec, "path": str(path), "warc_bytes": raw, "file_bytes": written}
    known["records"] = records
    description.write_text(json.dumps(known))
    return known


# --- readers --------------------------------------------------------------------------


def ours(extractor: str) -> Callable[[str], int]:
    """Our reader: documents read from the file."""
    from schemas.document import Document
    from transforms.readers import read_file
    from transforms.readers.config import ReaderConfig
    from transforms.readers.files import InputFile

    config = ReaderConfig(extractor=extractor)

    def read(path: str) -> int:
        file = InputFile("bench", path, os.path.basename(path), os.path.getsize(path))
        return sum(isinstance(r, Document) for r in read_file(file, config))

    return read


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ")
    return "utf-8"


def warcio_loop(extract: Callable[[str], str] | None) -> Callable[[str], int]:
    """What a user would write: warcio's ArchiveIterator, keep 200 HTML responses, decode
    with the declared charset (else UTF-8), extract. `extract=None` only decodes."""
    from warcio.archiveiterator import ArchiveIterator

    def read(path: str) -> int:
        docs = 0
        with open(path, "rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                if record.http_headers.get_statuscode() != "200":
                    continue
                content_type = record.http_headers.get_header("Content-Type") or ""
                if content_type.split(";")[0].strip().lower() not in HTML_TYPES:
                    continue
                body = record.content_stream().read()
                try:
                    html = body.decode(_charset(content_type), errors="replace")
                except LookupError:
                    html = body.decode("utf-8", errors="replace")
                text = extract(html) if extract else html
                docs += bool(text and text.strip())
        return docs

    return read


def fastwarc_loop(path: str) -> int:
    """FastWARC alone: parse HTTP, read each 200 HTML response's body."""
    from fastwarc import ArchiveIterator, WarcRecordType

    docs = 0
    with open(path, "rb") as f:
        for record in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
            if record.http_headers.status_code != 200:
                continue
            if (record.http_content_type or "").lower() in HTML_TYPES:
                docs += bool(record.reader.read())
    return docs


def trafilatura_extract(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, output_format="txt") or ""


def resiliparse_extract(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=True)


OURS = "ours: FastWARC + charset + Resiliparse"
OURS_TRAFILATURA = "ours with extractor: trafilatura"
BASELINE = "warcio + Trafilatura (user loop)"
READERS: dict[str, Callable[[], Callable[[str], int]]] = {
    OURS: lambda: ours("resiliparse"),
    OURS_TRAFILATURA: lambda: ours("trafilatura"),
    BASELINE: lambda: warcio_loop(trafilatura_extract),
    "warcio + Resiliparse": lambda: warcio_loop(resiliparse_extract),
    "parse only: warcio": lambda: warcio_loop(None),
    "parse only: FastWARC": lambda: fastwarc_loop,
}


def bench_readers(warc: dict) -> dict:
    rows = []
    for name, make in READERS.items():
        log(f"reader: {name}")
        docs, timing = timed(make(), warc["path"])
        rows.append(result_row(name, timing, warc["warc_bytes"], docs, records=warc["records"]))
    speed = {r["stage"]: r["mb_per_s"] for r in rows}
    comparisons = {
        "ours / warcio + Trafilatura": speed[OURS] / speed[BASELINE],
        "ours (trafilatura) / warcio + Trafilatura": speed[OURS_TRAFILATURA] / speed[BASELINE],
        "FastWARC / warcio (parse only)": speed["parse only: FastWARC"]
        / speed["parse only: warcio"],
    }
    return {"stages": rows, "comparisons": {k: round(v, 2) for k, v in comparisons.items()}}


# --- memory ---------------------------------------------------------------------------


def _read_child(path: str) -> None:
    """Child process: read `path` with our reader, print documents and seconds as JSON."""
    start = time.perf_counter()
    docs = ours("resiliparse")(path)
    print(json.dumps({"docs": docs, "seconds": round(time.perf_counter() - start, 1)}))


def peak_rss_reading(path: str) -> dict:
    """Read `path` in a child process; its peak RSS sampled every 50 ms, and its result."""
    import psutil

    child = subprocess.Popen(
        [sys.executable, "-c", f"from bench.readers import _read_child; _read_child({path!r})"],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    )
    process, peak, samples = psutil.Process(child.pid), 0, []

    def sample():
        nonlocal peak
        while child.poll() is None:
            try:
                rss = process.memory_info().rss
            except psutil.NoSuchProcess:
                return
            peak = max(peak, rss)
            samples.append(rss)
            time.sleep(0.05)

    watcher = threading.Thread(target=sample)
    watcher.start()
    out, _ = child.communicate()
    watcher.join()
    if child.returncode:
        raise RuntimeError(f"reading {path} failed with exit code {child.returncode}")
    result = json.loads(out)
    # RSS at the end of the first tenth of the run vs the peak: growth with the file shows.
    early = max(samples[: max(len(samples) // 10, 1)]) if samples else 0
    return {**result, "peak_rss_mib": peak >> 20, "early_rss_mib": early >> 20}


def bench_memory(workdir: Path, large_gb: float) -> dict:
    large_bytes = int(large_gb * 10**9)
    results = {}
    for label, size in (("small", large_bytes // 10), ("large", large_bytes)):
        log(f"memory: writing a {size / 10**9:.1f} GB (on disk) WARC")
        warc = write_warc(workdir / f"memory-{label}.warc.gz", size, level=1, on_disk=True)
        log(f"memory: reading {warc['path']}")
        results[label] = {**warc, **peak_rss_reading(warc["path"])}
    return results


# --- report ---------------------------------------------------------------------------


def table(results: dict) -> str:
    env, warc = results["environment"], results["warc"]
    lines = [
        f"machine: {env['cpus']} CPUs; 1-min load {env['load_average_at_start'][0]:.2f} at start",
        f"WARC: {warc['warc_bytes'] / MB:.1f} MB uncompressed ({warc['file_bytes'] / MB:.1f} MB"
        f" gzip), {warc['records']:,} records, a third of them HTML responses",
        "",
        f"{'reader':<42} {'s':>7} {'MB/s':>8} {'docs/s':>9} {'docs':>7}",
    ]
    for r in results["readers"]["stages"]:
        lines.append(
            f"{r['stage']:<42} {r['seconds']:>7.2f} {r['mb_per_s']:>8.2f} "
            f"{r['docs_per_s']:>9,.0f} {r['docs']:>7,}"
        )
    lines += ["", "ratios (>1: the first is faster)"]
    lines += [f"  {k:<44} {v:.2f}x" for k, v in results["readers"]["comparisons"].items()]
    if memory := results.get("memory"):
        lines += ["", "peak RSS of our reader in a child process (MiB)"]
        for label, m in memory.items():
            lines.append(
                f"  {label:<6} {m['file_bytes'] / 10**9:6.2f} GB on disk, "
                f"{m['warc_bytes'] / 10**9:6.2f} GB WARC, {m['docs']:,} docs in "
                f"{m['seconds']} s: peak {m['peak_rss_mib']}, early {m['early_rss_mib']}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=200, help="uncompressed WARC, 10**6 B")
    parser.add_argument("--large-gb", type=float, default=0, help="memory test file (0: skip)")
    parser.add_argument("--workdir", type=Path, default=Path("out/bench-readers"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not FIXTURES.is_dir():
        raise SystemExit(f"the Common Crawl fixtures are needed: {FIXTURES}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = {"environment": environment()}
    log(f"writing a {args.size_mb} MB WARC")
    results["warc"] = write_warc(args.workdir / "bench.warc.gz", int(args.size_mb * MB))
    results["readers"] = bench_readers(results["warc"])
    if args.large_gb:
        results["memory"] = bench_memory(args.workdir, args.large_gb)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\nresults: {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
