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


def _two_branches_grouped(p, also_count=False):
    """Two inputs from stages of their own, flattened and grouped (and the flattened
    elements counted too, when `also_count`)."""
    import apache_beam as beam

    left = p | "Left" >> beam.Create([("a", 1), ("b", 2), ("a", 3)])
    right = p | "Right" >> beam.Create([("a", 4), ("c", 5)])
    both = (left, right) | beam.Flatten()
    grouped = both | beam.GroupByKey() | beam.MapTuple(lambda k, vs: (k, sorted(vs)))
    joined = (
        {"l": left, "r": right}
        | beam.CoGroupByKey()
        | "Sorted" >> beam.MapTuple(lambda k, g: (k, sorted(g["l"]), sorted(g["r"])))
    )
    count = both | beam.combiners.Count.Globally() if also_count else None
    return grouped, joined, count


def _copy_stages(stages) -> list[str]:
    from apache_beam.runners.worker.bundle_processor import DATA_INPUT_URN

    return [
        s.name
        for s in stages
        for t in s.transforms
        if t.spec.urn == DATA_INPUT_URN and b"Flatten" in t.spec.payload
    ]


@pytest.mark.parametrize("also_count", [False, True])
def test_flattens_write_into_their_groupings(also_count):
    """A Flatten that only feeds a grouping (here one of its own and CoGroupByKey's) is no
    stage of its own: its inputs write into the grouping, whose result is Beam's."""
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from pipelines.local_runner import _runner_class

    with beam.Pipeline(runner=OfflineDirectRunner()) as p:
        grouped, joined, count = _two_branches_grouped(p, also_count)
        assert_that(grouped, equal_to([("a", [1, 3, 4]), ("b", [2]), ("c", [5])]), "G")
        assert_that(joined, equal_to([("a", [1, 3], [4]), ("b", [2], []), ("c", [], [5])]), "J")
        if count is not None:
            assert_that(count, equal_to([5]), "C")

    planned = beam.Pipeline(runner=OfflineDirectRunner())
    _two_branches_grouped(planned, also_count)
    _, stages = _runner_class()().create_stages(planned.to_runner_api())
    # Counting the flattened elements reads the Flatten's output besides the grouping: that
    # Flatten keeps its stage; CoGroupByKey's never has another reader.
    assert len(_copy_stages(stages)) == (1 if also_count else 0)
