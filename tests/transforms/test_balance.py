"""The balance stage: target token shares by hash-chosen down- and up-sampling."""

import random
from collections import Counter

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import Document, Rejected
from transforms.balance import (
    COPIES_KEY,
    DROP_DOWNSAMPLED,
    Balance,
    BalanceConfig,
    TokenHistogram,
    balance_bucket,
    copies,
    mix_cell,
    plan_mix,
    plan_report,
)
from transforms.tokenize import EncodedDocument

MIX = {"web": 0.5, "books": 0.3, "code": 0.2}


def _corpus(sizes: dict[str, tuple[int, int]], seed: int = 7) -> list[tuple[Document, int]]:
    """source -> (documents, mean tokens): documents with lengths spread around the mean."""
    rng = random.Random(seed)
    corpus = []
    for source, (count, mean) in sizes.items():
        for i in range(count):
            doc = Document(id=f"{source}-{i}", text="x", source=source, source_file="f")
            corpus.append((doc, max(2, int(rng.expovariate(1 / mean)))))
    return corpus


def _histograms(corpus, config) -> dict:
    combine = TokenHistogram()
    accumulators = {}
    for doc, tokens in corpus:
        cell = mix_cell(doc, config)
        accumulator = accumulators.setdefault(cell, combine.create_accumulator())
        combine.add_input(accumulator, (balance_bucket(doc.id), tokens))
    return accumulators


def _achieved(corpus, config) -> tuple[dict, dict]:
    """Plan on the corpus, then apply it document by document: tokens per source and the
    plans."""
    plans = plan_mix(_histograms(corpus, config), config)
    tokens = Counter()
    for doc, n in corpus:
        tokens[doc.source] += n * copies(doc, plans, config)
    return tokens, plans


def test_shares_are_met_by_down_and_up_sampling():
    # Web is short pages, code a few large files: web must be up-sampled, code down-sampled.
    corpus = _corpus({"web": (3000, 300), "books": (200, 2000), "code": (400, 3000)})
    config = BalanceConfig(targets=MIX)
    tokens, plans = _achieved(corpus, config)
    total = sum(tokens.values())
    for source, target in MIX.items():
        assert tokens[source] / total == pytest.approx(target, abs=0.005)
        assert tokens[source] == plans[(source, None)].selected_tokens
    assert total == pytest.approx(sum(n for _, n in corpus), rel=0.01)  # size is kept
    assert plans[("web", None)].rate > 1 > plans[("code", None)].rate
    assert not any(p.capped for p in plans.values())


def test_an_epoch_cap_leaves_a_source_short_and_the_report_says_so():
    corpus = _corpus({"web": (3000, 300), "books": (20, 1000), "code": (400, 3000)})
    config = BalanceConfig(targets=MIX, max_epochs=2)
    tokens, plans = _achieved(corpus, config)
    books = plans[("books", None)]
    assert books.capped and books.rate == pytest.approx(2.0)
    assert tokens["books"] == 2 * books.available_tokens
    # The other sources take up the rest in proportion to their targets: 5 to 2.
    assert tokens["web"] / tokens["code"] == pytest.approx(5 / 2, rel=0.01)
    report = plan_report(plans, config)
    assert report["notes"] == ["books: capped at 2 epochs below its share"]
    books_row = next(s for s in report["sources"] if s["source"] == "books")
    assert books_row["capped"] and books_row["achieved_share"] < 0.3


def test_source_caps_override_the_default_and_zero_drops_a_source():
    corpus = _corpus({"web": (1000, 300), "books": (20, 1000), "code": (100, 3000)})
    config = BalanceConfig(
        targets={"web": 0.7, "books": 0.3, "code": 0.0}, source_max_epochs={"books": 100}
    )
    tokens, plans = _achieved(corpus, config)
    assert tokens["code"] == 0 and not plans[("code", None)].capped
    assert tokens["books"] / (tokens["books"] + tokens["web"]) == pytest.approx(0.3, abs=0.01)


def test_a_source_without_documents_is_reported():
    corpus = _corpus({"web": (100, 300), "code": (10, 3000)})
    config = BalanceConfig(targets=MIX)
    _, plans = _achieved(corpus, config)
    assert plans[("books", None)].capped and plans[("books", None)].available_tokens == 0
    assert "books: no documents to reach its share" in plan_report(plans, config)["notes"]


