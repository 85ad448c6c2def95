"""Scale benchmark of issue 15: the whole curate command per runner configuration.

    python -m bench.scale [--mb 20] [--configs one_core,two_cores,mp2,dask2,dask4,encode_only,
                                             one_core_pair]
    python -m bench.scale --profile [--mb 20]

1. Corpus (cached under /tmp/bench-scale/corpus-<mb>/): 16 web `.json.gz` files of real
   sentences from ../shared/fixtures (C4, CCNet, the Wikipedia article) drawn with a seed
   into 1.5-5 KB documents; ~10% are edited copies of earlier documents (three words
   replaced: near-duplicates), ~5% get a presidio-synth sentence with an e-mail or a phone.
2. Runs `python -m pipelines.curate` on it in a subprocess per configuration, same flags for
   all (balance off). Wall time of the command; CPU time of its process tree (RUSAGE_CHILDREN
   delta, plus the Dask cluster's processes, which are not our children); peak RSS (VmHWM) of
   every process in the tree and the sampled peak of their sum. `encode_only`, the baseline:
   a bare `encode_batch` over the corpus texts with the one_core run's tokenizer, one core,
   timed inside its process. `one_core_pair`: the one_core command twice at once, one per
   core; its speed-up (twice the one_core wall over its own, in throughput) is the most two
   workers that share nothing can get on this machine, the ceiling for the runners'.
3. Checks that tokens/*.parquet, documents/*.parquet and manifest.json (minus config.output
   and runner options) are byte-identical to the one_core run's; writes
   bench/results/scale.json and prints a table. Dask runs also get `dask_timeline`, from
   the scheduler's task stream: the driver's start-up before the first task, occupancy,
   and the seconds in which at most one worker thread had work (the serial parts).

`--profile` runs one_core under cProfile and prints the top 25 by cumulative and total time.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import itertools
import json
import math
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from bench.common import MB, environment, log
from bench.pii import FIXTURES, web_fixture_texts
from pipelines.dask_compat import TASK_PREFIX

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "scale.json"
WORKDIR = Path("/tmp/bench-scale")
CORPUS_VERSION, FILES, MB_PER_FILE = "scale-2", 16, 32  # 16 files, more of ~32 MB past 512 MB
DASK_WORKER_MEMORY = "8GiB"  # a LocalCluster worker's memory_limit: it spills past 60-70%
NEAR_DUP_SHARE, CONTACT_SHARE = 0.10, 0.05
CURATE_FLAGS = ["--vocab_size=8192", "--seq_len=2048", "--dp_world_size=1"]
IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
DASK = ["--runner=apache_beam.runners.dask.dask_runner.DaskRunner"]
PYTHON, ONE_CORE = [str(ROOT / ".venv" / "bin" / "python")], ["taskset", "-c", "1"]
CONFIGS = {  # name -> (command prefix, curate flags, Dask workers)
    "one_core": (ONE_CORE, IN_MEMORY, 0),
    "two_cores": ([], IN_MEMORY, 0),
    "mp2": ([], ["--direct_running_mode=multi_processing", "--direct_num_workers=2"], 0),
    "dask2": ([], DASK, 2),
    "dask4": ([], DASK, 4),
    # Memory per worker against partition size: 4x the default partitions of this machine.
    "dask2_p16": ([], [*DASK, "--dask_npartitions=16"], 2),
    # Without Dask's work stealing, which moves a queued task to an idle worker with all the
    # data it reads: the cost of moving a partition of Python records against the gain.
    "dask2_nosteal": ([], DASK, 2),
    "encode_only": (ONE_CORE, [], 0),
    # Two one_core runs at once, one per core (copies 0 and 1): what two workers that share
    # nothing could do on this machine, the ceiling of any runner's speed-up here.
    "one_core_pair": (ONE_CORE, IN_MEMORY, 0),
}
PAIR = "one_core_pair"
RUNNER_KEYS = ("runner", "direct_running_mode", "direct_num_workers", "dask_client_address")
MAX_LOAD, MAX_WAIT_S = 1.5, 300
TASK_STREAM = "task-stream"  # the scheduler plugin's name
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def copy_outputs(name: str, output: Path) -> list[Path]:
    """Where configuration `name` writes: one output, or one per copy for one_core_pair."""
    return [output / "0", output / "1"] if name == PAIR else [output]


# --- corpus -----------------------------------------------------------------------------


def real_sentences() -> list[str]:
    """Distinct prose sentences (6+ words, end punctuation, no markup or code) of the C4 and
    CCNet fixtures and the Wikipedia article, sorted."""
    texts = [*web_fixture_texts(), (FIXTURES / "text" / "wikipedia-taylorswift.txt").read_text()]
    pieces = (s.strip() for t in texts for s in re.split(r"(?<=[.!?])\s+|\n", t))
    junk = re.compile(r"[{}<>]|javascript|lorem", re.I)
    return sorted(
        {s for s in pieces if len(s.split()) >= 6 and s[-1] in ".!?" and not junk.search(s)}
    )


def contact_sentences() -> list[str]:
    """presidio-synth sentences labelled with an e-mail address or a phone number."""
    rows = json.loads((FIXTURES / "pii" / "presidio-synth-1000.json").read_text())
    wanted = {"EMAIL_ADDRESS", "PHONE_NUMBER"}
    return [r["full_text"] for r in rows if wanted & {s["entity_type"] for s in r["spans"]}]


def make_document(rng: random.Random, sentences: list[str]) -> str:
    """Paragraphs of 3-6 distinct real sentences, 1.5-5 KB in all."""
    target, picked = rng.randint(1500, 5000), []
    for sentence in rng.sample(sentences, 80):
        picked.append(sentence)
        if sum(map(len, picked)) >= target:
            break
    cuts = [0]
    while cuts[-1] < len(picked):
        cuts.append(cuts[-1] + rng.randint(3, 6))
    return "\n".join(" ".join(picked[a:b]) for a, b in itertools.pairwise(cuts))


def edited_copy(rng: random.Random, text: str) -> str:
    """A near-duplicate: three words replaced by other words of the same text."""
    words = text.split(" ")
    for _ in range(3):
        words[rng.randrange(len(words))] = rng.choice(words)
    return " ".join(words)


def build_corpus(mb: float) -> dict:
    """Write (or reuse) the corpus of `mb` MB of text; -> its description."""
    directory = WORKDIR / f"corpus-{mb:g}"
    spec, described = (
        {"version": CORPUS_VERSION, "mb": mb, "files": max(FILES, math.ceil(mb / MB_PER_FILE))},
        directory / "corpus.json",
    )
    if described.exists() and (corpus := json.loads(described.read_text()))["spec"] == spec:
        return corpus
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    rng, sentences, contacts = random.Random(CORPUS_VERSION), real_sentences(), contact_sentences()
    records, size, counts = [], 0, {"near_dup": 0, "contact": 0}
    while size < mb * MB:
        roll = rng.random()
        if records and roll < NEAR_DUP_SHARE:
            text = edited_copy(rng, rng.choice(records)["text"])
            counts["near_dup"] += 1
        else:
            text = make_document(rng, sentences)
            if roll < NEAR_DUP_SHARE + CONTACT_SHARE:
                paragraphs = text.split("\n")
                paragraphs.insert(rng.randrange(len(paragraphs) + 1), rng.choice(contacts))
                text = "\n".join(paragraphs)
                counts["contact"] += 1
        n = len(records)
        records.append(
            {"id": f"scale-{n:07d}", "url": f"https://s{n % 97}.example.com/{n}", "text": text}
        )
        size += len(text.encode("utf-8"))
    files = spec["files"]
    for index in range(files):
        raw = io.BytesIO()
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write("".join(json.dumps(r) + "\n" for r in records[index::files]).encode())
        (directory / f"web-{index:03d}.json.gz").write_bytes(raw.getvalue())
    corpus = {
        "spec": spec,
        "input": f"web={directory}/web-*.json.gz",
        "docs": len(records),
        "text_bytes": size,
        "file_bytes": sum(p.stat().st_size for p in directory.glob("web-*.json.gz")),
        "sentence_pool": len(sentences),
        **counts,
    }
    described.write_text(json.dumps(corpus, indent=2))
    return corpus


# --- measuring a process tree -------------------------------------------------------------


class TreeSampler(threading.Thread):
    """Every 0.2 s: VmHWM and CPU time of each process under the root pids, and the sum of
    their VmRSS. VmHWM is a high-water mark: exact up to the last sample before an exit."""

    ROLES = {"spawn_main": "dask worker", "sdk_worker_main": "beam sdk worker",
             "--serve-dask": "dask scheduler + nannies"}  # fmt: skip

    def __init__(self, roots: list[int]):
        super().__init__(daemon=True)
        self.roots, self.stop = roots, threading.Event()
        self.hwm, self.cpu, self.roles, self.peak_total = {}, {}, {}, 0

    def sample(self) -> None:
        total = 0
        for root in self.roots:
            try:
                tree = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
            except psutil.Error:
                continue
            for proc in tree:
                try:
                    status = Path(f"/proc/{proc.pid}/status").read_text()
                    times, command = proc.cpu_times(), " ".join(proc.cmdline())
                except (OSError, psutil.Error):
                    continue
                kib = dict(re.findall(r"(VmHWM|VmRSS):\s+(\d+)", status))
                self.hwm[proc.pid] = int(kib.get("VmHWM", 0)) // 1024
                self.cpu[proc.pid] = times.user + times.system
                roles = [role for key, role in self.ROLES.items() if key in command]
                self.roles.setdefault(proc.pid, roles[0] if roles else command[:60])
                total += int(kib.get("VmRSS", 0)) // 1024
        self.peak_total = max(self.peak_total, total)

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.sample()


def wait_for_quiet_machine(max_wait: float) -> dict:
    """Wait (up to `max_wait` s) while a CI run is going or the 1-min load is above MAX_LOAD."""
    start = time.monotonic()
    while True:
        commands = (" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))
        ci = any(".ci/run" in c for c in commands)
        if (not ci and os.getloadavg()[0] <= MAX_LOAD) or time.monotonic() - start >= max_wait:
            break
        time.sleep(10)
    waited = round(time.monotonic() - start)
    return {"waited_s": waited, "ci_running": ci, "load_before": os.getloadavg()}


def start_dask_cluster(workers: int, stealing: bool = True) -> tuple[subprocess.Popen, str]:
    """A LocalCluster (`workers` processes x 1 thread) in its own process; -> (it, address)."""
    address = WORKDIR / f"dask-{workers}.address"
    address.unlink(missing_ok=True)
    command = [*PYTHON, "-m", "bench.scale", "--serve-dask", str(workers), "--to", str(address)]
    command += [] if stealing else ["--no-stealing"]
    with open(WORKDIR / f"dask-{workers}.log", "wb") as logs:
        cluster = subprocess.Popen(command, cwd=ROOT, env=ENV, stdin=subprocess.PIPE, stderr=logs)
    while not address.exists():
        if cluster.poll() is not None:
            raise RuntimeError(f"the Dask cluster exited: see {WORKDIR}/dask-{workers}.log")
        time.sleep(0.2)
    return cluster, address.read_text()


def serve_dask(workers: int, address: Path, stealing: bool = True) -> None:
    """Host a LocalCluster, recording its task stream, until stdin closes."""
    import dask
    import distributed

    dask.config.set({"distributed.scheduler.work-stealing": stealing})
    with distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit=DASK_WORKER_MEMORY,
    ) as cluster:
        with distributed.Client(cluster) as client:
            client.wait_for_workers(workers)
            client.run_on_scheduler(_record_task_stream)
        address.write_text(cluster.scheduler_address)
        sys.stdin.read()


def _record_task_stream(dask_scheduler) -> None:
    from distributed.diagnostics.task_stream import TaskStreamPlugin

    dask_scheduler.add_plugin(TaskStreamPlugin(dask_scheduler, maxlen=10**7))


def _task_stream(dask_scheduler) -> list[dict]:
    return list(dask_scheduler.plugins[TASK_STREAM].buffer)


def _stealing_events(dask_scheduler) -> int:
    """Work stealing's log entries (a request and its outcome per task moved)."""
    return len(dask_scheduler.get_events("stealing"))


