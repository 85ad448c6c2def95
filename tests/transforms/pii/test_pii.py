"""PII: region analysis equals whole-text presidio, recall on presidio-synth, redaction, stage."""

import gzip
import json
import socket

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from schemas.document import Document, Rejected
from transforms.pii import PiiConfig, PiiSpan, Scrubber, redact, resolve_overlaps, scrub_text
from transforms.pii.engine import DEFAULT_ENTITIES, analyze_whole, build_analyzer
from transforms.pii.screen import RegionAnalyzer
from transforms.pii.stage import PiiRedaction


def _synth(fixtures):
    return json.loads((fixtures / "pii" / "presidio-synth-1000.json").read_text())


def _web_texts(fixtures):
    texts = []
    for f in sorted((fixtures / "web-jsonl").glob("*.gz")):
        texts += [json.loads(line)["text"] for line in gzip.open(f, "rt") if line.strip()]
    return texts


def _warc_pages(fixtures):
    """The HTML pages of the Common Crawl WARC fixtures as the reader extracts them: mostly
    Chinese shop pages full of phone numbers."""
    from transforms.readers import match_input_files, read_file

    files = match_input_files("web", str(fixtures / "commoncrawl" / "CC-MAIN-*.warc.gz"))
    return [r.text for f in files for r in read_file(f) if isinstance(r, Document)]


@pytest.fixture(scope="module")
def analyzer():
    return build_analyzer()


def _key(results):
    return [(r.start, r.end, r.entity_type, round(r.score, 9)) for r in results]


@pytest.mark.parametrize("min_score", [0.0, 0.4])
def test_regions_give_the_same_results_as_the_whole_text(analyzer, min_score, fixtures):
    texts = (
        [r["full_text"] for r in _synth(fixtures)] + _web_texts(fixtures) + _warc_pages(fixtures)
    )
    texts.append((fixtures / "text" / "wikipedia-taylorswift.txt").read_text())
    # Context words lines away, PII at the very start and end, CRLF, numbers everywhere.
    texts += [
        "555-0134",
        "call\n\n\n\n\nme on 415 555 0134 or\nphone: (212) 555-0199 x12\r\nend",
        "My card is 4111 1111 1111 1111.\nIn 1640 and 2019-2020, prices rose 12.5%.\nIP ::1",
        "a b c d e f g h i j k l m n o p\n" * 3 + "credit card 4012888888881881\n",
    ]
    fast = RegionAnalyzer(analyzer, DEFAULT_ENTITIES, min_score).analyze_batch(texts)
    for text, got in zip(texts, fast, strict=True):
        assert _key(got) == _key(analyze_whole(analyzer, text, min_score=min_score)), text[:200]


def test_most_web_text_never_reaches_presidio(analyzer, fixtures):
    region = RegionAnalyzer(analyzer, DEFAULT_ENTITIES, 0.4)
    texts = _web_texts(fixtures)
    covered = sum(e - s for t in texts for s, e in region.regions(t))
    assert covered < 0.05 * sum(len(t) for t in texts)


TYPES = ("CREDIT_CARD", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "PHONE_NUMBER", "US_SSN")


def test_recall_on_presidio_synth_is_at_least_095_per_type(fixtures):
    scrubber = Scrubber()
    rows = _synth(fixtures)
    found = {t: 0 for t in TYPES}
    total = {t: 0 for t in TYPES}
    for row, spans in zip(rows, scrubber.spans_batch([r["full_text"] for r in rows]), strict=True):
        for gold in row["spans"]:
            t = gold["entity_type"]
            if t in total:
                total[t] += 1
                found[t] += any(
                    s.start < gold["end_position"] and gold["start_position"] < s.end for s in spans
                )
    for t in TYPES:
        assert found[t] / total[t] >= 0.95, (t, found[t], total[t])


