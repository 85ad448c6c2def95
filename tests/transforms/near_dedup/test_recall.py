"""Recall and precision of the real near-dedup transform on planted near-duplicates of real
documents (planted.py: every base of the fixtures gets one edited copy at an exact Jaccard
spread evenly over [0.5, 1.0)). Found = the two ended in one cluster of `ClusterDocs` with
the default settings. Run with -s for the figures; bench/dedup.py reports them per bucket
over four seeds, for the old and the new banding.

What bounds the figures is the verification, not the banding: a candidate becomes an edge
when its estimated Jaccard (share of equal values of 128) reaches the threshold, which a
pair at 0.82 does with probability 0.72 and one at 0.78 with 0.29 (`verified_probability`).
So pairs within ~0.03 of the threshold go either way; precision is checked strictly (a found
pair below the threshold is false) and with the margin the recall goal uses (only a found
pair below threshold - 0.02 is false).
"""

import json

import numpy as np
import pytest

from tests.transforms.near_dedup.planted import cluster_ids, planted_corpus, same_cluster, scores
from transforms.near_dedup import NearDedupConfig
from transforms.near_dedup.minhash import MinHasher


@pytest.fixture(scope="module")
def evaluation(fixtures, tmp_path_factory):
    planted = planted_corpus(fixtures, 0.5, 1.0, seed=2024)
    config = NearDedupConfig()
    found = same_cluster(cluster_ids(planted.texts, config, tmp_path_factory.mktemp("recall")))
    return planted, config, found


def test_planted_copies_hit_their_target_jaccard(evaluation):
    planted, _, _ = evaluation
    k = np.arange(0, len(planted.texts), 2)
    similarity = planted.jaccard[k, k + 1]
    assert len(k) >= 250
    # Evenly spread: every bucket of 0.05 over [0.5, 1.0) holds about a tenth of the pairs.
    counts, _ = np.histogram(similarity, bins=np.linspace(0.5, 1.0, 11))
    assert counts.min() >= 0.7 * len(k) / 10, counts


def test_recall_and_precision_of_the_default(evaluation):
    planted, config, found = evaluation
    result = scores(planted.jaccard, found, config.threshold)
    print("\n" + json.dumps({"bands_rows": config.band_rows, **result}, indent=1))
    assert config.band_rows == (16, 8)
    assert result["recall_at_threshold_plus_0.02"]["pairs"] >= 100
    assert result["recall_at_threshold_plus_0.02"]["share"] >= 0.95
    assert result["recall"]["0.90-1.00"]["share"] == 1.0
    assert result["precision_margin"] >= 0.97
    assert result["precision"] >= 0.90
    assert result["found_below_threshold"]["0.50-0.70"]["found"] == 0
    assert result["found_below_0.5"]["found"] == 0  # ~180,000 unrelated pairs


def test_the_banding_loses_almost_none_of_the_pairs_verification_accepts(evaluation):
    """Every planted pair whose estimated Jaccard reaches the threshold (what verification
    accepts) is found but for at most 1%: recall is at the verification's ceiling."""
    planted, config, found = evaluation
    signatures = MinHasher(config.num_perm, config.seed, config.scheme).signatures(planted.texts)
    k = np.arange(0, len(planted.texts), 2)
    accepted = (signatures[k] == signatures[k + 1]).mean(axis=1) >= config.threshold
    assert accepted.sum() >= 100
    assert found[k, k + 1][accepted].mean() >= 0.99
    assert not found[k, k + 1][~accepted].any()  # and nothing verification rejects
