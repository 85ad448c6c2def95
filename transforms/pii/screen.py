"""Fast path: only the lines that could hold PII reach presidio, with identical results.

Beam-free. `RegionAnalyzer(analyzer, entities).analyze(text)` returns exactly the results of
`analyzer.analyze(text, ...)` on the whole text (same spans, types and scores), but presidio
only sees a few candidate regions. Why the results cannot differ:

1. A trigger per entity type (`TRIGGERS`, `_phone_possible`) is a necessary condition:
   every match of every recognizer of that type contains a trigger match. E-mails contain
   "@"; IPv4 addresses digit "." 1-3 digits "." digit; IPv6 ones "::" or six "hex:" groups;
   IBANs two letters then two digits; SSNs 3 digits, an optional separator, 2 digits; card
   numbers 12 digits (presidio's >= 13, ours >= 12) split by at most one space or hyphen.
   A phone number's digits form a chain split by at most 4 of libphonenumber's punctuation
   characters (its candidate pattern; our own patterns split groups by at most 3 of them),
   at least `phone_min_digits()` long (the shortest possible length in the regions'
   metadata; an international number adds its country code). A chain of 4-5 digits can
   only hold a number whose digits libphonenumber validates on their own, and those few
   strings are listed in shortphones.py. The digit triggers (`DIGIT_TRIGGERS`) are digit
   chains too, so one scan for chains (`digit_components`) finds them and the phone chains.
2. No recognizer's match contains a newline (the patterns allow spaces, hyphens, dots and
   tabs, never "\\n"; libphonenumber's candidate pattern neither), so every match lies inside
   one line, and that line contains a trigger. Lines without a trigger hold no result.
3. A region is a run of whole lines plus the newline on each side, so every character any
   pattern looks at around a match (\\b, look-behind, libphonenumber's check of the character
   before and after) is the same as in the whole text, and the leftmost-first scan of a
   pattern restarts identically at each line (no match crosses the newline before it).
   spaCy's tokenizer splits at whitespace first, so the non-space tokens of a region are the
   whole text's tokens.
4. Context: presidio raises a result's score if a recognizer's context word is among the
   `context_prefix_count` + 1 keyword lemmas found walking back from the result's first token.
   With our NLP engine (engine.py) a token is a keyword or not by itself, so the walk is the
   same whenever the region holds that many keyword tokens before the candidate line, or
   starts at the start of the text. Regions are extended line by line back until it does.
5. Before building a region, each candidate line is run through the recognizers of the
   entity types triggered in it (plain recognizer calls, no tokenizing): context and
   thresholds only change the scores of what recognizers find, so a line where none finds
   anything holds no result, and only the rare lines that do are analyzed with context.
   libphonenumber, the costly one, runs only on the few words around each digit chain
   (`_phone_window`), and not even there when every candidate in the window is a date
   libphonenumber itself throws away first or parses as a valid number in none of the
   recognizer's regions (`matcher_rejects_every_candidate`). A recognizer with a
   `necessary_pattern` (one that occurs in every result it gives) is skipped on lines
   without it. The region is then analyzed for the entity types matched in it only:
   presidio's results of one type never depend on another type's.
6. Overlap removal compares results of one entity type that overlap, which only happens
   within one line, and the score threshold is per result.

Entity types without a trigger (e.g. NER entities) are analyzed on the whole text.

One known limit: libphonenumber gives up on a text after 65,535 rejected candidates; on a
whole text with more digit runs than that, presidio misses later numbers that a region,
with its fresh budget, finds.
"""

from __future__ import annotations

import bisect
import copy
import functools
import itertools
import re
import threading
import unicodedata
from collections.abc import Iterator
from types import MappingProxyType, SimpleNamespace

from transforms.pii.engine import LANGUAGE, _lemma, is_context_keyword
from transforms.pii.once import built_once
from transforms.pii.shortphones import SHORT_LENGTHS, short_valid_numbers
from transforms.pii.triggers import (
    DIGIT_TRIGGERS,
    SCREENED,
    TRIGGERS,
    digit_components,
    phone_min_digits_cached,
)