def test_numbers_dates_and_prices_are_not_phone_numbers():
    texts = [
        "The company was founded in 1998 and sold in 2019-2020 for $1,299,000.",
        "Prices: 12.99, 1 299.50 and 4 500 000 units; see pages 123-456.",
        "Call us between 9:30 and 17:00 on 2024-05-01 or 01.05.2024.",
        "Our office is at 17031 2202 Rissik St.",
        "Version 3.10.12 released 2023/10/02; build 20231002 1530.",
        "The population was 8 336 817 in the 2020 census.",
    ]
    for text in texts:
        _, spans = scrub_text(text)
        assert [s for s in spans if s.entity_type == "PHONE_NUMBER"] == [], text


def test_web_fixtures_have_no_phone_numbers_but_real_ones(fixtures):
    scrubber = Scrubber()
    texts = _web_texts(fixtures)
    phones = {
        t[s.start : s.end]
        for t, spans in zip(texts, scrubber.spans_batch(texts), strict=True)
        for s in spans
        if s.entity_type == "PHONE_NUMBER"
    }
    assert phones <= {"888-459-0005"}  # a real support line in one C4 page


def test_scrub_text_follows_the_contract():
    text = "Mail jane.doe@example.com or call 415-555-0134. Card 4111 1111 1111 1111."
    redacted, spans = scrub_text(text)
    assert redacted == "Mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>. Card <CREDIT_CARD>."
    assert [text[s.start : s.end] for s in spans] == [
        "jane.doe@example.com",
        "415-555-0134",
        "4111 1111 1111 1111",
    ]
    assert scrub_text("Nothing to see here, 2024.") == ("Nothing to see here, 2024.", [])