def dask_timeline(address: str, started: float, ended: float) -> dict:
    """Where a Dask run's wall time went, from the scheduler's task stream (epoch seconds):
    the driver's start-up before the first task (imports, graph construction, translation),
    the time after the last task, the worker threads' task seconds and mean occupancy
    between the first and last task, and the seconds in which at most one thread worked
    (the run's serial parts: one-key steps, barriers, latency between dependent tasks),
    with the Beam steps that ran alone longest."""
    import distributed

    with distributed.Client(address, timeout=30) as client:
        tasks = client.run_on_scheduler(_task_stream)
        threads = sum(client.nthreads().values())
        steals = client.run_on_scheduler(_stealing_events)
    spans = [
        (s["start"], s["stop"], _step_of(t["key"]))
        for t in tasks
        for s in t["startstops"]
        if s["action"] == "compute"
    ]
    if not spans:
        return {"tasks": 0}
    transfer = sum(
        s["stop"] - s["start"] for t in tasks for s in t["startstops"] if s["action"] == "transfer"
    )
    first, last = min(s for s, _, _ in spans), max(e for _, e, _ in spans)
    edges = sorted(
        [(s, 1, i) for i, (s, _, _) in enumerate(spans)]
        + [(e, -1, i) for i, (_, e, _) in enumerate(spans)]
    )
    running: set[int] = set()
    at_most_one, alone, previous = 0.0, {}, first
    for at, change, i in edges:
        if len(running) <= 1:
            at_most_one += at - previous
        if len(running) == 1:
            step = spans[next(iter(running))][2]
            alone[step] = alone.get(step, 0.0) + at - previous
        if change > 0:
            running.add(i)
        else:
            running.discard(i)
        previous = at
    task_s = sum(e - s for s, e, _ in spans)
    return {
        "tasks": len(tasks),
        "threads": threads,
        "before_first_task_s": round(first - started, 2),
        "after_last_task_s": round(ended - last, 2),
        "task_s": round(task_s, 1),
        "transfer_s": round(transfer, 1),
        "stealing_events": steals,
        "occupancy": round(task_s / max((last - first) * threads, 1e-9), 3),
        "at_most_one_thread_busy_s": round(at_most_one, 1),
        "alone_by_step_s": {
            step: round(seconds, 1)
            for step, seconds in sorted(alone.items(), key=lambda kv: -kv[1])[:8]
        },
    }


