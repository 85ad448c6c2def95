"""Source code records in The Stack's layout (Parquet rows or JSON lines) -> Documents.

A record is code when it has no `text` but a `content` (or `code`) string plus a repository
name, path or language. Fields, the first one present wins:
  content:  content, code (bytes are decoded as UTF-8)
  repo:     max_stars_repo_name, repo_name, repository_name, repo
  path:     max_stars_repo_path, path, file_path
  language: lang, language; else from the path's extension (EXTENSION_LANGUAGES)
  licenses: max_stars_repo_licenses, licenses, license, detected_licenses (list or "a, b")
  commit:   max_stars_repo_head_hexsha, commit (not `hexsha`: in The Stack that is the
            hash of the file's blob, not of a commit)

Document: id = the record's `id`, else "REPO:PATH", else file + position; url =
https://github.com/REPO/blob/COMMIT/PATH (HEAD without a commit), which is where the
repository name and path stay on the document; lang = the programming language in lower
case as The Stack names it ("python", "c++"); sub_source = a `source` field, if any.

Checks, in this order, each a Rejected with its reason (see `reasons.py`):
  license   a listed license is not on `code_license_allowlist`, or none is listed
  vendored  the path matches `code_vendored_patterns` (node_modules/, third_party/, ...)
  binary    a NUL in the first `code_binary_scan_chars` characters, or bytes not UTF-8
  minified  the name matches `code_minified_patterns` (x.min.js), or a file in one of
            `code_minified_languages` has a mean line length above
            `code_minified_mean_line_length`
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Mapping

from schemas.document import Document, Rejected
from transforms.readers import reasons
from transforms.readers.config import ReaderConfig
from transforms.readers.files import InputFile

TEXT_FIELDS = ("content", "code")
REPO_FIELDS = ("max_stars_repo_name", "repo_name", "repository_name", "repo")
PATH_FIELDS = ("max_stars_repo_path", "path", "file_path")
LANG_FIELDS = ("lang", "language")
LICENSE_FIELDS = ("max_stars_repo_licenses", "licenses", "license", "detected_licenses")
COMMIT_FIELDS = ("max_stars_repo_head_hexsha", "commit")
# Every field a code record is read from (Parquet reads only these columns).
FIELDS = (
    ("id", "source")
    + TEXT_FIELDS
    + REPO_FIELDS
    + PATH_FIELDS
    + LANG_FIELDS
    + LICENSE_FIELDS
    + COMMIT_FIELDS
)

# Language names as The Stack spells them, lower-cased.
EXTENSION_LANGUAGES = {
    "py": "python",
    "pyi": "python",
    "ipynb": "jupyter notebook",
    "js": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "jsx": "javascript",
    "ts": "typescript",
    "tsx": "typescript",
    "java": "java",
    "kt": "kotlin",
    "kts": "kotlin",
    "scala": "scala",
    "c": "c",
    "h": "c",
    "cc": "c++",
    "cpp": "c++",
    "cxx": "c++",
    "hpp": "c++",
    "hh": "c++",
    "hxx": "c++",
    "cs": "c#",
    "go": "go",
    "rs": "rust",
    "rb": "ruby",
    "php": "php",
    "swift": "swift",
    "m": "objective-c",
    "mm": "objective-c++",
    "r": "r",
    "jl": "julia",
    "lua": "lua",
    "pl": "perl",
    "pm": "perl",
    "sh": "shell",
    "bash": "shell",
    "zsh": "shell",
    "ps1": "powershell",
    "sql": "sql",
    "html": "html",
    "htm": "html",
    "css": "css",
    "scss": "scss",
    "md": "markdown",
    "markdown": "markdown",
    "rst": "restructuredtext",
    "tex": "tex",
    "json": "json",
    "yaml": "yaml",
    "yml": "yaml",
    "toml": "toml",
    "xml": "xml",
    "hs": "haskell",
    "ml": "ocaml",
    "ex": "elixir",
    "exs": "elixir",
    "erl": "erlang",
    "clj": "clojure",
    "dart": "dart",
    "f90": "fortran",
    "f": "fortran",
    "vue": "vue",
    "zig": "zig",
}
_SPECIAL_NAMES = {"makefile": "makefile", "dockerfile": "dockerfile", "cmakelists.txt": "cmake"}


def is_code_record(record: Mapping) -> bool:
    """True for a record in The Stack's layout: content plus a repository, path or language."""
    return _content(record) is not None and any(
        _first(record, names) is not None for names in (REPO_FIELDS, PATH_FIELDS, LANG_FIELDS)
    )


