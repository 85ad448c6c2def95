"""`python -m pipelines.report OUTPUT_DIR [--max_rows N] [Beam filesystem flags]`: write
report.html for a finished run, with the stage sections of the stage registry."""

from __future__ import annotations

import argparse
import sys

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import check_known_flags, command_line
from pipelines.report import DEFAULT_MAX_ROWS, write_report
from pipelines.stages import REGISTRY


@command_line
def main(argv: list[str] | None = None) -> int:
    """Write the report and print its path. Flags other than ours go to Beam's filesystems
    (e.g. `--s3_endpoint_url` for an output on s3://); one Beam does not know either is a
    one-line error (exit 2)."""
    parser = argparse.ArgumentParser(description="Write report.html for a finished curate run.")
    parser.add_argument("output_dir", help="the run's --output directory (local, gs://, s3://)")
    parser.add_argument(
        "--max_rows", type=int, default=DEFAULT_MAX_ROWS, help="rows read per table"
    )
    args, beam_flags = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    check_known_flags(beam_flags, own=tuple(o for a in parser._actions for o in a.option_strings))
    FileSystems.set_options(PipelineOptions(beam_flags))
    print(write_report(args.output_dir, REGISTRY.report_sections(), args.max_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