def _step_of(key) -> str:
    """The Beam steps a Dask task ran (`pardo:LABEL` names, pipelines.dask_compat), else its
    name less the token."""
    name = key if isinstance(key, str) else key[0]
    steps = re.findall(re.escape(TASK_PREFIX) + r"([^-]+)", name)
    return " + ".join(dict.fromkeys(steps)) if steps else re.sub(r"-[0-9a-f]{32}$", "", name)


def run_config(name: str, corpus: dict, output: Path, max_wait: float, profile=None) -> dict:
    """One timed command of configuration `name` (curate, or the encode baseline); -> its row."""
    prefix, flags, dask_workers = CONFIGS[name]
    row = {"config": name, **wait_for_quiet_machine(max_wait)}
    cluster = None
    if dask_workers:
        cluster, address = start_dask_cluster(dask_workers, name != "dask2_nosteal")
        flags = [*flags, f"--dask_client_address={address}"]
    python = [*PYTHON, "-m", "cProfile", "-o", str(profile)] if profile else PYTHON
    if name == "encode_only":
        tokenizer = output.parent / "one_core" / "tokenizer" / "tokenizer.json"
        mb = f"{corpus['spec']['mb']:g}"
        command = [*prefix, *python, "-m", "bench.scale", "--mb", mb, "--encode", str(tokenizer)]
    else:
        shutil.rmtree(output, ignore_errors=True)
        curate = [*python, "-m", "pipelines.curate", f"--input={corpus['input']}"]
        command = [*prefix, *curate, f"--output={output}", *CURATE_FLAGS, *flags]
    # one_core_pair: the command twice at once, copy i on core i into output/i
    commands = [
        ["taskset", "-c", str(core), *curate, f"--output={copy}", *CURATE_FLAGS, *flags]
        for core, copy in enumerate(copy_outputs(name, output))
    ] if name == PAIR else [command]  # fmt: skip
    row["command"], log_path = " & ".join(map(" ".join, commands)), output.parent / f"{name}.log"
    log(row["command"], name)
    output.parent.mkdir(parents=True, exist_ok=True)
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    started = time.time()
    with open(log_path, "wb") as logs:
        children = [
            subprocess.Popen(c, cwd=ROOT, env=ENV, stdout=logs, stderr=subprocess.STDOUT)
            for c in commands
        ]
    child, pids = children[0], {c.pid for c in children}
    sampler = TreeSampler([*pids, *([cluster.pid] if cluster else [])])
    sampler.sample()
    cluster_cpu_before = {pid: cpu for pid, cpu in sampler.cpu.items() if pid not in pids}
    sampler.start()
    walls = []
    for c in children:
        c.wait()
        walls.append(round(time.perf_counter() - start, 2))
    wall, ended = time.perf_counter() - start, time.time()
    sampler.stop.set()
    sampler.join()
    sampler.sample()  # the cluster is still up: its peaks and CPU times after the run
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    others = [
        {"pid": pid, "role": sampler.roles[pid], "peak_rss_mib": sampler.hwm[pid],
         "cpu_s": round(sampler.cpu[pid] - cluster_cpu_before.get(pid, 0), 1)}
        for pid in sorted(sampler.hwm) if pid not in pids and sampler.hwm[pid] > 20
    ]  # fmt: skip
    if cluster:
        cpu += sum(p["cpu_s"] for p in others)
        row["dask_timeline"] = dask_timeline(address, started, ended)
        cluster.stdin.close()
        cluster.wait(timeout=120)
    if name == PAIR:
        row["copies_wall_s"] = walls
    row["copies"] = len(children)  # each copy curates the whole corpus
    row |= {
        "exit_code": max(c.returncode for c in children),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 1),
        "driver_peak_rss_mib": sampler.hwm.get(child.pid),
        "tree_peak_rss_mib": max(sampler.peak_total, sampler.hwm.get(child.pid, 0)),
        "other_processes": others,
        "load_after": os.getloadavg(),
        "log": str(log_path),
    }
    if row["exit_code"]:
        row["log_tail"] = log_path.read_text(errors="replace")[-3000:]
    elif name == "encode_only":  # the headline is the in-process time of encode_batch alone
        inside = json.loads(log_path.read_text().strip().splitlines()[-1])
        row |= {"command_wall_s": row["wall_s"], "command_cpu_s": row["cpu_s"], **inside}
    row["mb_per_s"] = round(row["copies"] * corpus["text_bytes"] / MB / row["wall_s"], 3)
    row["docs_per_s"] = round(row["copies"] * corpus["docs"] / row["wall_s"], 1)
    return row


