import random

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.near_dedup.components import (
    UNSETTLED,
    component_minima,
    labels,
    large_star,
    rounds_needed,
    run_rounds,
    settle,
    small_star,
)
from transforms.near_dedup.transform import ConnectedComponents


def expected_labels(edges):
    """Union-find reference: node -> component minimum."""
    parent = {}

    def root(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    for u, v in edges:
        ru, rv = root(u), root(v)
        if ru != rv:
            parent[max(ru, rv)] = min(ru, rv)
    return [(n, root(n)) for n in parent]


def run_components(edges, rounds):
    with TestPipeline() as p:
        labels = p | beam.Create(edges) | ConnectedComponents(rounds)
        assert_that(labels, equal_to(expected_labels(edges)))


def test_steps():
    assert sorted(large_star(5, [2, 7, 9, 7])) == [(2, 7), (2, 9)]
    assert sorted(small_star(5, [3, 4])) == [(3, 4), (3, 5)]
    assert settle(1, [4, 5]) == [(1, None)]  # a root
    assert settle(4, [1]) == [(1, 4)]  # a leaf, keyed by its root
    assert sorted(settle(4, [2, 1])) == [(UNSETTLED, (1, 4)), (UNSETTLED, (2, 4))]
    assert sorted(component_minima([(3, 9), (9, 4), (7, 8), (4, 3)])) == [
        (3, 3), (4, 3), (7, 7), (8, 7), (9, 3)
    ]  # fmt: skip
    # A root keeps its leaves; a root in the finished remainder gives them its label there;
    # an unsettled node is labelled by the remainder alone (its leaves are in it too).
    assert labels(1, [None, 5, 6], []) == [(1, 1), (5, 1), (6, 1)]
    assert labels(4, [None, 5], [2]) == [(4, 2), (5, 2)]
    assert labels(4, [5], [2]) == [(4, 2)]
    assert labels(5, [], []) == []


def path(n, order):
    return [(order[i], order[i + 1]) for i in range(n - 1)]


def test_rounds_grow_slowly_with_a_sorted_path():
    needed = {n: rounds_needed(path(n, list(range(n)))) for n in (10, 1000, 10000)}
    assert needed == {10: 4, 1000: 10, 10000: 14}


def test_chains_stars_and_several_components_in_beam():
    rng = random.Random(3)
    shuffled = list(range(100, 160))
    rng.shuffle(shuffled)
    edges = (
        path(30, list(range(30)))  # a chain in rank order
        + [(1000, 1000 + k) for k in range(1, 25)]  # a star around its minimum
        + [(2000 + k, 2030) for k in range(30)]  # a star around its maximum
        + path(60, shuffled)  # a chain in random order
        + [(5, 7), (7, 5), (3000, 3001)]  # repeated and reversed edges, a pair
    )
    run_components(edges, 8)


def test_long_path_needs_several_rounds_and_gets_them():
    edges = path(2000, list(range(2000))[::-1])
    rounds = rounds_needed(edges)
    assert rounds > 5
    run_components(edges, rounds)


def test_too_few_rounds_are_finished_on_one_worker_exactly():
    """Whatever the rounds leave (here: most of a chain, a root with leaves hanging on an
    unsettled part, and settled stars beside them) is finished to the exact labels."""
    rng = random.Random(5)
    shuffled = list(range(500, 700))
    rng.shuffle(shuffled)
    edges = (
        path(2000, list(range(2000)))
        + path(200, shuffled)
        + [(5000, 5000 + k) for k in range(1, 20)]
        + [(5000, 20)]  # links that star to the chain through its root
        + [(6000, 6001), (6000, 6002)]
    )
    assert rounds_needed(edges) > 3
    for rounds in (1, 3):
        run_components(edges, rounds)


def test_extra_rounds_change_nothing():
    edges = path(200, list(range(200)))
    converged = run_rounds(edges, rounds_needed(edges))
    assert run_rounds(converged, 5) == converged
    assert converged == {(0, v) for v in range(1, 200)}
