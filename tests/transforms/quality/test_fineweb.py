"""FineWeb quality rules: one passing and one failing document per rule."""

import pytest

from tests.transforms.quality.texts import CLEAN, CLEAN_LINES
from transforms.quality import fineweb
from transforms.quality.fineweb import FineWebConfig

DEFAULT = FineWebConfig()


def failures(text: str, config: FineWebConfig = DEFAULT) -> list[str]:
    return fineweb.failures(fineweb.score(text, config), config)


def _unpunctuated(count: int) -> str:
    """CLEAN with the final full stop taken off `count` of its ten lines."""
    return "\n".join(line[:-1] if i < count else line for i, line in enumerate(CLEAN_LINES))


SHORT_LINES = (
    "Cats sleep all day long.",
    "Dogs bark at the mailman.",
    "Birds sing before sunrise.",
    "Fish swim in cold water.",
    "Cows graze on the hill.",
    "Bees visit every flower.",
    "Owls hunt in the dark.",
    "Frogs croak near ponds.",
)


def _short(count: int) -> str:
    """`count` short lines and three long ones."""
    return "\n".join([*SHORT_LINES[:count], *CLEAN_LINES[:3]])


def _repeating_first_line(copies: int) -> str:
    return "\n".join([*CLEAN_LINES, *[CLEAN_LINES[0]] * copies])


# Ten lines of two long words: 9 newlines for 20 words.
TWO_WORD_LINES = "\n".join(
    f"{word.capitalize()}ification internationalization."
    for word in (
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
    )
)

CASES = [
    # (reason, passing text, failing text)
    # Paper: drop when <= 12% of lines end in punctuation: 2 of 10 pass, 1 of 10 fails.
    (fineweb.DROP_LINE_PUNCT, _unpunctuated(8), _unpunctuated(9)),
    # Paper: drop when >= 67% of lines are at most 30 characters: 6 of 9 pass, 7 of 10 fail.
    (fineweb.DROP_SHORT_LINES, _short(6), _short(7)),
    # Paper: drop when >= 10% of the characters are in repeated lines: one more copy of an
    # 80-character line is 9%, two are 16%.
    (fineweb.DROP_DUP_LINE_CHARS, _repeating_first_line(1), _repeating_first_line(2)),
    # datatrove: drop above 0.3 newlines per word (0.06 in CLEAN, 0.45 in two-word lines).
    (fineweb.DROP_NEWLINE_RATIO, CLEAN, TWO_WORD_LINES),
]


@pytest.mark.parametrize(("reason", "passing", "failing"), CASES)
def test_rule(reason, passing, failing):
    assert failures(passing) == []
    assert failures(failing) == [reason]


def test_clean_text_passes():
    signals = fineweb.score(CLEAN)
    assert signals["fineweb.line_punct_frac"] == 1
    assert signals["fineweb.short_line_frac"] == signals["fineweb.dup_line_char_frac"] == 0
    assert fineweb.decide(signals, DEFAULT) is None


def test_boundaries_follow_the_paper():
    # 12% exactly is dropped (paper: "<= 0.12"); 67% exactly is dropped (">= 0.67").
    assert fineweb.failures({**fineweb.score(CLEAN), "fineweb.line_punct_frac": 0.12}, DEFAULT)
    assert fineweb.failures({**fineweb.score(CLEAN), "fineweb.short_line_frac": 0.67}, DEFAULT)
    assert not fineweb.failures({**fineweb.score(CLEAN), "fineweb.newline_ratio": 0.3}, DEFAULT)


def test_duplicate_characters_exclude_newlines_and_the_first_copy():
    line = "Tea is served at four."
    text = "\n".join([*CLEAN_LINES, line, line])
    signals = fineweb.score(text)
    assert signals["fineweb.dup_line_char_frac"] == len(line) / len(text.replace("\n", ""))


def test_terminal_punctuation_of_other_scripts():
    text = "这是一个很长的中文句子，用来测试结尾的标点符号。\nनमस्ते दुनिया।"
    assert fineweb.score(text)["fineweb.line_punct_frac"] == 1


def test_datatrove_duplicate_threshold_is_one_setting_away():
    config = FineWebConfig.from_dict({"max_dup_line_char_frac": 0.01})
    text = _repeating_first_line(1)
    assert failures(text) == []
    assert failures(text, config) == [fineweb.DROP_DUP_LINE_CHARS]
    assert failures(_unpunctuated(10), FineWebConfig.from_dict({"min_line_punct_frac": None})) == []