def test_no_network_is_touched(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    scrubber = Scrubber(PiiConfig(min_score=0.0))
    assert scrubber.scrub("write to someone@mail.example.co.uk today")[1]


def test_redaction_modes():
    text = "a x@y.com b"
    spans = [PiiSpan(2, 9, "EMAIL_ADDRESS", 1.0)]
    assert redact(text, spans, PiiConfig()) == "a <EMAIL_ADDRESS> b"
    assert redact(text, spans, PiiConfig(mode="mask")) == "a ******* b"
    hashed = redact(text, spans, PiiConfig(mode="hash", hash_salt="s1"))
    assert hashed.startswith("a <EMAIL_ADDRESS:") and "x@y" not in hashed
    assert hashed == redact(text, spans, PiiConfig(mode="hash", hash_salt="s1"))
    assert hashed != redact(text, spans, PiiConfig(mode="hash", hash_salt="s2"))
    with pytest.raises(ValueError, match="hash_salt"):
        PiiConfig(mode="hash")
    with pytest.raises(ValueError, match="mode"):
        PiiConfig.from_dict({"mode": "blur"})


def test_overlapping_results_keep_the_best():
    class R:
        def __init__(self, start, end, entity_type, score):
            self.start, self.end, self.entity_type, self.score = start, end, entity_type, score

    spans = resolve_overlaps([R(0, 16, "PHONE_NUMBER", 0.4), R(0, 16, "CREDIT_CARD", 1.0)])
    assert spans == [PiiSpan(0, 16, "CREDIT_CARD", 1.0)]


def test_pii_stage_redacts_counts_and_drops():
    docs = [
        Document("a", "write to jane@example.com or bob@example.org", "web", "f"),
        Document("b", "no contact details in 2024", "web", "f"),
        Document("c", " ".join(f"u{i}@example.com" for i in range(5)), "web", "f"),
    ]

    def check(out):
        by_id = {(o.doc.id if isinstance(o, Rejected) else o.id): o for o in out}
        assert by_id["a"].text == "write to <EMAIL_ADDRESS> or <EMAIL_ADDRESS>"
        assert by_id["a"].scores["pii.EMAIL_ADDRESS"] == 2.0
        assert by_id["b"].text == docs[1].text and by_id["b"].scores["pii.hits"] == 0.0
        assert isinstance(by_id["c"], Rejected) and by_id["c"].reason == "pii"

    with TestPipeline() as p:
        out = p | beam.Create(docs) | PiiRedaction(PiiConfig(max_hits=3))
        assert_that(out, check)


def test_code_keeps_its_numbers_and_loses_only_e_mail_addresses():
    """In code the phone and IP patterns match constants and versions; rewriting them
    breaks the code, so only e-mail addresses are redacted there."""
    code = (
        "# Author: Jane Roe <jane.roe@example.com>\n"
        "LIMITS = {'int32': 2147483647, 'phone': '+1 (415) 555-0134'}\n"
        "VERSION = '192.168.100.200'\n"
    )
    docs = [Document("c", code, "code", "f"), Document("w", code, "web", "f")]

    def check(out):
        by_id = {o.id: o for o in out}
        assert by_id["c"].text == code.replace("jane.roe@example.com", "<EMAIL_ADDRESS>")
        assert by_id["c"].scores["pii.hits"] == 1.0
        web = by_id["w"].text
        assert "<EMAIL_ADDRESS>" in web and "<PHONE_NUMBER>" in web and "<IP_ADDRESS>" in web

    with TestPipeline() as p:
        out = p | beam.Create(docs) | PiiRedaction(PiiConfig(code_sources=("code",)))
        assert_that(out, check)


def test_the_shipped_short_phone_list_is_what_libphonenumber_validates():
    from transforms.pii.shortphones import compute_short_valid_numbers, short_valid_numbers

    shipped = short_valid_numbers()
    assert shipped is not None, "short_phone_numbers.txt is missing or from another version"
    assert shipped == compute_short_valid_numbers()


def test_no_phone_candidate_can_hold_a_newline():
    from phonenumbers import phonenumbermatcher

    from transforms.pii import recognizers
    from transforms.pii.triggers import phone_punctuation

    assert "\n" not in phone_punctuation()
    assert not phonenumbermatcher._PATTERN.search("\n")
    for regex in (recognizers.PHONE_REGEX, recognizers.CARD_REGEX, recognizers.PHONE_LINE_REGEX):
        assert "\\s" not in regex


def test_phone_windows_end_only_at_characters_no_candidate_contains():
    """Every character `_phone_window` may stop at (ASCII letters outside extension labels,
    the newline) is outside libphonenumber's candidates in every context tried: between
    digits, after a space, inside an extension label, inside brackets."""
    from phonenumbers import phonenumbermatcher

    from transforms.pii.screen import _PHONE_SAFE

    pattern = phonenumbermatcher._PATTERN
    assert not _PHONE_SAFE.intersection("0123456789 -.()+xXeEtTnNsSiIoOaA")
    for c in _PHONE_SAFE:
        for text in (f"1{c}1", f"12 {c}34", f"12 e{c}t 34", f"({c}12) 345", f"1 x{c}2"):
            for m in pattern.finditer(text):
                assert c not in m.group(), (c, text)


def test_windows_libphonenumber_would_reject_are_skipped_only_when_it_finds_nothing(analyzer):
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from transforms.pii.screen import matcher_rejects_every_candidate

    phone = next(r for r in analyzer.registry.recognizers if type(r) is PhoneRecognizer)
    windows = [
        "on 11/02/2006 - 8:00pm",
        "at 2012-01-02 08:00:15 in",
        "page 12 of 40",
        "call 030 1234 5678 now",
        "11/02/2006 or +1 415 555 0134",
        "in 1640 and 12/5/99",
    ]
    for window in windows:
        if matcher_rejects_every_candidate(window):
            assert not phone.analyze(window, ["PHONE_NUMBER"]), window
    assert matcher_rejects_every_candidate(windows[0])
    assert not matcher_rejects_every_candidate(windows[3])


def test_windows_no_region_validates_are_skipped_only_when_the_matcher_finds_nothing(analyzer):
    """The parse-and-verify check against the real PhoneRecognizer on hand-picked cases
    (a German number needs its 0 written, ISBNs and amounts are no numbers) and on 1,500
    random digit groups in the shapes numbers, dates and ids take on web pages."""
    import random

    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from transforms.pii.screen import matcher_rejects_every_candidate
    from transforms.pii.shortphones import short_valid_numbers

    phone = next(r for r in analyzer.registry.recognizers if type(r) is PhoneRecognizer)
    regions, short = tuple(phone.supported_regions), short_valid_numbers()

    def rejects(window):
        return matcher_rejects_every_candidate(window, short, regions)

    assert rejects("ISBN 978-1-317-44918-8.")
    assert rejects("worth 26402000000 Emirati")
    assert rejects("in Berlin 30 1234567 ")
    assert not rejects("in Berlin 030 1234567 ")
    assert not rejects("call 888-459-0005 to")
    assert rejects("ring +44 7700 900123 now")  # Ofcom's range for drama: not valid
    assert not rejects("ring +44 7911 123456 now")
    rng = random.Random(7)
    separators = ["", " ", "-", ".", "/", ") ", " - "]
    skipped = 0
    for _ in range(1500):
        groups = [
            "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 5)))
            for _ in range(rng.randint(1, 4))
        ]
        number = groups[0] + "".join(rng.choice(separators) + g for g in groups[1:])
        prefix = rng.choice(["", "", "+", "+1 ", "00", "0", "(0", "1-", "+49 ", "+91 "])
        window = (
            f"{rng.choice(['call', 'ref', 'on'])} {prefix}{number}{rng.choice(['', '.', ' x'])}"
        )
        if rejects(window):
            skipped += 1
            assert not phone.analyze(window, ["PHONE_NUMBER"]), window
    assert 300 < skipped < 1500  # the check does work, and some windows hold numbers


def test_the_phone_recognizers_necessary_pattern_is_in_every_result(fixtures):
    """The screen skips ContextPhoneRecognizer on lines without its necessary pattern; every
    result it gives on presidio-synth, the web fixtures and generated phone layouts (7-digit
    numbers at the edge, brackets, +country codes, extensions) holds the pattern."""
    import random

    from transforms.pii.recognizers import extra_recognizers

    phone = next(r for r in extra_recognizers() if r.name == "ContextPhoneRecognizer")
    rng = random.Random(11)

    def digits(n):
        return "".join(rng.choice("0123456789") for _ in range(n))

    generated = []
    for _ in range(3000):
        body = rng.choice(["-", " ", "."]).join(
            digits(rng.randint(2, 6)) for _ in range(rng.randint(2, 5))
        )
        prefix = rng.choice(["", "+" + digits(rng.randint(1, 3)) + rng.choice(["", " ", "-"])])
        area = rng.choice(["", f"({digits(rng.randint(1, 4))})" + rng.choice(["", " ", "."])])
        suffix = rng.choice(["", " x" + digits(3), " ext. 12", " office", "-Fax"])
        generated.append(f"{rng.choice(['call', 'tel:', ''])} {prefix}{area}{body}{suffix}")
    texts = [row["full_text"] for row in _synth(fixtures)] + _web_texts(fixtures) + generated
    results = 0
    for text in texts:
        for r in phone.analyze(text, ["PHONE_NUMBER"]):
            results += 1
            assert phone.necessary_pattern.search(text[r.start : r.end]), text[r.start : r.end]
    assert results > 1000


def test_ner_entities_need_an_english_model():
    with pytest.raises(ValueError, match="spaCy model"):
        Scrubber(PiiConfig(entities=("PERSON",)))


def test_ner_entities_with_an_installed_model():
    import importlib.util

    model = next(
        (
            m
            for m in ("en_core_web_sm", "en_core_web_md", "en_core_web_lg")
            if importlib.util.find_spec(m)
        ),
        None,
    )
    if model is None:
        pytest.skip("no English spaCy model installed (pip install en_core_web_sm) for NER")
    scrubber = Scrubber(PiiConfig(entities=("PERSON", "EMAIL_ADDRESS"), spacy_model=model))
    redacted, spans = scrubber.scrub("Barack Obama wrote to jane@example.com from Chicago.")
    assert {s.entity_type for s in spans} >= {"PERSON", "EMAIL_ADDRESS"}
    assert "Obama" not in redacted


def test_building_the_blank_analyzer_leaves_torch_unimported_but_importable():
    """thinc would import torch (seconds per worker) for nothing; torch still works after."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from transforms.pii.engine import build_analyzer\n"
        "found = build_analyzer().analyze('write to jo@example.com', language='en')\n"
        "print(len(found), 'torch' in sys.modules)\n"
        "import importlib.util\n"
        "if importlib.util.find_spec('torch'):\n"
        "    import torch\n"
        "    print(torch.zeros(2).sum().item())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "1 False"
