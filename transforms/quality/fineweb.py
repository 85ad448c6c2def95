"""FineWeb's own quality rules: Penedo et al. 2024 (FineWeb), section 3, and datatrove's
`FineWebQualityFilter` (which also has the newline-to-word rule the paper does not list).

Beam-free. `score(text)` -> signals (keys `fineweb.*`); `decide(signals, config)` -> the
first failing rule's drop reason or None. Lines are the non-blank lines; words are
whitespace tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from transforms.quality.base import TextView, ratio
from transforms.settings import config_from_dict

DROP_LINE_PUNCT = "fineweb_line_punct"
DROP_SHORT_LINES = "fineweb_short_lines"
DROP_DUP_LINE_CHARS = "fineweb_dup_line_chars"
DROP_NEWLINE_RATIO = "fineweb_newline_ratio"

# Characters that end a sentence, in the scripts lid.176 covers best (Latin, CJK,
# Arabic, Devanagari, Armenian, Ethiopic, Myanmar, Khmer and others): Unicode's
# Sentence_Terminal punctuation of those scripts.
TERMINAL_PUNCTUATION = frozenset(
    ".!?"
    "\u0589\u061d\u061e\u061f\u06d4\u0700\u0701\u0702\u07f9\u0964\u0965\u104a\u104b"
    "\u1362\u1367\u1368\u166e\u1803\u1809\u1944\u1945\u17d4\u17d5\u203c\u203d\u2047"
    "\u2048\u2049\u2e2e\u2e3c\u3002\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ufe12\ufe15\ufe16"
    "\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61"
)
_TERMINAL = tuple(TERMINAL_PUNCTUATION)


@dataclass(frozen=True)
class FineWebConfig:
    """FineWeb thresholds (YAML: `stages: {quality: {fineweb: {...}}}`); None disables.

    min_line_punct_frac: drop when at most 12% of lines end in terminal punctuation
                         (paper: "<= 0.12"; datatrove: "< 0.12").
    max_short_line_frac: drop when 67% or more of lines are at most `short_line_length`
                         (30) characters (paper: ">= 0.67"; datatrove: "> 0.67").
    max_dup_line_char_frac: drop when 10% or more of the characters (newlines excluded)
                         are in lines that repeat an earlier line (paper: ">= 0.1", vs
                         MassiveText's 0.2). datatrove's default is 0.01 (its code, which
                         built the released FineWeb); set 0.01 to reproduce that.
    max_newline_ratio:   drop above 0.3 newlines per word (datatrove; not in the paper).
    """

    min_line_punct_frac: float | None = 0.12
    max_short_line_frac: float | None = 0.67
    short_line_length: int = 30
    max_dup_line_char_frac: float | None = 0.1
    max_newline_ratio: float | None = 0.3

    @classmethod
    def from_dict(cls, mapping: Mapping | None) -> FineWebConfig:
        return config_from_dict(cls, mapping, "stages.quality.fineweb")


DEFAULT_CONFIG = FineWebConfig()


def score(text: str, config: FineWebConfig = DEFAULT_CONFIG) -> dict[str, float]:
    """FineWeb signals of `text`; only `short_line_length` of `config` matters here.

    fineweb.line_punct_frac: share of lines ending in terminal punctuation.
    fineweb.short_line_frac: share of lines of at most `short_line_length` characters.
    fineweb.dup_line_char_frac: characters in lines that repeat an earlier line, over the
        characters of the text without newlines.
    fineweb.newline_ratio: newlines per whitespace word.
    """
    return signals_of(TextView(text), config)


def signals_of(view: TextView, config: FineWebConfig) -> dict[str, float]:
    text = view.text
    lines = view.nonempty_lines
    short = config.short_line_length
    punct = sum(1 for line in lines if line.endswith(_TERMINAL))
    short_lines = sum(1 for line in lines if len(line) <= short)
    distinct = set(lines)
    dup_chars = sum(map(len, lines)) - sum(map(len, distinct))
    newlines = text.count("\n")
    return {
        "fineweb.line_punct_frac": ratio(punct, len(lines)),
        "fineweb.short_line_frac": ratio(short_lines, len(lines)),
        "fineweb.dup_line_char_frac": ratio(dup_chars, len(text) - newlines),
        "fineweb.newline_ratio": ratio(newlines, len(view.words)),
    }


def failures(signals: Mapping[str, float], config: FineWebConfig) -> list[str]:
    """Every FineWeb rule `signals` fail, in datatrove's order."""
    c, s = config, signals
    out = []
    if c.min_line_punct_frac is not None and s["fineweb.line_punct_frac"] <= c.min_line_punct_frac:
        out.append(DROP_LINE_PUNCT)
    if c.max_short_line_frac is not None and s["fineweb.short_line_frac"] >= c.max_short_line_frac:
        out.append(DROP_SHORT_LINES)
    if (
        c.max_dup_line_char_frac is not None
        and s["fineweb.dup_line_char_frac"] >= c.max_dup_line_char_frac
    ):
        out.append(DROP_DUP_LINE_CHARS)
    if c.max_newline_ratio is not None and s["fineweb.newline_ratio"] > c.max_newline_ratio:
        out.append(DROP_NEWLINE_RATIO)
    return out


def decide(signals: Mapping[str, float], config: FineWebConfig) -> str | None:
    """The first failing FineWeb rule's drop reason, or None to keep."""
    failed = failures(signals, config)
    return failed[0] if failed else None
