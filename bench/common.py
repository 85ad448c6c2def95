"""Helpers every benchmark uses: timing, result rows, logging, the machine's description."""

from __future__ import annotations

import gc
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable

MB = 10**6


def timed(fn: Callable, *args) -> tuple:
    """-> (fn(*args), (wall seconds, CPU seconds of this process))."""
    gc.collect()
    cpu, start = time.process_time(), time.perf_counter()
    result = fn(*args)
    return result, (time.perf_counter() - start, time.process_time() - cpu)


def result_row(stage: str, timing: tuple, text_bytes: int, docs: int, **extra) -> dict:
    """A result row. load_1min is the machine's load average when the stage ended: above
    ~1 on this 2-CPU machine, other processes competed with the stage for the CPUs."""
    seconds, cpu = timing
    return {
        "stage": stage,
        "seconds": round(seconds, 3),
        "cpu_s": round(cpu, 3),
        "load_1min": os.getloadavg()[0],
        "mb": round(text_bytes / MB, 2),
        "docs": docs,
        "mb_per_s": round(text_bytes / MB / seconds, 2),
        "docs_per_s": round(docs / seconds, 1),
        **extra,
    }


def own_peak_rss_mib() -> int:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over from the
    parent across fork + exec, so a child would report the bench process's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def log(message: str, tag: str = "bench") -> None:
    print(f"[{tag}] {message}", file=sys.stderr, flush=True)


def environment() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()

    packages = ("apache-beam", "tokenizers", "pyarrow", "zstandard", "numpy")
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": {p: importlib.metadata.version(p) for p in packages},
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain")),
        "load_average_at_start": os.getloadavg(),
    }


def tokenizer_sample(docs: list, budget: int) -> list[str]:
    """The pipeline's sample: documents in `sample_rank` order until `budget` characters."""
    from tokenizer.train import sample_rank, take_sample

    return take_sample(sorted((sample_rank(d.id), d.id, d.text) for d in docs), budget)
