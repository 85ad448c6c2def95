"""The `balance` stage: reach target token shares per source (and quality bucket) by
down-sampling and up-sampling, every choice made by a stable hash of the document id.

It runs after tokenization, so shares are measured in what the packed shards will hold:
each document's tokens plus its end-of-text token. Steps:

1. Every document falls in a mix cell: its source, or (source, quality bucket) when the
   source is bucketed by a signal in `Document.scores`.
2. Per cell, a histogram of tokens over 2**16 buckets of the document's balance hash
   (`TokenHistogram`); the histograms are the only thing that meets in one place.
3. `plan_mix` turns the cells' token counts into budgets: target share x total tokens, a
   cell never repeated more than `max_epochs` times (what it cannot reach is spread over
   the other cells by their targets, and the plan says it is capped). A budget of
   `rate` x available tokens means: every document `floor(rate)` times, plus once more for
   the documents whose hash bucket is below a cutoff chosen on the histogram so that the
   extra tokens come as close as possible to the fractional part. So shares are met to
   within one hash bucket's tokens, and the same documents win on every run and runner.
4. `copies(doc)` applies the plan: 0 drops the document with reason `downsampled`.

Beam-free core: `BalanceConfig`, `mix_cell`, `balance_bucket`, `TokenHistogram`,
`plan_mix`, `copies`. `Balance` is the thin PTransform.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import apache_beam as beam
import numpy as np

from schemas.document import Document, stable_hash64
from transforms.common import CountingDoFn
from transforms.settings import config_from_dict
from transforms.stage import TOKENS, Stage

STAGE = "balance"
DROP_DOWNSAMPLED = "downsampled"
# Document.scores key: the copies this stage chose. Packing may leave some of them out of the
# token shards (transforms.tokenize.PACKED_COPIES_KEY says how many are there).
COPIES_KEY = "balance.sampled_copies"
HASH_BUCKETS = 1 << 16
# Repeating data up to about 4 epochs costs almost nothing against unique data (Muennighoff
# et al. 2023, "Scaling Data-Constrained Language Models"); beyond that returns fall fast.
DEFAULT_MAX_EPOCHS = 4.0
_SHARE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class BalanceConfig:
    """Settings of the `balance` stage (YAML: `stages: {balance: {...}}`).

    targets:           source name (the NAME of --input NAME=GLOB) -> target share of the
                       output tokens; shares sum to 1, and every input source must have one
                       (0 drops a source). Empty: no balancing, the stage is not in the graph.
    max_epochs:        the most times a cell's documents are repeated to reach its share
                       (default 4, Muennighoff et al. 2023); None: no cap.
    source_max_epochs: per-source caps that override `max_epochs`.
    total_tokens:      tokens in the balanced output; None: as many as the curated documents
                       hold, so the mix changes and the size does not.
    quality_signal:    a `Document.scores` key (e.g. `lid.score`) whose value splits each
                       bucketed source into buckets at `quality_edges` (ascending; bucket i
                       holds values in [edge[i-1], edge[i])). A document without the signal
                       falls in bucket 0.
    quality_edges, quality_shares: the bucket edges, and each bucket's share of its
                       source's tokens (one more share than edges, summing to 1).
    quality_sources:   the sources that are bucketed; None: every source with a target.
    """

    targets: dict[str, float] = field(default_factory=dict)
    max_epochs: float | None = DEFAULT_MAX_EPOCHS
    source_max_epochs: dict[str, float] = field(default_factory=dict)
    total_tokens: int | None = None
    quality_signal: str | None = None
    quality_edges: tuple[float, ...] = ()
    quality_shares: tuple[float, ...] = ()
    quality_sources: tuple[str, ...] | None = None

    def __post_init__(self):
        where = f"stages.{STAGE}"
        if any(share < 0 for share in self.targets.values()):
            raise ValueError(f"{where}.targets: shares must not be negative")
        if self.targets and abs(sum(self.targets.values()) - 1) > _SHARE_TOLERANCE:
            raise ValueError(
                f"{where}.targets: shares must sum to 1, not {sum(self.targets.values()):g}"
            )
        for name, cap in {"": self.max_epochs, **self.source_max_epochs}.items():
            if cap is not None and cap <= 0:
                raise ValueError(f"{where}: max_epochs {name} must be positive, not {cap}")
        unknown = sorted(set(self.source_max_epochs) - set(self.targets))
        if unknown:
            raise ValueError(f"{where}.source_max_epochs: no target for {', '.join(unknown)}")
        if self.total_tokens is not None and self.total_tokens < 0:
            raise ValueError(f"{where}.total_tokens must not be negative")
        if self.quality_signal is None:
            if self.quality_edges or self.quality_shares or self.quality_sources is not None:
                raise ValueError(f"{where}: quality_edges/shares/sources need quality_signal")
            return
        edges, shares = self.quality_edges, self.quality_shares
        if not edges or list(edges) != sorted(set(edges)):
            raise ValueError(f"{where}.quality_edges must be strictly ascending and not empty")
        if len(shares) != len(edges) + 1:
            raise ValueError(
                f"{where}.quality_shares: {len(edges)} edges make {len(edges) + 1} buckets, "
                f"so {len(edges) + 1} shares, not {len(shares)}"
            )
        if any(s < 0 for s in shares) or abs(sum(shares) - 1) > _SHARE_TOLERANCE:
            raise ValueError(f"{where}.quality_shares must be >= 0 and sum to 1")
        if self.quality_sources is not None:
            unknown = sorted(set(self.quality_sources) - set(self.targets))
            if unknown:
                raise ValueError(f"{where}.quality_sources: no target for {', '.join(unknown)}")

    @classmethod
    def from_dict(cls, mapping: Mapping | None) -> BalanceConfig:
        return config_from_dict(cls, mapping, f"stages.{STAGE}")

    @property
    def enabled(self) -> bool:
        return bool(self.targets)

    def check_sources(self, sources: set[str]) -> None:
        """Raise ValueError unless the targets name exactly the input sources."""
        if not self.enabled:
            return
        missing, extra = sorted(sources - set(self.targets)), sorted(set(self.targets) - sources)
        if missing:
            raise ValueError(
                f"stages.{STAGE}.targets has no share for source(s) {', '.join(missing)} "
                "(give 0 to leave a source out)"
            )
        if extra:
            raise ValueError(f"stages.{STAGE}.targets names source(s) no --input has: {extra}")

    def bucketed(self, source: str) -> bool:
        if self.quality_signal is None:
            return False
        return self.quality_sources is None or source in self.quality_sources

    def cells(self) -> list[tuple[str, int | None]]:
        """Every mix cell with its target share: (source, bucket or None)."""
        return [
            (source, bucket)
            for source in sorted(self.targets)
            for bucket in (range(len(self.quality_shares)) if self.bucketed(source) else [None])
        ]

    def target_share(self, cell: tuple[str, int | None]) -> float:
        source, bucket = cell
        share = self.targets[source]
        return share if bucket is None else share * self.quality_shares[bucket]

    def epoch_cap(self, source: str) -> float:
        cap = self.source_max_epochs.get(source, self.max_epochs)
        return math.inf if cap is None else cap


def mix_cell(doc: Document, config: BalanceConfig) -> tuple[str, int | None]:
    """The (source, quality bucket) a document's tokens count towards; bucket None when its
    source is not bucketed."""
    if not config.bucketed(doc.source):
        return doc.source, None
    value = doc.scores.get(config.quality_signal)
    if value is None or math.isnan(value):
        return doc.source, 0
    return doc.source, bisect.bisect_right(config.quality_edges, value)


def balance_bucket(doc_id: str) -> int:
    """Which of HASH_BUCKETS a document falls in (salted: independent of the dedup
    survivor choice and the tokenizer sample)."""
    return stable_hash64("balance:" + doc_id) >> (64 - 16)


class TokenHistogram(beam.CombineFn):
    """(hash bucket, tokens) -> int64 array (2, HASH_BUCKETS): tokens and documents per
    bucket."""

    def create_accumulator(self):
        return np.zeros((2, HASH_BUCKETS), dtype=np.int64)

    def add_input(self, accumulator, item):
        bucket, tokens = item
        accumulator[0, bucket] += tokens
        accumulator[1, bucket] += 1
        return accumulator

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        total = next(accumulators).copy()
        for accumulator in accumulators:
            total += accumulator
        return total

    def extract_output(self, accumulator):
        return accumulator


@dataclass(frozen=True)
class CellPlan:
    """What the balance stage does with one mix cell, and what that achieves.

    rate: budget / available tokens; every document is taken `whole` times, plus once more
    when its hash bucket is below `cutoff`. selected_tokens / documents: what that gives.
    capped: the cell could not reach its target share within its epoch cap (or holds no
    documents).
    """

    source: str
    bucket: int | None
    target_share: float
    available_tokens: int
    available_documents: int
    budget_tokens: float
    rate: float
    whole: int
    cutoff: int
    selected_tokens: int
    selected_documents: int
    copies: int
    capped: bool

    def to_dict(self, total_selected: int) -> dict:
        row = dataclasses.asdict(self)
        row["achieved_share"] = self.selected_tokens / total_selected if total_selected else 0.0
        row["epochs"] = self.selected_tokens / self.available_tokens if self.available_tokens else 0
        return row


def _budgets(
    available: dict, config: BalanceConfig, total: float
) -> tuple[dict[tuple, float], set]:
    """Water-filling: cell -> token budget, and the cells held at their epoch cap.

    Cells are visited in a fixed order (lists, not sets): float sums depend on the order
    of their terms, and a set's order changes with PYTHONHASHSEED."""
    budgets: dict[tuple, float] = {}
    capped: set = set()
    cells = sorted(available, key=_cell_order)
    free = [cell for cell in cells if config.target_share(cell) > 0]
    for cell in cells:
        if cell not in free:
            budgets[cell] = 0.0
    remaining = float(total)
    while free:
        shares = sum(config.target_share(c) for c in free)
        over = [
            c
            for c in free
            if remaining * config.target_share(c) / shares
            > config.epoch_cap(c[0]) * available[c] * (1 + 1e-12)
        ]
        if not over:
            for c in free:
                budgets[c] = remaining * config.target_share(c) / shares
            break
        for c in over:
            budgets[c] = config.epoch_cap(c[0]) * available[c]
            remaining -= budgets[c]
        capped.update(over)
        free = [c for c in free if c not in over]
    return budgets, capped