def test_quality_buckets_split_a_source():
    config = BalanceConfig(
        targets={"web": 0.8, "code": 0.2},
        quality_signal="lid.score",
        quality_edges=(0.7,),
        quality_shares=(0.25, 0.75),
        quality_sources=("web",),
    )
    rng = random.Random(3)
    corpus = []
    for i in range(3000):
        score = rng.random()
        doc = Document(f"w{i}", "x", "web", "f", scores={"lid.score": score})
        corpus.append((doc, rng.randint(50, 500)))
    corpus += [(Document(f"c{i}", "x", "code", "f"), rng.randint(50, 2000)) for i in range(300)]
    corpus.append((Document("w-none", "x", "web", "f"), 100))  # no signal: bucket 0
    assert mix_cell(corpus[-1][0], config) == ("web", 0)
    assert mix_cell(corpus[-2][0], config) == ("code", None)
    plans = plan_mix(_histograms(corpus, config), config)
    total = sum(p.selected_tokens for p in plans.values())
    assert plans[("web", 0)].selected_tokens / total == pytest.approx(0.2, abs=0.01)
    assert plans[("web", 1)].selected_tokens / total == pytest.approx(0.6, abs=0.01)
    assert plans[("code", None)].selected_tokens / total == pytest.approx(0.2, abs=0.01)
    # Fewer web documents score >= 0.7, so that bucket is up-sampled, the other down-sampled.
    assert plans[("web", 1)].rate > 1 > plans[("web", 0)].rate


def test_total_tokens_sets_the_size_and_the_choice_is_by_hash():
    corpus = _corpus({"web": (2000, 300), "books": (100, 2000), "code": (200, 3000)})
    config = BalanceConfig(targets=MIX, total_tokens=200_000)
    tokens, plans = _achieved(corpus, config)
    assert sum(tokens.values()) == pytest.approx(200_000, rel=0.01)
    # Same plan from the histograms merged in another order; same documents chosen.
    shuffled = list(corpus)
    random.Random(1).shuffle(shuffled)
    assert plan_mix(_histograms(shuffled, config), config) == plans
    kept = [doc.id for doc, _ in corpus if copies(doc, plans, config)]
    web = plans[("web", None)]
    assert all(balance_bucket(i) < web.cutoff for i in kept if i.startswith("web"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"targets": {"web": 0.5, "code": 0.4}}, "sum to 1"),
        ({"targets": {"web": 1.5, "code": -0.5}}, "negative"),
        ({"targets": {"web": 1.0}, "max_epochs": 0}, "positive"),
        ({"targets": {"web": 1.0}, "source_max_epochs": {"code": 2}}, "no target for code"),
        ({"targets": {"web": 1.0}, "quality_edges": [0.5]}, "need quality_signal"),
        (
            {"targets": {"web": 1.0}, "quality_signal": "s", "quality_edges": [0.5, 0.2]},
            "ascending",
        ),
        (
            {
                "targets": {"web": 1.0},
                "quality_signal": "s",
                "quality_edges": [0.5],
                "quality_shares": [1.0],
            },
            "2 shares",
        ),
        ({"targets": {"web": 1.0}, "epochs": 2}, "unknown setting"),
        ({"targets": {"web": "half"}}, "must be a number"),
    ],
)
def test_bad_settings_fail_with_the_key(settings, message):
    with pytest.raises(ValueError, match=message):
        BalanceConfig.from_dict(settings)


def test_targets_must_name_exactly_the_input_sources():
    config = BalanceConfig(targets={"web": 0.6, "code": 0.4})
    config.check_sources({"web", "code"})
    with pytest.raises(ValueError, match="no share for source.*books"):
        config.check_sources({"web", "code", "books"})
    with pytest.raises(ValueError, match="no --input has"):
        config.check_sources({"web"})
    BalanceConfig().check_sources({"anything"})  # not enabled: nothing to check


def test_balance_transform():
    config = BalanceConfig(targets={"web": 0.5, "code": 0.5}, max_epochs=None, total_tokens=4000)

    def encoded(prefix, source, tokens):
        ids = np.ones(tokens - 1, np.int32)  # + end-of-text
        return [EncodedDocument(Document(f"{prefix}{i}", "x", source, "f"), ids) for i in range(40)]

    web, code = encoded("w", "web", 10), encoded("c", "code", 100)
    with TestPipeline() as p:
        out, report = p | beam.Create(web + code) | Balance(config)
        summary = out | beam.Map(
            lambda x: (
                ("dropped", x.doc.source, x.reason)
                if isinstance(x, Rejected)
                else ("kept", x.doc.source, x.copies, x.doc.scores[COPIES_KEY])
            )
        )
        # Web (400 tokens) must become 2,000 of 4,000: every page 5 times; code (4,000)
        # must lose half: 20 of its 40 files by hash.
        counts = summary | beam.combiners.Count.PerElement()
        assert_that(
            counts,
            equal_to(
                [
                    (("kept", "web", 5, 5.0), 40),
                    (("kept", "code", 1, 1.0), 20),
                    (("dropped", "code", DROP_DOWNSAMPLED), 20),
                ]
            ),
            label="Outcomes",
        )
        rates = report | beam.Map(lambda r: sorted((c["source"], c["rate"]) for c in r["cells"]))
        assert_that(rates, equal_to([[("code", 0.5), ("web", 5.0)]]), label="Plan")
