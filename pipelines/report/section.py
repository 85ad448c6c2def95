"""What a section of the report is, and the run every section is drawn from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import pyarrow as pa

from pipelines.report.charts import SOURCE_COLORS
from pipelines.report.sampling import Rows, Sample


@dataclass
class ReportRun:
    """Everything the sections read: the manifest, the two tables (None when absent) and a
    colour per source."""

    manifest: dict
    docs: Rows | None
    rejected: Rows | None
    colors: dict[str, str]

    @classmethod
    def from_tables(
        cls,
        manifest: dict | None,
        documents: pa.Table | None,
        rejected: pa.Table | None,
        samples: dict[str, Sample] | None = None,
    ) -> ReportRun:
        """A manifest and its documents / rejected tables (DOCUMENT_SCHEMA / REJECTED_SCHEMA,
        or `read_sample` output; None when absent) -> the run, sources coloured in order of
        name. `samples` ({"documents": Sample, "rejected": Sample}) says how much of each
        table was read; without it the tables are taken as complete."""
        manifest = manifest or {}
        samples = samples or {}
        docs = Rows(documents, samples.get("documents")) if documents is not None else None
        rej = Rows(rejected, samples.get("rejected")) if rejected is not None else None
        names = {str(e.get("source")) for e in manifest.get("inputs") or [] if e.get("source")}
        balance_sources = (manifest.get("balance") or {}).get("sources") or []
        names |= {str(s.get("source")) for s in balance_sources}
        for rows in (docs, rej):
            if rows is not None:
                names |= set(rows.source.astype(str))
        colors = {s: SOURCE_COLORS[i % len(SOURCE_COLORS)] for i, s in enumerate(sorted(names))}
        return cls(manifest, docs, rej, colors)

    def stage_settings(self, stage: str) -> dict:
        stages = (self.manifest.get("config") or {}).get("stages") or {}
        return stages.get(stage) or {}

    def color(self, source: str) -> str:
        return self.colors.get(source, SOURCE_COLORS[-1])


class Section(NamedTuple):
    """One part of the page: `anchor` (its HTML id), `title`, and `render(run)` -> its HTML."""

    anchor: str
    title: str
    render: Callable[[ReportRun], str]