def _cutoff(tokens_cumulative: np.ndarray, needed: float) -> int:
    """How many leading hash buckets to take once more so their tokens come closest to
    `needed` (ties: fewer)."""
    if needed <= 0:
        return 0
    above = int(np.searchsorted(tokens_cumulative, needed))  # first bucket count reaching it
    best, best_gap = 0, needed
    for count in (above, above + 1):
        if 0 < count <= len(tokens_cumulative):
            gap = abs(float(tokens_cumulative[count - 1]) - needed)
            if gap < best_gap:
                best, best_gap = count, gap
    return best


def plan_mix(histograms: Mapping, config: BalanceConfig) -> dict[tuple, CellPlan]:
    """Cell -> CellPlan, from each cell's TokenHistogram (cells with no documents may be
    absent). Every configured cell gets a plan."""
    empty = np.zeros((2, HASH_BUCKETS), dtype=np.int64)
    cells = {cell: histograms.get(cell, empty) for cell in config.cells()}
    available = {cell: int(h[0].sum()) for cell, h in cells.items()}
    total = config.total_tokens if config.total_tokens is not None else sum(available.values())
    budgets, capped = _budgets(available, config, total)
    plans = {}
    for cell, histogram in cells.items():
        tokens = available[cell]
        rate = budgets[cell] / tokens if tokens else 0.0
        whole = math.floor(rate + 1e-12)
        tokens_cumulative = np.cumsum(histogram[0])
        cutoff = _cutoff(tokens_cumulative, budgets[cell] - whole * tokens) if tokens else 0
        extra_tokens = int(tokens_cumulative[cutoff - 1]) if cutoff else 0
        extra_docs = int(histogram[1, :cutoff].sum())
        documents = int(histogram[1].sum())
        plans[cell] = CellPlan(
            source=cell[0],
            bucket=cell[1],
            target_share=config.target_share(cell),
            available_tokens=tokens,
            available_documents=documents,
            budget_tokens=budgets[cell],
            rate=rate,
            whole=whole,
            cutoff=cutoff,
            selected_tokens=whole * tokens + extra_tokens,
            selected_documents=documents if whole else extra_docs,
            copies=whole * documents + extra_docs,
            capped=cell in capped or (config.target_share(cell) > 0 and not tokens),
        )
    return plans