def code_document(
    record: Mapping, file: InputFile, position: int, config: ReaderConfig
) -> Document | Rejected:
    """One code record -> a Document, or Rejected with the first check it fails."""
    doc, path, binary = _mapped(record, file, position)
    reason = rejection(doc, path, _first(record, LICENSE_FIELDS), binary, config)
    return doc if reason is None else Rejected(doc, reasons.READ_STAGE, reason)


def code_fields(record: Mapping, file: InputFile, position: int) -> Document:
    """The Document of a code record without its checks (text: its content, '' if binary)."""
    return _mapped(record, file, position)[0]


def _mapped(record: Mapping, file: InputFile, position: int) -> tuple[Document, str | None, bool]:
    """(Document, repository path, whether the content is bytes that are not UTF-8)."""
    content = _content(record) or ""
    repo = _string(_first(record, REPO_FIELDS))
    path = _string(_first(record, PATH_FIELDS))
    binary = False
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            content, binary = "", True
    own_id = record.get("id")
    if isinstance(own_id, str | int) and not isinstance(own_id, bool) and own_id != "":
        doc_id = str(own_id)
    elif repo and path:
        doc_id = f"{repo}:{path}"
    else:
        doc_id = file.record_id(position)
    doc = Document(
        id=doc_id,
        text=content,
        source=file.source,
        source_file=file.path,
        url=github_url(repo, path, _string(_first(record, COMMIT_FIELDS))),
        lang=language(_string(_first(record, LANG_FIELDS)), path),
        sub_source=_string(record.get("source")),
    )
    return doc, path, binary


def rejection(
    doc: Document, path: str | None, licenses, binary: bool, config: ReaderConfig
) -> str | None:
    """The reason the first failing check gives, or None if the file is kept."""
    allowed = config.code_license_allowlist
    if allowed is not None:
        names = _licenses(licenses)
        if not names or not _lowered(allowed).issuperset(n.lower() for n in names):
            return reasons.LICENSE
    if path and _matches(config.code_vendored_patterns, path):
        return reasons.VENDORED
    if binary or "\x00" in doc.text[: config.code_binary_scan_chars]:
        return reasons.BINARY
    if path and _matches(config.code_minified_patterns, path):
        return reasons.MINIFIED
    mean_allowed = config.code_minified_mean_line_length
    if mean_allowed is not None and doc.lang in config.code_minified_languages and doc.text:
        lines = doc.text.count("\n") + (not doc.text.endswith("\n"))
        if len(doc.text) / lines > mean_allowed:
            return reasons.MINIFIED
    return None


def github_url(repo: str | None, path: str | None, commit: str | None) -> str | None:
    """The file's GitHub URL (None without a repository and a path)."""
    if not (repo and path):
        return None
    quoted = urllib.parse.quote(path.lstrip("/"), safe="/")
    return f"https://github.com/{repo}/blob/{commit or 'HEAD'}/{quoted}"


def language(declared: str | None, path: str | None) -> str | None:
    """The language column lower-cased, else the language of the path's file extension."""
    if declared and declared.strip():
        return declared.strip().lower()
    if not path:
        return None
    name = path.rsplit("/", 1)[-1].lower()
    if name in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[name]
    if "." not in name:
        return None
    return EXTENSION_LANGUAGES.get(name.rsplit(".", 1)[-1])


def _content(record: Mapping) -> str | bytes | None:
    for name in TEXT_FIELDS:
        if isinstance(value := record.get(name), str | bytes):
            return value
    return None


def _first(record: Mapping, names: tuple[str, ...]):
    for name in names:
        value = record.get(name)
        if value not in (None, "", []):
            return value
    return None


def _string(value) -> str | None:
    return None if value is None else str(value)


def _licenses(value) -> list[str]:
    """A license field (a list, or a string with commas) -> license ids."""
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list | tuple):
        parts = value
    else:
        parts = [] if value is None else [value]
    return [str(part).strip() for part in parts if part is not None and str(part).strip()]


@functools.lru_cache(maxsize=32)
def _lowered(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(v.lower() for v in values)


@functools.lru_cache(maxsize=32)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def _matches(patterns: tuple[str, ...], path: str) -> bool:
    regex = _compiled(patterns)
    return regex is not None and regex.search(path) is not None
