"""Shared test helpers: the real-data fixtures (one place finds them) and small input files."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
import zstandard

from tests.fixtures import DEFAULT_DEST, missing_files

# Where the real-data fixtures are looked for: CURATE_FIXTURES when set (and then only
# there); else ../shared/fixtures beside the project (CI), then the folder that
# `python -m tests.fixtures fetch` fills.
FIXTURES_ENV = "CURATE_FIXTURES"
SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
FETCHED_FIXTURES = DEFAULT_DEST
NOT_FOUND = "real-data fixtures not found"
FETCH_COMMAND = "python -m tests.fixtures fetch"


def fixture_dirs() -> list[Path]:
    """The folders searched for the fixtures, in order."""
    if os.environ.get(FIXTURES_ENV):
        return [Path(os.environ[FIXTURES_ENV])]
    return [SHARED_FIXTURES, FETCHED_FIXTURES]


def find_fixtures() -> Path | None:
    """The first folder of `fixture_dirs()` that holds every fixture file, or None."""
    for directory in fixture_dirs():
        if directory.is_dir() and not missing_files(directory):
            return directory
    return None


def _not_found_where() -> str:
    return " or ".join(str(d) for d in fixture_dirs())


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


def _skip_without_fixtures() -> None:
    pytest.skip(f"{NOT_FOUND} at {_not_found_where()}")


# Where those skips are reported: here, once, instead of at each test (pytest's default for
# a skip in a fixture), so that `-ra` folds them into one line.
_SKIP_LOCATION = (__file__, _skip_without_fixtures.__code__.co_firstlineno + 1)


def _skipped_for_want_of_fixtures(report) -> bool:
    return (
        report.skipped
        and isinstance(report.longrepr, tuple)
        and NOT_FOUND in str(report.longrepr[2])
    )


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The real-data fixtures folder (see `find_fixtures`); every test that reads them asks
    for this, and is skipped with one reason when they are not there."""
    directory = find_fixtures()
    if directory is None:
        _skip_without_fixtures()
    return directory


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if _skipped_for_want_of_fixtures(report):
        report.longrepr = (*_SKIP_LOCATION, report.longrepr[2])
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter):
    """After pytest's own summary: how many tests the missing fixtures skipped, and how to
    get them."""
    yield
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if _skipped_for_want_of_fixtures(report)
    ]
    if skipped:
        tests = "test" if len(skipped) == 1 else "tests"
        terminalreporter.write_line(
            f"{len(skipped)} {tests} skipped: {NOT_FOUND} at {_not_found_where()}; "
            f"run `{FETCH_COMMAND}` to download them into {FETCHED_FIXTURES} "
            f"(or set {FIXTURES_ENV} to a folder holding them)"
        )


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
