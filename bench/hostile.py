"""Hostile inputs: what one bad record, file or pattern costs a curate run, and its memory.

    python -m bench.hostile [--workdir DIR] [--only NAME ...] [--bomb-gib 2] [--keep]
                            [--timeout 900] [--reader-timeout 1800] [--rss-limit-mb 4096]

Each input is built in a temporary directory (nothing is downloaded):
  lone_surrogate     JSON lines whose `text` and `id` hold a lone surrogate escape (\\ud800)
  deep_nesting       a 3000-deep JSON array on one line, then 4 good lines
  warc_wrong_length  a WARC whose 2nd record's Content-Length swallows the 3rd and 4th
                     record, and whose 5th record's Content-Length is 100 bytes short
  gzip_2gib_line     a ~2 MB gzip holding one 2 GiB line, then 4 good lines
  json_120mb         one 120 MB JSON document (one line)
  gzip_bomb_lines    a few MB of gzip holding `--bomb-gib` GiB of one short line, repeated
  truncated_zst      a .jsonl.zst cut at two thirds
  directory          a directory given as the input
  glob_nothing       a glob that matches nothing
For each, `python -m pipelines.curate --input web=<input> --output <dir> --vocab_size 300
--seq_len 64` runs as a subprocess; recorded are its exit code, wall seconds, the peak RSS
of its process tree (sampled every 50 ms; the run is killed past `--timeout` or
`--rss-limit-mb`, and the result says so) and the manifest's record counts, where one was written.
Then the same input is read by the readers alone (`transforms.readers.match_input_files`
+ `read_file`) in a child process, with its peak RSS and what came out, so that the
readers' memory can be told from the rest of the pipeline's.

A Markdown table is printed; everything goes to bench/results/hostile.json.
"""

from __future__ import annotations

import argparse
import base64
import functools
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import zstandard

from bench.common import environment, log

RESULTS = Path(__file__).resolve().parent / "results" / "hostile.json"
ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "web-jsonl"
CURATE_FLAGS = ["--vocab_size", "300", "--seq_len", "64"]
SAMPLE_SECONDS = 0.05
GOOD_LINES = 4


