"""Drop reasons: every (stage, reason) drop count, largest first, and per source."""

from __future__ import annotations

from collections import defaultdict

from pipelines.report.charts import DEAD, DROPPED, Bar, bar_chart
from pipelines.report.html import data_table, escape, key_paragraph, no_data, percent, thousands
from pipelines.report.section import ReportRun, Section


def _drops_by_source(manifest: dict) -> dict[tuple[str, str], dict[str, int]]:
    """(stage, reason) -> {source: dropped} from the manifest's per-input counts."""
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry in manifest.get("inputs") or []:
        for key, n in (entry.get("dropped") or {}).items():
            stage, _, reason = key.partition("/")
            out[(stage, reason)][entry.get("source", "?")] += n
    return out


def _sources(run: ReportRun) -> list[str]:
    return sorted(run.colors)


def render(run: ReportRun) -> str:
    """Every (stage, reason) drop count, largest first, and per source -> HTML."""
    m = run.manifest
    stages = m.get("stages")
    if not stages:
        return no_data("the manifest lists no stages")
    read = (m.get("records") or {}).get("read", 0)
    dead = (m.get("records") or {}).get("dead_lettered", 0)
    drops = [
        (n, str(s.get("stage", "?")), str(reason))
        for s in stages
        for reason, n in (s.get("dropped") or {}).items()
        if n
    ]
    drops.sort(key=lambda d: (-d[0], d[1], d[2]))
    if not drops and not dead:
        return key_paragraph("No document was dropped and nothing was dead-lettered.")
    bars = [
        Bar(
            f"{stage} / {reason}",
            [(n, DROPPED, f"{stage}/{reason}: {thousands(n)}")],
            f"{thousands(n)} ({percent(n, read)} of read)",
        )
        for n, stage, reason in drops
    ]
    if dead:
        bars.append(
            Bar(
                "read / dead-lettered",
                [(dead, DEAD, "unreadable input")],
                f"{thousands(dead)} ({percent(dead, read)} of read)",
            )
        )
    total = sum(d[0] for d in drops)
    top = drops[0] if drops else None
    text = key_paragraph(
        f"{thousands(total)} documents dropped for {len(drops)} reasons ({percent(total, read)} of "
        f"{thousands(read)} records read)"
        + (
            f"; the largest is {escape(top[1])} / {escape(top[2])} with {thousands(top[0])} "
            f"({percent(top[0], total)} of drops)"
            if top
            else ""
        )
        + (f"; {thousands(dead)} more records were unreadable (dead_letter/)." if dead else ".")
    )
    by_source = _drops_by_source(m)
    sources = _sources(run)
    rows = [
        (
            stage,
            reason,
            thousands(n),
            percent(n, read),
            *(thousands(by_source[(stage, reason)].get(s, 0)) for s in sources),
        )
        for n, stage, reason in drops
    ]
    numeric = tuple(range(2, 4 + len(sources)))
    return (
        text
        + bar_chart(bars, title="Drop reasons, largest first", x_label="documents dropped")
        + data_table(["stage", "reason", "dropped", "% of read", *sources], rows, numeric)
    )


SECTION = Section("drops", "Drop reasons", render)
