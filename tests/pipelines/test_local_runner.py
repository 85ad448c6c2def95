"""The DirectRunner is replaced by the offline FnApiRunner; other runners are left alone."""

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability import prism_runner

from pipelines.curate import run
from pipelines.local_runner import OfflineDirectRunner, runner_for, runs_alone
from tests.conftest import jsonl_bytes, write_input


@pytest.mark.parametrize(
    "argv", [[], ["--runner=DirectRunner"], ["--runner=SwitchingDirectRunner"]]
)
def test_direct_runner_requests_get_the_offline_runner(argv):
    assert isinstance(runner_for(PipelineOptions(argv)), OfflineDirectRunner)


@pytest.mark.parametrize(
    "runner",
    ["FlinkRunner", "DataflowRunner", "apache_beam.runners.dask.dask_runner.DaskRunner"],
)
def test_other_runners_are_left_to_beam(runner):
    assert runner_for(PipelineOptions([f"--runner={runner}"])) is None


def test_a_local_run_never_starts_prism(tmp_path, monkeypatch):
    """Prism would download its binary from GitHub at run time."""

    def refuse(*args, **kwargs):
        raise AssertionError("the Prism runner was started")

    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", refuse)
    data = write_input(tmp_path / "in.jsonl", jsonl_bytes([{"text": f"doc {i}"} for i in range(9)]))
    manifest = run(
        ["--vocab_size=300", "--seq_len=8", f"--output={tmp_path / 'out'}", f"--input={data}"]
    )
    assert manifest["records"]["read"] == 9


@pytest.mark.parametrize(
    ("argv", "alone"),
    [
        ([], True),
        (["--direct_running_mode=in_memory", "--direct_num_workers=1"], True),
        (["--direct_running_mode=multi_processing", "--direct_num_workers=2"], False),
        (["--direct_running_mode=multi_threading", "--direct_num_workers=4"], False),
        (["--direct_num_workers=2"], False),
        (["--runner=apache_beam.runners.dask.dask_runner.DaskRunner"], False),
        (["--runner=FlinkRunner"], False),
    ],
)
def test_only_the_in_memory_one_worker_run_runs_alone(argv, alone):
    """Where the tokenizer may use its own threads (see transforms.tokenize)."""
    assert runs_alone(PipelineOptions(argv)) is alone
