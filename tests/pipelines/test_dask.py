"""The same graph on Beam's DaskRunner against a local 2-worker Dask cluster, with one
worker killed part way: the run completes and writes what the DirectRunner writes."""

import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import apache_beam as beam
import pytest

from pipelines.curate import run
from pipelines.sample_corpus import write_sample_corpus
from transforms.common import SmallGroupings

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
    assert len(_hashes(tmp_path / "dask", "tokens")) == 4  # 2 shards of train, 2 of validation


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


def test_reshuffles_and_groupings_spread_over_the_partitions_asked_for():
    """Beam's translation left a one-partition Create one partition through its Reshuffle
    (a no-op) and every GroupByKey after it, so a whole run sat on one worker: now both
    spread their output over `--dask_npartitions` (default: twice the cluster's threads)
    partitions, a Reshuffle in equal runs, and hold the same elements."""
    import apache_beam as beam
    import dask
    from apache_beam.runners.dask.dask_runner import DaskRunner
    from apache_beam.runners.dask.overrides import _GroupByKeyOnly, _Reshuffle, dask_overrides

    from pipelines import dask_compat

    dask_compat.patch()
    pipeline = beam.Pipeline()
    files = pipeline | "Files" >> beam.Create([f"f{i:02d}" for i in range(16)])
    spread = files | "Spread" >> beam.Reshuffle()
    _ = spread | beam.Map(lambda f: (int(f[1:]) % 3, f)) | "Group" >> beam.GroupByKey()
    pipeline.replace_all(dask_overrides())
    visitor = DaskRunner.to_dask_bag_visitor({"npartitions": 4})
    pipeline.visit(visitor)
    bags = {type(node.transform): bag for node, bag in visitor.bags.items()}

    reshuffled, grouped = bags[_Reshuffle], bags[_GroupByKeyOnly]
    assert (reshuffled.npartitions, grouped.npartitions) == (4, 4)
    parts = dask.compute(*reshuffled.to_delayed(), scheduler="sync")
    assert [len(p) for p in parts] == [4, 4, 4, 4]
    assert sorted(f for p in parts for f in p) == [f"f{i:02d}" for i in range(16)]
    groups = {k: sorted(v) for k, v in grouped.compute(scheduler="sync")}
    assert groups == {r: [f"f{i:02d}" for i in range(16) if i % 3 == r] for r in range(3)}
    assert dask_compat.target_partitions({"npartitions": 7}) == 7


def test_groupings_shuffle_plain_values_and_give_beams_groups():
    """Beam's ReifyWindows wraps every value of a grouping in a WindowedValue, which its
    translation dropped after the shuffle; dropped before it, the shuffle's pieces (what
    moves between workers and is spilled) hold plain values, and the groups are the same."""
    import apache_beam as beam
    import dask
    from apache_beam.runners.dask.dask_runner import DaskRunner
    from apache_beam.runners.dask.overrides import _GroupByKeyOnly, dask_overrides
    from apache_beam.utils.windowed_value import WindowedValue

    from pipelines import dask_compat

    dask_compat.patch()
    pipeline = beam.Pipeline()
    pairs = pipeline | beam.Create([(i % 3, f"v{i}") for i in range(12)]) | beam.Reshuffle()
    _ = pairs | "Group" >> beam.GroupByKey()
    pipeline.replace_all(dask_overrides())
    visitor = DaskRunner.to_dask_bag_visitor({"npartitions": 2})
    pipeline.visit(visitor)
    grouped = next(b for n, b in visitor.bags.items() if type(n.transform) is _GroupByKeyOnly)

    graph = dict(grouped.__dask_graph__())
    splits = [k for k in graph if isinstance(k, tuple) and str(k[0]).startswith("shuffle-split")]
    pieces = dask.get(graph, splits)
    moved = [item for piece in pieces for _, item in piece]
    assert len(moved) == 12
    assert not any(isinstance(value, WindowedValue) for _, value in moved)
    groups = {k: sorted(v) for k, v in grouped.compute(scheduler="sync")}
    assert groups == {r: sorted(f"v{i}" for i in range(12) if i % 3 == r) for r in range(3)}


class _FewIds(SmallGroupings):
    def expand(self, pcoll):
        return pcoll | "Group" >> beam.GroupByKey()


