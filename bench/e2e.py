"""Throughput of the curation pipeline: end to end on the DirectRunner, and stage by stage.

    python -m bench.e2e [--size-mb 200] [--workdir DIR] [--e2e in_memory] [--e2e multi_processing]

1. Writes a deterministic corpus with the `pipelines.sample_corpus` generators, several
   files per source: web `.json.gz`, books `.jsonl.zst`, code `.jsonl` (reused when present).
2. Times each stage's Beam-free core on it in this process, and the obvious alternatives
   for reading (gzip/zstandard stream + TextIOWrapper + json.loads) and normalizing
   (unconditional NFC + a re.sub chain).
3. Runs `pipelines.curate.run` once per DirectRunner configuration, in a child process
   whose peak memory is tracked.

MB are 10**6 bytes of UTF-8 document text (the `text` fields), for every row. Results go
to bench/results/e2e.json; a table is printed.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import importlib.util
import io
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import zstandard

from bench.common import (
    MB,
    environment,
    log,
    own_peak_rss_mib,
    result_row,
    timed,
    tokenizer_sample,
)
from pipelines.sample_corpus import SEED, books, stdlib_code, web_pages

CORPUS_VERSION = 1
SHARES = {"web": 0.5, "books": 0.3, "code": 0.2}  # of the corpus text bytes
SUFFIXES = {"web": ".json.gz", "books": ".jsonl.zst", "code": ".jsonl"}
BROKEN_LINES = ['{"text": "an unterminated', '{"url": "no text"}']  # as in the sample corpus
TOKENIZER_SAMPLE_BYTES = 32 * 10**6
E2E_CONFIGS = {
    "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
}
READ, READ_BASELINE = "read (ours)", "read (baseline: stream + json.loads)"
READ_DATATROVE = "read (datatrove JsonlReader)"
NORMALIZE, NORMALIZE_NAIVE = "normalize (ours)", "normalize (naive: NFC + re.sub)"
RESULTS = Path(__file__).resolve().parent / "results" / "e2e.json"


# --- corpus ---------------------------------------------------------------------------


def _text_bytes(record: dict) -> int:
    return len(record["text"].encode("utf-8"))


def _take(records: list[dict], target: int) -> list[dict]:
    """The shortest prefix of `records` holding at least `target` text bytes."""
    taken, size = [], 0
    for record in records:
        if size >= target:
            break
        taken.append(record)
        size += _text_bytes(record)
    return taken


def _generated(make: Callable[[int], list[dict]], target: int, mean_bytes: int) -> list[dict]:
    """Records from `make(count)`, count grown until they hold `target` text bytes."""
    count = target // mean_bytes + 1
    while sum(map(_text_bytes, records := make(count))) < target:
        count *= 2
    return _take(records, target)


def _web_files(target: int, files: int) -> Iterator[list[str]]:
    for index in range(files):
        seed = f"{SEED}:web:{index}"
        pages = _generated(lambda n, s=seed: web_pages(n, random.Random(s)), target, 1500)
        yield [json.dumps(p) for p in pages] + BROKEN_LINES


def _book_files(target: int, files: int) -> Iterator[list[str]]:
    for index in range(files):
        seed = f"{SEED}:books:{index}"
        records = _generated(lambda n, s=seed: books(n, random.Random(s)), target, 4000)
        yield [json.dumps(r) for r in records]


def _code_files(target: int, files: int) -> Iterator[list[str]]:
    """The standard library files again and again; each copy after the first gets a header
    line naming its fake repository, so copies are not exact duplicates of each other."""
    pool = stdlib_code(10**6)

    def copies() -> Iterator[dict]:
        for copy in range(10**6):
            for record in pool:
                repo = f"repo{copy:04d}"
                header = f"# vendored in {repo}\n" if copy else ""
                path = f"{repo}/{record['repo_path']}"
                yield {**record, "text": header + record["text"], "repo_path": path}

    stream = copies()
    for _ in range(files):
        lines, size = [], 0
        while size < target:
            record = next(stream)
            lines.append(json.dumps(record))
            size += _text_bytes(record)
        yield lines


FILE_WRITERS = {"web": _web_files, "books": _book_files, "code": _code_files}


def _encode(source: str, lines: list[str]) -> bytes:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if source == "web":
        raw = io.BytesIO()
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(data)
        return raw.getvalue()
    if source == "books":
        return zstandard.ZstdCompressor(level=3).compress(data)
    return data


def generate_corpus(directory: Path, size_mb: float, files_per_source: int) -> dict:
    """Write the corpus under `directory` (or reuse one written with the same parameters);
    return its description: input specs, per-file counts and totals."""
    spec = {
        "version": CORPUS_VERSION,
        "size_mb": size_mb,
        "files_per_source": files_per_source,
        "python": sys.version,  # the code source is this interpreter's standard library
    }
    description = directory / "corpus.json"
    if description.exists():
        corpus = json.loads(description.read_text())
        if corpus["spec"] == spec:
            return corpus
    shutil.rmtree(directory, ignore_errors=True)
    files = []
    for source, share in SHARES.items():
        (directory / source).mkdir(parents=True)
        target = int(size_mb * MB * share / files_per_source) + 1
        for index, lines in enumerate(FILE_WRITERS[source](target, files_per_source)):
            path = directory / source / f"{source}-{index:03d}{SUFFIXES[source]}"
            path.write_bytes(_encode(source, lines))
            records = [json.loads(line) for line in lines if line not in BROKEN_LINES]
            files.append(
                {
                    "source": source,
                    "path": str(path),
                    "docs": len(records),
                    "broken_lines": len(lines) - len(records),
                    "text_bytes": sum(map(_text_bytes, records)),
                    "jsonl_bytes": sum(len(line.encode("utf-8")) + 1 for line in lines),
                    "file_bytes": path.stat().st_size,
                }
            )
    totals = {k: sum(f[k] for f in files) for k in ("docs", "broken_lines", "text_bytes")}
    totals |= {k: sum(f[k] for f in files) for k in ("jsonl_bytes", "file_bytes")}
    corpus = {
        "spec": spec,
        "inputs": [f"{s}={directory}/{s}/*{SUFFIXES[s]}" for s in SHARES],
        "files": files,
        **totals,
    }
    description.write_text(json.dumps(corpus, indent=2))
    return corpus


# --- per-stage cores ------------------------------------------------------------------


def read_ours(files: list[dict]) -> list:
    """Our reader over every file: Documents and DeadLetters."""
    from transforms.readers import read_file
    from transforms.readers.files import InputFile

    records = []
    for f in files:
        file = InputFile(f["source"], f["path"], os.path.basename(f["path"]), f["file_bytes"])
        records.extend(read_file(file))
    return records


def read_baseline(files: list[dict]) -> list[dict]:
    """What a user would write: a decompressing stream, TextIOWrapper, json.loads per line."""
    records = []
    for f in files:
        path = f["path"]
        if path.endswith(".gz"):
            raw = gzip.open(path, "rb")
        elif path.endswith(".zst"):
            raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
        else:
            raw = open(path, "rb")  # noqa: SIM115 - closed by the TextIOWrapper below
        with io.TextIOWrapper(raw, encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record.get("text"), str):
                    records.append(record)
    return records


_NAIVE_TO_NEWLINE = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
_NAIVE_TO_SPACE = re.compile("[\t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_NAIVE_DROP = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufeff\u200b\ufffe\uffff\ufffd]"
)


def normalize_naive(text: str) -> str:
    """The same rules as transforms.normalize.normalize_text, written the obvious way."""
    text = unicodedata.normalize("NFC", text)
    text = _NAIVE_TO_NEWLINE.sub("\n", text)
    text = _NAIVE_TO_SPACE.sub(" ", text)
    text = _NAIVE_DROP.sub("", text)
    text = re.sub(r" {2,}", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def datatrove_reader() -> Callable[[list[dict]], list] | str:
    """A reader of the corpus files with datatrove's JsonlReader, or why there is none."""
    if importlib.util.find_spec("datatrove") is None:
        return "not installed"
    try:
        from datatrove.pipeline.readers import JsonlReader

        JsonlReader(".")  # raises ImportError when its own dependencies are missing
    except ImportError as err:
        return f"installed, but JsonlReader cannot run: {err}"

    def read(files: list[dict]) -> list:
        docs = []
        for folder in sorted({os.path.dirname(f["path"]) for f in files}):
            docs.extend(JsonlReader(folder, compression="infer").run(None, 0, 1))
        return docs

    return read