# Characters libphonenumber's candidate pattern can never contain (it holds digits, phone
# punctuation, "(", "[", "+", and extension labels such as "ext", "anexo", "int", matched
# ignoring case): ASCII letters outside those labels, and the newline.
_PHONE_SAFE = frozenset("bcdfghjklmpqruvwyzBCDFGHJKLMPQRUVWYZ\n")


def _phone_window(text: str, start: int, end: int) -> tuple[int, int]:
    """The span from the last safe character before a digit chain to the first one after it.

    No libphonenumber candidate contains a safe character, so none crosses the window's
    edges, its scan inside the window meets the same candidates as on the whole text, and
    the characters it checks around a candidate (one before; a ":dd" time suffix after) are
    inside the window too.
    """
    lo = start - 1
    while lo >= 0 and text[lo] not in _PHONE_SAFE:
        lo -= 1
    hi = end
    while hi < len(text) and text[hi] not in _PHONE_SAFE:
        hi += 1
    return max(lo, 0), min(hi + 1, len(text))


@built_once
def _matcher_patterns():
    """libphonenumber's own candidate, date, bracket and inner-match patterns and its
    fullmatch, by lower-case name without underscores (`.pattern`, `.pub_pages`, ...), or
    None if this version lacks them."""
    from phonenumbers import phonenumbermatcher as m

    names = (
        "_PATTERN",
        "_SECOND_NUMBER_START_PATTERN",
        "_SLASH_SEPARATED_DATES",
        "_TIME_STAMPS",
        "_TIME_STAMPS_SUFFIX",
        "_MATCHING_BRACKETS",
        "_PUB_PAGES",
        "_INNER_MATCHES",
        "_UNWANTED_END_CHAR_PATTERN",
        "fullmatch",
    )
    if not all(hasattr(m, n) for n in names):
        return None
    return SimpleNamespace(**{n.strip("_").lower(): getattr(m, n) for n in names})


def _inner_groups(candidate: str, patterns) -> Iterator[str]:
    """The substrings PhoneNumberMatcher._extract_inner_match parses when the whole
    candidate fails, in its order: for each inner-match pattern, the text before its first
    match and each match's group, trimmed of unwanted end characters as it trims them."""

    def trimmed(group: str) -> str:
        cut = patterns.unwanted_end_char_pattern.search(group)
        return group[: cut.start()] if cut else group

    for pattern in patterns.inner_matches:
        m = pattern.search(candidate)
        if m:
            yield trimmed(candidate[: m.start()])
        while m:
            yield trimmed(m.group(1))
            m = pattern.search(candidate, m.start() + 1)


def matcher_rejects_every_candidate(
    window: str, short: frozenset | None = None, regions: tuple[str, ...] | None = None
) -> bool:
    """True if PhoneNumberMatcher finds nothing in `window` (in any region; with `regions`,
    in those regions at leniency VALID or stricter). It follows the matcher's `_find` /
    `_extract_match` / `_extract_inner_match`: the same candidate scan and trimming; a
    candidate is dropped before parsing when it is a slash-separated date or a time stamp;
    and it cannot hold a valid number when the digits of the whole candidate and of every
    inner group it falls back to cannot (`_phone_possible`: fewer digits than any valid
    number, or 4-5 digits with no run in the shipped `short` list). The whole candidate is
    skipped outright, before parsing, when its brackets do not match or it looks like a page
    reference (region-independent checks of `_parse_and_verify`), which is what Wikipedia's
    citation runs ("2008.[44]") hit. With `regions`, the strings left are parsed as the
    matcher parses them (`_valid_in_some_region`): ISBNs, DOIs and amounts are rejected
    here without the matcher's per-region scans. False when in doubt."""
    patterns = _matcher_patterns()
    if patterns is None:
        return False
    candidates, fewest = patterns.pattern, phone_min_digits_cached()
    m = candidates.search(window)
    while m is not None:
        start = m.start()
        candidate = window[start : m.end()]
        trailing = patterns.second_number_start_pattern.search(candidate)
        if trailing:
            candidate = candidate[: trailing.start()]
        if not candidate:
            return False
        end = start + len(candidate)
        dropped = patterns.slash_separated_dates.search(candidate) or (
            patterns.time_stamps.search(candidate)
            and patterns.time_stamps_suffix.match(window[end:])
        )
        if not dropped:
            whole_fails = (
                not patterns.fullmatch(patterns.matching_brackets, candidate)
                or patterns.pub_pages.search(candidate)
                or not _phone_possible(candidate, fewest, short)
            )
            # The strings the matcher would parse, lazily: the first that can hold a number
            # (or, with `regions`, parses as valid) decides.
            groups = _inner_groups(candidate, patterns)
            groups = (g for g in groups if _phone_possible(g, fewest, short))
            strings = groups if whole_fails else itertools.chain([candidate], groups)
            if any(regions is None or _valid_in_some_region(s, regions) for s in strings):
                return False
        m = candidates.search(window, end)
    return True