def test_a_large_input_gets_a_partition_per_partition_input_bytes():
    """Two partitions per worker thread leave a task a share of the corpus that grows with
    it; a run's input files set a floor of one partition per PARTITION_INPUT_BYTES (a file
    of unknown size counts one), asked for once and only when a Dask graph is sized. The
    groupings of SmallGroupings keep the thread count's partitions."""
    from apache_beam.runners.dask.dask_runner import DaskRunner
    from apache_beam.runners.dask.overrides import _GroupByKeyOnly, _Reshuffle, dask_overrides

    from pipelines import dask_compat

    step = dask_compat.PARTITION_INPUT_BYTES
    asked = []

    def sizes():
        asked.append(1)
        return [10 * step + 1, -1, 0, step // 2, step // 2]  # 11 steps and a bit, 1 unknown

    dask_compat.patch()
    with dask_compat.partitioned_for(sizes):
        assert asked == []
        pipeline = beam.Pipeline()
        keyed = pipeline | beam.Create([(i % 5, i) for i in range(100)]) | beam.Reshuffle()
        _ = keyed | "Group" >> beam.GroupByKey()
        _ = keyed | "Ids" >> _FewIds()
        # What Beam hands a non-portable runner: the graph after a runner API round trip.
        proto = pipeline.to_runner_api(use_fake_coders=True)
        pipeline = beam.Pipeline.from_runner_api(proto, pipeline.runner, pipeline._options)
        pipeline.replace_all(dask_overrides())
        visitor = DaskRunner.to_dask_bag_visitor({})  # no client: the fallback, 8
        pipeline.visit(visitor)
        assert dask_compat.partition_count(threads=2) == 13
        assert dask_compat.partition_count(threads=10) == 20
        assert dask_compat.partition_count(threads=2, small=True) == 4
    assert asked == [1]
    bags = {node.full_label: bag for node, bag in visitor.bags.items()}
    assert bags["Reshuffle"].npartitions == bags["Group/GroupByKey"].npartitions == 13
    assert bags["Ids/Group/GroupByKey"].npartitions == dask_compat.FALLBACK_PARTITIONS
    assert {type(n.transform) for n in visitor.bags}.issuperset({_Reshuffle, _GroupByKeyOnly})
    for label in ("Group/GroupByKey", "Ids/Group/GroupByKey"):
        groups = dict(bags[label].compute(scheduler="sync"))
        assert {k: sorted(v) for k, v in groups.items()} == {
            k: list(range(k, 100, 5)) for k in range(5)
        }
    assert dask_compat.target_partitions({}) == dask_compat.FALLBACK_PARTITIONS  # run over


def test_grouping_keys_hash_alike_in_every_process_and_for_equal_keys():
    """Equal keys must land in one partition whatever the process's PYTHONHASHSEED."""
    import json
    import subprocess
    import sys

    from pipelines.dask_compat import key_hash

    keys = ["doc-1", "é\ud800", b"\x00\xff", 7, -3, 2**70, 2.5, ("web", (0, -0.5, "id"))]
    script = (
        "import json, sys\nfrom pipelines.dask_compat import key_hash\n"
        "keys = [tuple(k) if isinstance(k, list) else k for k in json.loads(sys.argv[1])]\n"
        "print(json.dumps([key_hash(k) for k in keys]))"
    )
    plain = [k for k in keys if not isinstance(k, (bytes, tuple)) and "\ud800" not in str(k)]
    seen = {
        seed: subprocess.run(
            [sys.executable, "-c", script, json.dumps(plain)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout  # fmt: skip
        for seed in ("1", "2")
    }
    assert seen["1"] == seen["2"] == json.dumps([key_hash(k) for k in plain]) + "\n"
    assert all(key_hash(k) == key_hash(k) >= 0 for k in keys)
    assert key_hash((1, "x")) == key_hash((1.0, "x")) == key_hash((True, "x"))
    assert key_hash(-0.0) == key_hash(0.0)
    assert key_hash([1, 2]) == key_hash([1, 2])  # other types: dask's tokenize


def test_windowed_elements_equal_beams_own_wrapping():
    from apache_beam.runners.dask.transform_evaluator import get_windowed_value
    from apache_beam.transforms.window import GlobalWindows, TimestampedValue

    from pipelines.dask_compat import windowed

    for item in [("k", 1), None, TimestampedValue("v", 5)]:
        assert windowed(item, GlobalWindows()) == get_windowed_value(item, GlobalWindows())


COMBINED: list = []


def _record(item) -> None:
    COMBINED.append(item)


def _combines(pipeline):
    """{name: PCollection} of combines over 500 (key, value) pairs and over nothing."""
    import apache_beam as beam
    from apache_beam.transforms import combiners

    pairs = pipeline | "Pairs" >> beam.Create([(i % 7, i) for i in range(500)]) | beam.Reshuffle()
    empty = pipeline | "Empty" >> beam.Create([]) | "SpreadEmpty" >> beam.Reshuffle()
    return {
        "sum": pairs | "Sum" >> beam.CombinePerKey(sum),
        "mean": pairs | "Mean" >> combiners.Mean.PerKey(),
        "count": pairs | "Count" >> beam.combiners.Count.Globally(),
        "dict": pairs | "Last" >> beam.CombinePerKey(max) | "Dict" >> combiners.ToDict(),
        "empty": empty | "EmptySum" >> beam.CombinePerKey(sum),
        "empty_total": empty | "EmptyTotal" >> beam.CombineGlobally(sum),
    }


def test_combines_are_lifted_and_give_what_beam_gives():
    """A CombinePerKey (and what builds on it: CombineGlobally, Count, ToDict, Mean) runs
    as one lifted step, combined per partition and merged in a tree, not as a shuffle of
    every element; empty inputs stay empty (CombineGlobally still gives its default)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.dask import dask_runner

    from pipelines import dask_compat

    dask_compat.patch()
    pipeline = beam.Pipeline()
    _combines(pipeline)
    pipeline.replace_all(dask_runner.dask_overrides())
    lifted, grouped = [], []

    class Leaves(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            if isinstance(node.transform, dask_compat.DaskCombinePerKey):
                lifted.append(node.full_label)
            elif "GroupByKey" in node.full_label:
                grouped.append(node.full_label)

    pipeline.visit(Leaves())
    assert len(lifted) == 7 and all(g.startswith("Spread") for g in grouped)  # Reshuffles

    COMBINED.clear()
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        options = PipelineOptions(
            [f"--runner={dask_compat.DASK_RUNNER}", "--dask_npartitions=5",
             f"--dask_client_address={cluster.scheduler_address}"]
        )  # fmt: skip
        pipeline = beam.Pipeline(options=options)
        named = [
            pcoll | f"Name/{name}" >> beam.Map(lambda x, n=name: (n, x))
            for name, pcoll in _combines(pipeline).items()
        ]  # one last step: Beam's DaskRunner computes the graph of the last one only
        _ = named | beam.Flatten() | "Record" >> beam.Map(_record)
        result = pipeline.run()
        result.wait_until_finish()
        dask_compat.close_client(result)
    got = {
        name: sorted((x for n, x in COMBINED if n == name), key=repr)
        for name in _combines(beam.Pipeline())
    }
    assert got["sum"] == [(k, sum(range(k, 500, 7))) for k in range(7)]
    assert got["mean"] == [(k, sum(range(k, 500, 7)) / len(range(k, 500, 7))) for k in range(7)]
    assert got["count"] == [500]
    assert got["dict"] == [{k: max(range(k, 500, 7)) for k in range(7)}]
    assert got["empty"] == [] and got["empty_total"] == [0]


def test_dask_sizes_records_by_what_they_hold_in_every_process():
    """Dask spills a worker's results by their estimated sizes: a document must count its
    text and scores, not only its slots (~100 bytes), in any process that imports Dask
    (the `dask.sizeof` entry point), through lists and groupings' windowed values."""
    import subprocess
    import sys

    script = """if True:
        from dask.sizeof import sizeof
        from apache_beam.utils.windowed_value import WindowedValue
        from schemas.document import Document, Rejected
        from transforms.tokenize import EncodedDocument
        import numpy as np
        doc = Document("id", "x" * 30_000, "web", "f", scores={f"s{i}": 0.5 for i in range(40)})
        text = sys.getsizeof(doc.text)
        encoded = EncodedDocument(doc, np.zeros(10_000, dtype=np.int32), 1)
        grouped = ("k", WindowedValue(doc, 0, ()))
        sizes = [sizeof(doc), sizeof(Rejected(doc, "s", "r")), sizeof(grouped),
                 sizeof([doc] * 50) / 50, sizeof(encoded) - 40_000]
        assert all(text < size < 3 * text for size in sizes), (text, sizes)
    """
    done = subprocess.run(
        [sys.executable, "-c", "import sys\n" + script], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_freed_memory_goes_back_to_the_os_at_most_every_interval(monkeypatch):
    """glibc keeps freed memory, which Dask counts as unmanaged and cannot spill: after a
    bundle the worker trims it, at most once per TRIM_INTERVAL_S."""
    from pipelines import dask_compat

    calls = []
    monkeypatch.setattr(dask_compat, "_malloc_trim", lambda: calls.append)
    monkeypatch.setattr(dask_compat, "_LAST_TRIM", [0.0])
    clock = [1000.0]
    monkeypatch.setattr(dask_compat.time, "monotonic", lambda: clock[0])
    for step in (0.0, 0.5, 1.0, 2.0, 0.1, 2.5):
        clock[0] += step
        dask_compat.release_freed_memory()
    assert calls == [0, 0, 0]  # at 1000, 1003.5, 1006.1
    monkeypatch.setattr(dask_compat, "_malloc_trim", lambda: None)
    clock[0] += 60
    dask_compat.release_freed_memory()  # not glibc: nothing to call
    assert calls == [0, 0, 0]
