"""Near-dedup benchmarks: signature throughput against datasketch, and dedup at scale.

    python -m bench.dedup [--sizes 10000,100000,300000] [--signature-docs 3000] [--workdir DIR]

1. Signatures on one core: our vectorized `MinHasher.signatures` in batches of 1024 against
   the usual per-document datasketch loop (Python shingling, `MinHash(128, seed=1)`,
   `update_batch`), with datasketch's default SHA-1 hash and with our shingle hash. The
   same generated web-like documents (~300 words) for all three.
2. `pipelines.dedup.run` on N generated documents (~100 words, 10% near-copies of another
   document) in a child process on the DirectRunner (in_memory, one worker): wall time,
   documents/s and the child's peak RSS, for each N.

Results go to bench/results/dedup.json; a table is printed.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import multiprocessing
import os
import random
import re
import shutil
import time
from pathlib import Path

from bench.common import MB, environment, log, own_peak_rss_mib, result_row, timed

RESULTS = Path(__file__).resolve().parent / "results" / "dedup.json"
SEED = 20240
_PUNCTUATION = re.compile(r"[^\w\s]")


def _vocabulary(size: int = 30000) -> list[str]:
    rng = random.Random(SEED)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(size)]


def generated_docs(count: int, words: int, seed: int = SEED) -> list[str]:
    """`count` texts of ~`words` Zipf-distributed words with punctuation; every tenth is a
    near-copy (one word changed) of an earlier text."""
    rng = random.Random(seed)
    vocab = _vocabulary()
    # Cumulative once: random.choices would re-accumulate 30k weights for every document.
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocab))))
    texts = []
    for i in range(count):
        if i % 10 == 9:
            copy = texts[rng.randrange(len(texts))].split()
            copy[rng.randrange(len(copy))] = rng.choice(vocab)
            texts.append(" ".join(copy))
            continue
        body = rng.choices(
            vocab, cum_weights=cumulative, k=words + rng.randint(-words // 4, words // 4)
        )
        for k in range(12, len(body), 13):
            body[k] += "."
        texts.append(" ".join(body))
    return texts


def _python_shingles(text: str, n: int = 5) -> list[bytes]:
    words = _PUNCTUATION.sub("", text.lower()).split()
    if len(words) < n:
        return [" ".join(words).encode()]
    return [" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)]


def bench_signatures(docs: int) -> tuple[list[dict], dict]:
    import datasketch

    from transforms.near_dedup.minhash import MinHasher, shingle_hash32

    texts = generated_docs(docs, 300)
    text_bytes = sum(len(t.encode()) for t in texts)
    hasher = MinHasher(128, 1)

    def ours():
        return [hasher.signatures(texts[i : i + 1024]) for i in range(0, len(texts), 1024)]

    def datasketch_loop(hashfunc):
        out = []
        for text in texts:
            m = datasketch.MinHash(num_perm=128, seed=1, hashfunc=hashfunc)
            m.update_batch(_python_shingles(text))
            out.append(m.hashvalues)
        return out

    # Steady state, as in a long-running worker: warm both up once (pyarrow's regex
    # compilation; the first large NumPy allocations, which glibc serves with fresh mmap
    # pages until its dynamic mmap threshold has grown).
    warm = generated_docs(docs, 300, seed=SEED + 1)
    for i in range(0, len(warm), 1024):
        hasher.signatures(warm[i : i + 1024])
    for text in generated_docs(64, 300, seed=SEED + 2):
        datasketch.MinHash(num_perm=128, seed=1).update_batch(_python_shingles(text))
    rows = []
    _, timing = timed(ours)
    rows.append(result_row("signatures (ours, batches of 1024)", timing, text_bytes, docs))
    log(f"ours: {rows[-1]['docs_per_s']:,.0f} docs/s")
    _, timing = timed(datasketch_loop, datasketch.hashfunc.sha1_hash32)
    rows.append(result_row("signatures (datasketch loop, sha1_hash32)", timing, text_bytes, docs))
    log(f"datasketch sha1: {rows[-1]['docs_per_s']:,.0f} docs/s")
    _, timing = timed(datasketch_loop, shingle_hash32)
    rows.append(result_row("signatures (datasketch loop, our hash)", timing, text_bytes, docs))
    log(f"datasketch ours-hash: {rows[-1]['docs_per_s']:,.0f} docs/s")
    ratios = {
        "ours vs datasketch (sha1_hash32)": round(rows[1]["seconds"] / rows[0]["seconds"], 2),
        "ours vs datasketch (our hash)": round(rows[2]["seconds"] / rows[0]["seconds"], 2),
    }
    return rows, ratios


def write_corpus(directory: Path, count: int, files: int = 8) -> int:
    """`count` generated documents as `files` .jsonl.gz files; returns the text bytes."""
    texts = generated_docs(count, 100, seed=SEED + count)
    directory.mkdir(parents=True, exist_ok=True)
    per_file = -(-count // files)
    for f in range(files):
        part = texts[f * per_file : (f + 1) * per_file]
        lines = "".join(
            json.dumps({"id": f"doc-{f * per_file + k:07d}", "text": t}) + "\n"
            for k, t in enumerate(part)
        )
        (directory / f"part-{f:02d}.jsonl.gz").write_bytes(gzip.compress(lines.encode(), 1))
    return sum(len(t.encode()) for t in texts)


def _dedup_child(argv: list[str], result_path: str) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from pipelines.dedup import run

    start, cpu = time.perf_counter(), time.process_time()
    summary = run(argv)
    seconds = time.perf_counter() - start
    Path(result_path).write_text(
        json.dumps(
            {
                "seconds": round(seconds, 1),
                "cpu_s": round(time.process_time() - cpu, 1),
                "peak_rss_mib": own_peak_rss_mib(),
                "records": summary["records"],
            }
        )
    )


def bench_dedup(count: int, workdir: Path) -> dict:
    corpus = workdir / f"corpus-{count}"
    text_bytes = write_corpus(corpus, count)
    result_path = workdir / f"result-{count}.json"
    argv = [
        "--input",
        str(corpus / "*.jsonl.gz"),
        "--output",
        str(workdir / f"out-{count}"),
        "--direct_running_mode=in_memory",
        "--direct_num_workers=1",
    ]
    child = multiprocessing.get_context("spawn").Process(
        target=_dedup_child, args=(argv, str(result_path))
    )
    child.start()
    child.join()
    result = json.loads(result_path.read_text())
    records = result["records"]
    return {
        "docs": count,
        "mb": round(text_bytes / MB, 1),
        "seconds": result["seconds"],
        "docs_per_s": round(count / result["seconds"], 1),
        "peak_rss_mib": result["peak_rss_mib"],
        "kept": records["kept"],
        "near_duplicates": records["near_duplicates"],
        "load_1min": os.getloadavg()[0],
    }


def table(results: dict) -> str:
    env = results["environment"]
    lines = [f"machine: {env['cpus']} CPUs, {env['memory_gib']} GiB", ""]
    lines.append(f"{'signatures (one core)':<44} {'s':>7} {'docs/s':>9} {'MB/s':>7}")
    for r in results["signatures"]:
        lines.append(
            f"{r['stage']:<44} {r['seconds']:>7.2f} {r['docs_per_s']:>9,.0f} {r['mb_per_s']:>7.2f}"
        )
    lines += [f"  {k:<42} {v:>6.2f}x" for k, v in results["ratios"].items()]
    lines += [
        "",
        f"{'dedup (DirectRunner)':<22} {'s':>7} {'docs/s':>8} {'peak MiB':>9} "
        f"{'kept':>8} {'dups':>7} {'load':>5}",
    ]
    for r in results["dedup"]:
        lines.append(
            f"{r['docs']:>10,} docs {r['mb']:>6.1f} MB {r['seconds']:>7.1f} "
            f"{r['docs_per_s']:>8,.0f} "
            f"{r['peak_rss_mib']:>9,} {r['kept']:>8,} {r['near_duplicates']:>7,} "
            f"{r['load_1min']:>5.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,300000")
    parser.add_argument("--signature-docs", type=int, default=3000)
    parser.add_argument("--workdir", default="./out/bench-dedup")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir).resolve()
    results = {"environment": environment(), "signatures": [], "ratios": {}, "dedup": []}
    if args.signature_docs:
        results["signatures"], results["ratios"] = bench_signatures(args.signature_docs)
    for size in (int(s) for s in args.sizes.split(",") if s):
        log(f"dedup on {size:,} documents")
        results["dedup"].append(bench_dedup(size, workdir))
        log(json.dumps(results["dedup"][-1]))
        shutil.rmtree(workdir / f"out-{size}", ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