def encode_baseline(corpus: dict, tokenizer_path: Path) -> None:
    """Print {wall_s, cpu_s, tokens, methods}: encode_batch (and encode_batch_fast) over every
    corpus text, in batches of the pipeline's size."""
    from tokenizers import Tokenizer

    from tokenizer.encode import ENCODE_CALL_DOCS

    directory = WORKDIR / f"corpus-{corpus['spec']['mb']:g}"
    texts = [
        json.loads(line)["text"]
        for path in sorted(directory.glob("web-*.json.gz"))
        for line in gzip.open(path, "rt", encoding="utf-8")
    ]
    tokenizer, timings = Tokenizer.from_file(str(tokenizer_path)), {}
    # encode_batch is the baseline; the pipeline calls encode_batch_fast (no offsets)
    for method in (tokenizer.encode_batch, tokenizer.encode_batch_fast):
        cpu, start, tokens = time.process_time(), time.perf_counter(), 0
        for i in range(0, len(texts), ENCODE_CALL_DOCS):
            batch = method(texts[i : i + ENCODE_CALL_DOCS], add_special_tokens=False)
            tokens += sum(len(encoding.ids) for encoding in batch)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        timings[method.__name__] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
    print(json.dumps({**timings["encode_batch"], "tokens": tokens, "methods": timings}))