# lru_cache is thread-safe (its table stays coherent under concurrent calls; at worst two
# threads compute the same pure result), so every thread of a worker shares this memo.
@functools.lru_cache(maxsize=1 << 16)
def _valid_in_some_region(candidate: str, regions: tuple[str, ...]) -> bool:
    """Whether `candidate` passes libphonenumber's parse and its leniency-VALID check
    (`phonenumbermatcher._verify`: a valid number, only valid "x" characters, the national
    prefix written where the region needs it) in one of `regions`. The matcher accepts a
    string only then, at VALID and at the stricter leniencies, whose checks include VALID's.
    Memoized: a site's phone number, an amount or a year range repeats across pages."""
    from phonenumbers import (
        Leniency,
        NumberParseException,
        is_valid_number,
        parse,
        phonenumbermatcher,
    )

    verify = getattr(phonenumbermatcher, "_verify", None)
    for region in regions:
        try:
            number = parse(candidate, region, keep_raw_input=True)
        except NumberParseException:
            continue
        if verify(Leniency.VALID, number, candidate, None) if verify else is_valid_number(number):
            return True
    return False


_ASCII_NON_DIGITS = MappingProxyType({c: None for c in range(128) if not chr(c).isdigit()})


def _chain_digits(chain: str) -> str:
    """The decimal digits of `chain`, as ASCII."""
    if chain.isascii():
        return chain.translate(_ASCII_NON_DIGITS)
    return "".join(str(unicodedata.digit(c)) for c in chain if c.isdigit())


def _phone_possible(chain: str, k: int, short: frozenset | None) -> bool:
    """Whether a digit chain can hold a phone number: 6+ digits always; 4-5 digits only if
    some run of its digits is a short number libphonenumber accepts (shortphones.py)."""
    return _digits_possible(_chain_digits(chain), k, short)


def _digits_possible(digits: str, k: int, short: frozenset | None) -> bool:
    """`_phone_possible` on the chain's digits."""
    if len(digits) > max(SHORT_LENGTHS) or short is None:
        return len(digits) >= k
    return any(
        digits[i : i + n] in short for n in SHORT_LENGTHS for i in range(len(digits) - n + 1)
    )


# Entries of a RegionAnalyzer's phone-window memo before it starts afresh.
PHONE_CACHE_SIZE = 4096
# Per thread: (PhoneRecognizer, stand-in analyze) while a RegionAnalyzer analyzes a region
# (see `_phone_analyze`).
_PHONE_STAND_IN = threading.local()


def _phone_analyze(recognizer, *args, **kwargs):
    """A PhoneRecognizer's `analyze` as installed by RegionAnalyzer: the stand-in this thread
    set for the region being analyzed, else the class's own method. Other threads, and other
    users of the same presidio analyzer, never see one thread's stand-in."""
    stand_in = getattr(_PHONE_STAND_IN, "current", None)
    if stand_in is not None and stand_in[0] is recognizer:
        return stand_in[1](*args, **kwargs)
    return type(recognizer).analyze(recognizer, *args, **kwargs)