def bench_stages(corpus: dict) -> dict:
    """Time every stage's core on the corpus -> {stages, comparisons, peers}."""
    from dataclasses import replace

    from tokenizers import Tokenizer

    from schemas import arrow
    from schemas.document import Document, text_key
    from tokenizer.encode import ENCODE_CALL_DOCS
    from tokenizer.pack import PackConfig, pack
    from tokenizer.train import EOS_TOKEN, PAD_TOKEN, TokenizerConfig, train_bpe
    from transforms.normalize import normalize_text
    from transforms.tokenize import ROWS_PER_ROW_GROUP

    rows, total = [], corpus["text_bytes"]
    log("stage: read")
    records, timing = timed(read_ours, corpus["files"])
    docs = [r for r in records if isinstance(r, Document)]
    rows.append(result_row(READ, timing, total, len(docs), dead_letters=len(records) - len(docs)))
    baseline, timing = timed(read_baseline, corpus["files"])
    rows.append(result_row(READ_BASELINE, timing, total, len(baseline)))
    peers = {"ftfy": "installed" if importlib.util.find_spec("ftfy") else "not installed"}
    datatrove = datatrove_reader()
    if isinstance(datatrove, str):
        peers["datatrove"] = datatrove
    else:
        peer_docs, timing = timed(datatrove, corpus["files"])
        rows.append(result_row(READ_DATATROVE, timing, total, len(peer_docs)))
        peers["datatrove"] = "JsonlReader compared with our reader"

    log("stage: normalize")
    texts = [d.text for d in docs]
    normalized, timing = timed(lambda: [normalize_text(t) for t in texts])
    rows.append(result_row(NORMALIZE, timing, total, len(texts)))
    naive, timing = timed(lambda: [normalize_naive(t) for t in texts])
    differ = sum(a != b for a, b in zip(normalized, naive, strict=True))
    rows.append(result_row(NORMALIZE_NAIVE, timing, total, len(texts), differ=differ))
    docs = [replace(d, text=t) if t != d.text else d for d, t in zip(docs, normalized, strict=True)]
    normalized_bytes = sum(len(t.encode("utf-8")) for t in normalized)

    log("stage: exact-dedup hash")
    keys, timing = timed(lambda: [text_key(d.text) for d in docs])
    distinct = len(set(keys))
    rows.append(
        result_row("exact-dedup text_key", timing, normalized_bytes, len(docs), distinct=distinct)
    )
    kept = list({key: doc for key, doc in zip(keys, docs, strict=True)}.values())
    kept_bytes = sum(len(d.text.encode("utf-8")) for d in kept)
    texts = [d.text for d in kept]

    log("stage: train BPE")
    sample = tokenizer_sample(kept, TOKENIZER_SAMPLE_BYTES)
    vocab = TokenizerConfig().vocab_size
    tokenizer_json, timing = timed(train_bpe, sample, vocab, TokenizerConfig().min_frequency)
    rows.append(
        result_row(
            "train BPE (32 MB sample)",
            timing,
            sum(len(t.encode("utf-8")) for t in sample),
            len(sample),
            vocab_size=vocab,
        )
    )

    log("stage: encode")
    tokenizer = Tokenizer.from_str(tokenizer_json)
    per_doc = "encode (one call per doc)"
    ids, timing = timed(
        lambda: [
            np.asarray(tokenizer.encode(t, add_special_tokens=False).ids, dtype=np.int32)
            for t in texts
        ]
    )
    tokens = sum(len(a) for a in ids)
    rows.append(result_row(per_doc, timing, kept_bytes, len(texts), tokens=tokens))
    batch_stages = {}
    for method in (tokenizer.encode_batch, tokenizer.encode_batch_fast):
        stage = f"{method.__name__} ({ENCODE_CALL_DOCS} docs/call, {os.cpu_count()} threads)"
        batched, timing = timed(
            lambda m=method: [
                np.asarray(e.ids, dtype=np.int32)
                for i in range(0, len(texts), ENCODE_CALL_DOCS)
                for e in m(texts[i : i + ENCODE_CALL_DOCS], add_special_tokens=False)
            ]
        )
        same = len(batched) == len(ids) and all(map(np.array_equal, ids, batched))
        rows.append(result_row(stage, timing, kept_bytes, len(texts), tokens=tokens, same_ids=same))
        batch_stages[method.__name__] = stage

    log("stage: pack and serialize")
    config = PackConfig()
    eos, pad = tokenizer.token_to_id(EOS_TOKEN), tokenizer.token_to_id(PAD_TOKEN)
    packed, timing = timed(pack, ids, eos, pad, config)
    rows.append(result_row(f"pack (seq_len {config.seq_len})", timing, kept_bytes, len(ids)))
    data, timing = timed(
        lambda: arrow.table_to_parquet_bytes(
            arrow.token_rows_to_table(packed.rows, packed.doc_starts), ROWS_PER_ROW_GROUP
        )
    )
    rows.append(result_row("token rows -> Parquet", timing, kept_bytes, len(ids), bytes=len(data)))
    data, timing = timed(lambda: arrow.table_to_parquet_bytes(arrow.documents_to_table(kept)))
    rows.append(result_row("documents -> Parquet", timing, kept_bytes, len(kept), bytes=len(data)))

    speed = {r["stage"]: r["mb_per_s"] for r in rows}
    comparisons = {
        "read: ours / baseline": speed[READ] / speed[READ_BASELINE],
        **(
            {"read: ours / datatrove": speed[READ] / speed[READ_DATATROVE]}
            if READ_DATATROVE in speed
            else {}
        ),
        "normalize: ours / naive": speed[NORMALIZE] / speed[NORMALIZE_NAIVE],
        **{
            f"{name} / per-doc encode": speed[stage] / speed[per_doc]
            for name, stage in batch_stages.items()
        },
    }
    comparisons = {k: round(v, 2) for k, v in comparisons.items()}
    return {"stages": rows, "comparisons": comparisons, "peers": peers}


