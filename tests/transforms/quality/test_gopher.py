"""Gopher quality and repetition rules: one passing and one failing document per rule.

"Fails for exactly that reason" is checked within the family: `failures_*` lists every rule
of the family the document breaks, and it must be that one rule alone.
"""

import random
from collections import Counter

import pytest

from tests.transforms.quality.texts import CLEAN, CLEAN_LINES, words
from transforms.quality import gopher
from transforms.quality.gopher import GopherQualityConfig, GopherRepetitionConfig

QUALITY = GopherQualityConfig()
REPETITION = GopherRepetitionConfig()


def quality_failures(text: str, config: GopherQualityConfig = QUALITY) -> list[str]:
    return gopher.failures_quality(gopher.score_quality(text, config), config)


def repetition_failures(text: str, config: GopherRepetitionConfig = REPETITION) -> list[str]:
    return gopher.failures_repetition(gopher.score_repetition(text, config), config)


def test_clean_text_passes_every_rule():
    assert quality_failures(CLEAN) == []
    assert repetition_failures(CLEAN) == []
    assert gopher.decide_quality(gopher.score_quality(CLEAN), QUALITY) is None
    assert gopher.decide_repetition(gopher.score_repetition(CLEAN), REPETITION) is None


# ------------------------------------------------------------------ quality rules

SHORT_WORDS = "I am to go up to the bay and we do it as we can so he is by an ox. " * 3
LONG_WORDS = " ".join(["extraordinarily"] * 60 + ["the", "and"])
NO_STOP_WORDS = (
    "Quiet rivers wind through green valleys where farmers grow wheat, barley and oats. "
    "Every autumn, families gather in village squares for harvest festivals. "
    "Musicians play old songs while children run between stalls selling apples. "
    "Bakers sell fresh bread, cheese, honey, jam, cider, pies, cakes, biscuits. "
    "Later, lanterns glow along narrow streets until midnight arrives."
).replace(" and ", " plus ")


def _with_hashtags(count: int) -> str:
    return CLEAN + "\n" + " ".join(f"#tag{i}" for i in range(count)) + "."


def _with_ellipses(count: int) -> str:
    tokens = CLEAN.split(" ")
    for i in range(count):
        tokens[3 + 6 * i] += "..."
    return " ".join(tokens)


def _bulleted(count: int) -> str:
    return "\n".join(("• " if i < count else "") + line for i, line in enumerate(CLEAN_LINES))


def _ending_in_ellipsis(count: int) -> str:
    return "\n".join(line[:-1] + "..." if i < count else line for i, line in enumerate(CLEAN_LINES))


def _with_numbers(count: int) -> str:
    return CLEAN + "\n" + " ".join(str(1000 + i) for i in range(count))


QUALITY_CASES = [
    # (reason, passing text, failing text)
    (gopher.DROP_WORD_COUNT, " ".join(CLEAN.split()[:50]), " ".join(CLEAN.split()[:49])),
    # 700 copies: 100,100 words (the repetition rules are another family).
    (gopher.DROP_WORD_COUNT, "\n".join([CLEAN] * 699), "\n".join([CLEAN] * 700)),
    (gopher.DROP_MEAN_WORD_LENGTH, CLEAN, SHORT_WORDS),
    (gopher.DROP_MEAN_WORD_LENGTH, CLEAN, LONG_WORDS),
    (gopher.DROP_HASH_RATIO, _with_hashtags(14), _with_hashtags(20)),
    (gopher.DROP_ELLIPSIS_RATIO, _with_ellipses(14), _with_ellipses(20)),
    (gopher.DROP_BULLET_LINES, _bulleted(9), _bulleted(10)),
    (gopher.DROP_ELLIPSIS_LINES, _ending_in_ellipsis(3), _ending_in_ellipsis(4)),
    (gopher.DROP_ALPHA_WORDS, _with_numbers(30), _with_numbers(40)),
    (gopher.DROP_STOP_WORDS, NO_STOP_WORDS + " Both the cats and dogs slept.", NO_STOP_WORDS),
]


