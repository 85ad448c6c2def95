"""Gopher (MassiveText) quality and repetition rules: Rae et al. 2021, appendix A.1.1.

Beam-free. `score_quality(text)` / `score_repetition(text)` return the signals (keys
`gopher.*`); `decide_quality(signals, config)` / `decide_repetition(signals, config)`
return the first failing rule's drop reason or None; `failures_*` return all of them.

Where the paper leaves a definition open, this module says how it reads it:
  - Words are whitespace-separated tokens (`str.split()`); the paper names no tokenizer.
    Tokens made only of punctuation or symbols ("|", "-", "•") do not count as words for
    the word count and mean word length (as in datatrove), but do for the ratios over all
    words.
  - Lines are the non-blank lines; paragraphs are separated by blank lines.
  - "At least two of the following English words" counts distinct stop words, written in
    lower, upper or title case, as whole tokens ("the," does not count); datatrove counts
    the distinct lower-case stop words among its spaCy tokens.
  - The n-gram fractions are over the characters of the words (no whitespace), as in
    RedPajama-V2's Gopher signals. "Duplicate n-grams" are read like "duplicate lines":
    the occurrences after the first. Their characters count once however many repeats
    cover a word ("taking care not to count characters within overlapping n-grams more
    than once"). datatrove also counts only repeats, but skips n words after each one and
    divides by the length of the whole text; RedPajama-V2 and Dolma also count the first
    occurrence, which doubles the fraction for a passage seen twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import compress, filterfalse
from operator import itemgetter, not_

import numpy as np

from transforms.quality.base import TextView, ratio
from transforms.settings import config_from_dict

# Drop reasons, quality rules.
DROP_WORD_COUNT = "gopher_word_count"
DROP_MEAN_WORD_LENGTH = "gopher_mean_word_length"
DROP_HASH_RATIO = "gopher_hash_ratio"
DROP_ELLIPSIS_RATIO = "gopher_ellipsis_ratio"
DROP_BULLET_LINES = "gopher_bullet_lines"
DROP_ELLIPSIS_LINES = "gopher_ellipsis_lines"
DROP_ALPHA_WORDS = "gopher_alpha_words"
DROP_STOP_WORDS = "gopher_stop_words"
# Drop reasons, repetition rules (n-gram reasons: `top_ngram_reason(n)`, `dup_ngram_reason(n)`).
DROP_DUP_LINE_FRAC = "gopher_dup_line_frac"
DROP_DUP_PARA_FRAC = "gopher_dup_para_frac"
DROP_DUP_LINE_CHAR_FRAC = "gopher_dup_line_char_frac"
DROP_DUP_PARA_CHAR_FRAC = "gopher_dup_para_char_frac"
DROP_TOP_2GRAM = "gopher_top_2gram"
DROP_TOP_3GRAM = "gopher_top_3gram"
DROP_TOP_4GRAM = "gopher_top_4gram"
DROP_DUP_5GRAM = "gopher_dup_5gram"
DROP_DUP_6GRAM = "gopher_dup_6gram"
DROP_DUP_7GRAM = "gopher_dup_7gram"
DROP_DUP_8GRAM = "gopher_dup_8gram"
DROP_DUP_9GRAM = "gopher_dup_9gram"
DROP_DUP_10GRAM = "gopher_dup_10gram"

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
# What counts as a bullet point at the start of a line (the paper gives no list).
BULLETS = ("•", "●", "○", "◦", "▪", "■", "‣", "⁃", "∙", "-", "*")
ELLIPSES = ("...", "…")

# "\n\n+", not "\n{2,}": a pattern that starts with a literal lets the regex engine jump
# to the next newline instead of trying a match at every character (35x faster).
_PARAGRAPH_BREAK = re.compile(r"\n\n+")


def top_ngram_reason(n: int) -> str:
    return f"gopher_top_{n}gram"


def dup_ngram_reason(n: int) -> str:
    return f"gopher_dup_{n}gram"


@dataclass(frozen=True)
class GopherQualityConfig:
    """Gopher quality thresholds (YAML: `stages: {quality: {gopher: {...}}}`); None disables.

    All defaults: Rae et al. 2021 (Gopher / MassiveText), appendix A.1.1.
    min_words, max_words:   keep documents with 50 to 100,000 words (inclusive).
    min_mean_word_length, max_mean_word_length: mean word length 3 to 10 characters.
    max_hash_ratio:         drop above 0.1 "#" per word.
    max_ellipsis_ratio:     drop above 0.1 ellipses ("..." or "…") per word.
    max_bullet_lines_frac:  drop when more than 90% of lines start with a bullet point.
    max_ellipsis_lines_frac: drop when more than 30% of lines end with an ellipsis.
    min_alpha_words_frac:   keep only if at least 80% of words contain a letter.
    min_stop_words:         keep only if at least 2 distinct `stop_words` occur.
    stop_words:             the, be, to, of, and, that, have, with (English).
    """

    min_words: int | None = 50
    max_words: int | None = 100_000
    min_mean_word_length: float | None = 3
    max_mean_word_length: float | None = 10
    max_hash_ratio: float | None = 0.1
    max_ellipsis_ratio: float | None = 0.1
    max_bullet_lines_frac: float | None = 0.9
    max_ellipsis_lines_frac: float | None = 0.3
    min_alpha_words_frac: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: tuple[str, ...] = STOP_WORDS

    @classmethod
    def from_dict(cls, mapping: Mapping | None) -> GopherQualityConfig:
        return config_from_dict(cls, mapping, "stages.quality.gopher")


@dataclass(frozen=True)
class GopherRepetitionConfig:
    """Gopher repetition thresholds (YAML: `stages: {quality: {gopher_repetition: {...}}}`).

    Defaults: Rae et al. 2021, table A1. A document is dropped when a fraction exceeds its
    threshold; None disables a rule (in the n-gram mappings, a null value disables that n).
    max_dup_line_frac / max_dup_para_frac: 0.30 of lines / paragraphs are duplicates.
    max_dup_line_char_frac / max_dup_para_char_frac: 0.20 of characters are in them.
    top_ngram_char_frac:  n -> threshold for the share of word characters in the most
                          frequent n-gram (n = 2, 3, 4: 0.20, 0.18, 0.16).
    dup_ngram_char_frac:  n -> threshold for the share of word characters covered by
                          duplicated n-grams (n = 5..10: 0.15, 0.14, 0.13, 0.12, 0.11, 0.10).
    """

    max_dup_line_frac: float | None = 0.30
    max_dup_para_frac: float | None = 0.30
    max_dup_line_char_frac: float | None = 0.20
    max_dup_para_char_frac: float | None = 0.20
    top_ngram_char_frac: tuple[tuple[int, float | None], ...] = ((2, 0.20), (3, 0.18), (4, 0.16))
    dup_ngram_char_frac: tuple[tuple[int, float | None], ...] = (
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    )

    @classmethod
    def from_dict(cls, mapping: Mapping | None) -> GopherRepetitionConfig:
        mapping = dict(mapping or {})
        for key in ("top_ngram_char_frac", "dup_ngram_char_frac"):
            if isinstance(mapping.get(key), Mapping):
                # YAML {2: 0.2, 3: null}; keys arrive as strings after the JSON round trip.
                mapping[key] = [(int(n), t) for n, t in mapping[key].items()]
        config = config_from_dict(cls, mapping, "stages.quality.gopher_repetition")
        for key in ("top_ngram_char_frac", "dup_ngram_char_frac"):
            pairs = getattr(config, key)
            if not all(isinstance(p, tuple) and len(p) == 2 and int(p[0]) >= 1 for p in pairs):
                raise ValueError(f"stages.quality.gopher_repetition.{key}: expected n: threshold")
        return config


# ---------------------------------------------------------------- quality rules


def score_quality(text: str, config: GopherQualityConfig | None = None) -> dict[str, float]:
    """Gopher quality signals of `text` (see `GopherQualityConfig` for their meaning).

    Only `stop_words` of `config` matters for scoring; thresholds only for deciding.
    """
    return quality_signals(TextView(text), (config or GopherQualityConfig()).stop_words)


def quality_signals(view: TextView, stop_words: tuple[str, ...] = STOP_WORDS) -> dict[str, float]:
    text, words = view.text, view.words
    tokens = len(words)
    no_letter, symbol_words, symbol_chars = _odd_words(words)
    word_count = tokens - symbol_words
    word_chars = view.word_chars - symbol_chars
    lines = view.nonempty_lines
    bullet_lines = sum(1 for line in lines if line.lstrip().startswith(BULLETS))
    ellipsis_lines = sum(1 for line in lines if line.rstrip().endswith(ELLIPSES))
    return {
        "gopher.word_count": float(word_count),
        "gopher.mean_word_length": ratio(word_chars, word_count),
        "gopher.hash_ratio": ratio(text.count("#"), tokens),
        "gopher.ellipsis_ratio": ratio(text.count("...") + text.count("…"), tokens),
        "gopher.bullet_lines_frac": ratio(bullet_lines, len(lines)),
        "gopher.ellipsis_lines_frac": ratio(ellipsis_lines, len(lines)),
        "gopher.alpha_words_frac": ratio(tokens - no_letter, tokens),
        "gopher.stop_words": float(_distinct_stop_words(words, stop_words)),
    }


def _odd_words(words: list[str]) -> tuple[int, int, int]:
    """(words without a letter, words of only punctuation/symbols, the latter's characters).

    Most words are all letters, and most others start or end with one ("word," "(word");
    `str.isalpha` filters those out in C, on the word and then on its first and last
    character, so only the rest (numbers, symbols, quoted punctuation) is looked at
    character by character.
    """
    rest = list(filterfalse(str.isalpha, words))
    rest = list(compress(rest, map(not_, map(str.isalpha, map(itemgetter(0), rest)))))
    rest = compress(rest, map(not_, map(str.isalpha, map(itemgetter(-1), rest))))
    no_letter = symbols = symbol_chars = 0
    for word in rest:
        if any(map(str.isalpha, word)):
            continue
        no_letter += 1
        if "_" not in word and not any(map(str.isalnum, word)):
            symbols += 1
            symbol_chars += len(word)
    return no_letter, symbols, symbol_chars


def _distinct_stop_words(words: list[str], stop_words: tuple[str, ...]) -> int:
    # "The" and "THE" count as "the"; the set lookup runs in C over the word list.
    variants = _stop_word_variants(stop_words)
    return len({w.lower() for w in variants.intersection(words)})


_VARIANTS: dict[tuple[str, ...], frozenset[str]] = {}


def _stop_word_variants(stop_words: tuple[str, ...]) -> frozenset[str]:
    variants = _VARIANTS.get(stop_words)
    if variants is None:
        variants = frozenset(
            v for w in stop_words for v in (w.lower(), w.capitalize(), w.upper(), w)
        )
        _VARIANTS[stop_words] = variants
    return variants


def failures_quality(signals: Mapping[str, float], config: GopherQualityConfig) -> list[str]:
    """Every quality rule `signals` fail, in the paper's order."""
    c, s = config, signals
    out = []
    words = s["gopher.word_count"]
    if (c.min_words is not None and words < c.min_words) or (
        c.max_words is not None and words > c.max_words
    ):
        out.append(DROP_WORD_COUNT)
    mean = s["gopher.mean_word_length"]
    if (c.min_mean_word_length is not None and mean < c.min_mean_word_length) or (
        c.max_mean_word_length is not None and mean > c.max_mean_word_length
    ):
        out.append(DROP_MEAN_WORD_LENGTH)
    if c.max_hash_ratio is not None and s["gopher.hash_ratio"] > c.max_hash_ratio:
        out.append(DROP_HASH_RATIO)
    if c.max_ellipsis_ratio is not None and s["gopher.ellipsis_ratio"] > c.max_ellipsis_ratio:
        out.append(DROP_ELLIPSIS_RATIO)
    if (
        c.max_bullet_lines_frac is not None
        and s["gopher.bullet_lines_frac"] > c.max_bullet_lines_frac
    ):
        out.append(DROP_BULLET_LINES)
    if (
        c.max_ellipsis_lines_frac is not None
        and s["gopher.ellipsis_lines_frac"] > c.max_ellipsis_lines_frac
    ):
        out.append(DROP_ELLIPSIS_LINES)
    if c.min_alpha_words_frac is not None and s["gopher.alpha_words_frac"] < c.min_alpha_words_frac:
        out.append(DROP_ALPHA_WORDS)
    if c.min_stop_words is not None and s["gopher.stop_words"] < c.min_stop_words:
        out.append(DROP_STOP_WORDS)
    return out


def decide_quality(signals: Mapping[str, float], config: GopherQualityConfig) -> str | None:
    """The first failing quality rule's drop reason, or None to keep."""
    failed = failures_quality(signals, config)
    return failed[0] if failed else None


# ---------------------------------------------------------------- repetition rules


def score_repetition(text: str, config: GopherRepetitionConfig | None = None) -> dict[str, float]:
    """Gopher repetition signals of `text` for the n-gram sizes in `config`.

    - gopher.dup_line_frac / dup_para_frac: share of lines / paragraphs (split on blank
      lines) that repeat an earlier one; dup_*_char_frac: their characters over the
      document's characters.
    - gopher.top_{n}gram_char_frac: characters of the most frequent word n-gram times its
      count, over all word characters; 0 unless it occurs at least twice (a single
      occurrence is not repetition).
    - gopher.dup_{n}gram_char_frac: characters of the words covered by the repeats of
      n-grams (every occurrence after the first, as a duplicate line is every copy after
      the first), each word counted once however many repeats overlap it ("taking care
      not to count characters within overlapping n-grams more than once"), over all word
      characters.
    """
    return repetition_signals(TextView(text), config or GopherRepetitionConfig())


def repetition_signals(view: TextView, config: GopherRepetitionConfig) -> dict[str, float]:
    text, words = view.text, view.words
    stripped = text.strip()
    paragraphs = _PARAGRAPH_BREAK.split(stripped) if "\n\n" in stripped else [stripped]
    lines = view.nonempty_lines
    dup_paras, dup_para_chars = _duplicates(paragraphs)
    dup_lines, dup_line_chars = _duplicates(lines)
    signals = {
        "gopher.dup_line_frac": ratio(dup_lines, len(lines)),
        "gopher.dup_para_frac": ratio(dup_paras, len(paragraphs)),
        "gopher.dup_line_char_frac": ratio(dup_line_chars, len(text)),
        "gopher.dup_para_char_frac": ratio(dup_para_chars, len(text)),
    }
    word_chars = view.word_chars
    top_ns = sorted({n for n, _ in config.top_ngram_char_frac})
    dup_ns = sorted({n for n, _ in config.dup_ngram_char_frac})
    top, dup = _ngram_char_fracs(words, top_ns, dup_ns, word_chars)
    for n in top_ns:
        signals[f"gopher.top_{n}gram_char_frac"] = top[n]
    for n in dup_ns:
        signals[f"gopher.dup_{n}gram_char_frac"] = dup[n]
    return signals


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(items equal to an earlier item, their characters), counted in C via a set."""
    distinct = set(items)
    return len(items) - len(distinct), sum(map(len, items)) - sum(map(len, distinct))


def _ngram_char_fracs(
    words: list[str], top_ns: list[int], dup_ns: list[int], word_chars: int
) -> tuple[dict[int, float], dict[int, float]]:
    """({n: top n-gram character fraction}, {n: duplicated n-gram character fraction}).

    Only the positions whose n-gram occurs more than once matter, and on web text they are
    few (under a tenth for n = 2). So a vectorised pass finds, for the smallest n, every
    position whose n-gram *may* repeat (`_repeat_candidates`; hash collisions only add a
    candidate), and only those are grouped, exactly. An n-gram that occurs twice is made of
    (n-1)-grams that occur twice, so each larger n only looks at the positions i where the
    shorter n-grams at i and i + 1 repeated, and names an n-gram by the groups of two
    shorter ones that cover it: ints, not n words. Ties between most frequent n-grams go to
    the one that occurs first.
    """
    top = dict.fromkeys(top_ns, 0.0)
    dup = dict.fromkeys(dup_ns, 0.0)
    sizes = sorted(set(top_ns) | set(dup_ns))
    if not sizes or len(words) <= sizes[0] or not word_chars:
        # Two (possibly overlapping) n-grams need at least n + 1 words.
        return top, dup
    starts = _repeat_candidates(words, sizes[0])
    counted = 0  # the n of `group`
    group: dict[int, int] = {}  # start of a repeated `counted`-gram -> its first start
    for n in sizes:
        firsts: dict = {}  # n-gram (its key) -> its first start
        first_of = []  # (start, first start of the same n-gram)
        times: dict[int, int] = {}  # first start of a repeated n-gram -> its count
        repeats = []  # starts of occurrences after the first, ascending
        step = n - counted
        for i in starts:
            if not counted:
                key = tuple(words[i : i + n])
            elif i + step not in group or (
                step > 1 and not all(map(group.__contains__, range(i + 1, i + step)))
            ):
                # Repeated at i only if the `counted`-grams at i + 1, ..., i + step
                # repeat (which also keeps the n-gram inside the text).
                continue
            elif step <= counted:  # the `counted`-grams at i and i + step cover it
                key = (group[i], group[i + step])
            else:
                key = (group[i], tuple(words[i + counted : i + n]))
            first = firsts.setdefault(key, i)
            first_of.append((i, first))
            if first != i:
                repeats.append(i)
                times[first] = times.get(first, 1) + 1
        if not repeats:
            break  # no n-gram repeats, so no longer one does
        if n in top:
            most = max(times.values())
            first = min(f for f, t in times.items() if t == most)
            top[n] = sum(map(len, words[first : first + n])) * most / word_chars
        if n in dup:
            # A repeat is an occurrence after the first, as for duplicate lines.
            dup[n] = _covered_chars(repeats, n, words) / word_chars
        group = {i: f for i, f in first_of if f in times}
        starts = list(group)
        counted = n
    return top, dup


_MIX = 1_000_003  # combines the hashes of an n-gram's words (int64, wrapping)


def _repeat_candidates(words: list[str], n: int) -> list[int]:
    """Ascending start positions whose n-gram may occur twice: a superset of those that do."""
    positions = len(words) - n + 1
    hashes = np.fromiter(map(hash, words), dtype=np.int64, count=len(words))
    mixed = hashes[:positions]
    for shift in range(1, n):
        mixed = mixed * _MIX + hashes[shift : shift + positions]
    order = mixed.argsort()
    ordered = mixed[order]
    same = ordered[1:] == ordered[:-1]  # in sorted order, equal to the next one
    if not same.any():
        return []
    shared = np.zeros(positions, dtype=bool)
    shared[1:] = same
    shared[:-1] |= same
    candidate = np.empty(positions, dtype=bool)
    candidate[order] = shared
    return candidate.nonzero()[0].tolist()


def _covered_chars(starts: list[int], n: int, words: list[str]) -> int:
    """Characters of the union of word spans [i, i + n) for ascending `starts`."""
    covered, end = 0, 0
    for i in starts:
        stop = i + n
        covered += sum(map(len, words[max(i, end) : stop]))
        end = stop
    return covered


def failures_repetition(signals: Mapping[str, float], config: GopherRepetitionConfig) -> list[str]:
    """Every repetition rule `signals` fail, in table A1's order."""
    c, s = config, signals
    out = []
    for threshold, key, reason in (
        (c.max_dup_line_frac, "gopher.dup_line_frac", DROP_DUP_LINE_FRAC),
        (c.max_dup_para_frac, "gopher.dup_para_frac", DROP_DUP_PARA_FRAC),
        (c.max_dup_line_char_frac, "gopher.dup_line_char_frac", DROP_DUP_LINE_CHAR_FRAC),
        (c.max_dup_para_char_frac, "gopher.dup_para_char_frac", DROP_DUP_PARA_CHAR_FRAC),
    ):
        if threshold is not None and s[key] > threshold:
            out.append(reason)
    for n, threshold in c.top_ngram_char_frac:
        if threshold is not None and s[f"gopher.top_{n}gram_char_frac"] > threshold:
            out.append(top_ngram_reason(n))
    for n, threshold in c.dup_ngram_char_frac:
        if threshold is not None and s[f"gopher.dup_{n}gram_char_frac"] > threshold:
            out.append(dup_ngram_reason(n))
    return out


def decide_repetition(signals: Mapping[str, float], config: GopherRepetitionConfig) -> str | None:
    """The first failing repetition rule's drop reason, or None to keep."""
    failed = failures_repetition(signals, config)
    return failed[0] if failed else None
