"""Recognizers added to presidio's to close its recall gap on card and phone numbers, and an
IBAN recognizer that a following word cannot hide (`iban_recognizer`).

Beam-free. Measured on the 1,000 presidio-synth samples (`bench/pii.py --recall`), presidio's
defaults miss card numbers outside its 13-16 digit, 1/3/4/5/6-prefix pattern (19-digit Visa,
12-digit Maestro, 2-series Mastercard, 15-digit JCB) and phone numbers written without a
country code in a national format libphonenumber cannot validate for its eight regions.

Both recognizers here are deliberately weak on their own: their base score (0.1) is below the
stage's `min_score` (0.4), so a digit run only becomes a card or phone number when one of
their context words ("card", "phone", "call", ...) stands among the five words before it and
lifts the score to 0.45 (presidio's context enhancer: +0.35, at least 0.4). Numbers, dates and
prices in ordinary prose therefore stay as they are.
"""

from __future__ import annotations

import functools
import logging
import re

# Below the stage's default min_score (0.4): context is required to redact.
WEAK_SCORE = 0.1

CARD_CONTEXT = (
    "card",
    "credit",
    "debit",
    "visa",
    "mastercard",
    "amex",
    "maestro",
    "jcb",
    "cc",
    "discover",
    "diners",
)
PHONE_CONTEXT = (
    "phone",
    "telephone",
    "tel",
    "call",
    "mobile",
    "cell",
    "fax",
    "desk",
    "contact",
    "reach",
    "answer",
    "whatsapp",
    "dial",
    "message",
    "sms",
)

# 12-19 digits (ISO/IEC 7812 card number lengths), optionally grouped by single spaces or
# hyphens, not touching other digits or word characters.
CARD_REGEX = r"(?<![\w-])\d(?:[ -]?\d){11,18}(?![\w-])"
# A national or international phone number: optional +country code, optional (area code),
# then 2-5 groups of 2-6 digits split by one space, hyphen or dot, optional extension. No
# pattern here may match a newline (see screen.py).
_PHONE_BODY = r"\d{2,6}(?:[ .-]\d{2,6}){1,4}(?: ?(?:x|ext\.?) ?\d{1,5})?(?![\w-]|[.,]\d)"
PHONE_REGEX = r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?" + _PHONE_BODY
# Layouts that are phone numbers without any context: an explicit +country code, or an area
# code in parentheses, or a line that holds nothing but a grouped number (contact blocks).
PHONE_INTERNATIONAL_REGEX = r"(?<![\w+.-])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?" + _PHONE_BODY
PHONE_AREA_CODE_REGEX = r"(?<![\w+.(-])\(\d{2,4}\)[ .-]?" + _PHONE_BODY
PHONE_LINE_REGEX = r"^[ \t]*\(?\d{2,4}\)?(?:[ -]\d{2,4}){1,3}[ \t]*$"
# A number labelled after it, as in contact blocks ("416 60 039 office", "...-Fax").
PHONE_LABELLED_REGEX = (
    r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,6}(?:[ .-]\d{2,6}){1,4}"
    r"(?=[ -]?(?:office|fax|mobile|home|work|cell|phone|tel)\b)"
)
MEDIUM_SCORE = 0.4
# Contained in every result of the phone recognizer below: its results keep 7-15 ASCII digits
# before any extension, and the patterns put at most two of " .-()" between two of them
# ("+1 (415) 555-0134"). The screen (screen.py) skips the recognizer on lines without it.
PHONE_NECESSARY_REGEX = r"[0-9](?:[ .()-]{0,2}[0-9]){6}"
_DATE_LIKE = re.compile(
    r"^(?:(?:1[5-9]|20)\d\d[-./ ]\d{1,2}[-./ ]\d{1,2}|\d{1,2}[-./ ]\d{1,2}[-./ ](?:1[5-9]|20)\d\d)$"
)
_DECIMAL_LIKE = re.compile(r"\.\d{1,2}$|^\d{1,3}(?:\.\d{3})+$")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_recognizer():
    from presidio_analyzer import Pattern, PatternRecognizer

    class ContextCardRecognizer(PatternRecognizer):
        """12-19 digit card numbers that pass Luhn; needs a card context word to count."""

        def validate_result(self, pattern_text: str):
            digits = re.sub(r"[ -]", "", pattern_text)
            if not digits.isascii() or not luhn_ok(digits):
                return False
            return None  # keep the weak score: context decides

    return ContextCardRecognizer(
        supported_entity="CREDIT_CARD",
        name="ContextCardRecognizer",
        patterns=[Pattern("Card 12-19 digits (weak)", CARD_REGEX, WEAK_SCORE)],
        context=list(CARD_CONTEXT),
    )


