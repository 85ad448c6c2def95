"""Planted near-duplicates of real documents at known Jaccard, and the recall and precision
of a clustering on them. Shared by test_recall.py and bench/dedup.py.

Bases: the C4 / CCNet documents of the fixtures' web-jsonl/ (at least 60 words, cut into
pieces of at most 300 words) and 200-word pieces of text/wikipedia-taylorswift.txt. Each
base gets exactly one edited copy, so every planted pair is its own cluster and "found"
means "the two ended in one cluster". The copy's target Jaccard comes from an evenly spread
schedule over [low, high); a fixed random sequence of edits (a word replaced by another word
of the base, a word inserted, a word deleted, two neighbours swapped) is applied as far as
gives the exact Jaccard (of the shingle sets, `shingles`) closest to the target. Every pair
of the corpus, planted or not, is then scored by its exact Jaccard.
"""

from __future__ import annotations

import gzip
import json
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transforms.near_dedup.shingle import shingles

PIECE_WORDS = 300
WIKI_WORDS = 200
MIN_WORDS = 60
# Recall is reported per bucket of exact Jaccard; the last one holds exact copies too.
BUCKETS = ((0.80, 0.82), (0.82, 0.85), (0.85, 0.90), (0.90, 1.0001))
LOW_BUCKETS = ((0.50, 0.70), (0.70, 0.75), (0.75, 0.78), (0.78, 0.80))


def bases(fixtures: Path) -> list[str]:
    texts = []
    for path in sorted((fixtures / "web-jsonl").glob("*.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                words = json.loads(line)["text"].split()
                for i in range(0, len(words), PIECE_WORDS):
                    piece = words[i : i + PIECE_WORDS]
                    if len(piece) >= MIN_WORDS:
                        texts.append(" ".join(piece))
    words = (fixtures / "text" / "wikipedia-taylorswift.txt").read_text().split()
    texts += [
        " ".join(words[i : i + WIKI_WORDS])
        for i in range(0, len(words) - WIKI_WORDS + 1, WIKI_WORDS)
    ]
    return texts


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def _edited(words: list[str], edits: list[tuple], k: int) -> list[str]:
    out = list(words)
    for kind, where, pick in edits[:k]:
        i = int(where * len(out))
        if kind == "replace":
            out[i] = words[int(pick * len(words))]
        elif kind == "insert":
            out.insert(i, words[int(pick * len(words))])
        elif kind == "delete" and len(out) > 1:
            del out[i]
        elif kind == "swap" and i + 1 < len(out):
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def _word_key(word: str) -> str:
    """A whitespace-free word as `shingles` normalizes it: lowercase, letters, digits and
    combining marks only (may be empty: the word vanishes)."""
    return "".join(
        c for c in word.lower() if c.isalnum() or unicodedata.category(c).startswith("M")
    )


def _shingle_set(keys: list[str], ngram: int) -> set:
    words = [k for k in keys if k]
    if len(words) < ngram:
        return {tuple(words)}
    return set(zip(*(words[i:] for i in range(ngram)), strict=False))


def near_copy(text: str, target: float, rng: random.Random, ngram: int = 5) -> str:
    """An edited copy of `text` whose exact shingle Jaccard with it is closest to `target`
    (binary search on the number of edits of one random edit sequence; the search scores
    shingles of per-word normalized words, which `shingles` agrees with on whitespace-split
    words; the corpus is scored with `shingles` itself)."""
    words = text.split()
    keys = [_word_key(w) for w in words]
    edits = [
        (rng.choice(("replace", "replace", "insert", "delete", "swap")), rng.random(), rng.random())
        for _ in range(len(words))
    ]
    positions = list(range(len(words)))
    original = _shingle_set(keys, ngram)

    def similarity(k: int) -> float:
        edited = _edited(positions, edits, k)
        return jaccard(original, _shingle_set([keys[p] for p in edited], ngram))

    low, high = 0, len(edits)  # similarity(low) >= target > similarity(high), roughly
    while high - low > 1:
        middle = (low + high) // 2
        if similarity(middle) >= target:
            low = middle
        else:
            high = middle
    best = min((low, high), key=lambda k: abs(similarity(k) - target))
    return " ".join(words[p] for p in _edited(positions, edits, best))


@dataclass
class Planted:
    texts: list[str]  # base i at 2i, its copy at 2i + 1
    jaccard: np.ndarray  # (n, n) exact Jaccard of every pair


def planted_corpus(
    fixtures: Path, low: float = 0.5, high: float = 1.0, seed: int = 2024, ngram: int = 5
) -> Planted:
    """Every base and one copy of it, the copies' targets evenly spread over [low, high) in
    a shuffled order."""
    rng = random.Random(seed)
    originals = bases(fixtures)
    targets = [low + (high - low) * (k + 0.5) / len(originals) for k in range(len(originals))]
    rng.shuffle(targets)
    texts = []
    for base, target in zip(originals, targets, strict=True):
        texts += [base, near_copy(base, target, rng, ngram)]
    return Planted(texts, exact_jaccard(texts, ngram))


def exact_jaccard(texts: list[str], ngram: int = 5) -> np.ndarray:
    """Dense (n, n) exact Jaccard of the shingle sets, through a sparse incidence matrix."""
    from scipy import sparse

    vocabulary, rows, cols = {}, [], []
    for i, text in enumerate(texts):
        for s in set(shingles(text, ngram)):
            rows.append(i)
            cols.append(vocabulary.setdefault(s, len(vocabulary)))
    m = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(vocabulary)))
    inter = (m @ m.T).toarray()
    sizes = np.asarray(m.sum(axis=1)).ravel()
    return inter / (sizes[:, None] + sizes[None, :] - inter)


