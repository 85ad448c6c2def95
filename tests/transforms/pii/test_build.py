"""Building the analyzer (once per worker process) the short way gives presidio's recognizers
and presidio's results."""

import json
import subprocess
import sys
import threading

import pytest

from transforms.pii import engine
from transforms.pii.engine import DEFAULT_ENTITIES, analyze_whole, build_analyzer


def _stock_predefined_recognizers() -> list:
    """presidio's own loading, outside our build: every Pattern checked."""
    from presidio_analyzer import RecognizerRegistry

    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"])
    return registry.recognizers


def _state(recognizer) -> dict:
    state = {k: v for k, v in vars(recognizer).items() if k not in ("_id", "patterns")}
    state["class"] = type(recognizer)
    state["patterns"] = [p.to_dict() for p in getattr(recognizer, "patterns", [])]
    return state


def test_predefined_recognizers_are_the_ones_presidio_loads():
    build_analyzer()  # presidio imported the short way
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    stock = [r for r in _stock_predefined_recognizers() if not isinstance(r, SpacyRecognizer)]
    ours = engine.predefined_recognizers()
    assert [_state(r) for r in ours] == [_state(r) for r in stock]


def test_the_analyzer_finds_what_one_built_from_presidios_loading_finds(fixtures, monkeypatch):
    texts = [
        r["full_text"]
        for r in json.loads((fixtures / "pii" / "presidio-synth-1000.json").read_text())
    ]
    texts += [
        "IBAN ES91 2100 0418 4502 0005 1332 before noon, BE71 0961 2345 6769 or\n"
        "GB82WEST12345698765432",
        "call me on 415 555 0134, card 4111 1111 1111 1111, ssn 078-05-1120, ip 10.0.0.1 ::1",
    ]
    fast = build_analyzer()
    monkeypatch.setattr(engine, "predefined_recognizers", _stock_predefined_recognizers)
    stock = build_analyzer()

    def key(results):
        return [(r.start, r.end, r.entity_type, r.score) for r in results]

    for text in texts:
        for min_score in (0.0, 0.4):
            assert key(analyze_whole(fast, text, DEFAULT_ENTITIES, min_score)) == key(
                analyze_whole(stock, text, DEFAULT_ENTITIES, min_score)
            ), text[:200]


def test_patterns_are_still_checked_outside_the_build_and_on_other_threads():
    from presidio_analyzer import Pattern

    build_analyzer()
    with pytest.raises(ValueError):
        Pattern("bad", "(unclosed", 0.5)
    errors = []

    def other_thread():
        try:
            Pattern("bad", "(unclosed", 0.5)
        except ValueError as e:
            errors.append(e)

    with engine._unchecked_patterns():
        Pattern("unchecked here", "(unclosed", 0.5)  # this thread, inside the block
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert len(errors) == 1
    with pytest.raises(ValueError):
        Pattern("bad", "(unclosed", 0.5)


def test_a_fresh_process_checks_no_pattern_while_building():
    """The ~180 Patterns presidio's modules make are not compiled just to be checked."""
    script = (
        "import regex\n"
        "compiled = []\n"
        "real = regex.compile\n"
        "regex.compile = lambda p, *a, **k: (compiled.append(p), real(p, *a, **k))[1]\n"
        "from transforms.pii.engine import build_analyzer\n"
        "build_analyzer()\n"
        "from presidio_analyzer.predefined_recognizers import UrlRecognizer\n"
        "urls = {p.regex for p in UrlRecognizer.PATTERNS}\n"
        "print(len(compiled), sum(p in urls for p in compiled))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[1] == "0" and int(out[0]) < 10, out


def test_the_shipped_phone_min_digits_is_what_libphonenumber_gives():
    import phonenumbers
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from transforms.pii.triggers import (
        SHIPPED_MIN_DIGITS,
        phone_min_digits,
        phone_min_digits_cached,
    )

    key = (phonenumbers.__version__, tuple(PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS))
    assert key in [(v, r) for v, r, _ in SHIPPED_MIN_DIGITS], "add this version's value"
    assert phone_min_digits_cached() == phone_min_digits()
