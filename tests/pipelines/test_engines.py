"""The whole curate graph on every engine we can run here writes the same bytes.

One input where ids repeat across files (a C4-style and a CCNet-style copy of the same
pages: some with the same text, some edited, some different), plus the sample corpus, a
dead-lettered line and a mix of five sources, is curated by:

- the in-memory DirectRunner with one worker (the reference), PYTHONHASHSEED=0
- `multi_threading` with 4 workers, PYTHONHASHSEED=1 (DoFns on several threads at once)
- `multi_processing` with 2 workers, PYTHONHASHSEED=2
- Beam's PortableRunner against a local job service, LOOPBACK (the Fn API path Flink
  and Dataflow take), PYTHONHASHSEED=3
- Dask, a LocalCluster of 2 worker processes x 2 threads, PYTHONHASHSEED=4

Each run is compared file by file with the reference (tests/pipelines/engines.py).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tests.pipelines.engines import assert_same_outputs, curate


def test_multi_threading_with_four_workers_writes_the_reference_bytes(corpus, reference):
    args, root = corpus
    mode = ["--direct_running_mode=multi_threading", "--direct_num_workers=4"]
    curate([*args, *mode], root / "threads", seed=1)
    assert_same_outputs(root / "threads", reference)


def test_multi_processing_with_two_workers_writes_the_reference_bytes(corpus, reference):
    args, root = corpus
    mode = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    curate([*args, *mode], root / "processes", seed=2)
    assert_same_outputs(root / "processes", reference)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_the_portable_runner_on_a_local_job_service_writes_the_reference_bytes(corpus, reference):
    args, root = corpus
    port = _free_port()
    service = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main"]
        + [f"--port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("localhost", port)) == 0:
                    break
            time.sleep(0.2)
        mode = [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{port}",
            "--environment_type=LOOPBACK",
        ]
        curate([*args, *mode], root / "portable", seed=3)
    finally:
        service.kill()
        service.wait()
    assert_same_outputs(root / "portable", reference)


def test_dask_with_two_threads_per_worker_writes_the_reference_bytes(corpus, reference):
    distributed = pytest.importorskip(
        "distributed", reason="needs the dask extra: pip install '.[dask]'"
    )
    args, root = corpus
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
    ) as cluster:
        mode = [
            "--runner=apache_beam.runners.dask.dask_runner.DaskRunner",
            f"--dask_client_address={cluster.scheduler_address}",
        ]
        curate([*args, *mode], root / "dask", seed=4)
    assert_same_outputs(root / "dask", reference)
