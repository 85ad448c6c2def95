"""The same graph on Beam's DaskRunner against a local 2-worker Dask cluster."""

import hashlib
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


def test_dask_runner_writes_the_same_bytes_as_the_direct_runner(tmp_path, fixtures):
    inputs = [
        *(f"--input={s}" for s in write_sample_corpus(str(tmp_path / "corpus"), scale=0.1)),
        f"--input=pile={fixtures}/pile/*.jsonl.zst",
    ]
    direct = run([*ARGS, *inputs, f"--output={tmp_path / 'direct'}"])
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        dask = run(
            [
                *ARGS,
                *inputs,
                f"--output={tmp_path / 'dask'}",
                "--runner=apache_beam.runners.dask.dask_runner.DaskRunner",
                f"--dask_client_address={cluster.scheduler_address}",
            ]
        )
    assert dask["records"] == direct["records"] and dask["records"]["balanced"]
    assert dask["stages"] == direct["stages"]
    for sub in ("tokens", "tokenizer", "documents", "rejected", "dead_letter"):
        hashes = _hashes(tmp_path / "dask", sub)
        assert hashes and hashes == _hashes(tmp_path / "direct", sub), sub
    assert len(_hashes(tmp_path / "dask", "tokens")) == 2
