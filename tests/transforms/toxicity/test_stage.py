"""The toxicity stage: config, decision, and the PTransform on a TestPipeline."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import Document, Rejected
from transforms.toxicity import (
    DEFAULT_THRESHOLD,
    DROP_TOXIC,
    MAX_KEY,
    MEAN_KEY,
    ToxicityConfig,
    ToxicityFilter,
    decide,
)

CLEAN_PAGE = (
    "The council approved the new budget for road repairs on Tuesday.\n"
    "Preheat the oven to 180 degrees and bake the bread for forty minutes.\n"
    "The museum opens at nine and admission is free for children."
)
TOXIC_PAGE = CLEAN_PAGE + "\nyou are a stupid bitch and a worthless hoe, shut up you fucking retard"


def _docs() -> list[Document]:
    return [
        Document("clean", CLEAN_PAGE, "web", "f.jsonl", scores={"lid.score": 0.9}),
        Document("toxic", TOXIC_PAGE, "web", "f.jsonl"),
        Document("code", "def kill(child): pass  # stupid bitch of a bug", "code", "c.jsonl"),
    ]


def _summary(x):
    if isinstance(x, Rejected):
        return ("rejected", x.doc.id, x.stage, x.reason)
    return ("kept", x.id, MAX_KEY in x.scores, MEAN_KEY in x.scores, "lid.score" in x.scores)


def test_config_from_dict_and_defaults():
    assert ToxicityConfig.from_dict(None).threshold == DEFAULT_THRESHOLD
    assert ToxicityConfig.from_dict({"threshold": None}).threshold is None
    assert ToxicityConfig.from_dict({"threshold": 1, "window_words": 32}).threshold == 1.0
    with pytest.raises(ValueError, match="stages.toxicity: unknown"):
        ToxicityConfig.from_dict({"treshold": 0.5})
    with pytest.raises(ValueError, match="threshold"):
        ToxicityConfig.from_dict({"threshold": 1.5})
    with pytest.raises(ValueError, match="window_words"):
        ToxicityConfig.from_dict({"window_words": 0})
    assert ToxicityConfig.from_dict({"min_words": 0, "window_words": 8}).min_words == 0
    with pytest.raises(ValueError, match="min_words"):
        ToxicityConfig.from_dict({"min_words": -1})


def test_decide():
    config = ToxicityConfig(threshold=0.9)
    assert decide(0.9, config) == DROP_TOXIC
    assert decide(0.89, config) is None
    assert decide(1.0, ToxicityConfig(threshold=None)) is None


def test_filter_drops_toxic_and_keeps_scores():
    with TestPipeline() as p:
        out = p | beam.Create(_docs()) | ToxicityFilter()
        assert_that(
            out | "Summary" >> beam.Map(_summary),
            equal_to(
                [
                    ("kept", "clean", True, True, True),
                    ("rejected", "toxic", "toxicity", "toxic"),
                    ("kept", "code", False, False, False),  # code is not scored
                ]
            ),
        )


def test_threshold_null_keeps_every_document_with_scores():
    def high(x):
        return x.scores[MAX_KEY] > DEFAULT_THRESHOLD and x.scores[MEAN_KEY] <= x.scores[MAX_KEY]

    with TestPipeline() as p:
        out = p | beam.Create(_docs()[:2]) | ToxicityFilter(ToxicityConfig(threshold=None))
        assert_that(
            out | beam.Map(lambda x: (type(x).__name__, x.id, high(x))),
            equal_to([("Document", "clean", False), ("Document", "toxic", True)]),
        )


def test_the_step_pickles_without_the_model():
    import pickle

    from transforms.toxicity.stage import ToxicityStep

    step = ToxicityStep(ToxicityConfig())
    assert step.classifier is None  # loaded in setup(), once per worker
    assert len(pickle.dumps(step)) < 10_000


def test_curate_wires_the_stage_after_dedup_with_its_settings(tmp_path):
    from pipelines.curate import stage_configs
    from pipelines.options import curate_config, load_options
    from pipelines.stages import REGISTRY

    argv = ["--output", str(tmp_path), '--stages={"toxicity": {"threshold": null}}']
    config = curate_config(load_options(argv), ["web=/none/*.jsonl"])
    configs = stage_configs(config)
    assert configs["toxicity"].threshold is None
    assert configs["toxicity"].code_sources == config.code_sources
    names = REGISTRY.names
    assert names.index("toxicity") > names.index("exact_dedup")