@functools.cache
def _c4_texts() -> tuple[str, ...]:
    """Real web text (the C4 sample fixtures), so that good lines can be kept by the run;
    synthetic paragraphs when the fixtures are not next to the project."""
    texts = []
    for path in sorted(FIXTURES.glob("c4-sample.*.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            texts += [json.loads(line)["text"] for line in lines if line.strip()]
    return tuple(texts)


def _good_text(i: int) -> str:
    """A document that the run may keep (its content does not matter to the case)."""
    texts = _c4_texts()
    if texts:
        return texts[i % len(texts)]
    return (
        f"Paragraph {i} tells how the town council met on a Tuesday evening to discuss "
        "the new library, the repairs to the old bridge and the budget for the coming year."
    )


def _good_lines(start: int = 0, count: int = GOOD_LINES) -> bytes:
    return b"".join(
        json.dumps({"text": _good_text(i)}).encode() + b"\n" for i in range(start, start + count)
    )


# --- the inputs -------------------------------------------------------------------------


def lone_surrogate(folder: Path, args) -> str:
    path = folder / "surrogates.jsonl"
    lines = (
        _good_lines(0, 2)
        + b'{"text": "a lone high surrogate \\ud800 in the text"}\n'
        + b'{"id": "doc-\\udfff", "text": "a lone low surrogate in the id"}\n'
        + _good_lines(2, 2)
    )
    path.write_bytes(lines)
    return str(path)


def deep_nesting(folder: Path, args) -> str:
    path = folder / "nested.jsonl"
    path.write_bytes(b"[" * 3000 + b"]" * 3000 + b"\n" + _good_lines())
    return str(path)


def _warc_record(number: int) -> bytes:
    body = f"<html><body><article><p>{_good_text(number)}</p></article></body></html>".encode()
    block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + body
    digest = "sha1:" + base64.b32encode(hashlib.sha1(block).digest()).decode()
    headers = [
        "WARC/1.0",
        "WARC-Type: response",
        f"WARC-Record-ID: <urn:uuid:hostile-{number}>",
        "WARC-Date: 2024-05-18T01:58:10Z",
        f"WARC-Target-URI: https://example.com/{number}",
        "Content-Type: application/http; msgtype=response",
        f"WARC-Block-Digest: {digest}",
        f"Content-Length: {len(block)}",
    ]
    return "\r\n".join(headers).encode() + b"\r\n\r\n" + block + b"\r\n\r\n"


def _with_length(record: bytes, delta: int) -> bytes:
    head, _, rest = record.partition(b"Content-Length: ")
    length, _, tail = rest.partition(b"\r\n")
    return head + b"Content-Length: %d\r\n" % (int(length) + delta) + tail


def warc_wrong_length(folder: Path, args) -> str:
    records = [_warc_record(i) for i in range(7)]
    records[1] = _with_length(records[1], len(records[2]) + len(records[3]) + 40)
    records[4] = _with_length(records[4], -100)
    path = folder / "wrong-length.warc.gz"
    path.write_bytes(b"".join(gzip.compress(r, mtime=0) for r in records))
    return str(path)


def _gzip_stream(path: Path, parts, level: int = 6) -> None:
    """Write the byte strings `parts` yields as one gzip member, streaming."""
    encoder = zlib.compressobj(level, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        for part in parts:
            out.write(encoder.compress(part))
        out.write(encoder.flush())


def gzip_2gib_line(folder: Path, args) -> str:
    def parts():
        yield b'{"text": "'
        block = b"a" * (16 << 20)
        for _ in range((2 << 30) // len(block)):
            yield block
        yield b'"}\n' + _good_lines()

    path = folder / "long-line.jsonl.gz"
    _gzip_stream(path, parts(), level=9)
    return str(path)


def json_120mb(folder: Path, args) -> str:
    path = folder / "one-document.jsonl"
    words = b"word " * (1 << 20)  # 5 MiB
    with open(path, "wb") as out:
        out.write(b'{"text": "')
        for _ in range(120 * 10**6 // len(words)):
            out.write(words)
        out.write(b'"}\n')
    return str(path)


def gzip_bomb_lines(folder: Path, args) -> str:
    line = b'{"text": "spam spam spam spam"}\n'
    block = line * ((16 << 20) // len(line))
    count = int(args.bomb_gib * (1 << 30)) // len(block)
    path = folder / "bomb.jsonl.gz"
    _gzip_stream(path, (block for _ in range(count)))
    return str(path)


def truncated_zst(folder: Path, args) -> str:
    lines = b"".join(
        json.dumps({"text": _good_text(i) + f" {hashlib.sha256(b'%d' % i).hexdigest()}"}).encode()
        + b"\n"
        for i in range(2000)
    )
    blob = zstandard.ZstdCompressor().compress(lines)
    path = folder / "truncated.jsonl.zst"
    path.write_bytes(blob[: len(blob) * 2 // 3])
    return str(path)


def directory(folder: Path, args) -> str:
    inner = folder / "a-directory"
    inner.mkdir()
    (inner / "good.jsonl").write_bytes(_good_lines())
    return str(inner)


def glob_nothing(folder: Path, args) -> str:
    return str(folder / "*.nothing-matches-this")


CASES = {
    "lone_surrogate": lone_surrogate,
    "deep_nesting": deep_nesting,
    "warc_wrong_length": warc_wrong_length,
    "gzip_2gib_line": gzip_2gib_line,
    "json_120mb": json_120mb,
    "gzip_bomb_lines": gzip_bomb_lines,
    "truncated_zst": truncated_zst,
    "directory": directory,
    "glob_nothing": glob_nothing,
}


# --- running and measuring ----------------------------------------------------------------


def run_measured(command: list[str], timeout: float, rss_limit: int, cwd: Path) -> dict:
    """Run `command`; its exit code, wall seconds, the peak RSS of its process tree (sampled
    every 50 ms) and the tail of its stderr. Killed past `timeout` s or `rss_limit` bytes."""
    import psutil

    stderr = tempfile.TemporaryFile()
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr)
    process, peak, killed = psutil.Process(child.pid), 0, None
    while child.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        rss = 0
        for member in tree:
            try:
                rss += member.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        peak = max(peak, rss)
        elapsed = time.perf_counter() - start
        if killed is None and (elapsed > timeout or rss > rss_limit):
            killed = (
                f"timeout after {timeout:.0f} s"
                if elapsed > timeout
                else (f"RSS over {rss_limit >> 20} MiB after {elapsed:.0f} s")
            )
            for member in reversed(tree):  # children first, then the run itself
                try:
                    member.kill()
                except psutil.NoSuchProcess:
                    pass
        time.sleep(SAMPLE_SECONDS)
    code = child.wait()
    seconds = time.perf_counter() - start
    stderr.seek(0)
    tail = stderr.read().decode("utf-8", "replace").strip().splitlines()[-6:]
    return {
        "exit_code": code,
        "seconds": round(seconds, 1),
        "peak_rss_mib": peak >> 20,
        "killed": killed,
        "stderr_tail": tail,
    }


def manifest_counts(output: Path) -> dict | None:
    """The manifest's record counts and the read stage's drops, if a manifest was written."""
    path = output / "manifest.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    read_drops: dict[str, int] = {}
    for entry in manifest.get("inputs", []):
        for reason, n in entry.get("dropped", {}).items():
            if reason.startswith("read/"):
                read_drops[reason] = read_drops.get(reason, 0) + n
    return {**manifest["records"], "read_drops": read_drops}


def read_only(pattern: str) -> dict:
    """What the readers alone make of `pattern` (runs in the child, prints JSON)."""
    from schemas.document import DeadLetter, Document, Rejected
    from transforms.readers import match_input_files, read_file

    counts = {"documents": 0, "rejected": {}, "dead_letters": 0}
    errors = []
    for item in match_input_files("web", pattern):
        records = [item] if isinstance(item, DeadLetter) else read_file(item)
        for record in records:
            if isinstance(record, Document):
                counts["documents"] += 1
            elif isinstance(record, Rejected):
                counts["rejected"][record.reason] = counts["rejected"].get(record.reason, 0) + 1
            else:
                counts["dead_letters"] += 1
                if len(errors) < 5:
                    errors.append(f"line {record.line}, offset {record.offset}: {record.error}")
    return {**counts, "dead_letter_errors": errors}


def run_case(name: str, args, workdir: Path) -> dict:
    folder = workdir / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log(f"{name}: building the input", "hostile")
    built = time.perf_counter()
    pattern = CASES[name](folder, args)
    build_seconds = time.perf_counter() - built
    size = _size(pattern)
    output = folder / "out"
    limit = args.rss_limit_mb << 20
    log(f"{name}: curate on {pattern} ({size} bytes)", "hostile")
    command = [sys.executable, "-m", "pipelines.curate", "--input", f"web={pattern}"]
    command += ["--output", str(output), *CURATE_FLAGS]
    curate = run_measured(command, args.timeout, limit, ROOT)
    curate["manifest"] = manifest_counts(output)
    log(f"{name}: the readers alone", "hostile")
    reader_out = folder / "reader.json"
    code = (
        "import json, sys; from bench.hostile import read_only; "
        "json.dump(read_only(sys.argv[1]), open(sys.argv[2], 'w'))"
    )
    reader = run_measured(
        [sys.executable, "-c", code, pattern, str(reader_out)], args.reader_timeout, limit, ROOT
    )
    if reader_out.is_file():
        reader["result"] = json.loads(reader_out.read_text())
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "input": os.path.relpath(pattern, workdir),
        "input_bytes": size,
        "build_seconds": round(build_seconds, 1),
        "curate": curate,
        "readers_only": reader,
    }


def _size(pattern: str) -> int | None:
    path = Path(pattern)
    if path.is_file():
        return path.stat().st_size
    return None


def table(results: dict) -> str:
    """The results as a Markdown table."""
    head = (
        "| case | input | exit | s | peak RSS MiB | read | kept | dropped | dead | balanced "
        "| read drops | readers alone: s, peak MiB, out |"
    )
    lines = [head, "|" + "---|" * 12]
    for name, r in results.items():
        c, m, o = r["curate"], r["curate"].get("manifest"), r["readers_only"]
        exit_code = str(c["exit_code"]) + (f" (killed: {c['killed']})" if c["killed"] else "")
        counts = (
            ["-"] * 5
            if m is None
            else [m["read"], m["kept"], m["dropped"], m["dead_lettered"], m["balanced"]]
        )
        drops = (
            "-"
            if m is None
            else (", ".join(f"{k}={v}" for k, v in m["read_drops"].items()) or "none")
        )
        out = o.get("result")
        alone = f"{o['seconds']}, {o['peak_rss_mib']}, " + (
            f"{out['documents']} docs, rejected {out['rejected'] or 0}, {out['dead_letters']} dead"
            if out
            else f"exit {o['exit_code']}" + (f" (killed: {o['killed']})" if o["killed"] else "")
        )
        size = _human(r["input_bytes"])
        row = [name, size, exit_code, c["seconds"], c["peak_rss_mib"], *counts, drops, alone]
        lines.append("| " + " | ".join(str(x) for x in row) + " |")
    return "\n".join(lines)


def _human(size: int | None) -> str:
    if size is None:
        return "dir/glob"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp dir")
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), default=None)
    parser.add_argument("--bomb-gib", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per curate run")
    parser.add_argument(
        "--reader-timeout", type=float, default=1800.0, help="seconds per readers-alone run"
    )
    parser.add_argument("--rss-limit-mb", type=int, default=4096, help="kill a run above it")
    parser.add_argument("--keep", action="store_true", help="keep the inputs and outputs")
    args = parser.parse_args(argv)

    temporary = None
    if args.workdir is None:
        temporary = tempfile.TemporaryDirectory(prefix="bench-hostile-")
        args.workdir = Path(temporary.name)
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = {}
    env = environment()
    for name in args.only or CASES:
        results[name] = run_case(name, args, args.workdir)
        log(f"{name}: {json.dumps(results[name]['curate'], default=str)[:300]}", "hostile")
    report = {
        "environment": env,
        "settings": {
            "bomb_gib": args.bomb_gib,
            "timeout_s": args.timeout,
            "reader_timeout_s": args.reader_timeout,
            "rss_limit_mib": args.rss_limit_mb,
            "curate_flags": CURATE_FLAGS,
        },
        "cases": results,
    }
    if args.only and RESULTS.is_file():  # a partial run updates only its own cases
        previous = json.loads(RESULTS.read_text())
        report["cases"] = {**previous.get("cases", {}), **results}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report["cases"]))
    if temporary is not None:
        temporary.cleanup()


if __name__ == "__main__":
    main()
