import numpy as np
import pytest

from transforms.near_dedup import NearDedupConfig
from transforms.near_dedup.lsh import band_hashes, bucket_edges, optimal_param

lsh = pytest.importorskip("datasketch.lsh", reason="datasketch (dev extra) is the reference")


@pytest.mark.parametrize("threshold", [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
@pytest.mark.parametrize("num_perm", [64, 128, 256])
def test_band_choice_equals_datasketch(threshold, num_perm):
    assert optimal_param(threshold, num_perm) == lsh._optimal_param(threshold, num_perm, 0.5, 0.5)


def test_band_choice_with_weights_equals_datasketch():
    assert optimal_param(0.8, 128, 0.2, 0.8) == lsh._optimal_param(0.8, 128, 0.2, 0.8)
    ours = lsh.MinHashLSH(threshold=0.7, num_perm=128, weights=(0.7, 0.3))
    assert optimal_param(0.7, 128, 0.7, 0.3) == (ours.b, ours.r)


def test_config_uses_the_optimum_or_the_given_bands():
    assert NearDedupConfig().band_rows == (9, 13)
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