@pytest.mark.parametrize(("reason", "passing", "failing"), QUALITY_CASES)
def test_quality_rule(reason, passing, failing):
    assert quality_failures(passing) == []
    assert quality_failures(failing) == [reason]


def test_word_count_and_mean_length_ignore_symbol_tokens():
    text = " ".join(CLEAN.split()[:49]) + " | - • ·"
    signals = gopher.score_quality(text)
    assert signals["gopher.word_count"] == 49
    assert signals["gopher.alpha_words_frac"] == 49 / 53
    assert quality_failures(text) == [gopher.DROP_WORD_COUNT]


# Characters a word can start, end or be made of: letters with and without case, digits
# (decimal or not: "²", "½", "Ⅻ"), "_", punctuation, symbols, combining marks.
_WORD_CHARS = "aZé中ßʰ" + "09٣²½Ⅻ" + "_" + ".,;:!?'\"()[]«»-–—/&%#" + "•|·€$+=<>" + "\u0301\u200b😀"


def test_word_signals_match_a_character_by_character_count():
    # `_odd_words` skips, in C, the words that are all letters or start or end with one;
    # the signals must be those of looking at every character of every word.
    rng = random.Random(7)
    for _ in range(3000):
        tokens = [
            "".join(rng.choice(_WORD_CHARS) for _ in range(rng.choice((1, 1, 2, 3, 5))))
            for _ in range(rng.randint(0, 12))
        ]
        text = rng.choice((" ", "  ", "\n", "\t")).join(tokens)
        words_ = text.split()
        letter = [any(c.isalpha() for c in w) for w in words_]
        symbol = [not any(c.isalnum() or c == "_" for c in w) for w in words_]
        counted = [w for w, s in zip(words_, symbol, strict=True) if not s]
        signals = gopher.score_quality(text)
        assert signals["gopher.word_count"] == len(counted), text
        mean = sum(map(len, counted)) / len(counted) if counted else 0.0
        assert signals["gopher.mean_word_length"] == mean, text
        alpha = sum(letter) / len(words_) if words_ else 0.0
        assert signals["gopher.alpha_words_frac"] == alpha, text


def test_stop_words_are_counted_once_each_in_any_common_case():
    the_only = NO_STOP_WORDS + " The cat, the dog, THE bird."
    assert gopher.score_quality(the_only)["gopher.stop_words"] == 1
    assert quality_failures(the_only) == [gopher.DROP_STOP_WORDS]
    assert gopher.score_quality(NO_STOP_WORDS + " The cat, WITH a hat.")["gopher.stop_words"] == 2


def test_a_null_threshold_disables_its_rule():
    config = GopherQualityConfig.from_dict({"min_stop_words": None, "max_words": None})
    assert quality_failures(NO_STOP_WORDS, config) == []
    assert quality_failures("\n".join([CLEAN] * 700), config) == []
    with pytest.raises(ValueError, match="unknown setting"):
        GopherQualityConfig.from_dict({"min_word": 10})
    with pytest.raises(ValueError, match="min_words must be an integer"):
        GopherQualityConfig.from_dict({"min_words": "fifty"})


# ------------------------------------------------------------------ repetition rules

LONG_TOKEN = "https://example.com/" + "a" * 400


def _interleaved(extra: str, count: int) -> str:
    lines = list(CLEAN_LINES)
    for i in range(count):
        lines.insert(1 + 2 * i, extra)
    return "\n".join(lines)


def _paragraphs_with(extra: str, count: int) -> str:
    paragraphs = ["\n".join(CLEAN_LINES[i : i + 2]) for i in range(0, 10, 2)]
    return "\n\n".join(paragraphs + [extra] * count)


def repeated_phrase(n: int, times: int, total: int) -> str:
    """`total` five-letter words: an n-word phrase `times` times, between distinct words."""
    phrase = words(n, "p")
    filler = words(total - n * times, "f")
    cuts = [round(i * len(filler) / (times + 1)) for i in range(times + 2)]
    out = filler[: cuts[1]]
    for i in range(1, times + 1):
        out += phrase + filler[cuts[i] : cuts[i + 1]]
    return " ".join(out)


