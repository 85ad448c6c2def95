"""split_by_type: one PCollection per type, every element in exactly one."""

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipelines.local_runner import OfflineDirectRunner
from transforms.common import split_by_type


@pytest.mark.parametrize("types", [(str, int), (str, int, float, bytes)])
def test_each_type_gets_its_elements(types):
    mixed = ["a", 1, 2.5, b"x", "b", 3, None]
    with beam.Pipeline(runner=OfflineDirectRunner()) as p:
        parts = split_by_type(p | beam.Create(mixed), "Split", *types)
        assert len(parts) == len(types)
        for t, part in zip(types, parts, strict=True):
            want = [x for x in mixed if isinstance(x, t)]
            assert_that(part, equal_to(want), label=f"Check/{t.__name__}")


def test_the_bulk_and_the_rest_are_its_input_s_only_readers():
    """With more than two types, the input has two readers (the bulk's filter and one of
    everything else), not one per type: on Dask each reader may move a whole partition."""
    p = beam.Pipeline(runner=OfflineDirectRunner())
    source = p | beam.Create(["a", 1])
    split_by_type(source, "Split", str, int, float, bytes)
    readers = [
        node.full_label
        for node in _applied(p)
        if source in node.inputs and node.transform.__class__.__name__ != "Create"
    ]
    assert readers == ["Split/str", "Split/Notstr"]


def _applied(pipeline):
    nodes = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            nodes.append(node)

        def enter_composite_transform(self, node):
            nodes.append(node)

    pipeline.visit(Visitor())
    return nodes
