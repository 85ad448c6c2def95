"""Fixtures of the report tests: one small finished run, shared, and a clean memfs://."""

import pytest

from pipelines.report import write_report
from tests.pipelines.report import memory_filesystem
from tests.pipelines.report.data import STAGE_SECTIONS

SMALL_RUN = ["--vocab_size=1500", "--seq_len=128"]


@pytest.fixture(scope="package")
def small_run(tmp_path_factory):
    """A curate run of a tenth of the sample corpus -> (output directory, manifest)."""
    from pipelines.curate import run
    from pipelines.sample_corpus import write_sample_corpus

    corpus = tmp_path_factory.mktemp("corpus")
    out = tmp_path_factory.mktemp("run")
    inputs = write_sample_corpus(str(corpus), scale=0.1)
    manifest = run([*SMALL_RUN, f"--output={out}", *(f"--input={spec}" for spec in inputs)])
    return out, manifest


@pytest.fixture(scope="package")
def small_report(small_run):
    """The path of the small run's report.html, with every stage section."""
    out, _ = small_run
    return write_report(str(out), STAGE_SECTIONS)


@pytest.fixture
def memfs():
    """The in-memory filesystem, emptied after the test."""
    yield memory_filesystem
    memory_filesystem.FILES.clear()
    memory_filesystem.BYTES_READ.clear()