# --- end to end -----------------------------------------------------------------------


def _pipeline_child(argv: list[str], result_path: str) -> None:
    """Child process: run the pipeline; write its time, peak RSS and manifest facts as JSON."""
    import logging
    import traceback

    logging.basicConfig(level=logging.WARNING)
    try:
        from pipelines.curate import run

        start = time.perf_counter()
        manifest = run(argv)
        seconds = time.perf_counter() - start
    except BaseException:  # noqa: BLE001 - reported by the parent
        Path(result_path).write_text(json.dumps({"error": traceback.format_exc()}))
        return
    usage = [resource.getrusage(r) for r in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    result = json.dumps(
        {
            "seconds": round(seconds, 1),
            "cpu_s": round(sum(u.ru_utime + u.ru_stime for u in usage), 1),
            "driver_peak_rss_mib": own_peak_rss_mib(),
            "records": manifest["records"],
            "stages": manifest["stages"],
            "tokens": {k: manifest["tokens"][k] for k in ("rows", "tokens", "document_tokens")},
            "token_shards_sha256": [s["sha256"] for s in manifest["tokens"]["shards"]],
            "tokenizer_sha256": manifest["tokenizer"]["sha256"],
        }
    )
    Path(result_path).write_text(result)


def _rss_by_pid(process) -> dict[int, int]:
    """RSS in bytes of `process` and of each of its descendants ({} once it is gone)."""
    import psutil

    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return {}
    rss = {}
    for member in members:
        try:
            rss[member.pid] = member.memory_info().rss
        except psutil.Error:
            pass
    return rss


def run_e2e(name: str, corpus: dict, workdir: Path, timeout: float) -> dict:
    """Run the whole pipeline on the corpus in a child process with one DirectRunner config.

    RSS of the child and its SDK worker processes is sampled every 0.5 s: the peak of their
    sum and the largest worker's peak."""
    import psutil

    argv = [
        *(f"--input={spec}" for spec in corpus["inputs"]),
        f"--output={workdir / f'out-{name}'}",
        "--runner=DirectRunner",
        *E2E_CONFIGS[name],
    ]
    result_path = workdir / f"e2e-{name}.json"
    result_path.unlink(missing_ok=True)
    child = multiprocessing.get_context("spawn").Process(
        target=_pipeline_child, args=(argv, str(result_path))
    )
    start = time.perf_counter()
    child.start()
    process, peak_total, peak_worker, loads = psutil.Process(child.pid), 0, 0, []
    while child.is_alive() and time.perf_counter() - start < timeout:
        rss = _rss_by_pid(process)
        peak_total = max(peak_total, sum(rss.values()))
        peak_worker = max([peak_worker, *(v for pid, v in rss.items() if pid != child.pid)])
        loads.append(os.getloadavg()[0])
        child.join(0.5)
    row = {
        "config": name,
        "flags": E2E_CONFIGS[name],
        "peak_total_rss_mib": peak_total >> 20,
        "worker_peak_rss_mib": peak_worker >> 20,
        "mean_load_1min": round(sum(loads) / max(len(loads), 1), 2),
    }
    if child.is_alive():
        for member in [*process.children(recursive=True), process]:
            member.kill()
        child.join()
        return {**row, "error": f"stopped after {timeout:.0f} s (--timeout)"}
    row["process_seconds"] = round(time.perf_counter() - start, 1)
    if not result_path.exists():
        return {**row, "error": f"child exited with code {child.exitcode} and no result"}
    result = json.loads(result_path.read_text())
    if "error" in result:
        return {**row, **result}
    seconds = result["seconds"]
    return {
        **row,
        "mb_per_s": round(corpus["text_bytes"] / MB / seconds, 2),
        "docs_per_s": round(corpus["docs"] / seconds, 1),
        **result,
    }


# --- report ---------------------------------------------------------------------------


def table(results: dict) -> str:
    corpus, env = results["corpus"], results["environment"]
    lines = [
        f"machine: {env['cpus']} CPUs, {env['memory_gib']} GiB; 1-min load average "
        f"{env['load_average_at_start'][0]:.2f} at start, {env['load_average_at_end'][0]:.2f} "
        "at end (other processes on the machine skew the numbers)",
        f"corpus: {corpus['text_bytes'] / MB:.1f} MB of text, {corpus['docs']:,} documents in "
        f"{len(corpus['files'])} files ({corpus['jsonl_bytes'] / MB:.1f} MB as JSON lines, "
        f"{corpus['file_bytes'] / MB:.1f} MB on disk)",
    ]
    if results["stages"]:
        lines += [
            "",
            f"{'stage (single process)':<46} {'s':>7} {'CPU s':>7} {'load':>5} {'MB/s':>8} "
            f"{'docs/s':>9}  notes",
        ]
    fixed = {"stage", "seconds", "cpu_s", "load_1min", "mb", "docs", "mb_per_s", "docs_per_s"}
    for r in results["stages"]:
        notes = ", ".join(f"{k}={v}" for k, v in r.items() if k not in fixed)
        lines.append(
            f"{r['stage']:<46} {r['seconds']:>7.2f} {r['cpu_s']:>7.2f} {r['load_1min']:>5.2f} "
            f"{r['mb_per_s']:>8.2f} {r['docs_per_s']:>9,.0f}  {notes}"
        )
    if results["comparisons"]:
        lines += ["", "throughput ratios (>1: the first is faster)"]
        lines += [f"  {k:<44} {v:>6.2f}x" for k, v in results["comparisons"].items()]
    if results["e2e"]:
        lines += [
            "",
            f"{'end to end (DirectRunner)':<20} {'s':>7} {'CPU s':>7} {'load':>5} {'MB/s':>8} "
            f"{'docs/s':>9} {'peak RSS MiB: all':>18} {'driver':>7} {'worker':>7}",
        ]
    for r in results["e2e"]:
        if "error" in r:
            lines.append(f"{r['config']:<20} FAILED: {r['error'].strip().splitlines()[-1]}")
            continue
        lines.append(
            f"{r['config']:<20} {r['seconds']:>7.1f} {r['cpu_s']:>7.1f} "
            f"{r['mean_load_1min']:>5.2f} {r['mb_per_s']:>8.2f} {r['docs_per_s']:>9,.0f} "
            f"{r['peak_total_rss_mib']:>18,} {r['driver_peak_rss_mib']:>7,} "
            f"{r['worker_peak_rss_mib'] or '-':>7}"
        )
    shas = {tuple(r["token_shards_sha256"]) for r in results["e2e"] if "error" not in r}
    if shas:
        lines.append(f"token shards identical across configurations: {len(shas) == 1}")
    if results["peers"]:
        lines.append("")
        lines += [f"{name}: {note}" for name, note in results["peers"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=200, help="corpus text, 10**6 bytes")
    parser.add_argument("--workdir", type=Path, default=Path("out/bench"), help="corpus + outputs")
    parser.add_argument("--files-per-source", type=int, default=8)
    parser.add_argument(
        "--e2e",
        action="append",
        choices=[*E2E_CONFIGS, "none"],
        help="DirectRunner configuration to run end to end; repeatable (default: all)",
    )
    parser.add_argument("--skip-stages", action="store_true", help="no per-stage timings")
    parser.add_argument("--timeout", type=float, default=3600, help="per end-to-end run, s")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    configs = [c for c in (args.e2e or E2E_CONFIGS) if c != "none"]
    workdir = args.workdir.resolve()

    log(f"corpus: {args.size_mb} MB under {workdir / 'corpus'}")
    corpus = generate_corpus(workdir / "corpus", args.size_mb, args.files_per_source)
    results = {"environment": environment(), "corpus": corpus}
    results |= {"stages": [], "comparisons": {}, "peers": {}}
    if not args.skip_stages:
        results |= bench_stages(corpus)
    results["e2e"] = []
    for name in configs:
        log(f"end to end: {name}")
        results["e2e"].append(run_e2e(name, corpus, workdir, args.timeout))
    results["environment"]["load_average_at_end"] = os.getloadavg()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nresults: {args.results}")
    return 0 if all("error" not in r for r in results["e2e"]) else 1


if __name__ == "__main__":
    sys.exit(main())