# n -> (times, words in a failing text, words in a passing text): each failing text breaks
# only the rule for n (the shorter n-grams inside the phrase stay under their thresholds),
# and the passing text holds the same repeats in more words.
NGRAM_CASES = {
    2: (6, 40, 60),
    3: (4, 50, 67),
    4: (3, 60, 75),
    5: (5, 129, 134),
    6: (3, 82, 86),
    7: (2, 51, 54),
    8: (2, 64, 67),
    9: (2, 78, 82),
    10: (2, 95, 100),
}

REPETITION_CASES = [
    # 15 lines, 4 of them repeats: 0.27; 16 lines, 5 repeats: 0.31 > 0.30.
    (gopher.DROP_DUP_LINE_FRAC, _interleaved("Next.", 5), _interleaved("Next.", 6)),
    # 8 paragraphs, 2 repeats: 0.25; 9 paragraphs, 3 repeats: 0.33 (lines: 3 of 14).
    (gopher.DROP_DUP_PARA_FRAC, _paragraphs_with("Next.", 3), _paragraphs_with("Next.", 4)),
    # One long one-word line seen twice: its copy is > 20% of the characters, one line in 12,
    # and a single word makes no repeated n-gram.
    (
        gopher.DROP_DUP_LINE_CHAR_FRAC,
        _interleaved(LONG_TOKEN[:150], 2),
        _interleaved(LONG_TOKEN, 2),
    ),
    *(
        (
            gopher.top_ngram_reason(n) if n < 5 else gopher.dup_ngram_reason(n),
            repeated_phrase(n, times, passing),
            repeated_phrase(n, times, failing),
        )
        for n, (times, failing, passing) in NGRAM_CASES.items()
    ),
]


@pytest.mark.parametrize(("reason", "passing", "failing"), REPETITION_CASES)
def test_repetition_rule(reason, passing, failing):
    assert repetition_failures(passing) == []
    assert repetition_failures(failing) == [reason]


def test_duplicate_paragraph_characters():
    # A repeated paragraph is also a repeated line of the same length, so the line rule is
    # switched off to see the paragraph rule alone.
    config = GopherRepetitionConfig.from_dict({"max_dup_line_char_frac": None})
    assert repetition_failures(_paragraphs_with(LONG_TOKEN[:150], 2), config) == []
    assert repetition_failures(_paragraphs_with(LONG_TOKEN, 2), config) == [
        gopher.DROP_DUP_PARA_CHAR_FRAC
    ]
    assert repetition_failures(_paragraphs_with(LONG_TOKEN, 2)) == [
        gopher.DROP_DUP_LINE_CHAR_FRAC,
        gopher.DROP_DUP_PARA_CHAR_FRAC,
    ]


def test_reason_names_are_the_constants():
    assert gopher.top_ngram_reason(2) == gopher.DROP_TOP_2GRAM
    assert gopher.dup_ngram_reason(10) == gopher.DROP_DUP_10GRAM


def test_ngram_thresholds_from_yaml_mapping():
    # YAML {2: 0.3, 3: null}; after the JSON round trip of --stages the keys are strings.
    config = GopherRepetitionConfig.from_dict({"top_ngram_char_frac": {"2": 0.3, "3": None}})
    assert config.top_ngram_char_frac == ((2, 0.3), (3, None))
    assert repetition_failures(repeated_phrase(2, 6, 40), config) == []
    signals = gopher.score_repetition(repeated_phrase(3, 4, 50), config)
    assert signals["gopher.top_3gram_char_frac"] == 0.24  # scored, not decided
    assert gopher.failures_repetition(signals, config) == []


def _reference_ngram_fracs(words_: list[str], n: int) -> tuple[float, float]:
    """Straightforward (slow) top and duplicate n-gram character fractions."""
    total = sum(map(len, words_))
    grams = [tuple(words_[i : i + n]) for i in range(len(words_) - n + 1)]
    counts = Counter(grams)
    top = 0.0
    if grams:
        gram, times = max(counts.items(), key=lambda item: item[1])  # first of the most
        if times > 1:
            top = sum(map(len, gram)) * times / total
    covered = [False] * len(words_)
    seen = set()
    for i, gram in enumerate(grams):
        if gram in seen:
            covered[i : i + n] = [True] * n
        seen.add(gram)
    dup = sum(len(w) for w, c in zip(words_, covered, strict=True) if c) / total if total else 0
    return top, dup


