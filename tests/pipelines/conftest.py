"""Fixtures shared by the engine tests: one reference run per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipelines.engines import reference_outputs, write_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[list[str], Path]:
    return write_corpus(tmp_path_factory.mktemp("engines"))


@pytest.fixture(scope="session")
def reference(corpus) -> dict[str, str]:
    return reference_outputs(*corpus)
