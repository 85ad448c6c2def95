"""Quality of near-dedup on real text: near-copies of the fixtures with controlled edits.

Bases: the C4 / CCNet documents of ../shared/fixtures/web-jsonl (at least 40 words, cut to
600) and 250-word chunks of text/wikipedia-taylorswift.txt. Each base gets near-copies with
word swaps, insertions, deletions and added boilerplate at increasing edit rates. Every pair
of documents gets its exact Jaccard similarity (of the 5-gram shingle sets) and is found or
not by the stage's decision (shares an LSH band and passes verification). Run with -s for
the table of found pairs per Jaccard bucket.
"""

import gzip
import json
import random

import numpy as np
import pytest
from scipy import sparse

from transforms.near_dedup import NearDedupConfig
from transforms.near_dedup.lsh import band_hashes, estimated_jaccard
from transforms.near_dedup.minhash import MinHasher, shingle_hash32
from transforms.near_dedup.shingle import shingles

RATES = (0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2)
OPS = ("swap", "insert", "delete", "mixed", "boilerplate")
BOILERPLATE = (
    "Accept cookies. We use cookies to improve your experience on our site. Subscribe to our "
    "newsletter for the latest updates. Copyright 2024 All rights reserved. Privacy Policy. "
    "Terms of Use."
)
BUCKETS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01))


def bases(fixtures):
    texts = []
    for path in sorted((fixtures / "web-jsonl").glob("*.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                words = json.loads(line)["text"].split()
                if len(words) >= 40:
                    texts.append(" ".join(words[:600]))
    words = (fixtures / "text" / "wikipedia-taylorswift.txt").read_text().split()
    texts += [" ".join(words[i : i + 250]) for i in range(0, min(len(words), 60 * 250), 250)]
    return texts


def near_copy(text, rate, op, rng):
    words = text.split()
    edits = max(1, round(rate * len(words)))
    for _ in range(edits):
        kind = rng.choice(("swap", "insert", "delete")) if op in ("mixed", "boilerplate") else op
        i = rng.randrange(len(words))
        if kind == "swap" and len(words) > 1:
            j = min(i + 1, len(words) - 1) if i + 1 < len(words) else i - 1
            words[i], words[j] = words[j], words[i]
        elif kind == "insert":
            words.insert(i, rng.choice(words))
        elif len(words) > 1:
            del words[i]
    if op == "boilerplate":  # a cookie/newsletter block at the top or the bottom
        words = BOILERPLATE.split() + words if rng.random() < 0.5 else words + BOILERPLATE.split()
    return " ".join(words)


def evaluation_set(fixtures):
    rng = random.Random(2024)
    docs = []
    for base in bases(fixtures):
        docs.append(base)
        for k, rate in enumerate(RATES):
            docs.append(near_copy(base, rate, OPS[k % len(OPS)], rng))
    return docs


def exact_jaccard(docs):
    """Dense (n, n) exact Jaccard of the shingle sets, through a sparse incidence matrix."""
    vocabulary, rows, cols = {}, [], []
    for i, d in enumerate(docs):
        for s in set(shingles(d)):
            rows.append(i)
            cols.append(vocabulary.setdefault(s, len(vocabulary)))
    m = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(docs), len(vocabulary)))
    inter = (m @ m.T).toarray()
    sizes = np.asarray(m.sum(axis=1)).ravel()
    return inter / (sizes[:, None] + sizes[None, :] - inter)


def candidate_pairs(bands):
    buckets = {}
    for i, row in enumerate(bands):
        for b, h in enumerate(row):
            buckets.setdefault((b, int(h)), []).append(i)
    return {(i, j) for members in buckets.values() for i in members for j in members if i < j}


@pytest.fixture(scope="module")
def evaluation(request):
    fixtures = request.getfixturevalue("fixtures")
    docs = evaluation_set(fixtures)
    config = NearDedupConfig()
    signatures = MinHasher(config.num_perm, config.seed, config.scheme).signatures(docs)
    bands = band_hashes(signatures, *config.band_rows)
    candidates = candidate_pairs(bands)
    found = {
        (i, j)
        for i, j in candidates
        if estimated_jaccard(signatures[i], signatures[j]) >= config.threshold
    }
    return docs, config, signatures, candidates, found, exact_jaccard(docs)


def test_recall_and_false_positives_per_jaccard_bucket(evaluation):
    docs, config, _, _, found, jaccard = evaluation
    i, j = np.triu_indices(len(docs), k=1)
    similarity = jaccard[i, j]
    is_found = np.array([(a, b) in found for a, b in zip(i.tolist(), j.tolist(), strict=True)])
    lines = [f"{len(docs)} documents, {len(i):,} pairs, bands/rows {config.band_rows}"]
    lines.append(f"{'Jaccard':>12} {'pairs':>9} {'found':>7} {'found share':>12}")
    for low, high in BUCKETS:
        in_bucket = (similarity >= low) & (similarity < high)
        n, hits = int(in_bucket.sum()), int(is_found[in_bucket].sum())
        lines.append(
            f"[{low:.1f}, {min(high, 1):.1f}) {n:>9,} {hits:>7,} {hits / max(n, 1):>12.4f}"
        )
    true = similarity >= config.threshold
    precision = (is_found & true).sum() / max(is_found.sum(), 1)
    recall = (is_found & true).sum() / max(true.sum(), 1)
    lines.append(f"precision (J >= {config.threshold}) {precision:.4f}, recall {recall:.4f}")
    print("\n" + "\n".join(lines))

    high = similarity >= config.threshold + 0.1
    low = similarity < config.threshold - 0.2
    assert high.sum() >= 100 and (similarity[~high] >= 0.6).sum() >= 50  # buckets are populated
    assert is_found[high].mean() >= 0.95
    assert is_found[low].mean() <= 0.01


def test_candidates_match_datasketch_minhash_lsh(evaluation):
    datasketch = pytest.importorskip("datasketch", reason="datasketch (dev extra) is the reference")
    docs, config, signatures, candidates, _, _ = evaluation
    weights = (config.false_positive_weight, config.false_negative_weight)
    lsh = datasketch.MinHashLSH(config.threshold, config.num_perm, weights=weights)
    assert (lsh.b, lsh.r) == config.band_rows
    sketches = []
    for k, doc in enumerate(docs):
        m = datasketch.MinHash(config.num_perm, seed=config.seed, hashfunc=shingle_hash32)
        m.update_batch([s.encode() for s in shingles(doc)])
        np.testing.assert_array_equal(m.hashvalues, signatures[k])
        lsh.insert(k, m)
        sketches.append(m)
    theirs = {
        (min(k, q), max(k, q)) for k, m in enumerate(sketches) for q in lsh.query(m) if q != k
    }
    assert theirs == candidates