def copies(doc: Document, plans: Mapping, config: BalanceConfig) -> int:
    """How many copies of the document go to packing (0: dropped); packing may leave out a
    copy at a shard's end."""
    plan = plans[mix_cell(doc, config)]
    return plan.whole + (balance_bucket(doc.id) < plan.cutoff)


def plan_report(plans: Mapping, config: BalanceConfig) -> dict:
    """The manifest's `balance` section: targets against what the plan achieves."""
    total_selected = sum(p.selected_tokens for p in plans.values())
    rows = [plans[cell].to_dict(total_selected) for cell in sorted(plans, key=_cell_order)]
    sources = {}
    for row in rows:
        entry = sources.setdefault(
            row["source"],
            {"source": row["source"], "target_share": 0.0, "achieved_share": 0.0, "capped": False},
        )
        entry["target_share"] += row["target_share"]
        entry["achieved_share"] += row["achieved_share"]
        entry["capped"] |= row["capped"]
    notes = [
        f"{row['source']}"
        + (f" bucket {row['bucket']}" if row["bucket"] is not None else "")
        + (
            ": no documents to reach its share"
            if not row["available_tokens"]
            else f": capped at {config.epoch_cap(row['source']):g} epochs below its share"
        )
        for row in rows
        if row["capped"]
    ]
    return {
        "total_tokens_target": config.total_tokens,
        "available_tokens": sum(p.available_tokens for p in plans.values()),
        "selected_tokens": total_selected,
        "max_epochs": config.max_epochs,
        "quality_signal": config.quality_signal,
        "quality_edges": list(config.quality_edges),
        "sources": list(sources.values()),
        "cells": rows,
        "notes": notes,
    }


