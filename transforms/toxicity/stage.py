"""The `toxicity` stage: score every document with the toxicity classifier, drop above a
threshold.

Signals kept in `Document.scores`: `toxicity.max` (highest window probability, what the
threshold decides on), `toxicity.mean` (word-weighted mean over windows) and
`toxicity.windows` (how many windows were scored). Code sources pass through unscored: a
model of tweets says nothing about source code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from transforms.settings import DEFAULT_CODE_SOURCES, config_from_dict
from transforms.stage import ApplyStep, DocumentStep, Drop, Stage
from transforms.toxicity.classifier import (
    DEFAULT_MIN_WORDS,
    DEFAULT_WINDOW_WORDS,
    ToxicityClassifier,
)

STAGE = "toxicity"
DROP_TOXIC = "toxic"
MAX_KEY, MEAN_KEY, WINDOWS_KEY = "toxicity.max", "toxicity.mean", "toxicity.windows"
# Calibrated by train.py on its held-out split: the highest multiple of 0.05 at which 95% of
# the held-out toxic tweets still reach it (95.1% at 0.85; none of the 14 held-out web
# documents of the training files does). Checked with python -m bench.toxicity on pages of
# fixture files the model never saw: 0 of 60 clean pages flagged, 15 of the demo's 20 reader
# comments caught (every threshold from 0.75 to 0.9 gives the same two counts).
DEFAULT_THRESHOLD = 0.85


@dataclass(frozen=True)
class ToxicityConfig:
    """Settings of the `toxicity` stage (YAML: `stages: {toxicity: {...}}`).

    threshold:    drop a document whose `toxicity.max` is >= this; None keeps every
                  document (scores are still computed and kept). Default 0.85, calibrated on
                  a held-out split (see DEFAULT_THRESHOLD above and the README).
    window_words: most words in a scored window; a longer line is cut into equal slices
                  (default 96).
    min_words:    a line of fewer words joins the window before it (default 16; windows
                  follow lines, see classifier.windows).
    model_path:   another fastText model made by `python -m transforms.toxicity.train`;
                  None = the default model shipped in this package.
    code_sources: `Document.source` names of source code, passed through unscored (the
                  pipelines set it from `--code_sources`).
    """

    threshold: float | None = DEFAULT_THRESHOLD
    window_words: int = DEFAULT_WINDOW_WORDS
    min_words: int = DEFAULT_MIN_WORDS
    model_path: str | None = None
    code_sources: tuple[str, ...] = DEFAULT_CODE_SOURCES

    def __post_init__(self):
        if self.window_words < 1:
            raise ValueError(f"stages.toxicity.window_words must be >= 1, not {self.window_words}")
        if self.min_words < 0:
            raise ValueError(f"stages.toxicity.min_words must be >= 0, not {self.min_words}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"stages.toxicity.threshold must be in [0, 1], not {self.threshold}")

    @classmethod
    def from_dict(cls, mapping: Mapping | None) -> ToxicityConfig:
        """From a YAML/JSON mapping; unknown keys raise ValueError."""
        return config_from_dict(cls, mapping, "stages.toxicity")


def decide(max_score: float, config: ToxicityConfig) -> str | None:
    """DROP_TOXIC when `max_score` reaches the threshold, else None."""
    if config.threshold is not None and max_score >= config.threshold:
        return DROP_TOXIC
    return None


class ToxicityStep(DocumentStep):
    """Scores one document per call; its windows go to fastText in one `predict` call.

    Batching across documents (a GroupByKey, as the tokenizer does) would not pay: on the
    web fixtures one `predict` over all windows of 2,000 documents ran at 14.4 MB/s against
    14.0 MB/s in one call per document. Since normalization runs on numpy (~28 MB/s on the
    20 MB scale corpus), fastText's predict (~16 MB/s) is the larger part of the time."""

    stage = STAGE

    def __init__(self, config: ToxicityConfig):
        self.config = config
        self.code_sources = frozenset(config.code_sources)
        self.classifier: ToxicityClassifier | None = None

    def setup(self):
        self.classifier = ToxicityClassifier(self.config.model_path)

    def apply(self, doc):
        if doc.source in self.code_sources:
            return doc
        result = self.classifier.score_document(
            doc.text, self.config.window_words, self.config.min_words
        )
        scores = {MAX_KEY: result.max, MEAN_KEY: result.mean, WINDOWS_KEY: float(result.windows)}
        doc = dataclasses.replace(doc, scores={**doc.scores, **scores})
        reason = decide(result.max, self.config)
        return Drop(doc, reason) if reason else doc


class ToxicityFilter(ApplyStep):
    """Documents -> Documents with `toxicity.*` scores, and Rejected(stage="toxicity",
    reason="toxic") for those at or above the threshold."""

    def __init__(self, config: ToxicityConfig | None = None):
        super().__init__(ToxicityStep(config or ToxicityConfig()))


TOXICITY = Stage(STAGE, ToxicityConfig.from_dict, ToxicityFilter, code_aware=True)
