"""Near-dedup benchmarks: signature throughput against datasketch, dedup at scale, and the
recall, precision and cost of the LSH banding (old 9 x 13 against the default).

    python -m bench.dedup [--sizes 10000,100000,300000] [--signature-docs 3000]
                          [--recall-seeds 2024,2025,2026,2027] [--cost-docs 20000]
                          [--pipeline-docs 10000] [--workdir DIR]

(Any section is skipped with an empty value / 0; the sections not run keep their earlier
results in the JSON.)

1. Signatures on one core: our vectorized `MinHasher.signatures` in batches of 1024 against
   the usual per-document datasketch loop (Python shingling, `MinHash(128, seed=1)`,
   `update_batch`), with datasketch's default SHA-1 hash and with our shingle hash. The
   same generated web-like documents (~300 words) for all three.
2. `pipelines.dedup.run` on N generated documents (~100 words, 10% near-copies of another
   document) in a child process on the DirectRunner (in_memory, one worker): wall time,
   documents/s and the child's peak RSS, for each N.

3. Recall of planted near-duplicates of real documents (the fixtures; see
   tests/transforms/near_dedup/planted.py): for each seed, every base gets one edited copy
   at an exact Jaccard spread evenly over [0.5, 1.0), and the real `ClusterDocs` transform
   runs over the corpus (local FnApiRunner) with each banding: the old default (9 x 13,
   datasketch's equal weights) and the new one. Found = the pair ends in one cluster.
   Recall per Jaccard bucket, recall at >= threshold + 0.02, precision (strict: a found pair
   below the threshold is false; margin: only one below threshold - 0.02), the found share
   of the pairs below the threshold, and the analytic P(candidate) and P(verified) curves.
4. Cost per document on one core, in process, for each banding: signatures (batches of
   1024), band hashes, buckets (the (band, hash) -> members grouping the pipeline's
   GroupByKey does; buckets of >= 2 kept) and verification (`bucket_edges` on every such
   bucket), on generated web-like documents (10% near-copies) and on the planted real
   corpus. The bandings interleaved, the best of 5 per stage; the signatures (the same work
   for both bandings) count with the best time of all runs for both. Then the whole dedup
   pipeline (as in section 2) on --pipeline-docs documents with each banding (best of 2,
   interleaved).

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
from transforms.near_dedup import NearDedupConfig

RESULTS = Path(__file__).resolve().parent / "results" / "dedup.json"
# The bandings compared: datasketch's equal weights (9 x 13 at 0.8 / 128, the old default)
# and the default settings.
BANDINGS = {
    "old (weights 0.5/0.5)": {"false_positive_weight": 0.5, "false_negative_weight": 0.5},
    "default": {},
}
CURVE = (0.5, 0.6, 0.7, 0.75, 0.78, 0.8, 0.82, 0.85, 0.9, 0.95)
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


def bench_dedup(count: int, workdir: Path, banding: str = "default") -> dict:
    corpus = workdir / f"corpus-{count}"
    if not corpus.exists():
        write_corpus(corpus, count)
    text_bytes = sum(len(t.encode()) for t in generated_docs(count, 100, seed=SEED + count))
    result_path = workdir / f"result-{count}.json"
    argv = [
        "--input",
        str(corpus / "*.jsonl.gz"),
        "--output",
        str(workdir / f"out-{count}"),
        "--direct_running_mode=in_memory",
        "--direct_num_workers=1",
        f"--stages={json.dumps({'near_dedup': BANDINGS[banding]})}",
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
        "banding": banding,
        "bands_rows": list(NearDedupConfig(**BANDINGS[banding]).band_rows),
        "mb": round(text_bytes / MB, 1),
        "seconds": result["seconds"],
        "docs_per_s": round(count / result["seconds"], 1),
        "peak_rss_mib": result["peak_rss_mib"],
        "kept": records["kept"],
        "near_duplicates": records["near_duplicates"],
        "load_1min": os.getloadavg()[0],
    }


def _fixtures() -> Path:
    from tests.conftest import FETCH_COMMAND, find_fixtures

    found = find_fixtures()
    if found is None:
        raise SystemExit(f"real-data fixtures not found: run `{FETCH_COMMAND}` first")
    return found


def _summed(per_seed: list[dict]) -> dict:
    """Counts of `planted.scores` summed over seeds, shares recomputed."""

    def add(parts):
        if isinstance(parts[0], dict) and "pairs" in parts[0]:
            pairs, found = sum(p["pairs"] for p in parts), sum(p["found"] for p in parts)
            return {
                "pairs": pairs,
                "found": found,
                "share": round(found / pairs, 4) if pairs else None,
            }
        return {k: add([p[k] for p in parts]) for k in parts[0]}

    out = {
        k: add([s[k] for s in per_seed]) for k in per_seed[0] if isinstance(per_seed[0][k], dict)
    }
    found = sum(s["found"] for s in per_seed)
    out["precision"] = round(1 - sum(s["fp"] for s in per_seed) / max(found, 1), 4)
    out["precision_margin"] = round(1 - sum(s["fp_margin"] for s in per_seed) / max(found, 1), 4)
    out["found_pairs"] = found
    return out


def bench_recall(seeds: list[int], workdir: Path) -> dict:
    import numpy as np

    from tests.transforms.near_dedup.planted import (
        cluster_ids,
        planted_corpus,
        same_cluster,
        scores,
    )
    from transforms.near_dedup.lsh import candidate_probability, verified_probability

    fixtures = _fixtures()
    per_banding = {name: [] for name in BANDINGS}
    runs = {name: [] for name in BANDINGS}
    for seed in seeds:
        planted = planted_corpus(fixtures, 0.5, 1.0, seed=seed)
        i, j = np.triu_indices(len(planted.texts), k=1)
        similarity = planted.jaccard[i, j]
        for name, settings in BANDINGS.items():
            config = NearDedupConfig(**settings)
            out = workdir / f"recall-{seed}-{len(runs[name])}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            start = time.perf_counter()
            found = same_cluster(cluster_ids(planted.texts, config, out))
            seconds = time.perf_counter() - start
            shutil.rmtree(out, ignore_errors=True)
            result = scores(planted.jaccard, found, config.threshold)
            f = found[i, j]
            result["found"] = int(f.sum())
            result["fp"] = int((f & (similarity < config.threshold)).sum())
            result["fp_margin"] = int((f & (similarity < config.threshold - 0.02)).sum())
            per_banding[name].append(result)
            runs[name].append(round(len(planted.texts) / seconds, 1))
            log(
                f"recall seed {seed} {name} {config.band_rows}: "
                f"{result['recall_at_threshold_plus_0.02']} precision {result['precision']}"
            )
    out = {
        "environment": environment(),
        "seeds": seeds,
        "docs_per_seed": len(planted.texts),
        "bandings": {},
    }
    for name, settings in BANDINGS.items():
        config = NearDedupConfig(**settings)
        bands, rows = config.band_rows
        out["bandings"][name] = {
            "settings": settings,
            "bands_rows": [bands, rows],
            **_summed(per_banding[name]),
            "pipeline_docs_per_s": runs[name],
            "p_candidate": {
                f"{s:.2f}": round(float(candidate_probability(s, bands, rows)), 4) for s in CURVE
            },
            "p_verified": {
                f"{s:.2f}": round(verified_probability(s, config.num_perm, config.threshold), 4)
                for s in CURVE
            },
        }
    return out


def _cost_once(texts: list[str], config: NearDedupConfig) -> tuple[dict, dict]:
    """Seconds per stage of one banding over `texts`, in process; and the bucket counts."""
    import numpy as np

    from transforms.near_dedup.lsh import band_hashes, bucket_edges
    from transforms.near_dedup.minhash import MinHasher

    hasher = MinHasher(config.num_perm, config.seed, config.scheme, config.ngram)
    bands, rows = config.band_rows
    times = {}
    start = time.perf_counter()
    signatures = np.concatenate(
        [hasher.signatures(texts[k : k + 1024]) for k in range(0, len(texts), 1024)]
    )
    times["signatures"] = time.perf_counter() - start
    start = time.perf_counter()
    hashes = band_hashes(signatures, bands, rows)
    times["band_hashes"] = time.perf_counter() - start
    start = time.perf_counter()
    buckets = {}
    for doc, row in enumerate(hashes.tolist()):
        for band, h in enumerate(row):
            buckets.setdefault((band, h), []).append(doc)
    shared = [m for m in buckets.values() if len(m) >= 2]
    times["buckets"] = time.perf_counter() - start
    start = time.perf_counter()
    stored = signatures.astype("<u4")
    edges = 0
    for members in shared:
        edges += len(
            bucket_edges(
                [((1, 0.0, m), stored[m].tobytes()) for m in members],
                config.threshold,
                config.max_bucket_compare,
            )
        )
    times["verify"] = time.perf_counter() - start
    counts = {
        "bands_rows": [bands, rows],
        "docs": len(texts),
        "bucket_members": int(sum(len(m) for m in shared)),
        "shared_buckets": len(shared),
        "compared_pairs": int(sum(len(m) * (len(m) - 1) // 2 for m in shared)),
        "edges": edges,
    }
    return times, counts


def bench_cost(docs: int, seed: int, repeats: int = 5) -> dict:
    """Both bandings, interleaved (old, new, old, new, ...) so that a change of the
    machine's load hits both; the best of `repeats` per stage."""
    from tests.transforms.near_dedup.planted import planted_corpus

    corpora = {
        f"generated ({docs:,} docs, ~300 words, 10% near-copies)": generated_docs(docs, 300),
        "planted real documents (one seed)": planted_corpus(_fixtures(), 0.5, 1.0, seed).texts,
    }
    out = {"environment": environment(), "repeats": repeats}
    for corpus, texts in corpora.items():
        _cost_once(texts[:2048], NearDedupConfig())  # warm up: regexes, first allocations
        best, counts = {}, {}
        for _ in range(repeats):
            for name, settings in BANDINGS.items():
                times, counts[name] = _cost_once(texts, NearDedupConfig(**settings))
                best[name] = {k: min(v, best.get(name, {}).get(k, v)) for k, v in times.items()}
        signatures = min(b["signatures"] for b in best.values())
        for b in best.values():
            b["signatures"] = signatures
            b["total"] = sum(b.values())
        rows = {
            name: {
                **counts[name],
                "us_per_doc": {k: round(v / len(texts) * 1e6, 2) for k, v in best[name].items()},
                "docs_per_s": round(len(texts) / best[name]["total"], 1),
            }
            for name in BANDINGS
        }
        old, new = (rows[name]["us_per_doc"]["total"] for name in BANDINGS)
        out[corpus] = {**rows, "default / old cost per document": round(new / old, 3)}
        log(f"cost {corpus}: {json.dumps(out[corpus])}")
    return out