def _cell_order(cell: tuple[str, int | None]) -> tuple[str, int]:
    return cell[0], -1 if cell[1] is None else cell[1]


class _ApplyPlan(CountingDoFn):
    """EncodedDocument -> itself with `copies` set (>= 1), or Rejected (downsampled)."""

    stage = STAGE

    def __init__(self, config: BalanceConfig):
        super().__init__()
        self.config = config

    def process(self, encoded, plans):
        n = copies(encoded.doc, plans, self.config)
        if n == 0:
            yield self.reject(encoded.doc, DROP_DOWNSAMPLED)
            return
        doc = dataclasses.replace(encoded.doc, scores={**encoded.doc.scores, COPIES_KEY: n})
        yield self.keep(dataclasses.replace(encoded, doc=doc, copies=n))


class Balance(beam.PTransform):
    """EncodedDocuments -> (EncodedDocument | Rejected, one-element PCollection of the
    manifest's `balance` section, `plan_report`)."""

    def __init__(self, config: BalanceConfig):
        super().__init__()
        self.config = config

    def expand(self, encoded):
        config = self.config
        plans = (
            encoded
            | "Cells"
            >> beam.Map(lambda e: (mix_cell(e.doc, config), (balance_bucket(e.doc.id), e.tokens)))
            | "Histograms" >> beam.CombinePerKey(TokenHistogram())
            | "AllCells" >> beam.combiners.ToDict()
            | "Plan" >> beam.Map(plan_mix, config)
        )
        applied = encoded | "Apply" >> beam.ParDo(
            _ApplyPlan(config), beam.pvalue.AsSingleton(plans)
        )
        return applied, plans | "Report" >> beam.Map(plan_report, config)


# Runs only when `targets` are set; its manifest section says how it chose the mix.
BALANCE = Stage(STAGE, BalanceConfig.from_dict, Balance, runs_on=TOKENS, active=lambda c: c.enabled)
