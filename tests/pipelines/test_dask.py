"""The same graph on Beam's DaskRunner against a local 2-worker Dask cluster, with one
worker killed part way: the run completes and writes what the DirectRunner writes."""

import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from pipelines.curate import run
from pipelines.sample_corpus import write_sample_corpus

distributed = pytest.importorskip(
    "distributed", reason="needs the dask extra: pip install '.[dask]'"
)

ARGS = ["--vocab_size=1500", "--seq_len=128", "--dp_world_size=2"]


def _hashes(out: Path, sub: str) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / sub).glob("*"))
    }


class WorkerKiller(threading.Thread):
    """SIGKILLs worker process `pid` as soon as the run has written its first file in its
    staging folder under `out` (so the job is under way, with stages still to run);
    records when."""

    def __init__(self, pid: int, out: Path, timeout: float = 600):
        super().__init__(daemon=True)
        self.pid, self.out, self.timeout = pid, out, timeout
        self.killed_at: float | None = None

    def run(self):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            staging = self.out / "_staging"  # the run's own files, not the output's lock
            if staging.is_dir() and any(p.is_file() for p in staging.rglob("*")):
                os.kill(self.pid, signal.SIGKILL)
                self.killed_at = time.monotonic()
                return
            time.sleep(0.1)


def test_a_dask_run_that_loses_a_worker_writes_the_direct_runners_bytes(tmp_path, fixtures):
    inputs = [
        *(f"--input={s}" for s in write_sample_corpus(str(tmp_path / "corpus"), scale=0.1)),
        f"--input=pile={fixtures}/pile/*.jsonl.zst",
    ]
    direct = run([*ARGS, *inputs, f"--output={tmp_path / 'direct'}"])
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            pids = client.run(os.getpid)
            killer = WorkerKiller(min(pids.values()), tmp_path / "dask")
            killer.start()
            dask = run(
                [
                    *ARGS,
                    *inputs,
                    f"--output={tmp_path / 'dask'}",
                    "--runner=apache_beam.runners.dask.dask_runner.DaskRunner",
                    f"--dask_client_address={cluster.scheduler_address}",
                ]
            )
            finished = time.monotonic()
            killer.join()
            # The worker died while the job ran, and its nanny started a new one.
            assert killer.killed_at is not None and killer.killed_at < finished
            assert min(pids.values()) not in client.run(os.getpid).values()
    assert dask["records"] == direct["records"] and dask["records"]["balanced"]
    assert dask["stages"] == direct["stages"]
    for sub in ("tokens", "tokenizer", "documents", "rejected", "dead_letter"):
        hashes = _hashes(tmp_path / "dask", sub)
        assert hashes and hashes == _hashes(tmp_path / "direct", sub), sub
    assert len(_hashes(tmp_path / "dask", "tokens")) == 2


PRODUCED: list[int] = []
CONSUMED: list[tuple] = []


def _produce(x):
    PRODUCED.append(x)
    return x


def _consume(x, total, listed):
    CONSUMED.append((x, total, len(listed)))


def test_side_inputs_are_computed_once_and_reach_every_partition():
    """A side input's upstream runs once per element, however many partitions read it
    (Beam's own translation recomputed it inside every partition of the reader). In-process
    workers, so the module's lists see every call."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines import dask_compat

    dask_compat.patch()
    PRODUCED.clear()
    CONSUMED.clear()
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        options = PipelineOptions(
            [
                "--runner=apache_beam.runners.dask.dask_runner.DaskRunner",
                f"--dask_client_address={cluster.scheduler_address}",
            ]
        )
        pipeline = beam.Pipeline(options=options)
        side = pipeline | "Side" >> beam.Create(range(40)) | "Produce" >> beam.Map(_produce)
        total = beam.pvalue.AsSingleton(side | beam.CombineGlobally(sum))
        _ = (
            pipeline
            | "Main" >> beam.Create(range(200))
            | beam.Reshuffle()
            | beam.Map(_consume, total, beam.pvalue.AsList(side))
        )
        result = pipeline.run()
        result.wait_until_finish()
        dask_compat.close_client(result)
    assert sorted(CONSUMED) == [(x, sum(range(40)), 40) for x in range(200)]
    assert sorted(PRODUCED) == list(range(40))
