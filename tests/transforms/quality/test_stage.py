"""The `quality` stage: which rules a document gets, signals kept, first failure decides."""

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import Document, Rejected
from tests.transforms.quality.test_code import PYTHON
from tests.transforms.quality.texts import CLEAN, CLEAN_LINES
from transforms.quality import assess, c4, code, fineweb, gopher
from transforms.quality.stage import QualityConfig, QualityFilter

DEFAULT = QualityConfig()
FAMILY_PREFIXES = ("fineweb.", "gopher.", "c4.")
# CLEAN with navigation and a cookie notice: C4 removes those lines, nothing drops the page.
PAGE = "Home | News | Sports | Contact\n" + CLEAN + "\nThis site uses cookies to work."
SHORT = " ".join(CLEAN.split()[:40]) + "."  # one line, 40 words: Gopher and C4 drop it


def _doc(i: str, text: str, source: str = "web", lang: str | None = None) -> Document:
    return Document(id=i, text=text, source=source, source_file="f", lang=lang)


def _prefixes(signals) -> set[str]:
    return {key.split(".", 1)[0] for key in signals}


def test_web_text_gets_every_text_family():
    result = assess(_doc("1", PAGE), DEFAULT)
    assert result.reason is None
    assert _prefixes(result.signals) == {"fineweb", "gopher", "c4"}
    assert result.text == CLEAN  # C4 line cleaning took out the menu and the cookie notice
    assert result.signals["c4.lines_policy"] == 1


def test_code_gets_only_the_code_rules_by_its_language():
    result = assess(_doc("1", PYTHON, source="code", lang="Python"), DEFAULT)
    assert result.reason is None and _prefixes(result.signals) == {"code"}
    long_lines = "<p>" + "word " * 400 + "</p>\n"
    assert assess(_doc("2", long_lines, source="github", lang="html"), DEFAULT).reason is None
    assert assess(_doc("3", long_lines, source="github", lang="python"), DEFAULT).reason == (
        code.DROP_MAX_LINE_LENGTH
    )


def test_curated_sources_are_exempt_by_default():
    assert assess(_doc("1", SHORT, source="books"), DEFAULT) == (({}, None, SHORT))
    everything = QualityConfig.from_dict({"exempt_sources": []})
    assert assess(_doc("1", SHORT, source="books"), everything).reason == gopher.DROP_WORD_COUNT


def test_first_failing_family_names_the_reason_and_all_signals_are_kept():
    result = assess(_doc("1", SHORT), DEFAULT)
    # FineWeb passes, Gopher quality is checked next, then C4 (too few sentences).
    assert result.reason == gopher.DROP_WORD_COUNT
    assert _prefixes(result.signals) == {"fineweb", "gopher", "c4"}
    assert result.signals["c4.sentences"] < 5
    assert "gopher.dup_10gram_char_frac" in result.signals
    assert result.text == SHORT  # a rejected document keeps its text


def test_score_all_false_stops_at_the_failing_family():
    config = QualityConfig.from_dict({"score_all": False})
    result = assess(_doc("1", SHORT), config)
    assert result.reason == gopher.DROP_WORD_COUNT
    assert _prefixes(result.signals) == {"fineweb", "gopher"}
    assert "gopher.dup_line_frac" not in result.signals


def test_null_turns_off_a_family_or_a_threshold():
    no_gopher = QualityConfig.from_dict({"gopher": None})
    assert no_gopher.gopher is None
    assert assess(_doc("1", SHORT), no_gopher).reason == c4.DROP_TOO_FEW_SENTENCES
    relaxed = QualityConfig.from_dict(
        {"gopher": {"min_words": None}, "c4": {"min_sentences": None}}
    )
    assert assess(_doc("1", SHORT), relaxed).reason is None
    text_only = QualityConfig.from_dict({"c4": None, "gopher_repetition": None, "fineweb": None})
    assert _prefixes(assess(_doc("1", PAGE), text_only).signals) == {"gopher"}


def test_c4_rewrite_can_be_turned_off():
    config = QualityConfig.from_dict({"c4": {"rewrite": False}})
    result = assess(_doc("1", PAGE), config)
    assert result.reason is None and result.text == PAGE
    assert result.signals["c4.lines_kept"] == len(CLEAN_LINES)


def test_config_from_yaml_rejects_unknown_keys():
    with pytest.raises(ValueError, match="stages.quality: unknown setting"):
        QualityConfig.from_dict({"gopher_quality": {}})
    with pytest.raises(ValueError, match="stages.quality.fineweb: unknown setting"):
        QualityConfig.from_dict({"fineweb": {"max_short_lines": 0.5}})
    config = QualityConfig.from_dict({"code_sources": ["stack_v2"], "fineweb": {}})
    assert config.code_sources == ("stack_v2",)
    assert config.fineweb == fineweb.FineWebConfig()


def test_quality_filter_transform():
    docs = [
        _doc("page", PAGE),
        _doc("short", SHORT),
        _doc("list", "\n".join(f"Item number {i}" for i in range(60))),
        _doc("code", PYTHON, source="code", lang="python"),
        _doc("book", SHORT, source="books"),
    ]

    def summary(x):
        if isinstance(x, Rejected):
            # A rejected document carries its signals (for re-thresholding) and its reason.
            return ("rejected", x.doc.id, x.stage, x.reason, sorted(_prefixes(x.doc.scores)))
        return ("kept", x.id, x.text == CLEAN, sorted(_prefixes(x.scores)))

    pipeline = TestPipeline()
    out = pipeline | beam.Create(docs) | QualityFilter()
    assert_that(
        out | beam.Map(summary),
        equal_to(
            [
                ("kept", "page", True, ["c4", "fineweb", "gopher"]),
                (
                    "rejected",
                    "short",
                    "quality",
                    gopher.DROP_WORD_COUNT,
                    ["c4", "fineweb", "gopher"],
                ),
                (
                    "rejected",
                    "list",
                    "quality",
                    fineweb.DROP_LINE_PUNCT,
                    ["c4", "fineweb", "gopher"],
                ),
                ("kept", "code", False, ["code"]),
                ("kept", "book", False, []),
            ]
        ),
    )
    result = pipeline.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("quality"))["counters"]
    }
    assert counters == {
        "kept": 3,
        f"dropped_{gopher.DROP_WORD_COUNT}": 1,
        f"dropped_{fineweb.DROP_LINE_PUNCT}": 1,
    }


def test_signals_are_kept_next_to_earlier_scores():
    doc = Document(id="1", text=PAGE, source="web", source_file="f", scores={"lid.score": 0.9})
    with TestPipeline() as pipeline:
        out = pipeline | beam.Create([doc]) | QualityFilter()
        assert_that(
            out | beam.Map(lambda d: (d.scores["lid.score"], "gopher.word_count" in d.scores)),
            equal_to([(0.9, True)]),
        )