def _phone_recognizer():
    from presidio_analyzer import Pattern, PatternRecognizer

    class ContextPhoneRecognizer(PatternRecognizer):
        """Grouped 7-15 digit numbers in phone layouts; needs a phone context word to count.

        Dates (2024-05-01, 01.05.2024) and decimals or thousands (1.234.567, 12 345.50) are
        never phone numbers, whatever the context. `necessary_pattern` occurs in every result.
        """

        necessary_pattern = re.compile(PHONE_NECESSARY_REGEX)

        def invalidate_result(self, pattern_text: str) -> bool:
            main = re.split(r" ?(?:x|ext\.?) ?(?=\d)", pattern_text.strip())[0]
            digits = sum(c.isdigit() for c in main)
            if not 7 <= digits <= 15 or not pattern_text.isascii():
                return True
            main = main.lstrip("+(")
            return bool(_DATE_LIKE.match(main) or _DECIMAL_LIKE.search(main))

    return ContextPhoneRecognizer(
        supported_entity="PHONE_NUMBER",
        name="ContextPhoneRecognizer",
        patterns=[
            Pattern("Phone, grouped digits (weak)", PHONE_REGEX, WEAK_SCORE),
            Pattern("Phone, +country code (medium)", PHONE_INTERNATIONAL_REGEX, MEDIUM_SCORE),
            Pattern("Phone, (area code) (medium)", PHONE_AREA_CODE_REGEX, MEDIUM_SCORE),
            Pattern("Phone, alone on a line (medium)", PHONE_LINE_REGEX, MEDIUM_SCORE),
            Pattern("Phone, label after it (medium)", PHONE_LABELLED_REGEX, MEDIUM_SCORE),
        ],
        context=list(PHONE_CONTEXT),
    )


def extra_recognizers() -> list:
    """New instances of the added recognizers (card, phone)."""
    return [_card_recognizer(), _phone_recognizer()]


# Characters presidio's IBAN pattern allows between groups of four.
IBAN_SEPARATORS = " -"


def iban_recognizer(base):
    """A `WordSafeIbanRecognizer` with the pattern, flags, context and entity of presidio's
    loaded IbanRecognizer `base`.

    presidio's pattern is compiled ignoring case and its last two groups take up to seven
    more characters across a space, so the letters of the next word join the match
    ("ES91 2100 0418 4502 0005 1332 befo|re"); presidio then tries only the ends of its
    three groups, all of which fail the checksum, and the IBAN is not found (Spanish,
    Belgian and every other IBAN whose length leaves room for them).
    """
    import regex
    from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import IbanRecognizer
    from presidio_analyzer.predefined_recognizers.generic.iban_patterns import regex_per_country
    from presidio_analyzer.predefined_recognizers.generic.iban_recognizer import (
        REGEX_TIMEOUT_SECONDS,
    )

    # presidio checks only that a candidate starts with its country's format, so a longer
    # candidate ("ES91 ... 1332 2") passes one time in 97; an IBAN has exactly that format.
    # Compiled on first use (about 80 countries, ~60 ms all at once per worker); the cache
    # is thread-safe and the value pure (at worst two threads compile the same format).
    @functools.cache
    def country_format(country: str):  # a key of regex_per_country
        return regex.compile(regex_per_country[country])

    class WordSafeIbanRecognizer(IbanRecognizer):
        """presidio's IBAN recognizer (same pattern, checksum and format validation), trying
        every end of a match, longest first: its group ends and each space or hyphen inside
        it. The first end that validates, with exactly its country's format, is the IBAN and
        the scan goes on after it; a match with none goes on one character after its start,
        so a false start ("ref AB12 ES91 ...") cannot hide an IBAN behind it. No match
        crosses a newline (see screen.py)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # Compiled here, never lazily, so threads sharing the instance only read it.
            self._compiled = tuple(
                (p, regex.compile(p.regex, self.global_regex_flags)) for p in self.patterns
            )

        def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
            results = []
            for pattern, rx in self._compiled:
                pos = 0
                try:
                    while (m := rx.search(text, pos, timeout=REGEX_TIMEOUT_SECONDS)) is not None:
                        found = self._first_valid(text, m, pattern)
                        if found is None:
                            pos = m.start() + 1
                        else:
                            results.append(found)
                            pos = found.end
                except TimeoutError:
                    logging.getLogger("presidio-analyzer").warning(
                        "IBAN pattern %r timed out, skipping the rest of the text", pattern.name
                    )
            return results

        def _first_valid(self, text, m, pattern):
            start = m.start()
            ends = {m.end()} | {m.end(g) for g in range(1, len(m.groups()) + 1) if m.end(g) > 0}
            ends |= {i for i in range(start + 1, m.end()) if text[i] in IBAN_SEPARATORS}
            for end in sorted(ends, reverse=True):
                if end <= start:
                    continue
                candidate = text[start:end]
                valid = self.validate_result(candidate)
                if valid is False or not self._whole_format(candidate):
                    continue
                # presidio's scores: 1.0 when checksum and format hold, the pattern's score
                # when only the upper-cased text has the country's format
                score = EntityRecognizer.MAX_SCORE if valid else pattern.score
                explanation = PatternRecognizer.build_regex_explanation(
                    self.name,
                    pattern.name,
                    pattern.regex,
                    pattern.score,
                    valid,
                    self.global_regex_flags,
                )
                return RecognizerResult(
                    entity_type=self.supported_entities[0],
                    start=start,
                    end=end,
                    score=score,
                    analysis_explanation=explanation,
                    recognition_metadata={
                        RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                    },
                )
            return None

        def _whole_format(self, candidate: str) -> bool:
            compact = EntityRecognizer.sanitize_value(candidate, self.replacement_pairs).upper()
            country = compact[:2]
            if country not in regex_per_country:
                return False
            return country_format(country).fullmatch(compact) is not None

    assert isinstance(base, IbanRecognizer)
    return WordSafeIbanRecognizer(
        patterns=base.patterns,
        context=base.context,
        supported_language=base.supported_language,
        supported_entity=base.supported_entities[0],
        regex_flags=base.global_regex_flags,
    )