@pytest.mark.parametrize("seed", range(40))
def test_ngram_fractions_match_a_direct_count(seed):
    rng = random.Random(seed)
    vocabulary = ["a", "bb", "ccc", "dddd", "e", "ff"][: rng.randint(1, 6)]
    text_words = [rng.choice(vocabulary) for _ in range(rng.randint(0, 80))]
    signals = gopher.score_repetition(" ".join(text_words))
    for n in range(2, 11):
        top, dup = _reference_ngram_fracs(text_words, n)
        if n <= 4:
            assert signals[f"gopher.top_{n}gram_char_frac"] == top, n
        if n >= 5:
            assert signals[f"gopher.dup_{n}gram_char_frac"] == dup, n


@pytest.mark.parametrize("mix", [None, 0, 1])
@pytest.mark.parametrize("seed", range(30))
def test_ngram_fractions_for_any_sizes_and_hash_collisions(seed, mix, monkeypatch):
    # Exact (not approximate) equality with the direct count, for n-gram sizes that need
    # not be consecutive or start at 2; with `mix` 0 or 1 the vectorised pre-selection
    # sees many n-grams as equal that are not (as hash collisions would), which must
    # change nothing.
    if mix is not None:
        monkeypatch.setattr(gopher, "_MIX", mix)
    rng = random.Random(seed)
    vocabulary = ["a", "bb", "ccc", "dddd", "e", "ff", "The", "the"][: rng.randint(1, 8)]
    text_words = [rng.choice(vocabulary) for _ in range(rng.randint(0, 300))]
    if rng.random() < 0.5:  # a repeated passage, as in copied boilerplate
        i, k = rng.randint(0, len(text_words)), rng.randint(0, 30)
        text_words[i:i] = text_words[i : i + k] * rng.randint(1, 3)
    sizes = sorted(rng.sample(range(1, 13), rng.randint(1, 6)))
    top_ns = [n for n in sizes if rng.random() < 0.5]
    dup_ns = [n for n in sizes if n not in top_ns or rng.random() < 0.3]
    config = GopherRepetitionConfig(
        top_ngram_char_frac=tuple((n, 0.5) for n in top_ns),
        dup_ngram_char_frac=tuple((n, 0.5) for n in dup_ns),
    )
    signals = gopher.score_repetition("  ".join(text_words), config)
    for n in sizes:
        top, dup = _reference_ngram_fracs(text_words, n)
        if n in top_ns:
            assert signals[f"gopher.top_{n}gram_char_frac"] == top, (n, sizes)
        if n in dup_ns:
            assert signals[f"gopher.dup_{n}gram_char_frac"] == dup, (n, sizes)


def test_paragraphs_are_split_on_any_run_of_blank_lines():
    para = "One line here.\nAnother line."
    for gap in ("\n\n", "\n\n\n", "\n\n\n\n\n"):
        signals = gopher.score_repetition(gap.join([para, para, "Other.", para]) + gap)
        assert signals["gopher.dup_para_frac"] == 2 / 4, repr(gap)
    # A blank line of spaces is not a paragraph break (only "\n\n+" is).
    assert gopher.score_repetition(para + "\n \n" + para)["gopher.dup_para_frac"] == 0.0


@pytest.mark.parametrize(
    "text",
    ["", " ", "\n\n", " \t\u00a0\u3000 ", "x", "a b", "é ü ö", "中文 中文 中文", "w " * 5000],
)
def test_signals_of_tiny_blank_and_unicode_texts(text):
    words_ = text.split()
    signals = gopher.score_repetition(text)
    for n in range(2, 11):
        top, dup = _reference_ngram_fracs(words_, n)
        key = f"gopher.top_{n}gram_char_frac" if n <= 4 else f"gopher.dup_{n}gram_char_frac"
        assert signals[key] == (top if n <= 4 else dup), (n, text[:20])
    assert gopher.score_quality(text)["gopher.word_count"] == float(len(words_))
