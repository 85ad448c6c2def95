"""C4 cleaning: line rules that rewrite the page, and page rules that drop it.

Raffel et al. 2020 (T5), section 2.2, as implemented by TFDS `c4_utils.clean_page`.
Beam-free. `clean(text, config)` -> (cleaned text, signals); `score(text)` -> signals;
`decide(signals, config)` -> the first failing page rule's drop reason or None.

Line rules, in TFDS's order, on each stripped non-blank line; a failing line is removed:
  1. a word longer than `max_word_length` (1000)                    c4.lines_long_word
  2. Wikipedia-style citations ("[1]", "[edit]", "[citation needed]") are cut out
  3. no terminal punctuation (`end_marks`), or ends with "..."      c4.lines_no_terminal_punct
  4. fewer than `min_words_per_line` words                          c4.lines_too_few_words
  5. contains "javascript" (any case)                               c4.lines_javascript
  6. contains a cookie/terms/privacy policy phrase                  c4.lines_policy
Page rules, which drop the document:
  - "lorem ipsum" in a line that passed rules 1-4                   c4_lorem_ipsum
  - "{" in a line that passed rules 1-5                             c4_curly_bracket
  - fewer than `min_sentences` sentences in the kept lines          c4_too_few_sentences
  - nothing left after line cleaning (when `min_sentences` is null)  c4_empty
As in TFDS (and datatrove), the two page rules look only at lines that survive the
terminal-punctuation and length rules; the paper's prose says "any page", which would
also drop pages whose navigation or script remnants hold a "{" on an unpunctuated line.

Paper or TFDS: the paper says "We discarded any page with fewer than 5 sentences and only
retained lines that contained at least 3 words"; TFDS's code, which produced the released
C4, has `_MIN_WORDS_PER_LINE = 5` and `_MIN_NUM_SENTENCES = 3`. The default here is the
paper's (3 words per line, 5 sentences per page; also datatrove's default). TFDS's numbers:
`C4Config.tfds()`, or `variant: tfds` in the config (`stages: {quality: {c4: {variant:
tfds}}}`); `min_words_per_line` / `min_sentences` set either number directly.

Sentences are counted per kept line with a cheap rule instead of NLTK's Punkt (which
needs a data download): runs of ".", "!" or "?" (optionally closed by quotes or brackets)
followed by whitespace or the line end, minus common abbreviations and initials; every
kept line has at least one. The bad-words page rule of C4 is not applied here (a word list
download; the toxicity stage covers offensive text).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass

from transforms.quality.base import TextView, ratio
from transforms.settings import config_from_dict

DROP_LOREM_IPSUM = "c4_lorem_ipsum"
DROP_CURLY_BRACKET = "c4_curly_bracket"
DROP_TOO_FEW_SENTENCES = "c4_too_few_sentences"
DROP_EMPTY = "c4_empty"

# TFDS c4_utils._END_MARKS and _POLICY_SUBSTRINGS.
END_MARKS = (".", "?", "!", '"')
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
# A sentence end: a run of ".", "!" or "?", closing quotes or brackets, then whitespace or
# the line end (the pattern `[.!?]+["'”’»)\]]*(?=\s|$)`). Each such run is counted at its last
# mark, the one that closing characters and whitespace follow: one search per mark, each
# starting with a literal, which the regex engine finds with a fast scan (a pattern that
# starts with a character set is tried at every character, 4x slower).
_SENTENCE_ENDS = tuple(re.compile(re.escape(m) + r"[\"'”’»)\]]*(?!\S)") for m in ".!?")
# Not sentence ends when followed by a space: an initial or a dotted initialism
# ((?:[A-Z]\.)*[A-Z]: U.S., A.G.M., whose inner dots are not followed by a space and so
# never end a sentence anyway), titles, and the abbreviations below.
ABBREVIATIONS = (
    *("Mr", "Mrs", "Ms", "Dr", "Prof", "Sr", "Jr", "St", "Mt", "vs", "etc"),
    *("e.g", "i.e", "a.m", "p.m", "No", "Fig", "Vol", "Inc", "Ltd", "Co", "Corp"),
    *("Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec"),
)
_ABBREVIATION = re.compile(
    r"(?<!\S)(?:(?:[A-Z]\.)*[A-Z]|" + "|".join(map(re.escape, ABBREVIATIONS)) + r")\.(?=\s)"
)
# The same matches in the reversed text of lines joined by "\n" (`_count_sentences`):
# one search for "." instead of trying the leading look-behind of `_ABBREVIATION` at every
# character. "Followed by whitespace" becomes "preceded by whitespace other than a newline"
# (a line's last word is followed by the end of its line, not by the next line).
_ABBREVIATION_REVERSED = re.compile(
    r"\.(?<=[^\S\n]\.)(?:[A-Z](?:\.[A-Z])*|"
    + "|".join(re.escape(a[::-1]) for a in ABBREVIATIONS)
    + r")(?!\S)"
)
_SENTENCE_MARKS = (".", "!", "?")


@dataclass(frozen=True)
class C4Config:
    """C4 settings (YAML: `stages: {quality: {c4: {...}}}`); None/false disables a rule.

    min_words_per_line: 3 (Raffel et al. 2020; TFDS c4_utils: 5).
    min_sentences:      5 (Raffel et al. 2020; TFDS c4_utils: 3).
    max_word_length:    1000, a line with a longer word is removed (TFDS c4_utils).
    end_marks:          a kept line ends with one of these (TFDS: . ? ! "); None disables
                        the terminal-punctuation line rule (FineWeb runs C4 that way).
    remove_citations, drop_javascript_lines, drop_policy_lines, drop_lorem_ipsum,
    drop_curly_bracket: the other TFDS rules, each on by default.
    rewrite:            replace the text of kept documents by the cleaned lines (as C4
                        does); false only scores and decides.
    """

    min_words_per_line: int | None = 3
    min_sentences: int | None = 5
    max_word_length: int | None = 1000
    end_marks: tuple[str, ...] | None = END_MARKS
    remove_citations: bool = True
    drop_javascript_lines: bool = True
    drop_policy_lines: bool = True
    drop_lorem_ipsum: bool = True
    drop_curly_bracket: bool = True
    rewrite: bool = True

    @classmethod
    def tfds(cls, **overrides) -> C4Config:
        """TFDS c4_utils numbers: at least 5 words per line and 3 sentences per page."""
        return cls(**{"min_words_per_line": 5, "min_sentences": 3, **overrides})

    @classmethod
    def from_dict(cls, mapping: Mapping | None) -> C4Config:
        """From a mapping; `variant: paper` (default) or `variant: tfds` picks the base."""
        mapping = dict(mapping or {})
        variant = mapping.pop("variant", "paper")
        if variant not in ("paper", "tfds"):
            raise ValueError(f"stages.quality.c4.variant: 'paper' or 'tfds', got {variant!r}")
        config = config_from_dict(cls, mapping, "stages.quality.c4")
        if variant == "tfds":
            base = cls.tfds()
            config = dataclasses.replace(
                config,
                min_words_per_line=mapping.get("min_words_per_line", base.min_words_per_line),
                min_sentences=mapping.get("min_sentences", base.min_sentences),
            )
        return config


DEFAULT_CONFIG = C4Config()


def score(text: str, config: C4Config = DEFAULT_CONFIG) -> dict[str, float]:
    """C4 signals of `text` (see `clean`)."""
    return clean(text, config)[1]


def clean(text: str, config: C4Config = DEFAULT_CONFIG) -> tuple[str, dict[str, float]]:
    """(the kept lines joined by "\\n", signals).

    Signals: c4.lines (non-blank lines), c4.lines_kept, c4.lines_<rule> (lines removed by
    each line rule), c4.sentences (in kept lines), c4.lorem_ipsum and c4.curly_bracket
    (1.0 when the page rule fires), c4.chars_removed_frac (share of characters removed).
    """
    return clean_view(TextView(text), config)


def clean_view(view: TextView, config: C4Config) -> tuple[str, dict[str, float]]:
    c = config
    end_marks = c.end_marks
    min_words = c.min_words_per_line
    max_word = c.max_word_length
    lines = long_word = no_punct = few_words = javascript = policy = 0
    lorem = curly = False
    kept = []
    # `line.split(None, k)` stops after k splits: k + 1 parts say "at least k + 1 words".
    few_words_split = min_words - 1 if min_words is not None and min_words > 0 else None
    for raw in view.lines:
        line = raw.strip()
        if not line:
            continue
        lines += 1
        # Only a line longer than the limit can hold a longer word: skip the split otherwise.
        if max_word is not None and len(line) > max_word and max(map(len, line.split())) > max_word:
            long_word += 1
            continue
        if c.remove_citations and "[" in line:
            line = _CITATION.sub("", line)
        if end_marks is not None and (not line.endswith(end_marks) or line.endswith("...")):
            no_punct += 1
            continue
        if few_words_split is not None and len(line.split(None, few_words_split)) < min_words:
            few_words += 1
            continue
        lower = line.lower()
        if "lorem ipsum" in lower:
            lorem = True
            if c.drop_lorem_ipsum:
                continue
        if c.drop_javascript_lines and "javascript" in lower:
            javascript += 1
            continue
        if "{" in line:
            curly = True
            if c.drop_curly_bracket:
                continue
        if c.drop_policy_lines and any(map(lower.__contains__, POLICY_SUBSTRINGS)):
            policy += 1
            continue
        kept.append(line)
    cleaned = "\n".join(kept)
    sentences = _count_sentences(cleaned, kept)
    signals = {
        "c4.lines": float(lines),
        "c4.lines_kept": float(len(kept)),
        "c4.lines_long_word": float(long_word),
        "c4.lines_no_terminal_punct": float(no_punct),
        "c4.lines_too_few_words": float(few_words),
        "c4.lines_javascript": float(javascript),
        "c4.lines_policy": float(policy),
        "c4.sentences": float(sentences),
        "c4.lorem_ipsum": float(lorem),
        "c4.curly_bracket": float(curly),
        "c4.chars_removed_frac": 1.0 - ratio(len(cleaned), len(view.text.strip())),
    }
    return cleaned, signals


def count_sentences(line: str) -> int:
    """Sentences in one line: sentence-ending punctuation not after an abbreviation; >= 1."""
    ends = _sentence_ends(line)
    if ends and "." in line:
        ends -= len(_ABBREVIATION.findall(line))
    return max(ends, 1)


def _sentence_ends(text: str) -> int:
    """Sentence ends in `text` (see `_SENTENCE_ENDS`)."""
    ends = len(_SENTENCE_ENDS[0].findall(text)) if "." in text else 0
    if "!" in text:
        ends += len(_SENTENCE_ENDS[1].findall(text))
    if "?" in text:
        ends += len(_SENTENCE_ENDS[2].findall(text))
    return ends


def _count_sentences(joined: str, lines: list[str]) -> int:
    """`sum(map(count_sentences, lines))` for `joined` = "\\n".join(lines), lines without "\\n".

    Both patterns match within a word and its closing punctuation, so their matches in the
    joined text are those of the lines (`_ABBREVIATION_REVERSED` keeps a line's last word
    from looking followed by whitespace): two searches over the page instead of two per
    line. An abbreviation ends with a "." that is also a sentence end, so a line counts
    ends - abbreviations >= 0, and >= 1 when it ends with ".", "!" or "?" (its last
    sentence end is followed by no whitespace, so no abbreviation). Only the other lines
    can need the floor of 1, and only they are counted one by one.
    """
    ends = _sentence_ends(joined)
    if ends and "." in joined:
        ends -= len(_ABBREVIATION_REVERSED.findall(joined[::-1]))
    for line in lines:
        if not line.endswith(_SENTENCE_MARKS):
            own = _sentence_ends(line)
            if own and "." in line:
                own -= len(_ABBREVIATION.findall(line))
            ends += max(own, 1) - own
    return ends


def failures(signals: Mapping[str, float], config: C4Config) -> list[str]:
    """Every C4 page rule `signals` fail."""
    out = []
    if config.drop_lorem_ipsum and signals["c4.lorem_ipsum"]:
        out.append(DROP_LOREM_IPSUM)
    if config.drop_curly_bracket and signals["c4.curly_bracket"]:
        out.append(DROP_CURLY_BRACKET)
    if config.min_sentences is not None and signals["c4.sentences"] < config.min_sentences:
        out.append(DROP_TOO_FEW_SENTENCES)
    elif not signals["c4.lines_kept"]:
        # Only reachable without a sentence minimum: a page C4 would leave empty.
        out.append(DROP_EMPTY)
    return out


def decide(signals: Mapping[str, float], config: C4Config) -> str | None:
    """The first failing C4 page rule's drop reason, or None to keep."""
    failed = failures(signals, config)
    return failed[0] if failed else None