def _install_phone_dispatch(recognizer) -> None:
    """Route `recognizer.analyze` through `_phone_analyze` (idempotent)."""
    installed = recognizer.__dict__.get("analyze")
    if not (isinstance(installed, functools.partial) and installed.func is _phone_analyze):
        recognizer.analyze = functools.partial(_phone_analyze, recognizer)


class RegionAnalyzer:
    """presidio on candidate regions only; results equal to `analyzer.analyze(text)`.

    `analyzer` comes from `engine.build_analyzer`, `entities` are the types to find,
    `min_score` is passed to presidio as `score_threshold`.

    Thread-safe: calls on one instance take turns (presidio and spaCy promise no thread
    safety, and the phone-window memo is the instance's), and the presidio analyzer may be
    shared with other instances or used directly on other threads meanwhile.
    """

    def __init__(self, analyzer, entities, min_score: float = 0.0):
        self.analyzer = analyzer
        self.entities = list(entities)
        self.min_score = min_score
        screened = [e for e in self.entities if e in SCREENED]
        self.whole_text_entities = [e for e in self.entities if e not in SCREENED]
        self.screened_entities = screened
        self.phone = "PHONE_NUMBER" in screened
        self._short = short_valid_numbers() if self.phone else None
        triggers = [(e, p) for e in screened if e in TRIGGERS for p in TRIGGERS[e]]
        self._triggers = [(e, re.compile(p)) for e, p in triggers if p not in DIGIT_TRIGGERS]
        self._digit_triggers = [(e, re.compile(p)) for e, p in triggers if p in DIGIT_TRIGGERS]
        self._phone_cache: dict[str, tuple] = {}
        self._lock = threading.RLock()
        # libphonenumber last: a line another recognizer already matches needs no phone check.
        self._recognizers = sorted(
            analyzer.registry.get_recognizers(language=LANGUAGE, entities=screened),
            key=lambda r: r.__class__.__name__ == "PhoneRecognizer",
        )
        from presidio_analyzer.predefined_recognizers import PhoneRecognizer

        phones = [r for r in self._recognizers if type(r) is PhoneRecognizer]
        self._phone = phones[0] if len(phones) == 1 else None
        if self._phone is not None:
            _install_phone_dispatch(self._phone)
        # At leniency VALID and stricter a match must parse as a valid number (see
        # `_valid_in_some_region`); at POSSIBLE only the region-independent checks apply.
        self._phone_regions = (
            tuple(self._phone.supported_regions)
            if self._phone is not None and self._phone.leniency >= 1
            else None
        )
        nlp_engine = analyzer.nlp_engine
        self._tokenizer = nlp_engine.get_nlp(LANGUAGE).tokenizer
        self._stop_words = nlp_engine._stop_words
        enhancer = analyzer.context_aware_enhancer
        self.context_words_needed = enhancer.context_prefix_count + 1

    def candidate_lines(self, text: str, starts: list[int]) -> dict[int, dict[str, list]]:
        """Line index -> {screened entity type whose trigger occurs in that line: for
        PHONE_NUMBER the (start, end) windows around its digit chains, else []}.

        The digit triggers (`DIGIT_TRIGGERS`) and the phone chains come from one scan for
        digit chains (`digit_components`); each digit trigger is searched for inside each
        chain, where all its matches lie. The other triggers are searched line by line."""
        found: dict[int, dict[str, list]] = {}
        for entity, rx in self._triggers:
            m = rx.search(text)
            while m:
                line = bisect.bisect_right(starts, m.start()) - 1
                found.setdefault(line, {}).setdefault(entity, [])
                if line + 1 >= len(starts):
                    break
                m = rx.search(text, starts[line + 1])  # one hit per line is enough
        digit_triggers, phone = self._digit_triggers, self.phone
        if not (digit_triggers or phone):
            return found
        k, short = phone_min_digits_cached(), self._short
        for m in digit_components().finditer(text):
            start, end = m.span()
            line = bisect.bisect_right(starts, start) - 1
            entities = found.get(line)
            for entity, rx in digit_triggers:
                if (entities is None or entity not in entities) and rx.search(text, start, end):
                    if entities is None:
                        entities = found[line] = {}
                    entities[entity] = []
            if phone and end - start >= k:
                digits = _chain_digits(m.group())
                if len(digits) >= k and _digits_possible(digits, k, short):
                    if entities is None:
                        entities = found[line] = {}
                    windows = entities.setdefault("PHONE_NUMBER", [])
                    windows.append(_phone_window(text, start, end))
        return found

    def _raw_result_types(self, text: str, line: tuple[int, int], entities: dict) -> set[str]:
        """The entity types among `entities` that some recognizer matches in
        `text[line[0]:line[1]]` (before context and thresholds, which only change scores).
        libphonenumber runs only on the windows around digit chains (`_phone_window`).
        Recognizers that might need NLP artifacts are assumed to match."""
        from presidio_analyzer import PatternRecognizer
        from presidio_analyzer.predefined_recognizers import PhoneRecognizer

        line_text = text[line[0] : line[1]]
        found: set[str] = set()
        for recognizer in self._recognizers:
            wanted = [e for e in recognizer.supported_entities if e in entities and e not in found]
            if not wanted:
                continue
            if type(recognizer) is PhoneRecognizer:
                windows = entities["PHONE_NUMBER"]
                if any(self._phone_results(recognizer, text[s:e]) for s, e in windows):
                    found.add("PHONE_NUMBER")
            elif not isinstance(recognizer, PatternRecognizer):
                found.update(wanted)
            else:
                # A `necessary_pattern` occurs in every result of its recognizer.
                needed = getattr(recognizer, "necessary_pattern", None)
                if needed is None or needed.search(line_text):
                    results = recognizer.analyze(
                        text=line_text, entities=wanted, nlp_artifacts=None
                    )
                    found.update(r.entity_type for r in results)
        return found

    def clear_caches(self) -> None:
        """Forget memoized phone results, so the next call works as the first one did."""
        with self._lock:
            self._phone_cache.clear()
        _valid_in_some_region.cache_clear()

    def _phone_results(self, recognizer, window: str) -> tuple:
        """presidio's PhoneRecognizer results in `window`, offsets in the window (memoized:
        the same contact line repeats across a site's pages, and phase two reuses them)."""
        with self._lock:
            cache = self._phone_cache
            found = cache.get(window)
            if found is None:
                if matcher_rejects_every_candidate(window, self._short, self._phone_regions):
                    found = ()
                else:
                    # the class's method: phase two stands in for the instance's
                    analyze = type(recognizer).analyze
                    found = tuple(analyze(recognizer, text=window, entities=["PHONE_NUMBER"]))
                if len(cache) >= PHONE_CACHE_SIZE:
                    cache.clear()
                cache[window] = found
            return found

    def _windowed_phone(self, text: str, offset: int, windows: list[tuple[int, int]]):
        """A stand-in for PhoneRecognizer.analyze on the region starting at `offset`: the
        union of its results in the phone windows of the region's lines, which are all its
        results on the region (every match lies in the window of a digit chain)."""
        from presidio_analyzer import EntityRecognizer

        recognizer = self._phone

        def analyze(text=None, entities=None, nlp_artifacts=None, **_):
            results = []
            for start, end in windows:
                for r in self._phone_results(recognizer, document[start:end]):
                    r = copy.deepcopy(r)
                    r.start += start - offset
                    r.end += start - offset
                    results.append(r)
            return EntityRecognizer.remove_duplicates(results)

        document = text
        return analyze

    def regions(self, text: str) -> list[tuple[int, int]]:
        """(start, end) character ranges presidio sees: whole lines with their newlines."""
        return [(start, end) for start, end, _, _ in self.plan(text)]

    def plan(self, text: str) -> list[tuple[int, int, set[str], list]]:
        """(start, end, entity types) per region: the lines where recognizers match, with
        the lines before them that hold their context; the types are those matched there
        (the others find nothing in the region, so presidio need not look for them), and
        the phone windows of those lines."""
        with self._lock:
            return self._plan(text)

    def _plan(self, text: str) -> list[tuple[int, int, set[str], list]]:
        starts = [0] + [m.end() for m in re.finditer("\n", text)]

        def bounds(first, last):
            start = max(starts[first] - 1, 0)
            end = starts[last + 1] if last + 1 < len(starts) else len(text)
            return start, end

        lines = []
        for line, entities in sorted(self.candidate_lines(text, starts).items()):
            types = self._raw_result_types(text, bounds(line, line), entities)
            if types:
                windows = entities.get("PHONE_NUMBER", []) if "PHONE_NUMBER" in types else []
                lines.append((line, types, windows))
        regions: list[list] = []
        for line, types, windows in lines:
            first, found = line, 0
            while first > 0 and found < self.context_words_needed:
                if regions and first - 1 <= regions[-1][1]:
                    break
                first -= 1
                found += self._keywords(text, starts, first)
            if regions and first <= regions[-1][1] + 1:
                regions[-1][1] = line
                regions[-1][2] |= types
                regions[-1][3] += windows
            else:
                regions.append([first, line, set(types), list(windows)])
        return [(*bounds(first, last), types, windows) for first, last, types, windows in regions]

    def _keywords(self, text: str, starts: list[int], line: int) -> int:
        end = starts[line + 1] if line + 1 < len(starts) else len(text)
        return sum(
            is_context_keyword(_lemma(t), self._stop_words)
            for t in self._tokenizer(text[starts[line] : end])
        )

    def analyze(self, text: str) -> list:
        """Results sorted by (start, end, entity_type), offsets in `text`."""
        return self.analyze_batch([text])[0]

    def analyze_batch(self, texts: list[str]) -> list[list]:
        """`analyze` for many texts; the regions of all texts are tokenized in one spaCy pipe."""
        with self._lock:
            return self._analyze_batch(texts)

    def _analyze_batch(self, texts: list[str]) -> list[list]:
        jobs = []  # (text index, offset, region text, entity types)
        for i, text in enumerate(texts):
            for start, end, types, windows in self.plan(text):
                jobs.append((i, start, text[start:end], sorted(types), windows, text))
        out: list[list] = [[] for _ in texts]
        nlp_engine = self.analyzer.nlp_engine
        if jobs:
            artifacts = nlp_engine.process_batch([j[2] for j in jobs], LANGUAGE, batch_size=64)
            for (i, offset, region, types, windows, text), (_, nlp_artifacts) in zip(
                jobs, artifacts, strict=True
            ):
                if self._phone is not None and "PHONE_NUMBER" in types:
                    # phase one already ran libphonenumber on every window of these lines
                    stand_in = self._windowed_phone(text, offset, windows)
                    _PHONE_STAND_IN.current = (self._phone, stand_in)
                try:
                    results = self.analyzer.analyze(
                        text=region,
                        language=LANGUAGE,
                        entities=types,
                        nlp_artifacts=nlp_artifacts,
                        score_threshold=self.min_score,
                    )
                finally:
                    _PHONE_STAND_IN.current = None
                for r in results:
                    r.start += offset
                    r.end += offset
                    out[i].append(r)
        if self.whole_text_entities:
            for i, text in enumerate(texts):
                out[i].extend(
                    self.analyzer.analyze(
                        text=text,
                        language=LANGUAGE,
                        entities=self.whole_text_entities,
                        score_threshold=self.min_score,
                    )
                )
        for results in out:
            results.sort(key=lambda r: (r.start, r.end, r.entity_type))
        return out
