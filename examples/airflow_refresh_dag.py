"""Airflow DAG: refresh the curated dataset daily with the Beam provider's Python operator.

Needs `apache-airflow` and `apache-airflow-providers-apache-beam` on the Airflow workers,
and this project installed there (`pip install curate-pipeline[slurm]` or the wheel), so
that `py_file` below resolves to the installed `pipelines/refresh.py`. The operator runs
`python <py_file> --key=value ...` from `pipeline_options` (a list repeats its flag).
Each run processes only input files no earlier version holds; with nothing new it writes
nothing and succeeds.

The graph runs on Slurm: the task submits the Dask workers as Slurm jobs (the Airflow
worker must be able to run `sbatch`, i.e. be a Slurm submit host) and cancels them when
the run ends, fails, or Airflow stops the task. For a Dask cluster that is already up,
use `"cluster": "address:dask-scheduler:8786"` instead and leave `slurm` out.
"""

from __future__ import annotations

import datetime

from airflow import DAG
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator

import pipelines.refresh

with DAG(
    dag_id="curate_refresh",
    schedule="@daily",
    start_date=datetime.datetime(2026, 12, 1),
    catchup=False,  # one refresh picks up everything new; no need to replay missed days
    max_active_runs=1,  # two refreshes of one dataset root must not overlap
    tags=["data", "curation"],
) as dag:
    BeamRunPythonPipelineOperator(
        task_id="refresh",
        py_file=pipelines.refresh.__file__,
        # The operator always passes a runner; --cluster runs the DaskRunner.
        runner="apache_beam.runners.dask.dask_runner.DaskRunner",
        pipeline_options={
            "cluster": "slurm",
            # JSON, as on the command line; configs/slurm.yaml describes every key.
            "slurm": '{"partition": "cpu", "jobs": 8, "cores": 8, "memory": "32GB", '
            '"walltime": "12:00:00", "setup": ["source /shared/curate/.venv/bin/activate"]}',
            "dataset_root": "/data/curated/web",
            "input": ["web=/data/raw/c4/*.json.gz", "code=/data/raw/stack/*.parquet"],
            "seq_len": 2048,
            "dp_world_size": 8,
        },
        retries=1,  # a failed run leaves the dataset as it was, so a retry is safe
        retry_delay=datetime.timedelta(minutes=30),
    )
