"""Token writer throughput: each trainer format's writer against the Parquet writer, and the
whole curate command with --output_format parquet against all four formats.

    python -m bench.formats [--tokens 40000000] [--repeats 7] [--e2e-repeats 3]
    python -m bench.formats --tokens 2000000 --repeats 2 --e2e-repeats 0   # quick

1. Writers, in this process, on the same encoded documents. Corpus: synthetic token ids
   (uniform below --vocab-size, drawn with numpy's PCG64 seeded by SEED), documents of
   log-normal length (median DOC_MEDIAN_TOKENS, sigma DOC_SIGMA, clipped to
   [DOC_MIN_TOKENS, DOC_MAX_TOKENS]: a web-text-like distribution with a long tail) until
   --tokens document tokens. Synthetic ids are fine here: no writer looks at token values
   (litdata's range check only reads min and max), only at array lengths and dtypes; the
   vocabulary size picks the stored dtype (32768, the pipeline default: uint16 in every
   document format). Every document is one copy keyed by `token_copies` as the pipeline
   keys it, assigned to its group by `TokenShardsConfig.group_of`; all go to the train
   split (the pipeline's validation split runs the same writers on its ~0.5 %).

   Each writer is timed as the pipeline's Beam-free cores call it (`transforms.tokenize`
   `PackAndWrite` / `_PackGroup`), minus Beam and minus writing the files:
   - parquet: group totals and `TokenShardsConfig.layout`, then per group `pack_group`
     (key order, `tokenizer.pack`, row blocks) and `unpacked_copies` (the parquet-only
     bookkeeping of copies cut at a group's end), then per shard `assemble_shard` (rows
     joined, Arrow table, zstd Parquet bytes);
   - megatron, nanogpt, litdata: per group `TokenShardsConfig.document_files` with that one
     format (key order, then `tokenizer.formats.document_files`: .bin/.idx bytes, the flat
     array's bytes, the litdata chunk's bytes). litdata's index.json is per split and tiny;
     it is left out.
   Writing the files (`write_atomically`: a temporary file, a rename, the sha256 the
   manifest lists) is timed separately per writer, into a temporary directory, and reported
   as "+ write" (the page cache absorbs most of it on a machine with free memory).

   After a warm-up of every writer on a small slice, --repeats repetitions; within one, the
   writers run one after another, the order rotated each repetition, so that drift of the
   machine hits all of them alike. Median wall seconds per writer (time.perf_counter; CPU
   seconds by time.process_time beside it). Rates count the same tokens for every writer:
   the stream's tokens (document tokens + one end-of-text per document), MB/s as 4 bytes
   (int32) per token whatever the format stores, so MB/s and tokens/s give the same ratio.
   Parquet drops each group's partial last row, as the pipeline does (reported).
   Checked: each document format holds exactly the stream's tokens; parquet holds the
   stream minus the dropped tail.

2. End to end: `python -m pipelines.curate` on the demo (no --input) in a subprocess, with
   `--output_format parquet` (A) and with all four formats (B), each run with its own
   --output (and working directory, where the demo writes its sample corpus) under a
   temporary directory; --e2e-repeats pairs in the order A B, B A, A B, ... Wall time of
   the command and CPU seconds of its process tree (RUSAGE_CHILDREN); median per config,
   B / A and B - A, beside what the writer rates of part 1 predict the three document
   formats add for the demo's train tokens (the demo is small: run-to-run noise of the
   whole command may well be larger than that). Checked: both write byte-identical parquet
   token shards (same sha256 in the manifests) and B writes the three other formats.

Results go to bench/results/formats.json (machine, load average before and after, every
run); a table is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.common import MB, environment, log, own_peak_rss_mib, timed
from tokenizer.formats import LITDATA, MEGATRON, NANOGPT, PARQUET, TRAIN, token_dtype
from tokenizer.pack import PackConfig
from tokenizer.plan import TokenShardsConfig, add_totals, token_copies
from transforms.tokenize import assemble_shard
from transforms.write import write_atomically

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "formats.json"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

SEED = 20261207
DOC_MEDIAN_TOKENS, DOC_SIGMA = 500, 1.2  # log-normal: mean ~1,030 tokens, p99 ~8,200
DOC_MIN_TOKENS, DOC_MAX_TOKENS = 8, 131072
EOS_ID, PAD_ID = 0, 1  # as a trained tokenizer numbers its special tokens; any ids work
WRITERS = (PARQUET, MEGATRON, NANOGPT, LITDATA)
TOKEN_BYTES = 4  # MB/s counts int32-equivalent bytes of tokens
ALL_FORMATS = [f for fmt in WRITERS for f in ("--output_format", fmt)]
E2E = {  # name -> curate flags
    "parquet": ["--output_format", PARQUET],
    "all four": ALL_FORMATS,
}
MAX_LOAD, MAX_WAIT_S = 1.5, 120


# --- corpus ---------------------------------------------------------------------------


def build_corpus(tokens: int, vocab_size: int) -> tuple[list, dict]:
    """-> (one TokenCopy per synthetic document, description). See the module docstring."""
    rng = np.random.Generator(np.random.PCG64(SEED))
    lengths, total = [], 0
    while total < tokens:
        draw = rng.lognormal(np.log(DOC_MEDIAN_TOKENS), DOC_SIGMA, size=max(1024, tokens // 500))
        draw = np.clip(draw.astype(np.int64), DOC_MIN_TOKENS, DOC_MAX_TOKENS)
        ends = total + np.cumsum(draw)
        keep = int(np.searchsorted(ends, tokens, side="left")) + 1  # up to the one crossing
        lengths.append(draw[:keep])
        total = int(ends[min(keep, len(draw)) - 1])
    lengths = np.concatenate(lengths)
    ids = rng.integers(2, vocab_size, size=int(lengths.sum()), dtype=np.int32)
    documents = np.split(ids, np.cumsum(lengths)[:-1])
    copies = [
        c
        for i, doc_ids in enumerate(documents)
        for c in token_copies(f"bench-{i:08d}", f"synthetic document {i}", doc_ids)
    ]
    description = {
        "kind": "synthetic token ids, log-normal document lengths",
        "seed": SEED,
        "doc_length": {
            "distribution": "lognormal",
            "median": DOC_MEDIAN_TOKENS,
            "sigma": DOC_SIGMA,
            "clip": [DOC_MIN_TOKENS, DOC_MAX_TOKENS],
            "observed_mean": round(float(lengths.mean()), 1),
            "observed_p50": int(np.percentile(lengths, 50)),
            "observed_p99": int(np.percentile(lengths, 99)),
            "observed_max": int(lengths.max()),
        },
        "documents": len(copies),
        "document_tokens": int(lengths.sum()),
        "stream_tokens": int(lengths.sum()) + len(copies),
        "vocab_size": vocab_size,
    }
    return copies, description


# --- the writers ----------------------------------------------------------------------


class Writers:
    """The pipeline's per-group writer calls on one corpus, grouped once (AssignGroup runs
    whatever the formats)."""

    def __init__(self, copies: list, shards: TokenShardsConfig, vocab_size: int):
        self.shards = shards
        self.vocab_size = vocab_size
        self.total = sum(c.tokens for c in copies)
        self.count = shards.shard_count(self.total)
        self.groups = defaultdict(list)
        for c in copies:
            self.groups[shards.group_of(c, self.total)].append(c)
        self.per_format = {
            fmt: dataclasses.replace(shards, formats=(fmt,)) for fmt in WRITERS if fmt != PARQUET
        }
        # The layout the document formats' calls get (from the pipeline's Layout side input).
        self.layout = shards.layout(self._totals(), self.total)

    def _totals(self) -> dict:
        return {g: add_totals((c.tokens, 1) for c in m) for g, m in self.groups.items()}

    def parquet(self) -> list[tuple[str, bytes, dict]]:
        """GroupTotals + Layout, Pack (pack_group + unpacked_copies per group), Serialize."""
        layout = self.shards.layout(self._totals(), self.total)
        parts, unpacked = defaultdict(list), 0
        for group in range(layout.shard_count):
            members = self.groups.get(group, [])
            for shard, part in self.shards.pack_group(group, members, (EOS_ID, PAD_ID), layout):
                parts[shard].append(part)
            unpacked += len(self.shards.unpacked_copies(group, members, layout))
        return [assemble_shard(TRAIN, shard, parts[shard]) for shard in range(layout.shard_count)]

    def documents(self, fmt: str) -> list[tuple[str, bytes, dict]]:
        """_PackGroup's document_files call per group, with `fmt` alone."""
        config = self.per_format[fmt]
        return [
            file
            for group in range(self.count)
            for file in config.document_files(
                group, self.groups.get(group, []), EOS_ID, self.vocab_size, self.count
            )
        ]

    def run(self, fmt: str) -> list[tuple[str, bytes, dict]]:
        return self.parquet() if fmt == PARQUET else self.documents(fmt)


