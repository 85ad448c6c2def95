import random

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import Document, Rejected
from transforms.near_dedup import NearDedup, NearDedupConfig, near_survivor_rank

RNG = random.Random(11)
VOCAB = [f"word{i}" for i in range(3000)]


def text(n=150):
    return " ".join(RNG.choice(VOCAB) for _ in range(n))


def edited(original, position):
    words = original.split()
    words[position] = "EDITED"
    return " ".join(words)


def doc(doc_id, body, **scores):
    return Document(doc_id, body, "web", "/in/x.jsonl", scores=scores)


def run(docs, config, expected):
    with TestPipeline() as p:
        out = p | beam.Create(docs) | NearDedup(config)
        decided = out | beam.Map(
            lambda x: (
                (x.doc.id, x.stage, x.reason, x.duplicate_of)
                if isinstance(x, Rejected)
                else (x.id, "kept")
            )
        )
        assert_that(decided, equal_to(expected))


def test_clusters_keep_the_smallest_id_and_chains_join():
    base, other = text(), text()
    # b ~ a and c ~ b (chain); d alone; e ~ other.
    a, b = base, edited(base, 10)
    c = edited(b, 140)
    docs = [
        doc("m-b", b),
        doc("z-c", c),
        doc("a-a", a),
        doc("d", text()),
        doc("e2", other),
        doc("e1", edited(other, 149)),
    ]
    expected = [
        ("a-a", "kept"),
        ("m-b", "near_dedup", "near_dup", "a-a"),
        ("z-c", "near_dedup", "near_dup", "a-a"),
        ("d", "kept"),
        ("e1", "kept"),
        ("e2", "near_dedup", "near_dup", "e1"),
    ]
    run(docs, NearDedupConfig(), expected)
    run(docs, NearDedupConfig(verify=False), expected)


def test_highest_quality_score_survives_then_smallest_id():
    base = text()
    docs = [
        doc("a", base, q=0.1),
        doc("b", edited(base, 5), q=0.9),
        doc("c", edited(base, 50), q=0.9),
        doc("d", edited(base, 90)),  # no score: ranks below any score
    ]
    config = NearDedupConfig(survivor_score="q")
    expected = [
        ("b", "kept"),
        ("a", "near_dedup", "near_dup", "b"),
        ("c", "near_dedup", "near_dup", "b"),
        ("d", "near_dedup", "near_dup", "b"),
    ]
    run(docs, config, expected)
    nan = doc("n", base, q=float("nan"))
    rank = near_survivor_rank
    assert rank(nan, "q")[:3] == rank(doc("n", base), "q")[:3]  # no score
    assert rank(docs[1], "q") < rank(docs[0], "q") < rank(docs[3], "q")


def test_pairs_below_the_threshold_stay_apart():
    base = text(40)
    words = base.split()
    far = " ".join(words[:20] + [f"new{i}" for i in range(20)])  # Jaccard ~ 0.2
    run([doc("a", base), doc("b", far)], NearDedupConfig(), [("a", "kept"), ("b", "kept")])