# --- identity and report -------------------------------------------------------------------


def output_digest(output: Path) -> dict:
    """sha256 of tokens/*.parquet, documents/*.parquet and of the manifest without
    config.output and runner options (none are in it today)."""
    digest = {
        f"{sub}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("tokens", "documents")
        for p in sorted((output / sub).glob("*.parquet"))
    }
    manifest = json.loads((output / "manifest.json").read_text())
    for key in ("output", *RUNNER_KEYS):
        manifest["config"].pop(key, None)
    canonical = json.dumps(manifest, sort_keys=True).encode()
    return digest | {"manifest.json": hashlib.sha256(canonical).hexdigest()}


def table(results: dict) -> str:
    env, corpus = results["environment"], results["corpus"]
    lines = [
        f"machine: {env['cpus']} CPUs ({env['cpu_model']}), {env['memory_gib']} GiB",
        f"corpus: {corpus['text_bytes'] / MB:.1f} MB of text, {corpus['docs']:,} documents in "
        f"{corpus['spec']['files']} files ({corpus['near_dup']} near-dups, "
        f"{corpus['contact']} with contacts)",
        "",
        f"{'config':<12} {'wall s':>7} {'CPU s':>7} {'RSS MiB driver/all':>19} {'MB/s':>6} "
        f"{'docs/s':>7} {'speed-up':>8} {'load before>after':>18}  identical",
    ]
    for r in results["runs"]:
        if r["exit_code"]:
            lines.append(f"{r['config']:<12} FAILED (exit {r['exit_code']}): see {r['log']}")
            continue
        rss = f"{r['driver_peak_rss_mib']}/{r['tree_peak_rss_mib']}"
        load = f"{r['load_before'][0]:.2f}>{r['load_after'][0]:.2f}"
        lines.append(
            f"{r['config']:<12} {r['wall_s']:>7.1f} {r['cpu_s']:>7.1f} {rss:>19} "
            f"{r['mb_per_s']:>6.2f} {r['docs_per_s']:>7.0f} {r.get('speedup', '-'):>8} "
            f"{load:>18}  {r.get('identical_to_one_core', '-')}"
        )
    for r in results["runs"]:
        if t := r.get("dask_timeline"):
            lines.append(
                f"{r['config']}: {t['before_first_task_s']} s before the first task, "
                f"occupancy {t['occupancy']} of {t['threads']} threads, at most one busy for "
                f"{t['at_most_one_thread_busy_s']} s, {t['after_last_task_s']} s after the last"
            )
            for step, seconds in list(t.get("alone_by_step_s", {}).items())[:5]:
                lines.append(f"  alone {seconds:>6.1f} s  {step}")
    if "one_core_over_encode_only" in results:
        ratio = results["one_core_over_encode_only"]
        fast = results["one_core_over_encode_batch_fast"]
        lines.append(f"one_core wall / encode_only wall: {ratio}x (issue 15 goal: <= 2.5x); "
                     f"with encode_batch_fast, which the pipeline calls: {fast}x")  # fmt: skip
    return "\n".join(lines)