def write_files(files: list, output_dir: str) -> list[dict]:
    """WriteFile's call per file: write_atomically (temporary file, rename, sha256)."""
    return [
        {**metadata, **write_atomically(output_dir, path, data)} for path, data, metadata in files
    ]


def stored_tokens(fmt: str, files: list) -> int:
    """Tokens a writer's files hold (megatron's .bin and .idx describe one dataset)."""
    return sum(m["tokens"] for path, _, m in files if not path.endswith(".idx"))


def bench_writers(writers: Writers, warm: Writers, repeats: int, scratch: Path) -> dict:
    for fmt in WRITERS:  # warm-up: imports, allocator, code paths
        write_files(warm.run(fmt), str(scratch / "warm"))
    shutil.rmtree(scratch / "warm", ignore_errors=True)

    runs = {fmt: [] for fmt in WRITERS}
    facts = {}
    for repeat in range(repeats):
        order = WRITERS[repeat % len(WRITERS) :] + WRITERS[: repeat % len(WRITERS)]
        for fmt in order:
            files, (wall, cpu) = timed(writers.run, fmt)
            out = scratch / f"{fmt}-{repeat}"
            _, (write_wall, write_cpu) = timed(write_files, files, str(out))
            runs[fmt].append(
                {
                    "repeat": repeat,
                    "position": order.index(fmt),
                    "seconds": round(wall, 4),
                    "cpu_s": round(cpu, 4),
                    "write_seconds": round(write_wall, 4),
                    "write_cpu_s": round(write_cpu, 4),
                    "load_1min": os.getloadavg()[0],
                }
            )
            facts[fmt] = {
                "files": len(files),
                "file_bytes": sum(len(data) for _, data, _ in files),
                "stored_tokens": stored_tokens(fmt, files),
                "dtype": None if fmt == PARQUET else files[0][2]["dtype"],
            }
            del files
            shutil.rmtree(out, ignore_errors=True)
            log(f"run {repeat + 1}/{repeats}: {fmt} {wall:.3f} s + write {write_wall:.3f} s")
    return {"runs": runs, "facts": facts}


