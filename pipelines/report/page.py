"""The report page: the run-level sections, then the stage sections it is given, as one
self-contained HTML document (inline SVG, no scripts, nothing loaded from elsewhere).
`write_report` reads a run and writes its page through Beam's FileSystems."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.report.html import escape, note, percent, section_html, thousands
from pipelines.report.sampling import DEFAULT_MAX_ROWS, Sample, read_sample
from pipelines.report.section import ReportRun, Section
from pipelines.report.sections import drops, funnel, headline, lengths

REPORT_FILE = "report.html"
MANIFEST_FILE = "manifest.json"
# The page opens with these, in this order; the stage sections it is given follow.
RUN_SECTIONS = (headline.SECTION, funnel.SECTION, drops.SECTION, lengths.SECTION)

CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d0d7de;--card:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}
main{max-width:1000px;margin:0 auto;padding:24px 20px 64px}
h1{font-size:24px;margin:0 0 2px}h2{font-size:19px;margin:0 0 6px}
h3{font-size:15px;margin:16px 0 4px}
.sub{color:var(--muted);margin:0 0 10px}
nav{font-size:13px;margin:8px 0 4px}nav a{margin-right:14px;color:#0969da;text-decoration:none}
section{border-top:1px solid var(--line);padding:18px 0 14px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:10px;margin:4px 0 10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 12px}
.card .k{color:var(--muted);font-size:11px;text-transform:uppercase;letter-spacing:.05em}
.card .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.card .s{color:var(--muted);font-size:12px}
.card.bad{border-color:#cf222e;background:#ffebe9}
.ok{color:#1a7f37}.bad{color:#cf222e}
p{margin:6px 0}.note{color:var(--muted);font-size:13px}.nodata{color:var(--muted);font-style:italic}
table{border-collapse:collapse;font-size:13px;margin:10px 0;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
th{border-bottom:1px solid var(--line);font-weight:600}.n{text-align:right}
td{word-break:break-all}td.n{word-break:normal;white-space:nowrap}
pre{background:var(--card);border:1px solid var(--line);padding:8px;font-size:12px;overflow:auto;
max-height:260px}
code{font-size:12.5px}
svg{display:block;max-width:100%;height:auto;margin:6px 0}
svg text{font-size:12px;fill:#1f2328}
svg .tick{fill:var(--muted);font-size:11px}svg .value{fill:#1f2328}
svg .axis-label{fill:var(--muted);font-size:12px}svg .panel-title{font-weight:600;font-size:13px}
svg .grid{stroke:#eaeef2}svg .axis{stroke:#8c959f}
svg .marker{stroke:#cf222e;stroke-width:1.5;stroke-dasharray:5 3}
svg .marker-label{fill:#cf222e;font-size:11px}
.legend{font-size:12px;color:var(--muted);margin:8px 0 0}
.legend span{margin-right:16px;white-space:nowrap}
.legend i{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px;
border-radius:2px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:0 20px}
"""


def build_report(
    manifest: dict | None,
    documents: pa.Table | None,
    rejected: pa.Table | None,
    *,
    samples: dict[str, Sample] | None = None,
    stage_sections: Sequence[Section] = (),
) -> str:
    """A run's manifest and its documents / rejected tables (DOCUMENT_SCHEMA /
    REJECTED_SCHEMA, or `read_sample` output; None when absent) -> the report page (HTML).

    The page holds RUN_SECTIONS, then `stage_sections` in the order given. `samples`
    ({"documents": Sample, "rejected": Sample}) says how much of each table was read; without
    it the tables are taken as complete.
    """
    run = ReportRun.from_tables(manifest, documents, rejected, samples)
    sections = (*RUN_SECTIONS, *stage_sections)
    output = (run.manifest.get("config") or {}).get("output", "")
    body = [section_html(s.anchor, s.title, s.render(run)) for s in sections]
    nav = "".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in sections)
    reading = []
    for name, rows in (("documents/", run.docs), ("rejected/", run.rejected)):
        if rows is None:
            reading.append(f"{name}: not present")
        elif rows.sample is not None and not rows.sample.complete:
            s = rows.sample
            reading.append(
                f"{name}: {thousands(s.rows)} of {thousands(s.total_rows)} rows "
                f"({percent(s.rows, s.total_rows)}; "
                f"{s.row_groups} of {s.total_row_groups} row groups chosen by a stable hash)"
            )
        else:
            reading.append(f"{name}: all {thousands(rows.n)} rows")
    intro = note(
        "Counts from manifest.json are exact. Per-document figures (languages, lengths, PII, "
        "toxicity) are computed from the tables: " + escape("; ".join(reading)) + "."
    )
    return html_page("Curate run report", output, f"<nav>{nav}</nav>{intro}{''.join(body)}")


def html_page(title: str, subtitle: str, body: str) -> str:
    """A whole self-contained page in the report's style: title, subtitle, body HTML."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}: {escape(subtitle)}</title><style>{CSS}</style></head>"
        f'<body><main><h1>{escape(title)}</h1><p class="sub">{escape(subtitle)}</p>'
        f"{body}</main></body></html>\n"
    )


def write_report(
    output_dir: str, stage_sections: Sequence[Section] = (), max_rows: int = DEFAULT_MAX_ROWS
) -> str:
    """A finished run's directory (local, gs://, s3://: any Beam filesystem) -> the path of
    the `report.html` written into it, with `stage_sections` after the run-level ones.

    Reads `manifest.json` (required) and up to `max_rows` rows of `documents/` and
    `rejected/` (either may be absent). The page is written under a temporary name and
    renamed, so a reader never sees half of it.
    """
    with FileSystems.open(
        FileSystems.join(output_dir, MANIFEST_FILE),
        compression_type=CompressionTypes.UNCOMPRESSED,
    ) as f:
        manifest = json.loads(f.read())
    columns = ["source", "lang", "text", "scores"]
    documents, doc_sample = read_sample(
        FileSystems.join(output_dir, "documents"), columns, max_rows
    )
    rejected_columns = [*columns, "stage", "reason", "duplicate_of"]
    rejected, rej_sample = read_sample(
        FileSystems.join(output_dir, "rejected"), rejected_columns, max_rows
    )
    samples = {
        name: sample
        for name, sample in (("documents", doc_sample), ("rejected", rej_sample))
        if sample is not None
    }
    page = build_report(
        manifest, documents, rejected, samples=samples, stage_sections=stage_sections
    )
    path = FileSystems.join(output_dir, REPORT_FILE)
    temporary = path + ".tmp"
    with FileSystems.create(temporary, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(page.encode("utf-8"))
    FileSystems.rename([temporary], [path])
    return path
