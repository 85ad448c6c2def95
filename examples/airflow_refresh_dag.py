"""Airflow DAG: refresh the curated dataset daily with the Beam provider's Python operator.

Needs `apache-airflow` and `apache-airflow-providers-apache-beam` on the Airflow workers,
and this project installed there (`pip install curate-pipeline[dask]` or the wheel), so
that `py_file` below resolves to the installed `pipelines/refresh.py`. The operator runs
`python <py_file> --key=value ...` from `pipeline_options` (a list repeats its flag).
Each run processes only input files no earlier version holds; with nothing new it writes
nothing and succeeds.
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
        # The runner and its options; the same graph runs on any of them.
        runner="apache_beam.runners.dask.dask_runner.DaskRunner",
        pipeline_options={
            "dask_client_address": "tcp://dask-scheduler:8786",
            "dataset_root": "/data/curated/web",
            "input": ["web=/data/raw/c4/*.json.gz", "code=/data/raw/stack/*.parquet"],
            "seq_len": 2048,
            "dp_world_size": 8,
        },
        retries=1,  # a failed run leaves the dataset as it was, so a retry is safe
        retry_delay=datetime.timedelta(minutes=30),
    )