def writer_rows(measured: dict, tokens: int) -> list[dict]:
    rows = []
    for fmt, runs in measured["runs"].items():
        seconds = statistics.median(r["seconds"] for r in runs)
        with_write = statistics.median(r["seconds"] + r["write_seconds"] for r in runs)
        rows.append(
            {
                "writer": fmt,
                "median_s": round(seconds, 4),
                "median_cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 4),
                "mb_per_s": round(tokens * TOKEN_BYTES / MB / seconds, 1),
                "tokens_per_s": round(tokens / seconds),
                "median_with_write_s": round(with_write, 4),
                "mb_per_s_with_write": round(tokens * TOKEN_BYTES / MB / with_write, 1),
                "runs_s": [r["seconds"] for r in runs],
                **measured["facts"][fmt],
            }
        )
    parquet = next(r for r in rows if r["writer"] == PARQUET)
    for row in rows:  # > 1: faster than the Parquet writer
        row["speed_vs_parquet"] = round(parquet["median_s"] / row["median_s"], 2)
        row["time_vs_parquet"] = round(row["median_s"] / parquet["median_s"], 3)
        row["speed_vs_parquet_with_write"] = round(
            parquet["median_with_write_s"] / row["median_with_write_s"], 2
        )
    return rows


# --- end to end -----------------------------------------------------------------------


