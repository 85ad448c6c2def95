"""C4 line cleaning and page rules, and the paper-vs-TFDS settings."""

import random
import re

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


# ------------------------------------------------------------------ fast paths vs a reference
# `clean` counts sentences over the whole cleaned page (one reversed-text search for the
# abbreviations) and tests word counts with a bounded split; the straightforward version
# below counts line by line. Both must agree exactly on every page and setting.

_REF_SENTENCE_END = re.compile(r"[.!?]+[\"'”’»)\]]*(?=\s|$)")
_REF_ABBREVIATION = re.compile(
    r"(?<!\S)(?:(?:[A-Z]\.)*[A-Z]|Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|vs|etc|e\.g|i\.e|a\.m|p\.m|No|Fig|"
    r"Vol|Inc|Ltd|Co|Corp|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.(?=\s)"
)


def _reference_count_sentences(line: str) -> int:
    ends = len(_REF_SENTENCE_END.findall(line))
    if ends and "." in line:
        ends -= len(_REF_ABBREVIATION.findall(line))
    return max(ends, 1)


def _reference_clean(text: str, c: C4Config) -> tuple[str, dict[str, float]]:
    lines = long_word = no_punct = few_words = javascript = policy = sentences = 0
    lorem = curly = False
    kept = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        lines += 1
        if c.max_word_length is not None and any(len(w) > c.max_word_length for w in line.split()):
            long_word += 1
            continue
        if c.remove_citations:
            line = re.sub(r"\[\d*\]|\[edit\]|\[citation needed\]", "", line)
        if c.end_marks is not None and (not line.endswith(c.end_marks) or line.endswith("...")):
            no_punct += 1
            continue
        if c.min_words_per_line is not None and len(line.split()) < c.min_words_per_line:
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
        if c.drop_policy_lines and any(p in lower for p in c4.POLICY_SUBSTRINGS):
            policy += 1
            continue
        sentences += _reference_count_sentences(line)
        kept.append(line)
    cleaned = "\n".join(kept)
    stripped = text.strip()
    return cleaned, {
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
        "c4.chars_removed_frac": 1.0 - (len(cleaned) / len(stripped) if stripped else 0.0),
    }


# Words that end (or seem to end) sentences, abbreviations and initialisms, closing quotes,
# citations and the page-rule triggers; spaces of every kind, including none at all.
_TOKENS = (
    *("the", "cat", "sat", "on", "mat", "Go", "A", "x", "word.", "end.", "Stop!", "why?", "ok?!"),
    *("Dr.", "Mr.", "Mrs.", "U.S.", "A.G.M.", "e.g.", "i.e.", "p.m.", "etc.", "Sept.", "No."),
    *("Co.", "Corp.", "vs.", "A.", "Z.", "a.", "U.S", "Inc.,", "Dr.)", '"Go."', "(ok.)", "»Oui.»"),
    *("it.”", "'so.'", "[1]", "[edit]", "[citation needed]", "[12]", "...", "…", ".", "!", "?"),
    *('"', "{", "}", "JavaScript", "Lorem", "ipsum", "privacy", "Policy", "cookies", "cookie"),
    *("use", "uses", "of", "terms", "Terms of Use", "use of Cookies", "lorem ipsum"),
    "x" * 12,
)
_SPACES = (" ", " ", " ", "  ", "\t", "\u00a0", "\u2003", "\x0b", "\x0c", "\r", "\u2028", "")
_ENDS = ("", ".", "!", "?", '"', '."', "...", " ", "\u00a0", ".)", ". [1]", "Dr.", " U.S.", "?»")


def _random_page(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(0, 12)):
        parts = []
        for _ in range(rng.randint(0, 14)):
            parts.append(rng.choice(_TOKENS))
            parts.append(rng.choice(_SPACES))
        lines.append(rng.choice(("", " ", "\t")) + "".join(parts) + rng.choice(_ENDS))
    return "\n".join(lines) + rng.choice(("", "\n", "\n\n", " "))


_CONFIGS = (
    PAPER,
    TFDS,
    C4Config(end_marks=None),
    C4Config(end_marks=None, min_words_per_line=None, min_sentences=None),
    C4Config(min_words_per_line=0),
    C4Config(min_words_per_line=1, remove_citations=False),
    C4Config(max_word_length=10, drop_lorem_ipsum=False, drop_curly_bracket=False),
    C4Config(drop_javascript_lines=False, drop_policy_lines=False, end_marks=(".", "]")),
)


@pytest.mark.parametrize("seed", range(6))
def test_clean_matches_a_line_by_line_reference(seed):
    rng = random.Random(seed)
    for _ in range(400):
        text = _random_page(rng)
        for config in _CONFIGS:
            assert c4.clean(text, config) == _reference_clean(text, config), (text, config)


def test_sentence_counts_at_line_ends():
    # An abbreviation's dot at a line end is the end of that line, not followed by the
    # next line's first character: it ends a sentence there.
    lines = ["He met Dr.", "Smith met the Dr. and left", 'She said "wait"', "At 5 p.m."]
    for config in (PAPER, C4Config(end_marks=None, min_words_per_line=None)):
        text = "\n".join(lines)
        assert c4.clean(text, config) == _reference_clean(text, config)
    cleaned, signals = c4.clean("\n".join(lines), C4Config(end_marks=None))
    assert signals["c4.sentences"] == sum(map(c4.count_sentences, cleaned.split("\n"))) == 4


@pytest.mark.parametrize(
    ("line", "ends"),
    [
        ("", 0),
        ("No end here", 0),
        ("One. Two! Three? Four?! Five...", 5),
        ('He said "go." Then (he left.) »Oui.» it.” Done.)', 5),
        ("a.b c?d e!f", 0),  # marks inside words end nothing
        ("Wow?)! Yes.\u00a0Next!\u3000Last?", 4),  # the run after the closer counts once
        ("¿Qué? Ça va! 中文。 Ελληνικά; Ok.", 3),
        ("x." * 2000 + " y.", 1 + 1),  # one very long word, then a sentence
    ],
)
def test_sentence_ends_per_mark_match_the_one_pattern(line, ends):
    # `_sentence_ends` searches once per mark; the reference pattern finds each run once.
    assert c4._sentence_ends(line) == len(_REF_SENTENCE_END.findall(line)) == ends
