"""The screen's shortcuts against the plain definitions they replace."""

import gzip
import json
import random
import re

import pytest

from transforms.pii.engine import DEFAULT_ENTITIES, build_analyzer
from transforms.pii.screen import RegionAnalyzer, _phone_possible, _phone_window
from transforms.pii.triggers import DIGIT_TRIGGERS, TRIGGERS, phone_chain


@pytest.fixture(scope="module")
def region():
    return RegionAnalyzer(build_analyzer(), DEFAULT_ENTITIES, 0.4)


def _line_starts(text):
    return [0] + [m.end() for m in re.finditer("\n", text)]


def plain_candidate_lines(region, text):
    """`candidate_lines` by its definition: each trigger searched for in each line, the
    phone windows of every `phone_chain` match that `_phone_possible` keeps."""
    starts = _line_starts(text)
    ends = starts[1:] + [len(text)]
    found = {}
    for entity in region.screened_entities:
        for pattern in TRIGGERS.get(entity, ()):
            rx = re.compile(pattern)
            for line, (start, end) in enumerate(zip(starts, ends, strict=True)):
                if rx.search(text, start, end):
                    found.setdefault(line, {})[entity] = []
    chain, k = phone_chain()
    for m in chain.finditer(text):
        if _phone_possible(m.group(), k, region._short):
            line = len([s for s in starts if s <= m.start()]) - 1
            windows = found.setdefault(line, {}).setdefault("PHONE_NUMBER", [])
            windows.append(_phone_window(text, m.start(), m.end()))
    return found


# Characters the digit triggers and phone chains are made of, and their neighbours: ASCII
# and other decimal digits, libphonenumber's punctuation (".", "x", fullwidth and CJK forms,
# no-break and zero-width spaces), letters (IBAN country codes), what splits a chain.
_PIECES = [
    *"0123456789",
    "1640",  # short numbers libphonenumber validates (shortphones.py)
    "16400",
    "٣",
    "１",
    "৭",
    *" .-x/()~",
    "\u00a0",
    "\u200b",
    "ー",
    "－",
    "．",
    "\n",
    "\r\n",
    ":",
    "::",
    "@",
    ",",
    "_",
    "DE",
    "ab",
    "Z",
    "é",
    "word",
    "     ",
]


def _generated(n, seed=5):
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        pieces = []
        for _ in range(rng.randint(1, 40)):
            piece = rng.choice(_PIECES)
            if piece.isdigit() and rng.random() < 0.5:
                piece *= rng.randint(2, 6)
            pieces.append(piece)
        texts.append("".join(pieces))
    return texts


def test_digit_triggers_are_triggers():
    assert DIGIT_TRIGGERS <= {p for ps in TRIGGERS.values() for p in ps}


def test_candidate_lines_equal_their_definition(region, fixtures):
    texts = _generated(4000)
    for f in sorted((fixtures / "web-jsonl").glob("*.gz")):
        texts += [json.loads(line)["text"] for line in gzip.open(f, "rt") if line.strip()]
    synth = json.loads((fixtures / "pii" / "presidio-synth-1000.json").read_text())
    texts += [r["full_text"] for r in synth]
    texts += [
        "IBAN DE89 3704 0044 0532 0130 00, ip 10.0.0.1, ssn 078-05-1120",
        "card 4111-1111-1111-1111\nxx12 1x23 ab1ー2",
        "２０２４．０５．０１ ١٢٣-٤٥-٦٧٨٩",
        "founded in 1640, 16-40 and 16400",
    ]
    hits = 0
    for text in texts:
        got = region.candidate_lines(text, _line_starts(text))
        assert got == plain_candidate_lines(region, text), text[:300]
        hits += len(got)
    assert hits > 1000
