"""Near-duplicate removal: near_dedup drops per source, and cluster sizes."""

from __future__ import annotations

from collections import Counter, defaultdict

from pipelines.report.charts import ACCENT, Bar, bar_chart
from pipelines.report.html import (
    data_table,
    escape,
    key_paragraph,
    no_data,
    note,
    percent,
    thousands,
)
from pipelines.report.section import ReportRun, Section
from transforms.near_dedup.config import NearDedupConfig
from transforms.near_dedup.transform import DROP_NEAR_DUP
from transforms.near_dedup.transform import STAGE as NEAR_DEDUP_STAGE


def render(run: ReportRun) -> str:
    """near_dedup drops per source against the documents reaching the stage -> HTML."""
    m = run.manifest
    names = [str(s.get("stage")) for s in m.get("stages") or []]
    settings = {"threshold": NearDedupConfig().threshold, "num_perm": NearDedupConfig().num_perm}
    settings.update(
        {k: v for k, v in run.stage_settings(NEAR_DEDUP_STAGE).items() if k in settings}
    )
    if NEAR_DEDUP_STAGE not in names:
        return no_data("no near_dedup stage in this run")
    earlier = set(names[: names.index(NEAR_DEDUP_STAGE)])
    reached, near, exact = defaultdict(int), defaultdict(int), defaultdict(int)
    for entry in m.get("inputs") or []:
        source = entry.get("source", "?")
        drops = entry.get("dropped") or {}
        before = sum(n for k, n in drops.items() if k.partition("/")[0] in earlier)
        reached[source] += entry.get("read", 0) - entry.get("dead_lettered", 0) - before
        near[source] += sum(n for k, n in drops.items() if k.partition("/")[0] == NEAR_DEDUP_STAGE)
        exact[source] += sum(n for k, n in drops.items() if k.startswith("exact_dedup/"))
    stage = m["stages"][names.index(NEAR_DEDUP_STAGE)]
    total = sum((stage.get("dropped") or {}).values())
    text = key_paragraph(
        f"{thousands(total)} of {thousands(stage.get('in', 0))} documents "
        f"({percent(total, stage.get('in', 0))}) "
        f"reaching near-dedup were dropped as near duplicates ({escape(DROP_NEAR_DUP)}; MinHash "
        f"LSH at Jaccard ≥ {escape(settings['threshold'])}, {escape(settings['num_perm'])} "
        "permutations), after exact dedup removed "
        f"{thousands(sum(exact.values()))}."
    )
    if not reached:
        return text + no_data("the manifest has no per-input counts") + _cluster_sizes(run)
    sources = sorted(reached, key=lambda s: (-near[s], s))
    bars = [
        Bar(
            s,
            [(near[s], run.color(s), f"{s}: {thousands(near[s])} near duplicates")],
            f"{thousands(near[s])} ({percent(near[s], reached[s])} of {thousands(reached[s])})",
        )
        for s in sources
    ]
    rows = [
        (
            s,
            thousands(reached[s]),
            thousands(exact[s]),
            thousands(near[s]),
            percent(near[s], reached[s]),
        )
        for s in sources
    ]
    return (
        text
        + bar_chart(
            bars,
            title="Near duplicates dropped per source",
            x_label="documents dropped as near duplicates",
        )
        + data_table(
            ["source", "reaching near_dedup", "exact_dup (before)", "near_dup", "near_dup rate"],
            rows,
            (1, 2, 3, 4),
        )
        + _cluster_sizes(run)
    )


# Cluster sizes (documents per near-duplicate cluster, its survivor included) as chart rows.
CLUSTER_SIZE_BUCKETS = ((2, 2), (3, 3), (4, 5), (6, 10), (11, 100), (101, None))


def _cluster_sizes(run: ReportRun) -> str:
    """Near-duplicate clusters that lost documents, by size, from the `duplicate_of` of the
    rejected near_dup rows (each names its cluster's survivor) -> HTML."""
    rej = run.rejected
    if rej is None:
        return no_data("cluster sizes need rejected/ (written unless --write_rejected=false)")
    mask = (rej.reason == DROP_NEAR_DUP) & (rej.duplicate_of != "(none)")
    drops = Counter(rej.duplicate_of[mask].tolist())
    if not drops:
        return no_data("no rejected near_dup rows name their survivor")
    sizes = Counter(n + 1 for n in drops.values())
    bars = []
    for low, high in CLUSTER_SIZE_BUCKETS:
        clusters = sum(c for n, c in sizes.items() if n >= low and (high is None or n <= high))
        label = str(low) if low == high else f"{low}+" if high is None else f"{low}-{high}"
        bars.append(Bar(label, [(clusters, ACCENT, f"{label}: {clusters}")], thousands(clusters)))
    largest = drops.most_common(5)
    clusters = "cluster" if len(drops) == 1 else "clusters"
    text = key_paragraph(
        f"{thousands(len(drops))} near-duplicate {clusters} lost documents: each keeps one "
        "survivor "
        f"and drops the rest. The largest holds {thousands(largest[0][1] + 1)} documents."
    )
    sampled = ""
    if rej.sample is not None and not rej.sample.complete:
        sampled = note(
            f"From {thousands(rej.sample.rows)} of {thousands(rej.sample.total_rows)} rejected "
            "rows: "
            "clusters and their sizes are at least these."
        )
    return (
        "<h3>Cluster sizes</h3>"
        + text
        + sampled
        + bar_chart(bars, title="Clusters by size", x_label="near-duplicate clusters")
        + data_table(
            ["survivor (documents/ id)", "documents in its cluster"],
            [(survivor, thousands(n + 1)) for survivor, n in largest],
            (1,),
        )
    )


SECTION = Section("near-dedup", "Near-duplicate removal", render)