def table(results: dict) -> str:
    env = results["environment"]
    lines = [f"machine: {env['cpus']} CPUs, {env['memory_gib']} GiB"]
    if results.get("signatures"):
        lines += ["", f"{'signatures (one core)':<44} {'s':>7} {'docs/s':>9} {'MB/s':>7}"]
        for r in results["signatures"]:
            lines.append(
                f"{r['stage']:<44} {r['seconds']:>7.2f} {r['docs_per_s']:>9,.0f} "
                f"{r['mb_per_s']:>7.2f}"
            )
        lines += [f"  {k:<42} {v:>6.2f}x" for k, v in results["ratios"].items()]
    if results.get("dedup"):
        lines += [
            "",
            f"{'dedup (DirectRunner)':<22} {'banding':>8} {'s':>7} {'docs/s':>8} "
            f"{'peak MiB':>9} {'kept':>8} {'dups':>7} {'load':>5}",
        ]
        for r in results["dedup"]:
            banding = "x".join(map(str, r.get("bands_rows", [9, 13])))
            lines.append(
                f"{r['docs']:>10,} docs {r['mb']:>6.1f} MB {banding:>8} {r['seconds']:>7.1f} "
                f"{r['docs_per_s']:>8,.0f} "
                f"{r['peak_rss_mib']:>9,} {r['kept']:>8,} {r['near_duplicates']:>7,} "
                f"{r['load_1min']:>5.2f}"
            )
    if results.get("recall"):
        recall = results["recall"]
        lines += ["", f"recall of planted pairs (seeds {recall['seeds']}; found / pairs)"]
        names = list(recall["bandings"])
        lines.append(f"{'':<24}" + "".join(f"{n:>26}" for n in names))

        def row(label, get):
            lines.append(
                f"{label:<24}" + "".join(f"{get(recall['bandings'][n]):>26}" for n in names)
            )

        def cell(c):
            return f"{c['found']}/{c['pairs']} = {c['share']:.3f}"

        row("bands x rows", lambda b: "x".join(map(str, b["bands_rows"])))
        for bucket in recall["bandings"][names[0]]["recall"]:
            row(f"J {bucket}", lambda b, k=bucket: cell(b["recall"][k]))
        row("J >= threshold + 0.02", lambda b: cell(b["recall_at_threshold_plus_0.02"]))
        row("J >= threshold", lambda b: cell(b["recall_at_threshold"]))
        for bucket in recall["bandings"][names[0]]["found_below_threshold"]:
            row(f"found at J {bucket}", lambda b, k=bucket: cell(b["found_below_threshold"][k]))
        row("precision (J >= t)", lambda b: f"{b['precision']:.4f}")
        row("precision (J >= t-0.02)", lambda b: f"{b['precision_margin']:.4f}")
        lines.append(
            "P(candidate) at J: "
            + ", ".join(
                f"{s}: "
                + " / ".join(f"{recall['bandings'][n]['p_candidate'][s]:.3f}" for n in names)
                for s in recall["bandings"][names[0]]["p_candidate"]
            )
        )
    if results.get("cost"):
        cost = results["cost"]
        lines += ["", f"cost per document (us, one core, best of {cost['repeats']})"]
        for r in cost.get("pipeline", []):
            lines.append(
                f"  whole dedup pipeline, {r['docs']:,} generated docs, "
                f"{'x'.join(map(str, r['bands_rows']))}: {r['seconds']} s, "
                f"{r['docs_per_s']:,.0f} docs/s, {r['near_duplicates']:,} near duplicates, "
                f"load {r['load_1min']:.2f}"
            )
        for corpus, rows in cost.items():
            if corpus in ("environment", "repeats", "pipeline"):
                continue
            lines.append(f"  {corpus}: default / old = {rows['default / old cost per document']}")
            for name in BANDINGS:
                r = rows[name]
                parts = ", ".join(f"{k} {v:.1f}" for k, v in r["us_per_doc"].items())
                lines.append(
                    f"    {name:<22} {'x'.join(map(str, r['bands_rows'])):>5}: {parts}; "
                    f"{r['docs_per_s']:,.0f} docs/s, {r['compared_pairs']:,} pairs compared"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,300000")
    parser.add_argument("--signature-docs", type=int, default=3000)
    parser.add_argument("--recall-seeds", default="2024,2025,2026,2027")
    parser.add_argument("--cost-docs", type=int, default=20000)
    parser.add_argument("--pipeline-docs", type=int, default=10000)
    parser.add_argument("--workdir", default="./out/bench-dedup")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir).resolve()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.signature_docs or args.sizes:
        results["environment"] = environment()
    if args.signature_docs:
        results["signatures"], results["ratios"] = bench_signatures(args.signature_docs)
    if args.sizes:
        results["dedup"] = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        log(f"dedup on {size:,} documents")
        results["dedup"].append(bench_dedup(size, workdir))
        log(json.dumps(results["dedup"][-1]))
        shutil.rmtree(workdir / f"out-{size}", ignore_errors=True)
    if args.recall_seeds:
        seeds = [int(s) for s in args.recall_seeds.split(",")]
        results["recall"] = bench_recall(seeds, workdir)
    if args.cost_docs:
        results["cost"] = bench_cost(args.cost_docs, SEED)
    if args.pipeline_docs:
        best = {}
        for _ in range(2):  # the whole dedup pipeline (section 2), bandings interleaved
            for banding in BANDINGS:
                log(f"dedup on {args.pipeline_docs:,} documents, banding {banding}")
                row = bench_dedup(args.pipeline_docs, workdir, banding)
                log(json.dumps(row))
                shutil.rmtree(workdir / f"out-{args.pipeline_docs}", ignore_errors=True)
                if banding not in best or row["seconds"] < best[banding]["seconds"]:
                    best[banding] = row
        results.setdefault("cost", {})["pipeline"] = list(best.values())
    results.setdefault("environment", environment())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
