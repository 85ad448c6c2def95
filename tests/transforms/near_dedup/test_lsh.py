import math
import random

import numpy as np
import pytest

from transforms.near_dedup import NearDedupConfig
from transforms.near_dedup.lsh import (
    band_hashes,
    bucket_edges,
    candidate_probability,
    estimated_jaccard,
    optimal_param,
    verified_probability,
)

lsh = pytest.importorskip("datasketch.lsh", reason="datasketch (dev extra) is the reference")


@pytest.mark.parametrize("threshold", [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
@pytest.mark.parametrize("num_perm", [64, 128, 256])
def test_band_choice_equals_datasketch(threshold, num_perm):
    assert optimal_param(threshold, num_perm) == lsh._optimal_param(threshold, num_perm, 0.5, 0.5)


def test_band_choice_with_weights_equals_datasketch():
    assert optimal_param(0.8, 128, 0.2, 0.8) == lsh._optimal_param(0.8, 128, 0.2, 0.8)
    ours = lsh.MinHashLSH(threshold=0.7, num_perm=128, weights=(0.7, 0.3))
    assert optimal_param(0.7, 128, 0.7, 0.3) == (ours.b, ours.r)


def test_band_choice_with_the_default_weights_equals_datasketch():
    config = NearDedupConfig()
    weights = (config.false_positive_weight, config.false_negative_weight)
    ours = lsh.MinHashLSH(threshold=0.8, num_perm=128, weights=weights)
    assert config.band_rows == (ours.b, ours.r) == (16, 8)


@pytest.mark.parametrize("threshold", [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
def test_default_weights_make_pairs_just_above_the_threshold_candidates(threshold):
    """The recall goal: a pair at threshold + 0.02 shares a band with probability >= 0.95
    (datasketch's equal weights: 0.51 at 0.82 for threshold 0.8)."""
    bands, rows = NearDedupConfig(threshold=threshold).band_rows
    assert candidate_probability(min(threshold + 0.02, 1.0), bands, rows) >= 0.95
    old = NearDedupConfig(false_positive_weight=0.5, false_negative_weight=0.5).band_rows
    assert old == (9, 13) and candidate_probability(0.82, *old) < 0.51


def test_weights_must_be_non_negative_and_not_both_zero():
    with pytest.raises(ValueError, match="false_positive_weight"):
        NearDedupConfig(false_positive_weight=-0.1)
    with pytest.raises(ValueError, match="false_positive_weight"):
        NearDedupConfig(false_positive_weight=0.0, false_negative_weight=0.0)
    assert NearDedupConfig(false_positive_weight=0.0, false_negative_weight=1.0).band_rows


def test_probabilities():
    assert candidate_probability(0.8, 9, 13) == pytest.approx(1 - (1 - 0.8**13) ** 9)
    np.testing.assert_allclose(candidate_probability([0.0, 1.0], 16, 8), [0.0, 1.0])
    stats = pytest.importorskip("scipy.stats")
    for s in (0.7, 0.78, 0.8, 0.82, 0.9):
        # estimated >= 0.8 of 128 values: at least 103 equal (102.4 rounds up).
        assert verified_probability(s, 128, 0.8) == pytest.approx(stats.binom.sf(102, 128, s))
    assert verified_probability(1.0, 128, 0.8) == 1.0
    assert verified_probability(0.5, 64, 0.5) == pytest.approx(stats.binom.sf(31, 64, 0.5))


def test_config_uses_the_optimum_or_the_given_bands():
    assert NearDedupConfig(bands=20, rows=5).band_rows == (20, 5)
    with pytest.raises(ValueError, match="bands and rows"):
        NearDedupConfig(bands=20)
    with pytest.raises(ValueError, match="bands\\*rows"):
        NearDedupConfig(bands=20, rows=7)


def test_band_hashes_depend_on_band_values_and_index():
    sig = np.arange(12, dtype=np.uint32).reshape(1, 12)
    other = sig.copy()
    other[0, 5] += 1  # band 1 of 3 (rows 4..7)
    a, b = band_hashes(sig, 3, 4), band_hashes(other, 3, 4)
    assert a[0, 0] == b[0, 0] and a[0, 2] == b[0, 2] and a[0, 1] != b[0, 1]
    same_values = np.zeros((1, 8), dtype=np.uint32)
    h = band_hashes(same_values, 2, 4)
    assert h[0, 0] != h[0, 1]


def _member(rank, values):
    return rank, np.asarray(values, dtype="<u4").tobytes()


def test_bucket_edges_verify_and_span_components():
    a = _member((1, 0.0, "a", ""), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    b = _member((1, 0.0, "b", ""), [1, 2, 3, 4, 5, 6, 7, 8, 9, 99])  # 0.9 with a
    c = _member((1, 0.0, "c", ""), [1, 2, 3, 4, 5, 6, 7, 8, 99, 99])  # 0.9 with b, 0.8 with a
    d = _member((1, 0.0, "d", ""), [0, 0, 0, 0, 0, 0, 7, 8, 9, 10])  # 0.4: not similar
    edges = bucket_edges([d, c, b, a, a], 0.85)
    assert edges == [(a[0], b[0]), (b[0], c[0])]
    assert bucket_edges([a, c, d], 0.85) == []
    assert bucket_edges([a, c], 0.8) == [(a[0], c[0])]


def test_bucket_edges_never_link_two_earlier_runs_documents():
    h1 = _member((-1, 0.0, "h1", ""), [1, 2, 3, 4])
    h2 = _member((-1, 0.0, "h2", ""), [1, 2, 3, 4])
    x = _member((1, 0.0, "x", ""), [1, 2, 3, 4])
    assert bucket_edges([h1, h2], 0.5) == []
    # Linked only through a current document (which both outrank).
    assert bucket_edges([h1, h2, x], 0.5) == [(h1[0], x[0]), (h2[0], x[0])]


def test_bucket_edges_compare_with_at_most_max_compare_members():
    first = _member((1, 0.0, "a", ""), [9, 9, 9, 9])
    second = _member((1, 0.0, "b", ""), [1, 2, 3, 4])
    third = _member((1, 0.0, "c", ""), [1, 2, 3, 4])
    assert bucket_edges([first, second, third], 1.0, max_compare=1) == []
    assert bucket_edges([first, second, third], 1.0, max_compare=2) == [(second[0], third[0])]


def _reference_edges(members, threshold, max_compare=None):
    """bucket_edges as first written: one member at a time, `estimated_jaccard`."""
    members = sorted(set(members))
    ranks = [m[0] for m in members]
    sigs = np.stack([np.frombuffer(m[1], dtype="<u4") for m in members])
    parent = list(range(len(members)))

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x

    edges = []
    for i in range(1, len(members)):
        limit = i if max_compare is None else min(i, max_compare)
        for j in np.flatnonzero(estimated_jaccard(sigs[i], sigs[:limit]) >= threshold):
            if ranks[i][0] == -1 and ranks[j][0] == -1:
                continue
            ri, rj = root(i), root(int(j))
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
                edges.append((ranks[j], ranks[i]))
    return edges


@pytest.mark.parametrize("seed", range(40))
def test_bucket_edges_equal_the_member_by_member_comparison(seed):
    """Random buckets of near-copies of a few signatures (2-60 members, some of an earlier
    run), thresholds on and off the grid of shares, with and without max_compare."""
    rng = random.Random(seed)
    num_perm = rng.choice((16, 64, 128))
    bases = [np.array([rng.randrange(50) for _ in range(num_perm)]) for _ in range(3)]
    members = []
    for k in range(rng.choice((2, 2, 3, 5, 20, 60))):
        values = bases[rng.randrange(3)].copy()
        values[[rng.randrange(num_perm) for _ in range(rng.randrange(num_perm // 3))]] = 99
        rank = (rng.choice((-1, 1, 1, 1)), 0.0, f"d{k:03d}", "")
        members.append(_member(rank, values))
    threshold = rng.choice((0.5, 0.8, 0.85, math.nextafter(0.8, 1), 1.0, 1 / 3))
    max_compare = rng.choice((None, 0, 1, 3, 1000))
    assert bucket_edges(members, threshold, max_compare) == _reference_edges(
        members, threshold, max_compare
    )


@pytest.mark.parametrize("max_compare", [None, 100])
def test_bucket_edges_of_a_bucket_compared_in_several_blocks(max_compare):
    rng = np.random.default_rng(7)
    bases = rng.integers(0, 50, size=(4, 128))
    members = []
    for k in range(600):  # 599 x 128 values a row: blocks of 54 rows
        values = bases[k % 4].copy()
        values[rng.integers(0, 128, size=rng.integers(0, 40))] = 99
        members.append(_member((1 if k % 7 else -1, 0.0, f"d{k:04d}", ""), values))
    edges = bucket_edges(members, 0.8, max_compare)
    assert len(edges) > 100
    assert edges == _reference_edges(members, 0.8, max_compare)
