"""Shared test helpers: the real fixtures under ../shared/fixtures and small input files."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
import zstandard

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


@pytest.fixture(autouse=True, scope="session")
def _no_prism():
    """TestPipeline's DirectRunner would first try Prism, whose binary it downloads at run
    time; refusing it at once makes Beam fall back to its in-process runner, as the
    pipelines themselves do (pipelines/local_runner.py)."""
    from apache_beam.runners.portability import prism_runner

    def refuse(self, pipeline, options):
        raise RuntimeError("Prism is not used in tests: it downloads a binary at run time")

    original = prism_runner.PrismRunner.run_pipeline
    prism_runner.PrismRunner.run_pipeline = refuse
    yield
    prism_runner.PrismRunner.run_pipeline = original


@pytest.fixture
def fixtures() -> Path:
    """The shared real-data fixtures; skips the test when they are not next to the project."""
    if not FIXTURES.is_dir():
        pytest.skip(f"real-data fixtures not found at {FIXTURES}")
    return FIXTURES


def jsonl_bytes(records: list) -> bytes:
    """JSON lines: dicts are dumped, bytes/str lines are taken as they are."""
    lines = []
    for record in records:
        if isinstance(record, bytes):
            lines.append(record)
        elif isinstance(record, str):
            lines.append(record.encode("utf-8"))
        else:
            lines.append(json.dumps(record).encode("utf-8"))
    return b"\n".join(lines) + b"\n"


def write_input(path: Path, data: bytes) -> str:
    """Write `data` compressed as the file name says (.gz / .zst) and return the path."""
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return os.fspath(path)
