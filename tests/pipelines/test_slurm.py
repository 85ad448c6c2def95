"""`--cluster slurm` on a live single-node Slurm cluster (tests/pipelines/slurm.py): the
same bytes as the in-memory DirectRunner in every output file, with 2 worker jobs and with
both cancelled mid-run (the run replaces them); no job left in the queue after any run,
those that fail on purpose included (terminated, jobs never started, workers that cannot
start, jobs Slurm refuses), each failure one error line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipelines import slurm
from tests.pipelines.engines import ARGS, ROOT, assert_same_outputs

pytest.importorskip("dask_jobqueue", reason="needs the slurm extra: pip install '.[slurm]'")
_WHY_NOT = slurm.why_not()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or "")

JOBS = {"partition": slurm.PARTITION, "jobs": 2, "cores": 1, "memory": "3GB"}


@pytest.fixture(scope="module")
def cluster():
    local = slurm.start()
    yield local
    local.stop()


def slurm_flags(cluster, **settings) -> list[str]:
    settings = {**JOBS, "log_directory": str(cluster.log_directory), **settings}
    return ["--cluster=slurm", f"--slurm={json.dumps(settings)}"]


def start_curate(cluster, args: list[str], output: Path) -> subprocess.Popen:
    env = {**cluster.env, "PYTHONHASHSEED": "5", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pipelines.curate", *ARGS, *args, f"--output={output}"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=600)
    return process.returncode, stderr


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_two_worker_jobs_write_the_reference_bytes_and_leave_no_job(cluster, corpus, reference):
    args, root = corpus
    returncode, stderr = finish(
        start_curate(cluster, [*args, *slurm_flags(cluster)], root / "slurm")
    )
    assert returncode == 0, stderr[-3000:]
    assert "Dask dashboard http://" in stderr  # on a free port, named for the user
    assert_same_outputs(root / "slurm", reference)
    assert cluster.queue() == []
    logs = sorted(p.name for p in cluster.log_directory.iterdir())
    assert len([n for n in logs if n.endswith(".err")]) >= 2  # both jobs ran a worker


def test_worker_jobs_cancelled_mid_run_are_replaced_and_change_no_byte(cluster, corpus, reference):
    """Both jobs go (as a preemption would take them): the run submits new ones, Dask
    reruns the lost tasks, and every output file is the reference's."""
    args, root = corpus
    process = start_curate(cluster, [*args, *slurm_flags(cluster)], root / "cancelled")
    deadline = time.monotonic() + 120
    while len(running := [j for j in cluster.queue() if j.endswith("RUNNING")]) < 2:
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.2)
    time.sleep(8)  # into the graph: the workers hold tasks and results
    assert process.poll() is None  # the run is still going when its workers go
    cluster.run("scancel", *(job.split()[0] for job in running))
    returncode, stderr = finish(process)
    assert returncode == 0, stderr[-3000:]
    assert "worker job(s) lost; submitting replacements" in stderr
    assert_same_outputs(root / "cancelled", reference)
    assert cluster.queue() == []


def test_a_terminated_run_cancels_its_jobs(cluster, corpus, tmp_path):
    args, _ = corpus
    process = start_curate(cluster, [*args, *slurm_flags(cluster)], tmp_path / "out")
    deadline = time.monotonic() + 120
    while not any(j.endswith("RUNNING") for j in cluster.queue()):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.2)
    time.sleep(3)
    process.send_signal(signal.SIGTERM)  # as a scheduler's timeout or scancel of the driver
    returncode, stderr = finish(process)
    assert returncode == 130
    assert error_lines(stderr) == ["error: interrupted (signal 15)"], stderr[-3000:]
    assert cluster.queue() == []
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_jobs_slurm_never_starts_fail_the_run_naming_them(cluster, tmp_path):
    never = slurm_flags(cluster, sbatch=["--begin=now+1hour"], start_timeout=5)
    returncode, stderr = finish(start_curate(cluster, never, tmp_path / "out"))
    assert returncode == 1
    [line] = error_lines(stderr)
    assert "no Dask worker joined within 5 s" in line
    assert line.count("PENDING (BeginTime)") == 2, line
    assert cluster.queue() == []
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_workers_that_cannot_start_fail_the_run_at_once_naming_their_logs(cluster, tmp_path):
    broken = slurm_flags(cluster, python="/nonexistent/bin/python", start_timeout=300)
    started = time.monotonic()
    returncode, stderr = finish(start_curate(cluster, broken, tmp_path / "out"))
    assert returncode == 1 and time.monotonic() - started < 120  # not the 300 s timeout
    [line] = error_lines(stderr)
    assert "ended before a Dask worker joined" in line, line
    assert str(cluster.log_directory) in line
    assert cluster.queue() == []


def test_jobs_slurm_refuses_are_one_line_before_anything_is_queued(cluster, tmp_path):
    refused = slurm_flags(cluster, partition="nope")
    returncode, stderr = finish(start_curate(cluster, refused, tmp_path / "out"))
    assert returncode == 2
    [line] = error_lines(stderr)
    assert "sbatch refused the worker job" in line and "partition" in line, line
    assert cluster.queue() == []


def test_a_scheduled_refresh_runs_on_slurm_with_adaptive_jobs(cluster, corpus, tmp_path):
    args, _ = corpus
    inputs = [a for a in args if a.startswith("--input=")][:2]
    env = {**cluster.env, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pipelines.refresh", *inputs, *ARGS[:2]]
    command += [
        f"--dataset_root={tmp_path / 'dataset'}",
        *slurm_flags(cluster, minimum_jobs=1, maximum_jobs=2),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    index = json.loads((tmp_path / "dataset" / "index.json").read_text())
    assert [v["version"] for v in index["versions"]] == ["v0001"]
    assert index["versions"][0]["tokens"] > 0
    assert cluster.queue() == []
    assert os.path.exists(tmp_path / "dataset" / "v0001" / "manifest.json")