def curate_once(flags: list[str], workdir: Path) -> dict:
    """One `python -m pipelines.curate` demo run in `workdir` -> wall, CPU, token files."""
    workdir.mkdir(parents=True)
    output = workdir / "run"  # not ./out: the demo writes its corpus to ./out/sample-corpus
    command = [PYTHON, "-m", "pipelines.curate", "--output", str(output), *flags]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    manifest = json.loads((output / "manifest.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "seconds": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "load_1min": os.getloadavg()[0],
        "parquet_sha256": [s["sha256"] for s in manifest["tokens"]["shards"]],
        "train_tokens": manifest["splits"]["train"]["tokens"],
        "formats": {
            fmt: sum(len(split["files"]) for split in section.values())
            for fmt, section in manifest["formats"].items()
        },
    }


def bench_e2e(repeats: int, scratch: Path) -> dict:
    names = list(E2E)
    runs = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:  # A B, B A, ...
            log(f"curate {repeat + 1}/{repeats}: {name}")
            workdir = scratch / f"curate-{repeat}-{name.replace(' ', '_')}"
            result = curate_once(E2E[name], workdir)
            shutil.rmtree(workdir, ignore_errors=True)
            runs[name].append(result)
            log(f"curate {name}: {result['seconds']:.1f} s")
    a, b = (statistics.median(r["seconds"] for r in runs[n]) for n in names)
    a_cpu, b_cpu = (statistics.median(r["cpu_s"] for r in runs[n]) for n in names)
    hashes = {tuple(r["parquet_sha256"]) for n in names for r in runs[n]}
    return {
        "command": f"{PYTHON} -m pipelines.curate --output DIR/run FLAGS (cwd: a new DIR)",
        "flags": {name: " ".join(flags) for name, flags in E2E.items()},
        "order": "A B, B A, ... (A = parquet, B = all four)",
        "runs": {
            name: [{k: v for k, v in r.items() if k != "parquet_sha256"} for r in rs]
            for name, rs in runs.items()
        },
        "median_s": {names[0]: round(a, 3), names[1]: round(b, 3)},
        "median_cpu_s": {names[0]: round(a_cpu, 3), names[1]: round(b_cpu, 3)},
        "ratio_all_to_parquet": round(b / a, 3),
        "added_s": round(b - a, 3),
        "added_cpu_s": round(b_cpu - a_cpu, 3),
        "checks": {
            "parquet_shards_identical": len(hashes) == 1,
            "all_four_wrote_other_formats": all(
                set(r["formats"]) == {MEGATRON, NANOGPT, LITDATA} and all(r["formats"].values())
                for r in runs[names[1]]
            ),
        },
    }


# --- report ---------------------------------------------------------------------------


def wait_for_quiet() -> list[float]:
    """Wait (up to MAX_WAIT_S) for the 1-minute load to fall under MAX_LOAD; -> the load."""
    deadline = time.monotonic() + MAX_WAIT_S
    while os.getloadavg()[0] > MAX_LOAD and time.monotonic() < deadline:
        log(f"load {os.getloadavg()[0]:.2f} > {MAX_LOAD}: waiting")
        time.sleep(15)
    return list(os.getloadavg())


def table(results: dict) -> str:
    corpus = results["corpus"]
    lines = [
        f"writers: {corpus['documents']:,} synthetic documents, "
        f"{corpus['stream_tokens']:,} tokens with end-of-text "
        f"({corpus['stream_tokens'] * TOKEN_BYTES / MB:.0f} MB as int32), "
        f"{results['layout']['groups']} groups, seq_len {results['args']['seq_len']}, "
        f"vocab {corpus['vocab_size']}; median of {results['args']['repeats']}",
        "",
        f"{'writer':<9} {'s':>7} {'MB/s':>8} {'tokens/s':>13} {'vs parquet':>10} "
        f"{'+write s':>9} {'MB/s':>8} {'vs parquet':>10} {'out MB':>7}",
    ]
    for r in results["writers"]:
        lines.append(
            f"{r['writer']:<9} {r['median_s']:>7.3f} {r['mb_per_s']:>8.1f} "
            f"{r['tokens_per_s']:>13,} {r['speed_vs_parquet']:>9.2f}x "
            f"{r['median_with_write_s']:>9.3f} {r['mb_per_s_with_write']:>8.1f} "
            f"{r['speed_vs_parquet_with_write']:>9.2f}x {r['file_bytes'] / MB:>7.1f}"
        )
    lines.append("(vs parquet: parquet's seconds / this writer's; > 1 is faster)")
    e2e = results.get("end_to_end")
    if e2e:
        lines += ["", "end to end, python -m pipelines.curate (demo):"]
        for name, runs in e2e["runs"].items():
            walls = ", ".join(f"{r['seconds']:.1f}" for r in runs)
            lines.append(
                f"  {name:<9} median {e2e['median_s'][name]:>6.1f} s wall "
                f"(CPU {e2e['median_cpu_s'][name]:.1f} s)  runs: {walls}"
            )
        lines.append(
            f"  all four / parquet = {e2e['ratio_all_to_parquet']:.3f}  "
            f"({e2e['added_s']:+.1f} s wall, {e2e['added_cpu_s']:+.1f} s CPU; the writer "
            f"rates predict +{e2e['document_formats_s_predicted_by_writer_rates']:.3f} s)"
        )
    checks = {**results["checks"], **(e2e["checks"] if e2e else {})}
    lines.append("checks: " + ", ".join(f"{k}={v}" for k, v in checks.items()))
    env = results["environment"]
    lines.append(
        f"load average: launch {env['load_average_at_launch'][0]:.2f}, "
        f"start {env['load_average_at_start'][0]:.2f} (waited {env['waited_for_load_s']} s), "
        f"end {env['load_average_at_end'][0]:.2f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=40_000_000, help="document tokens")
    parser.add_argument("--repeats", type=int, default=7, help="runs per writer (median)")
    parser.add_argument(
        "--e2e-repeats", type=int, default=3, help="curate runs per config (0: skip)"
    )
    parser.add_argument("--vocab-size", type=int, default=32768)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--target-shard-mb", type=float, default=64, help="MiB of int32 tokens")
    parser.add_argument("--dp-world-size", type=int, default=1)
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)

    os.environ.setdefault("GIT_OPTIONAL_LOCKS", "0")  # environment() runs `git status`
    launch, waited = list(os.getloadavg()), time.monotonic()
    load = wait_for_quiet()
    results = {
        "environment": environment()
        | {
            "load_average_at_launch": launch,
            "waited_for_load_s": round(time.monotonic() - waited),
            "load_average_at_start": load,
        }
    }
    results["args"] = vars(args) | {"results": str(args.results)}
    log(f"corpus: {args.tokens:,} tokens")
    copies, results["corpus"] = build_corpus(args.tokens, args.vocab_size)
    shards = TokenShardsConfig(
        pack=PackConfig(seq_len=args.seq_len),
        dp_world_size=args.dp_world_size,
        target_bytes=int(args.target_shard_mb * 2**20),
    )
    writers = Writers(copies, shards, args.vocab_size)
    warm = Writers(copies[:: max(1, len(copies) // 500)], shards, args.vocab_size)
    tokens = writers.total
    assert tokens == results["corpus"]["stream_tokens"]
    layout = writers.layout
    results["layout"] = {
        "groups": layout.shard_count,
        "rows_per_shard": layout.rows_per_shard,
        "tail_tokens_dropped": layout.tail_tokens_dropped,
        "rows_dropped_for_equal_shards": layout.rows_dropped,
    }
    results["document_dtype"] = {
        fmt: token_dtype(fmt, args.vocab_size).name for fmt in WRITERS if fmt != PARQUET
    }
    results["timing"] = (
        "writers: serialisation to bytes in memory (median s); '+ write': plus write_atomically "
        "of the files into a temporary directory; MB/s = stream tokens x 4 bytes / s"
    )
    with tempfile.TemporaryDirectory(prefix="bench-formats-") as scratch:
        measured = bench_writers(writers, warm, args.repeats, Path(scratch))
        del writers, warm, copies
        results["writers"] = writer_rows(measured, tokens)
        parquet_tokens = layout.shard_count * layout.rows_per_shard * args.seq_len
        results["checks"] = {
            "document_formats_hold_every_token": all(
                measured["facts"][fmt]["stored_tokens"] == tokens for fmt in WRITERS[1:]
            ),
            "parquet_holds_stream_minus_dropped": measured["facts"][PARQUET]["stored_tokens"]
            == parquet_tokens,
        }
        if args.e2e_repeats:
            e2e = bench_e2e(args.e2e_repeats, Path(scratch))
            # What the writer rates above predict the three document formats add to the
            # demo's train split (its validation split is ~1 % more), for scale.
            demo_tokens = e2e["runs"]["all four"][0]["train_tokens"]
            e2e["document_formats_s_predicted_by_writer_rates"] = round(
                sum(demo_tokens / r["tokens_per_s"] for r in results["writers"][1:]), 4
            )
            results["end_to_end"] = e2e
    results["environment"]["load_average_at_end"] = os.getloadavg()
    results["environment"]["peak_rss_mib"] = own_peak_rss_mib()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nresults: {args.results}")
    checks = {**results["checks"], **results.get("end_to_end", {}).get("checks", {})}
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
