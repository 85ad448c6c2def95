"""The Stack-style code records, as Parquet and as JSON lines: fields, language, checks."""

from __future__ import annotations

import collections
import json
import os

import pytest

from schemas.document import DeadLetter, Document, Rejected
from transforms.readers import read_file, reasons
from transforms.readers.code import code_document, github_url, is_code_record, language
from transforms.readers.config import DEFAULT_CONFIG, ReaderConfig
from transforms.readers.files import InputFile

pa = pytest.importorskip("pyarrow", reason="pyarrow is needed for the Parquet code tests")
pq = pytest.importorskip("pyarrow.parquet")


def _row(content, repo, path, lang, licenses, **extra):
    """A row in The Stack's layout, plus columns the reader does not use."""
    return {
        "hexsha": "0" * 40,  # the blob's hash: not a commit, never put in the URL
        "size": len(content),
        "ext": path.rsplit(".", 1)[-1],
        "content": content,
        "max_stars_repo_name": repo,
        "max_stars_repo_path": path,
        "max_stars_repo_head_hexsha": "c0ffee",
        "lang": lang,
        "licenses": licenses,
        "max_stars_count": 7,
        "avg_line_length": 12.5,
        **extra,
    }


# (row, expected outcome: "kept" or the drop reason)
ROWS = [
    (_row("def f():\n    return 1\n", "octo/app", "src/app.py", "Python", ["MIT"]), "kept"),
    # No language column: from the extension.
    (_row("fn main() {}\n", "octo/rs", "src/main.rs", None, ["Apache-2.0", "mit"]), "kept"),
    # Long lines in a data format are not minification; the quality stage judges them.
    (_row('{"k": "' + "x" * 5000 + '"}\n', "octo/data", "d/big.json", "JSON", ["MIT"]), "kept"),
    (_row("int main(){}\n", "gnu/c", "main.c", "C", ["GPL-3.0"]), reasons.LICENSE),
    (_row("int x;\n", "nobody/c", "x.c", "C", []), reasons.LICENSE),
    (_row("mod.exports=1;\n", "o/w", "node_modules/lp/i.js", "JavaScript", ["MIT"]), "vendored"),
    (_row("int y;\n", "o/z", "src/third_party/zlib/inflate.c", "C", ["Zlib"]), "vendored"),
    (_row("PK\x03\x04\x00\x00\x00", "o/bin", "assets/blob.py", "Python", ["MIT"]), "binary"),
    (_row("var a=1;\n", "o/web", "dist/app.min.js", "JavaScript", ["MIT"]), reasons.MINIFIED),
    (_row("var a=1;" * 500 + "\n", "o/web", "dist/bundle.js", None, ["MIT"]), reasons.MINIFIED),
]
KEPT_LANGS = ["python", "rust", "json"]


def _outcome(record) -> str:
    if isinstance(record, Rejected):
        return record.reason
    assert isinstance(record, Document), record
    return "kept"


def _doc(record) -> Document:
    return record.doc if isinstance(record, Rejected) else record


def _read(path: str, config: ReaderConfig = DEFAULT_CONFIG) -> list:
    file = InputFile("code", path, os.path.basename(path), os.path.getsize(path))
    return list(read_file(file, config))


@pytest.fixture
def stack_files(tmp_path):
    """The same rows as The Stack-style Parquet and as JSON lines."""
    rows = [row for row, _ in ROWS]
    parquet = tmp_path / "the-stack-00000.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet, row_group_size=4)
    jsonl = tmp_path / "the-stack-00000.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(parquet), str(jsonl)


def test_parquet_and_json_lines_give_the_same_documents_and_drops(stack_files):
    parquet, jsonl = stack_files
    expected = [outcome for _, outcome in ROWS]
    from_parquet, from_jsonl = _read(parquet), _read(jsonl)
    assert [_outcome(r) for r in from_parquet] == expected
    assert [_outcome(r) for r in from_jsonl] == expected
    # Same fields either way, apart from the file they came from.
    for a, b in zip(from_parquet, from_jsonl, strict=True):
        a, b = _doc(a), _doc(b)
        assert (a.id, a.url, a.lang, a.text) == (b.id, b.url, b.lang, b.text)
    counts = collections.Counter(_outcome(r) for r in from_parquet)
    assert counts == {"kept": 3, "license": 2, "vendored": 2, "binary": 1, "minified": 2}


