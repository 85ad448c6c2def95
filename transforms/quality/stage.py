"""The `quality` stage: every rule family on each document, signals kept, first failure drops.

Beam-free core: `assess(doc, config)` -> Assessment(signals, reason, text). The
`QualityFilter` PTransform wraps it in one DoFn.

Which rules a document gets:
  - source in `code_sources`: only the code rules (`code.py`), thresholds by the language
    in `Document.lang`;
  - source in `exempt_sources`: none (passed through unscored). By default the curated
    sources "books", "pile" and "wikipedia": the Gopher rules were applied to MassiveWeb
    only (Rae et al. 2021, not to its books, news or Wikipedia), and the C4 and FineWeb
    rules were made for Common Crawl text;
  - any other source: the text families, cheapest first: FineWeb, Gopher quality, C4,
    Gopher repetition. Each family computes all of its signals; the lines and words are
    split once and shared by all families.

The drop reason is the first failing rule of the first failing family in that order, so
it does not depend on `score_all`. With `score_all` (the default) every family is still
scored after a failure, so rejected documents carry every signal for threshold analysis;
with `score_all: false` scoring stops after the first failing family (faster on data
where many documents fail) and a rejected document carries the signals of the families
scored up to and including the failing one. Kept documents always carry all signals.

C4 line cleaning rewrites the text of kept documents (`c4.rewrite`); all families score
the text as it came in, so each family's signals are independent of the others. Rejected
documents keep their original text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from schemas.document import Document
from transforms.quality import c4 as c4_rules
from transforms.quality import code as code_rules
from transforms.quality import fineweb as fineweb_rules
from transforms.quality import gopher as gopher_rules
from transforms.quality.base import TextView
from transforms.settings import DEFAULT_CODE_SOURCES, config_from_dict
from transforms.stage import ApplyStep, DocumentStep, Drop, Stage

STAGE = "quality"
# Curated (non-crawl) sources that the web-text rules are not meant for.
DEFAULT_EXEMPT_SOURCES = ("books", "pile", "wikipedia")


@dataclass(frozen=True)
class QualityConfig:
    """Settings of the `quality` stage (YAML: `stages: {quality: {...}}`).

    One section per rule family (`gopher`, `gopher_repetition`, `c4`, `fineweb`, `code`),
    each a mapping of that family's thresholds; `null` turns the whole family off.
    code_sources:   `Document.source` names whose documents are code (the
                    pipelines set it from `--code_sources`).
    exempt_sources: sources passed through without any rule; default the curated sources
                    ("books", "pile", "wikipedia", see the module docstring); [] filters
                    every non-code source.
    score_all:      score every family even after one failed (see the module docstring).
    """

    gopher: gopher_rules.GopherQualityConfig | None = field(
        default_factory=gopher_rules.GopherQualityConfig
    )
    gopher_repetition: gopher_rules.GopherRepetitionConfig | None = field(
        default_factory=gopher_rules.GopherRepetitionConfig
    )
    c4: c4_rules.C4Config | None = field(default_factory=c4_rules.C4Config)
    fineweb: fineweb_rules.FineWebConfig | None = field(default_factory=fineweb_rules.FineWebConfig)
    code: code_rules.CodeConfig | None = field(default_factory=code_rules.CodeConfig)
    code_sources: tuple[str, ...] = DEFAULT_CODE_SOURCES
    exempt_sources: tuple[str, ...] = DEFAULT_EXEMPT_SOURCES
    score_all: bool = True

    @classmethod
    def from_dict(cls, mapping: Mapping | None) -> QualityConfig:
        """From a YAML/JSON mapping; unknown keys (here or in a family) raise ValueError."""
        mapping = dict(mapping or {})
        loaders = {
            "gopher": gopher_rules.GopherQualityConfig.from_dict,
            "gopher_repetition": gopher_rules.GopherRepetitionConfig.from_dict,
            "c4": c4_rules.C4Config.from_dict,
            "fineweb": fineweb_rules.FineWebConfig.from_dict,
            "code": code_rules.CodeConfig.from_dict,
        }
        families = {}
        for name, load in loaders.items():
            if name in mapping:
                section = mapping.pop(name)
                families[name] = None if section is None else load(section)
        config = config_from_dict(cls, mapping, "stages.quality")
        return dataclasses.replace(config, **families)


class Assessment(NamedTuple):
    """What the quality rules say about one document."""

    signals: dict[str, float]
    reason: str | None  # None: keep
    text: str  # the text to keep (C4-cleaned when C4 rewrites)


def assess(doc: Document, config: QualityConfig) -> Assessment:
    """Score `doc` with the rule families that apply to its source and decide."""
    if doc.source in config.exempt_sources:
        return Assessment({}, None, doc.text)
    if doc.source in config.code_sources:
        return assess_code(doc.text, doc.lang.strip().lower() if doc.lang else None, config)
    return assess_text(doc.text, config)


def assess_code(text: str, lang: str | None, config: QualityConfig) -> Assessment:
    """The code rules on a file in language `lang` (lower case, or None)."""
    if config.code is None:
        return Assessment({}, None, text)
    signals = code_rules.score(text, lang, config.code)
    return Assessment(signals, code_rules.decide(signals, config.code, lang), text)


def assess_text(text: str, config: QualityConfig) -> Assessment:
    """The natural-language families, cheapest first (see the module docstring)."""
    view = TextView(text)
    signals: dict[str, float] = {}
    reason = None
    kept_text = text

    def note(family_signals: dict[str, float], family_reason: str | None) -> bool:
        """Record a family's result; True when scoring should stop here."""
        nonlocal reason
        signals.update(family_signals)
        if reason is None:
            reason = family_reason
        return reason is not None and not config.score_all

    if config.fineweb is not None:
        s = fineweb_rules.signals_of(view, config.fineweb)
        if note(s, fineweb_rules.decide(s, config.fineweb)):
            return Assessment(signals, reason, text)
    if config.gopher is not None:
        s = gopher_rules.quality_signals(view, config.gopher.stop_words)
        if note(s, gopher_rules.decide_quality(s, config.gopher)):
            return Assessment(signals, reason, text)
    if config.c4 is not None:
        cleaned, s = c4_rules.clean_view(view, config.c4)
        if config.c4.rewrite:
            kept_text = cleaned
        if note(s, c4_rules.decide(s, config.c4)):
            return Assessment(signals, reason, text)
    if config.gopher_repetition is not None:
        s = gopher_rules.repetition_signals(view, config.gopher_repetition)
        note(s, gopher_rules.decide_repetition(s, config.gopher_repetition))
    return Assessment(signals, reason, text if reason else kept_text)


class QualityStep(DocumentStep):
    """One document: its signals added to `scores`, C4-cleaned text when kept, or a Drop
    naming the first failing rule."""

    stage = STAGE

    def __init__(self, config: QualityConfig):
        self.config = config

    def apply(self, doc):
        signals, reason, text = assess(doc, self.config)
        if not signals and reason is None:
            return doc
        changes = {"scores": {**doc.scores, **signals}}
        if reason is None and text != doc.text:
            changes["text"] = text
        doc = dataclasses.replace(doc, **changes)
        return Drop(doc, reason) if reason else doc


class QualityFilter(ApplyStep):
    """Documents -> Documents with the rule signals in `scores` (text C4-cleaned when
    configured), and Rejected(stage="quality", reason=<rule>) for the ones a rule drops."""

    def __init__(self, config: QualityConfig | None = None):
        super().__init__(QualityStep(config or QualityConfig()))


QUALITY = Stage(STAGE, QualityConfig.from_dict, QualityFilter, code_aware=True)
