"""C4 line cleaning and page rules, and the paper-vs-TFDS settings."""

import pytest

from tests.transforms.quality.texts import CLEAN, CLEAN_LINES
from transforms.quality import c4
from transforms.quality.c4 import C4Config

PAPER = C4Config()
TFDS = C4Config.tfds()


def page_failures(text: str, config: C4Config = PAPER) -> list[str]:
    return c4.failures(c4.score(text, config), config)


def test_clean_text_is_kept_unchanged():
    cleaned, signals = c4.clean(CLEAN)
    assert cleaned == CLEAN
    assert signals["c4.lines_kept"] == signals["c4.lines"] == 10
    assert signals["c4.chars_removed_frac"] == 0
    assert page_failures(CLEAN) == []
    assert c4.decide(signals, PAPER) is None


# ------------------------------------------------------------------ line rules
# Each case: (signal counting the rule's removals, a line the rule keeps, a line it removes).
LINE_CASES = [
    (
        "c4.lines_long_word",
        "A " + "x" * 1000 + " word is allowed.",
        "A " + "x" * 1001 + " word is too long.",
    ),
    ("c4.lines_no_terminal_punct", 'She said "come back soon."', "This line has no end mark"),
    ("c4.lines_no_terminal_punct", "Is this a question?", "And then it trailed off..."),
    ("c4.lines_too_few_words", "Three words here.", "Too short."),
    (
        "c4.lines_javascript",
        "The script ran on the server.",
        "Please enable JavaScript to view this page.",
    ),
    ("c4.lines_policy", "We changed our menu today.", "Read our privacy policy before ordering."),
    ("c4.lines_policy", "Cookies were served at noon.", "This site uses cookies to work."),
]


@pytest.mark.parametrize(("signal", "kept", "removed"), LINE_CASES)
def test_line_rule(signal, kept, removed):
    text = "\n".join([*CLEAN_LINES[:5], kept, removed, *CLEAN_LINES[5:]])
    cleaned, signals = c4.clean(text)
    assert cleaned.split("\n") == [*CLEAN_LINES[:5], kept, *CLEAN_LINES[5:]]
    assert signals[signal] == 1
    removed_by_rule = [k for k in signals if k.startswith("c4.lines_") and k != "c4.lines_kept"]
    assert sum(signals[k] for k in removed_by_rule) == 1
    assert page_failures(text) == []


def test_citation_markers_are_cut_out():
    line = "Paris is the capital[1] of France. It has a river[citation needed]."
    cleaned, _ = c4.clean(CLEAN + "\n" + line)
    assert cleaned.endswith("\nParis is the capital of France. It has a river.")
    assert c4.clean(CLEAN + "\n" + line, C4Config(remove_citations=False))[0].endswith(line)


def test_line_rules_can_be_switched_off():
    text = CLEAN + "\nPlease enable JavaScript, read our privacy policy and go"
    config = C4Config.from_dict(
        {"end_marks": None, "drop_javascript_lines": False, "drop_policy_lines": False}
    )
    assert c4.clean(text, config)[0] == text


# ------------------------------------------------------------------ page rules

PAGE_CASES = [
    # (reason, passing page, failing page)
    (
        c4.DROP_LOREM_IPSUM,
        # Only lines that pass the punctuation and length rules are looked at (TFDS).
        CLEAN + "\nLorem ipsum dolor sit amet",
        CLEAN + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.",
    ),
    (
        c4.DROP_CURLY_BRACKET,
        CLEAN + "\nfunction f() { return 1 }",
        CLEAN + "\nCall the helper with {name: value} as its argument.",
    ),
    (c4.DROP_TOO_FEW_SENTENCES, "\n".join(CLEAN_LINES[:5]), "\n".join(CLEAN_LINES[:4])),
]


@pytest.mark.parametrize(("reason", "passing", "failing"), PAGE_CASES)
def test_page_rule(reason, passing, failing):
    assert page_failures(passing) == []
    assert page_failures(failing) == [reason]


def test_empty_page_rule_when_sentences_are_not_counted():
    config = C4Config(min_sentences=None)
    assert page_failures("menu\nhome\nabout us", config) == [c4.DROP_EMPTY]
    assert page_failures(CLEAN_LINES[0], config) == []


def test_page_rules_can_be_switched_off():
    lorem = CLEAN + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit."
    config = C4Config.from_dict({"drop_lorem_ipsum": False, "min_sentences": None})
    assert page_failures(lorem, config) == []
    assert c4.score(lorem, config)["c4.lorem_ipsum"] == 1  # still scored
    assert page_failures("\n".join(CLEAN_LINES[:2]), config) == []


def test_sentences_are_counted_inside_lines():
    assert c4.count_sentences("One. Two! Three? Four.") == 4
    assert c4.count_sentences('He met Dr. Smith at 5 p.m. in St. Louis, U.S. "Hello."') == 1
    assert c4.count_sentences('She said: "Go." Then she left.') == 2
    assert c4.count_sentences("No end mark at all") == 1
    # Dotted initialisms do not end a sentence (datatrove's spaCy splitter agrees).
    assert c4.count_sentences("The A.G.M. approved the accounts.") == 1
    assert c4.count_sentences("He moved to the U.K. in May.") == 1


# ------------------------------------------------------------------ paper vs TFDS

# Three sentences on lines of five or more words.
THREE_LONG_SENTENCES = "\n".join(CLEAN_LINES[:3])
# Five sentences on lines of three and four words.
FIVE_SHORT_SENTENCES = "\n".join(
    [
        "The lamp works.",
        "Visitors climb stairs.",
        "Guides answer questions.",
        "Boats come home.",
        "Tourists love it.",
    ]
)


def test_paper_and_tfds_disagree_on_words_per_line_and_sentences_per_page():
    assert (PAPER.min_words_per_line, PAPER.min_sentences) == (3, 5)
    assert (TFDS.min_words_per_line, TFDS.min_sentences) == (5, 3)
    assert page_failures(THREE_LONG_SENTENCES, PAPER) == [c4.DROP_TOO_FEW_SENTENCES]
    assert page_failures(THREE_LONG_SENTENCES, TFDS) == []
    assert page_failures(FIVE_SHORT_SENTENCES, PAPER) == []
    assert page_failures(FIVE_SHORT_SENTENCES, TFDS) == [c4.DROP_TOO_FEW_SENTENCES]
    assert c4.score(FIVE_SHORT_SENTENCES, TFDS)["c4.lines_too_few_words"] == 5


def test_variant_selects_the_numbers_from_config():
    assert C4Config.from_dict({}) == PAPER
    assert C4Config.from_dict({"variant": "paper"}) == PAPER
    assert C4Config.from_dict({"variant": "tfds"}) == TFDS
    mixed = C4Config.from_dict({"variant": "tfds", "min_sentences": 4})
    assert (mixed.min_words_per_line, mixed.min_sentences) == (5, 4)
    assert C4Config.from_dict({"min_words_per_line": 5, "min_sentences": 3}) == TFDS
    with pytest.raises(ValueError, match="variant"):
        C4Config.from_dict({"variant": "t5"})