def test_repository_and_path_are_kept_in_the_id_and_url(stack_files):
    parquet, _ = stack_files
    docs = [r for r in _read(parquet) if isinstance(r, Document)]
    assert [d.lang for d in docs] == KEPT_LANGS
    first = docs[0]
    assert first.id == "octo/app:src/app.py"
    assert first.url == "https://github.com/octo/app/blob/c0ffee/src/app.py"
    assert (first.source, first.source_file) == ("code", parquet)
    assert first.text == "def f():\n    return 1\n"


def test_license_allow_list_is_configurable_and_none_disables_it(stack_files):
    parquet, _ = stack_files
    gpl_only = ReaderConfig(code_license_allowlist=("gpl-3.0",))
    kept = [r.id for r in _read(parquet, gpl_only) if isinstance(r, Document)]
    assert kept == ["gnu/c:main.c"]
    no_check = [_outcome(r) for r in _read(parquet, ReaderConfig(code_license_allowlist=None))]
    assert no_check.count("license") == 0 and no_check.count("kept") == 5


def test_other_checks_can_be_switched_off(stack_files):
    parquet, _ = stack_files
    config = ReaderConfig(
        code_vendored_patterns=(),
        code_minified_patterns=(),
        code_minified_mean_line_length=None,
    )
    counts = collections.Counter(_outcome(r) for r in _read(parquet, config))
    assert counts == {"kept": 7, "license": 2, "binary": 1}


def test_undecodable_bytes_are_binary(tmp_path):
    table = pa.table(
        {
            "content": [b"\xff\xfe\x00\x01 not utf-8", b"print('ok')\n"],
            "max_stars_repo_path": ["a.py", "b.py"],
            "max_stars_repo_licenses": [["MIT"], ["MIT"]],
        }
    )
    path = tmp_path / "bytes.parquet"
    pq.write_table(table, path)
    bad, good = _read(str(path))
    assert isinstance(bad, Rejected) and bad.reason == reasons.BINARY
    assert isinstance(good, Document) and good.text == "print('ok')\n" and good.lang == "python"
    # Without a repository the id falls back to file + row, and there is no URL.
    assert good.id == "code:bytes.parquet:2" and good.url is None


def test_own_id_license_string_and_row_without_content(tmp_path):
    path = tmp_path / "code.jsonl"
    rows = [
        {"id": "blob-1", "content": "x = 1\n", "path": "a.py", "license": "MIT, BSD-3-Clause"},
        {"content": "y = 2\n", "path": "b.py", "license": "MIT, GPL-2.0"},
        {"path": "c.py", "license": "MIT"},  # no content: not code, no text: dead
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kept, dropped, dead = _read(str(path))
    assert isinstance(kept, Document) and kept.id == "blob-1"
    assert isinstance(dropped, Rejected) and dropped.reason == reasons.LICENSE
    assert isinstance(dead, DeadLetter) and "no 'text' field" in dead.error


def test_language_from_column_or_extension():
    assert language("C++", "x.py") == "c++"
    assert language(None, "lib/x.PY") == "python"
    assert language("", "src/app.tsx") == "typescript"
    assert language(None, "build/Makefile") == "makefile"
    assert language(None, "README") is None and language(None, "a.unknownext") is None
    assert language(None, None) is None


def test_github_url_quotes_the_path():
    assert github_url("o/r", "docs/my file#1.md", None) == (
        "https://github.com/o/r/blob/HEAD/docs/my%20file%231.md"
    )
    assert github_url(None, "a.py", "c0ffee") is None


def test_what_counts_as_a_code_record():
    assert is_code_record({"content": "x", "max_stars_repo_path": "a.py"})
    assert is_code_record({"content": b"x", "lang": "Python"})
    assert not is_code_record({"content": "x"})  # nothing says it is code
    assert not is_code_record({"content": 3, "path": "a.py"})


def test_checks_run_in_order_license_first():
    file = InputFile("code", "/d/x.jsonl", "x.jsonl", 1)
    record = {"content": "\x00", "path": "node_modules/x.min.js", "licenses": ["GPL-3.0"]}
    config = ReaderConfig()
    assert code_document(record, file, 1, config).reason == reasons.LICENSE
    record["licenses"] = ["MIT"]
    assert code_document(record, file, 1, config).reason == reasons.VENDORED
    record["path"] = "x.min.js"
    assert code_document(record, file, 1, config).reason == reasons.BINARY
    record["content"] = "a"
    assert code_document(record, file, 1, config).reason == reasons.MINIFIED
