"""Live progress of local runs: the readers' running totals and the reporter that prints
them."""

import io
import time

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline

from tests.conftest import jsonl_bytes, write_input
from transforms.progress import LOCAL_PROGRESS, Progress, ProgressReporter, progress_line
from transforms.readers import ReadInputs


def test_readers_add_to_the_local_totals(tmp_path):
    path = write_input(
        tmp_path / "a.jsonl.gz", jsonl_bytes([{"text": "héllo"}, {"text": "ok"}, "{broken"])
    )
    LOCAL_PROGRESS.reset()
    with TestPipeline() as p:
        _ = p | ReadInputs([("web", path)]) | beam.Map(lambda x: x)
    assert LOCAL_PROGRESS.snapshot() == (3, len("héllo".encode()) + 2, 1)


def test_the_reporter_prints_while_the_block_runs():
    progress, stream = Progress(), io.StringIO()
    with ProgressReporter(progress, stream=stream, interval=0.02):
        progress.add(records=10, text_bytes=2_000_000, files=1)
        time.sleep(0.2)
    lines = stream.getvalue().splitlines()
    assert lines and lines[-1].startswith("read 10 records from 1 files, 2.0 MB of text")
    assert "\r" not in stream.getvalue()  # not a terminal: whole lines for a log


def test_progress_line():
    assert progress_line(1234, 5_000_000, 2, 2.0) == (
        "read 1,234 records from 2 files, 5.0 MB of text (2.5 MB/s), 2 s elapsed"
    )