def machine() -> dict:
    model = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    return {**environment(), "cpu_model": model.group(1) if model else None}


def print_profile(path: Path) -> None:
    import pstats

    ours = rf"{ROOT}/(transforms|tokenizer|schemas|pipelines)/"  # where speed is won
    for key, only, title in (("cumulative", "", "all"), ("tottime", "", "all"),
                             ("cumulative", ours, "project code")):  # fmt: skip
        print(f"\n=== top 25 by {key}: {title} ===")
        pstats.Stats(str(path)).sort_stats(key).print_stats(*filter(None, [only]), 25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20, help="corpus text, 10**6 bytes")
    parser.add_argument("--configs", default="one_core,two_cores,mp2,dask2,encode_only",
                        help=f"comma-separated, of: {','.join(CONFIGS)}")  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="one_core under cProfile")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--max-wait", type=float, default=MAX_WAIT_S,
                        help="s to wait before each run for CI to end, load to drop")  # fmt: skip
    parser.add_argument("--no-reference", action="store_true",
                        help="no one_core run to compare with (too large for it)")  # fmt: skip
    parser.add_argument("--serve-dask", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-stealing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--to", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--encode", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_dask:
        serve_dask(args.serve_dask, args.to, not args.no_stealing)
        return 0
    corpus = build_corpus(args.mb)
    if args.encode:
        encode_baseline(corpus, args.encode)
        return 0
    log(f"{corpus['text_bytes'] / MB:.1f} MB, {corpus['docs']} docs: {corpus['input']}", "corpus")
    outputs = WORKDIR / f"out-{args.mb:g}"
    if args.profile:
        profile = WORKDIR / f"one_core-{args.mb:g}.prof"
        row = run_config("one_core", corpus, outputs / "profile", args.max_wait, profile)
        print(f"one_core under cProfile: {row['wall_s']} s, exit {row['exit_code']}: {profile}")
        print_profile(profile)
        return row["exit_code"]
    names = [name for name in args.configs.split(",") if name]
    if unknown := sorted(set(names) - set(CONFIGS)):
        parser.error(f"unknown configs: {unknown}")
    # one_core first (the reference for identity, speed-ups and the tokenizer), encode_only
    # last; without one_core in --configs, an earlier one_core output is the reference.
    kept = outputs / "one_core" / "manifest.json"
    wanted = "one_core" in names or not (kept.exists() or args.no_reference)
    first = ["one_core"] if wanted else []
    names = [*first, *(n for n in names if n not in ("one_core", "encode_only"))]
    names += ["encode_only"] if "encode_only" in args.configs.split(",") else []
    results = {"environment": machine(), "corpus": corpus, "curate_flags": CURATE_FLAGS}
    reference = None if first or args.no_reference else output_digest(kept.parent)
    results["runs"] = []
    for name in names:
        row = run_config(name, corpus, outputs / name, args.max_wait)
        if name != "encode_only" and not row["exit_code"] and not args.no_reference:
            digests = [output_digest(copy) for copy in copy_outputs(name, outputs / name)]
            reference = reference or digests[0]
            row["identical_to_one_core"] = all(d == reference for d in digests)
            row["output_files_compared"] = sum(map(len, digests))
            row["differing"] = sorted(
                {k for d in digests for k in reference | d if reference.get(k) != d.get(k)}
            )
        results["runs"].append(row)
        log(f"{row.get('wall_s')} s wall, {row.get('cpu_s')} s CPU, exit {row['exit_code']}", name)
    done = {r["config"]: r for r in results["runs"] if not r["exit_code"]}
    if "one_core" in done:
        for r in done.values():
            if r["config"] != "encode_only":  # in throughput: the pair curates twice
                r["speedup"] = round(r["copies"] * done["one_core"]["wall_s"] / r["wall_s"], 2)
        if "encode_only" in done:
            ratio = done["one_core"]["wall_s"] / done["encode_only"]["wall_s"]
            results["one_core_over_encode_only"] = round(ratio, 2)
            fast = done["encode_only"]["methods"]["encode_batch_fast"]["wall_s"]
            results["one_core_over_encode_batch_fast"] = round(done["one_core"]["wall_s"] / fast, 2)
    results["environment"]["load_average_at_end"] = os.getloadavg()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nresults: {args.results}")
    return 0 if not any(r["exit_code"] for r in results["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
