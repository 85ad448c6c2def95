"""IBANs of every country presidio knows, followed by a word, are found and redacted."""

import random
import re
import string

import pytest

from transforms.pii import Scrubber
from transforms.pii.engine import DEFAULT_ENTITIES, analyze_whole, build_analyzer
from transforms.pii.screen import RegionAnalyzer

# One element of a country's format in presidio's table: "([0-9][ ]?){4}", "[A-Z][ ]?", "[0]".
_ELEMENT = re.compile(r"\((\[[^\]]+\])\[ \]\?\)\{(\d+)\}|(\[[^\]]+\])(?:\[ \]\?)?")
_CLASSES = {
    "[0-9]": string.digits,
    "[A-Z]": string.ascii_uppercase,
    "[a-zA-Z0-9]": string.ascii_uppercase + string.digits,
    "[0]": "0",
}
# After the IBAN: words (lower and upper case, one to many letters), numbers, punctuation.
SENTENCES = (
    "IBAN {} before Friday.",
    "Please pay to {} BEFORE FRIDAY, thanks.",
    "IBAN: {} and the reference.",
    "Transfer it to {} tomorrow",
    "Account {}, then we are done.",
    "(IBAN {})",
    "IBAN {} 2 days from today.",
    "IBAN {} x",
    "{} ab cd",
    "iban {}\nsee you on Monday",
    "IBAN {} - the usual one.",
)


def _country_table() -> dict[str, str]:
    from presidio_analyzer.predefined_recognizers.generic.iban_patterns import regex_per_country

    return regex_per_country


def random_bban(country_regex: str, rng: random.Random) -> str:
    """A random BBAN in the format of a presidio country regex ("(ES)" + CK + N4 ...)."""
    head = re.match(r"\(([A-Z]{2})\)\[0-9\]\{2\}\[ \]\?", country_regex)
    assert head, country_regex
    out, pos = [], head.end()
    while pos < len(country_regex):
        m = _ELEMENT.match(country_regex, pos)
        assert m, (country_regex, country_regex[pos:])
        cls, count = (m.group(1), int(m.group(2))) if m.group(1) else (m.group(3), 1)
        out += [rng.choice(_CLASSES[cls]) for _ in range(count)]
        pos = m.end()
    return "".join(out)


def iban_for(country: str, bban: str) -> str:
    """The IBAN of `bban` in `country`: ISO 13616 check digits, 98 - (number mod 97), where
    the number is BBAN + country + "00" with letters as 10..35."""
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


def grouped(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _ibans(per_country: int = 2) -> list[tuple[str, str]]:
    rng = random.Random(13616)
    table = _country_table()
    out = []
    for country in sorted(table):
        for _ in range(per_country):
            iban = iban_for(country, random_bban(table[country], rng))
            assert re.fullmatch(table[country], iban), iban  # the generator follows the table
            out.append((country, iban))
    return out


@pytest.fixture(scope="module")
def scrubber():
    return Scrubber()


def test_the_generated_ibans_pass_presidios_own_checksum():
    from presidio_analyzer.predefined_recognizers import IbanRecognizer

    presidio = IbanRecognizer()
    ibans = _ibans()
    assert len({c for c, _ in ibans}) == len(_country_table()) >= 75
    for _, iban in ibans:
        assert presidio.validate_result(iban) is True, iban
        broken = iban[:-1] + ("1" if iban[-1] != "1" else "2")
        assert presidio.validate_result(broken) is False, broken


@pytest.mark.parametrize("layout", [grouped, str], ids=["grouped_in_4s", "ungrouped"])
def test_every_presidio_iban_country_is_redacted_whatever_follows_it(scrubber, layout):
    cases = []
    for country, iban in _ibans():
        for sentence in SENTENCES:
            written = layout(iban)
            text = sentence.format(written)
            start = text.index(written)
            cases.append((country, text, (start, start + len(written))))
    found = scrubber.spans_batch([text for _, text, _ in cases])
    missed = [
        (country, text)
        for (country, text, where), spans in zip(cases, found, strict=True)
        if [(s.start, s.end, s.entity_type) for s in spans] != [(*where, "IBAN_CODE")]
    ]
    assert not missed, f"{len(missed)} of {len(cases)}: {missed[:5]}"


def test_the_reported_spanish_and_belgian_ibans_are_redacted(scrubber):
    redacted, spans = scrubber.scrub("IBAN ES91 2100 0418 4502 0005 1332 before Friday.")
    assert redacted == "IBAN <IBAN_CODE> before Friday." and spans[0].score == 1.0
    redacted, _ = scrubber.scrub("IBAN BE68 5390 0754 7034 before Friday.")
    assert redacted == "IBAN <IBAN_CODE> before Friday."


def test_wrong_check_digits_and_wrong_lengths_are_not_ibans(scrubber):
    texts = [
        "IBAN ES92 2100 0418 4502 0005 1332 before Friday.",  # check digits off by one
        "IBAN ES91 2100 0418 4502 0005 133 before Friday.",  # a digit short
        "Code AB12 3456 7890 1234 5678 before Friday.",  # no such country
    ]
    assert [spans for spans in scrubber.spans_batch(texts)] == [[], [], []]


def test_lower_case_ibans_are_still_found_as_presidio_finds_them(scrubber):
    _, spans = scrubber.scrub("iban es91 2100 0418 4502 0005 1332 before friday")
    assert [(s.start, s.end, s.entity_type) for s in spans] == [(5, 34, "IBAN_CODE")]


def test_every_iban_presidio_finds_is_found_at_the_same_place():
    from presidio_analyzer.predefined_recognizers import IbanRecognizer

    presidio = IbanRecognizer()
    ours = next(
        r
        for r in build_analyzer(["IBAN_CODE"]).registry.recognizers
        if "IBAN_CODE" in r.supported_entities
    )
    texts = [
        s.format(layout(iban))
        for _, iban in _ibans(1)
        for s in ("{}", "IBAN {}.", "to {} now")
        for layout in (grouped, str)
    ]
    texts += ["I want my deposit in DE89370400440532013000 2 days from today."]
    for text in texts:
        theirs = presidio.analyze(text, ["IBAN_CODE"])
        assert theirs, text
        assert {r.start for r in theirs} <= {r.start for r in ours.analyze(text, ["IBAN_CODE"])}


def test_an_iban_after_a_false_start_or_another_iban_is_found(scrubber):
    first, second = (iban for _, iban in _ibans(1)[:2])
    text = f"ref AB12 {grouped(second)} and {grouped(first)} {grouped(second)} end"
    spans = scrubber.spans_batch([text])[0]
    assert [text[s.start : s.end] for s in spans] == [
        grouped(second),
        grouped(first),
        grouped(second),
    ]


def test_the_screen_sends_every_iban_line_to_presidio():
    analyzer = build_analyzer()
    region = RegionAnalyzer(analyzer, DEFAULT_ENTITIES, 0.4)
    filler = "Nothing to see on this line, only words and a year like 2024.\n"
    texts = []
    for i, (_, iban) in enumerate(_ibans(1)):
        layout = grouped if i % 2 else str
        sentence = SENTENCES[i % len(SENTENCES)].format(layout(iban))
        texts.append(filler * (i % 4) + sentence + "\n" + filler * 2)
    for text, got in zip(texts, region.analyze_batch(texts), strict=True):
        whole = analyze_whole(analyzer, text, min_score=0.4)
        assert [(r.start, r.end, r.entity_type) for r in got] == [
            (r.start, r.end, r.entity_type) for r in whole
        ]
        assert any(r.entity_type == "IBAN_CODE" for r in got), text
