"""`report.html` for a finished curate run: one self-contained page to judge the data by.

`write_report(output_dir, stage_sections)` reads the run's `manifest.json` and a capped sample
of `documents/` and `rejected/`, and writes `output_dir/report.html`, on any Beam filesystem
(local, gs://, s3://). `build_report(manifest, documents, rejected, stage_sections=...)` is
the pure part: it returns the page as a string. The page opens with the run-level sections
(headline, funnel, drops, lengths); the stage sections follow in the order given, which is
the stage registry's (`pipelines.stages.REGISTRY.report_sections()`). Plots are inline SVG
drawn here; the page loads nothing (no scripts, styles, fonts or images from elsewhere).

    python -m pipelines.report OUTPUT_DIR [--max_rows N]

Counts that come from the manifest are exact. Per-document figures (languages, lengths, PII,
toxicity) come from the tables; `write_report` reads at most `max_rows` rows of each (whole
row groups, chosen by a stable hash of file name and row-group number; documents are
assigned to shards by a hash of their id, so whole shards are a random sample) and scales
those figures to the full run, which the page says where it happens.

This package does not import `pipelines.stages`: the registry imports the stage sections.
"""

from pipelines.report.page import REPORT_FILE, RUN_SECTIONS, build_report, write_report
from pipelines.report.sampling import DEFAULT_MAX_ROWS, Sample, read_sample
from pipelines.report.section import ReportRun, Section

__all__ = [
    "DEFAULT_MAX_ROWS",
    "REPORT_FILE",
    "RUN_SECTIONS",
    "ReportRun",
    "Sample",
    "Section",
    "build_report",
    "read_sample",
    "write_report",
]
