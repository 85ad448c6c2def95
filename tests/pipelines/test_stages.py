"""The stage registry: one ordered list that curate, dedup, --dry_run, the settings checks
and the report read. The toy stage below follows the README's "How to add a stage"."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pyarrow.parquet as pq
import pytest

from pipelines.curate import describe, resolve, run
from pipelines.options import UserError
from pipelines.report import Section
from pipelines.stages import REGISTRY, Registered, Registry
from tests.conftest import jsonl_bytes, write_input
from tests.pipelines.test_curate import FILTER_STAGES
from transforms.settings import DEFAULT_CODE_SOURCES, config_from_dict
from transforms.stage import TOKENS, ApplyStep, DocumentStep, Drop, Stage

# --- the toy stage: what a new stage module holds ----------------------------------------


@dataclass(frozen=True)
class ShortConfig:
    """Settings of the `short` stage: drop prose documents of fewer than `min_words`."""

    min_words: int = 4
    code_sources: tuple[str, ...] = DEFAULT_CODE_SOURCES

    @classmethod
    def from_dict(cls, mapping: Mapping | None) -> ShortConfig:
        return config_from_dict(cls, mapping, "stages.short")


class ShortStep(DocumentStep):
    stage = "short"

    def __init__(self, config: ShortConfig):
        self.config = config

    def apply(self, doc):
        if doc.source in self.config.code_sources:
            return doc
        words = len(doc.text.split())
        doc = replace(doc, scores={**doc.scores, "short.words": float(words)})
        return Drop(doc, "too_few_words") if words < self.config.min_words else doc


class ShortFilter(ApplyStep):
    def __init__(self, config: ShortConfig):
        super().__init__(ShortStep(config))


SHORT = Stage("short", ShortConfig.from_dict, ShortFilter, code_aware=True)
SHORT_SECTION = Section("short", "Short documents", lambda run: "<p>short-stage section</p>")

# --- the one line: where it runs -----------------------------------------------------------

WITH_SHORT = REGISTRY.with_stage(SHORT, after="quality", report=SHORT_SECTION)


def _input(tmp_path) -> str:
    texts = [f"one two three four five {i} " * 3 for i in range(6)] + ["just three words"]
    write_input(tmp_path / "in" / "a.jsonl", jsonl_bytes([{"text": t} for t in texts]))
    return f"--input=web={tmp_path / 'in'}/*.jsonl"


SETTINGS = {
    "lang": {"languages": None, "min_score": None},
    "quality": {"exempt_sources": ["web"]},
    "short": {},
}


def _argv(tmp_path, **stages):
    settings = {**SETTINGS, **stages}
    return [
        _input(tmp_path),
        f"--output={tmp_path / 'out'}",
        "--vocab_size=300",
        "--seq_len=16",
        f"--stages={json.dumps(settings)}",
    ]


def test_a_registered_stage_runs_in_place_and_is_counted_written_and_reported(tmp_path):
    manifest = run(_argv(tmp_path, short={"min_words": 5}), registry=WITH_SHORT)
    names = [s["stage"] for s in manifest["stages"]]
    assert names[names.index("quality") + 1] == "short"
    short = manifest["stages"][names.index("short")]
    assert short["dropped"] == {"too_few_words": 1}
    assert (short["in"], short["out"]) == (7, 6)
    assert manifest["records"]["balanced"]

    out = tmp_path / "out"
    rejected = pq.read_table(out / "rejected").to_pylist()
    assert [(r["stage"], r["reason"]) for r in rejected] == [("short", "too_few_words")]
    kept = pq.read_table(out / "documents").to_pylist()
    assert all(dict(d["scores"])["short.words"] >= 5 for d in kept)
    report = (out / "report.html").read_text()
    assert "short-stage section" in report
    order = [report.index(f'id="{a}"') for a in ("languages", "short", "near-dedup")]
    assert order == sorted(order)  # in registry order


def test_its_settings_are_checked_and_shown_by_dry_run(tmp_path):
    options, config = resolve(_argv(tmp_path, short={"min_words": 9}), registry=WITH_SHORT)
    plan = describe(options, config, WITH_SHORT)
    assert "  short: ShortConfig(min_words=9" in plan
    assert plan.index("  quality") < plan.index("  short") < plan.index("  exact_dedup")

    with pytest.raises(UserError, match=r"stages.short: unknown setting\(s\) min_word"):
        resolve(_argv(tmp_path, short={"min_word": 9}), registry=WITH_SHORT)
    with pytest.raises(UserError, match="stages.short.code_sources: set --code_sources"):
        resolve(_argv(tmp_path, short={"code_sources": ["x"]}), registry=WITH_SHORT)
    with pytest.raises(UserError, match="unknown stage.*: short"):  # not registered
        resolve(_argv(tmp_path), registry=REGISTRY)


def test_the_registry_keeps_names_unique_and_places_in_order():
    assert REGISTRY.names == (*FILTER_STAGES, "balance")
    with pytest.raises(ValueError, match="registered twice"):
        REGISTRY.with_stage(SHORT, after="quality").with_stage(SHORT, after="pii")
    tokens_stage = Stage("after_tokens", runs_on=TOKENS)
    with pytest.raises(ValueError, match="in that order"):
        Registry((Registered(tokens_stage), *REGISTRY.entries))


def test_each_pipeline_takes_settings_only_for_the_stages_it_runs():
    configs = REGISTRY.configs(
        {"near_dedup": {"threshold": 0.7}}, ("code",), ("read", "near_dedup")
    )
    assert set(configs) == {"read", "near_dedup"}
    assert configs["near_dedup"].threshold == 0.7
    with pytest.raises(ValueError, match=r"unknown stage\(s\) under stages: quality"):
        REGISTRY.configs({"quality": {}}, ("code",), ("read", "near_dedup"))
