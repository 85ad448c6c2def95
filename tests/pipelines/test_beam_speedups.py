"""The cached DoFn specs (pipelines/beam_speedups.py) answer as Beam does."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate

from pipelines import beam_speedups


class _Total(beam.DoFn):
    """A stateful DoFn: a running total per key."""

    TOTAL = userstate.ReadModifyWriteStateSpec("total", VarIntCoder())

    def process(self, element, total=beam.DoFn.StateParam(TOTAL)):  # noqa: B008 (Beam's idiom)
        value = (total.read() or 0) + element[1]
        total.write(value)
        yield element[0], value


class _Plain(beam.DoFn):
    def process(self, element):
        yield element


def test_specs_are_beams_and_computed_once_per_dofn(monkeypatch):
    beam_speedups.patch()
    original = beam_speedups._ORIGINAL[0]
    calls = []
    monkeypatch.setattr(beam_speedups, "_ORIGINAL", [lambda f: calls.append(f) or original(f)])
    stateful, plain = _Total(), _Plain()
    for _ in range(3):
        states, timers = userstate.get_dofn_specs(stateful)
        assert states == original(stateful)[0] and len(states) == 1 and not timers
        states.clear()  # a caller's copy: the next answer is whole
        assert userstate.get_dofn_specs(plain) == (set(), set())
    assert calls == [stateful, plain]
    assert userstate.is_stateful_dofn(stateful) and not userstate.is_stateful_dofn(plain)


def test_a_stateful_dofn_still_runs_with_its_state():
    beam_speedups.patch()
    with TestPipeline() as pipeline:
        totals = pipeline | beam.Create([("a", 1), ("a", 2), ("b", 5)]) | beam.ParDo(_Total())
        last = totals | beam.CombinePerKey(max)
        assert_that(last, equal_to([("a", 3), ("b", 5)]))


def test_options_views_are_beams_built_once_and_share_the_options_values(monkeypatch):
    from apache_beam.options.pipeline_options import (
        DirectOptions,
        PipelineOptions,
        StandardOptions,
    )

    beam_speedups.patch()
    original = beam_speedups._ORIGINAL_VIEW_AS[0]
    built = []
    monkeypatch.setattr(
        beam_speedups, "_ORIGINAL_VIEW_AS", [lambda o, c: built.append(c) or original(o, c)]
    )
    flags = ["--runner=DirectRunner", "--direct_num_workers=3", "--unknown_flag=x"]
    options, reference = PipelineOptions(flags), PipelineOptions(flags)
    for cls in (StandardOptions, DirectOptions, StandardOptions, DirectOptions):
        view = options.view_as(cls)
        assert view.get_all_options() == original(reference, cls).get_all_options()
    assert built == [StandardOptions, DirectOptions]
    options.view_as(DirectOptions).direct_num_workers = 5  # written through to every view
    assert options.view_as(DirectOptions).direct_num_workers == 5
    assert options.get_all_options()["direct_num_workers"] == 5
    options.view_as(StandardOptions).runner = "Other"
    assert options.view_as(StandardOptions).runner == "Other"
    options._all_options = {}  # a replaced store: the view is built again, on the new one
    assert options.view_as(DirectOptions).direct_num_workers == 3
    assert built == [StandardOptions, DirectOptions, DirectOptions]
