"""Normalize text: Unicode NFC, control characters removed, whitespace made regular.

Runs first so every later stage (hashing, rules, tokenization) sees one canonical form.
Prose (`normalize_text`) also has its spacing made regular. Source code
(`normalize_code`, documents of the code sources) keeps its indentation, tabs, space runs
and blank lines, which carry meaning in code; only line endings, invisible characters and
trailing spaces change.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Mapping

from transforms.settings import DEFAULT_CODE_SOURCES, config_from_dict
from transforms.stage import ApplyStep, DocumentStep, Drop, Stage

STAGE = "normalize"
DROP_EMPTY = "empty"


def _build_translation() -> dict[int, int | None]:
    table: dict[int, int | None] = {}
    for cp in list(range(0x00, 0x20)) + list(range(0x7F, 0xA0)):
        table[cp] = None  # C0 and C1 controls
    table[ord("\t")] = ord(" ")
    table[ord("\n")] = ord("\n")
    table[ord("\r")] = ord("\n")
    for cp in (0x0B, 0x0C, 0x85, 0x2028, 0x2029):  # vertical tab, form feed, NEL, LS, PS
        table[cp] = ord("\n")
    for cp in range(0xD800, 0xE000):
        table[cp] = None  # lone surrogates (JSON "\ud800") cannot be encoded as UTF-8
    for cp in (0xFEFF, 0x200B, 0xFFFE, 0xFFFF, 0xFFFD):
        table[cp] = None  # BOM, zero-width space, noncharacters, replacement character
    for cp in (0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000):
        table[cp] = ord(" ")  # Unicode spaces
    return table


_TRANSLATION = _build_translation()
_NEEDS_TRANSLATION = re.compile(
    "[" + "".join(re.escape(chr(cp)) for cp in sorted(_TRANSLATION) if cp != ord("\n")) + "]"
)
_CODE_TRANSLATION = {**_TRANSLATION, ord("\t"): ord("\t"), 0x0C: ord("\f")}
_CODE_NEEDS_TRANSLATION = re.compile(
    "["
    + "".join(re.escape(chr(cp)) for cp in sorted(_CODE_TRANSLATION) if cp not in (9, 10, 12))
    + "]"
)
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_SPACE_RUNS = re.compile(r" {2,}")
_SPACES_AROUND_NEWLINE = re.compile(r" *\n *")
_BLANK_LINE_RUNS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """NFC; controls, surrogates, BOMs and zero-width spaces removed; tabs and Unicode
    spaces become one space; \\r\\n, \\r and other line separators become \\n; spaces at line
    ends removed; at most one blank line in a row; no leading or trailing whitespace.
    """
    if _NEEDS_TRANSLATION.search(text):
        text = text.replace("\r\n", "\n").translate(_TRANSLATION)
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if "  " in text:
        text = _SPACE_RUNS.sub(" ", text)
    if " \n" in text or "\n " in text:
        text = _SPACES_AROUND_NEWLINE.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_LINE_RUNS.sub("\n\n", text)
    return text.strip()


def normalize_code(text: str) -> str:
    """Source code: NFC; controls (but tab and form feed), surrogates, BOMs and zero-width
    spaces removed; Unicode spaces become a space; \\r\\n and other line separators become
    \\n; spaces and tabs at line ends removed; blank lines at the start and end removed.
    Indentation, runs of spaces and blank lines inside the file are kept.
    """
    if _CODE_NEEDS_TRANSLATION.search(text):
        text = text.replace("\r\n", "\n").translate(_CODE_TRANSLATION)
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if " \n" in text or "\t\n" in text:
        text = _TRAILING_SPACE.sub("\n", text)
    return text.rstrip().lstrip("\n")


@dataclasses.dataclass(frozen=True)
class NormalizeConfig:
    """Settings of the `normalize` stage: only `code_sources` (from `--code_sources`),
    whose documents are normalized as code (`normalize_code`)."""

    code_sources: tuple[str, ...] = DEFAULT_CODE_SOURCES

    @classmethod
    def from_dict(cls, mapping: Mapping | None) -> NormalizeConfig:
        """From a YAML/JSON mapping; unknown keys raise ValueError."""
        return config_from_dict(cls, mapping, f"stages.{STAGE}")


class NormalizeStep(DocumentStep):
    """One document: normalized as code or prose by its source; dropped when empty."""

    stage = STAGE

    def __init__(self, config: NormalizeConfig):
        self.code_sources = frozenset(config.code_sources)

    def apply(self, doc):
        code = doc.source in self.code_sources
        text = normalize_code(doc.text) if code else normalize_text(doc.text)
        if not text:
            return Drop(doc, DROP_EMPTY)
        return doc if text == doc.text else dataclasses.replace(doc, text=text)


class Normalize(ApplyStep):
    """Documents -> normalized Documents, and Rejected(reason=empty) for empty ones.

    Documents whose source is in `code_sources` are normalized as code (`normalize_code`).
    """

    def __init__(self, config: NormalizeConfig | None = None):
        super().__init__(NormalizeStep(config or NormalizeConfig()))


NORMALIZE = Stage(STAGE, NormalizeConfig.from_dict, Normalize, code_aware=True)
