"""Dependencies run one way: schemas <- tokenizer <- transforms <- pipelines. A module never
imports from a package above its own, not even inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("schemas", "tokenizer", "transforms", "pipelines")
MAX_LINES = 600  # a module past this wants splitting


def _library_modules() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


@pytest.mark.parametrize("path", _library_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_from_a_higher_package(path):
    own = LAYERS.index(path.relative_to(ROOT).parts[0])
    higher = sorted(p for p in _imported_packages(path) if LAYERS.index(p) > own)
    assert not higher, f"{path.relative_to(ROOT)} imports {higher}, above {LAYERS[own]}"


def test_no_library_module_is_over_about_600_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _library_modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long