def same_cluster(cluster_of: list[str]) -> np.ndarray:
    """(n, n) booleans: documents i and j are in one cluster (cluster ids per document)."""
    ids = np.array(cluster_of)
    return ids[:, None] == ids[None, :]


def scores(similarity: np.ndarray, found: np.ndarray, threshold: float) -> dict:
    """Recall per Jaccard bucket, recall at threshold + 0.02 and above, precision (strict:
    a found pair below `threshold` is a false positive; `precision_margin`: only one below
    threshold - 0.02), and the found share below the threshold, over all pairs i < j."""
    i, j = np.triu_indices(len(similarity), k=1)
    s, f = similarity[i, j], found[i, j]

    def share(mask) -> dict:
        return {
            "pairs": int(mask.sum()),
            "found": int(f[mask].sum()),
            "share": round(float(f[mask].mean()), 4) if mask.any() else None,
        }

    def label(a, b):
        return f"{a:.2f}-{min(b, 1):.2f}"

    return {
        "recall": {label(a, b): share((s >= a) & (s < b)) for a, b in BUCKETS},
        "recall_at_threshold_plus_0.02": share(s >= threshold + 0.02),
        "recall_at_threshold": share(s >= threshold),
        "precision": round(float((f & (s >= threshold)).sum() / max(f.sum(), 1)), 4),
        "precision_margin": round(float((f & (s >= threshold - 0.02)).sum() / max(f.sum(), 1)), 4),
        "found_below_threshold": {label(a, b): share((s >= a) & (s < b)) for a, b in LOW_BUCKETS},
        "found_below_0.5": share(s < 0.5),
    }


def cluster_ids(texts: list[str], config, workdir: Path) -> list[str]:
    """The real `ClusterDocs` transform over `texts` (ids doc-000000...) on the local
    FnApiRunner: each document's cluster id, in the order of `texts`."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.local_runner import OfflineDirectRunner
    from schemas.document import Document
    from transforms.near_dedup import ClusterDocs

    docs = [Document(f"doc-{k:06d}", t, "planted", "/planted.jsonl") for k, t in enumerate(texts)]
    prefix = str(workdir / "clusters")
    options = PipelineOptions(["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    with beam.Pipeline(runner=OfflineDirectRunner(), options=options) as p:
        _ = (
            p
            | beam.Create(docs, reshuffle=False)
            | ClusterDocs(config)
            | beam.Map(lambda a: json.dumps([a.doc.id, a.cluster_id]))
            | beam.io.WriteToText(prefix)
        )
    found = {}
    for path in workdir.glob("clusters*"):
        for line in path.read_text().splitlines():
            doc_id, cluster = json.loads(line)
            found[doc_id] = cluster
    return [found[f"doc-{k:06d}"] for k in range(len(texts))]
