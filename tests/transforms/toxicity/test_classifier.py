"""The Beam-free core: normalization, windows, and the shipped default model."""

from __future__ import annotations

import html
import os
import random
import re

import pytest

from transforms.toxicity import MODEL_FILE, ToxicityClassifier, normalize_text, windows
from transforms.toxicity.classifier import normalized_lines

TOXIC = [
    "you are a stupid bitch and a worthless hoe",
    "shut up you fucking retard, nobody likes you",
    "those niggers are trash",
]
CLEAN = [
    "The council approved the new budget for road repairs on Tuesday.",
    "Preheat the oven to 180 degrees and bake the bread for forty minutes.",
    "The museum opens at nine and admission is free for children.",
]


@pytest.fixture(scope="module")
def classifier() -> ToxicityClassifier:
    return ToxicityClassifier()


def test_normalize_tweet_markup():
    tweet = "!!! RT @mayasolovely: As a woman you SHOULDN'T complain &amp; http://t.co/xY1 #Blessed"
    assert normalize_text(tweet) == "! as a woman you shouldn't complain url blessed"


def test_normalize_entities_handles_repeats():
    assert normalize_text("&#8220;@TheBoot: Sooooo good!!!?&#8221;") == "soo good !"
    assert normalize_text("&amp;#8220;twice escaped") == "twice escaped"  # &amp;#8220; -> “
    assert normalize_text("Visit www.example.com/page or t.co/abc now") == "visit url or url now"


def test_normalize_keeps_rt_inside_words_and_drops_newlines():
    assert normalize_text("Art and\nsmart start") == "art and smart start"
    assert "\n" not in normalize_text("line one\nline two")
    assert normalize_text("  \n ") == ""


def test_retweet_pattern_matches_like_a_word_start_lookbehind():
    """_RETWEET starts with the literal "rt" for speed; it must match exactly where the
    plain form (?<!\\w)rt(?=...) does."""
    from transforms.toxicity import classifier as c

    plain = re.compile(r"(?<!\w)rt(?=[ \t]+@user\b|[ \t]*:)")
    rng = random.Random(5)
    pieces = ["rt", ":", " ", "\t", "@user", "@userx", "a", "art", "_", "\n", "1", "é"]
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert c._RETWEET.sub("|", text) == plain.sub("|", text), repr(text)


# The regexes normalize_text was written with; classifier.py does their work on code points
# (numpy) for speed, and must keep giving what they give.
_REPEAT = re.compile(r"(\w)\1\1+")  # "soooo" -> "soo"
_MARKS = re.compile(r"([!?])[!?]+")  # "!!!?" -> "!"
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[!?]")


def _normalize_every_step(text: str) -> str:
    """normalize_text without its shortcuts: every substitution on every text, by regex."""
    from transforms.toxicity import classifier as c

    text = html.unescape(html.unescape(text)).lower()
    text = c._URL.sub(" url ", text)
    text = c._HANDLE.sub(" @user ", text)
    text = c._RETWEET.sub(" ", text).replace("@user", " ")
    text = _MARKS.sub(r"\1", _REPEAT.sub(r"\1\1", text))
    return " ".join(_TOKEN.findall(text))


def test_normalize_shortcuts_change_nothing():
    pieces = [
        "RT",
        "rt",
        ":",
        " ",
        "\t",
        "@Bob",
        "@user",
        "http://x.io/a",
        "HTTPS://Y.org",
        "www.",
        "WWW.site",
        "bit.ly/3x",
        "a.co/b",
        "site.com/",
        "x.net",
        ".org/",
        "/",
        "soooo",
        "!!?",
        "?",
        "part",
        "Start:",
        "don't",
        "&amp;",
        "&#8220;",
        "\n",
        "é",
        "snake_case",
        "#tag",
    ]
    rng = random.Random(7)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(5000)]
    for text in texts:
        assert normalize_text(text) == _normalize_every_step(text), text


def test_normalized_lines_are_normalize_text_per_line():
    rng = random.Random(11)
    pieces = ["Word", " ", "\n", "http://x.co/a", "@who", "RT @u:", "soooo", "!!?", "&amp;", "x"]
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 15)))
        expected = [normalize_text(line).split() for line in text.split("\n")]
        assert normalized_lines(text) == [words for words in expected if words], text


def _reference_lines(text: str) -> list[str]:
    """_normalized_line_texts by regex: normalize_text's steps, line breaks kept."""
    from transforms.toxicity import classifier as c

    text = _MARKS.sub(r"\1", _REPEAT.sub(r"\1\1", c._substituted(text)))
    joined = " ".join(re.findall(r"[^\W_]+(?:'[^\W_]+)*|[!?]|\n", text))
    return [line for line in (part.strip(" ") for part in joined.split("\n")) if line]


def test_character_kinds_are_the_regex_classes():
    """The code-point table says "letter or digit" exactly where the regex [^\\W_] matches
    (above U+FFFF, str.isalnum is asked, which is what \\w is made of)."""
    from transforms.toxicity import classifier as c

    word = re.compile(r"[^\W_]")
    for code in range(0x110000):
        expected = word.match(chr(code)) is not None
        if code <= 0xFFFF:
            assert (c._KINDS[code] == c._ALNUM) == expected or chr(code) in "'!?\n", hex(code)
        else:
            assert chr(code).isalnum() == expected, hex(code)
    assert [c._KINDS[ord(ch)] for ch in "'!?\n_ "] == [2, 3, 3, 4, 0, 0]


# Unicode a regex and a code-point table could disagree on: letters outside ASCII and above
# U+FFFF (the table's limit), digits and numerals of other scripts, case mappings that change
# length or depend on context (İ, final sigma), combining marks, lone surrogates, NUL, other
# line breaks, curly apostrophes.
UNICODE_PIECES = [
    "é", "ß", "İ", "ΣΑΣ", "σ", "哈哈哈", "𝐀𝐀𝐀", "𐐀", "😀😀😀", "\u200d", "\u0301", "½", "٣٣٣",
    "\ud800", "\udfff", "\x00", "\r\n", "\u2028", "\x85", "\u00a0", "’", "'", "_", "!", "?",
    "\n", " ", "aaa", "a", "000", "x'y", "''", "@a", "rt:", "http://x.co/a", "&amp;", "\t",
]  # fmt: skip


def test_normalization_matches_the_regexes_on_hostile_unicode():
    from transforms.toxicity.classifier import _normalized_line_texts

    rng = random.Random(13)
    for _ in range(20000):
        text = "".join(rng.choice(UNICODE_PIECES) for _ in range(rng.randint(0, 10)))
        assert _normalized_line_texts(text) == _reference_lines(text), repr(text)
        assert normalize_text(text) == _normalize_every_step(text), repr(text)


@pytest.mark.parametrize(
    "text",
    ["", " ", "\n", "  \n\t\r\n ", "a", "'", "!", "'a", "a'", "a'b", "!?", "aa", "aaa",
     "\U0001d400", "\ud800", "\x00\x00\x00", "___", "a" * 100_000, "!?" * 50_000,
     "'" * 1000, "soooo\n\n\nMUCH!!!?", "don't 'quote' rock'n'roll y''all"],
)  # fmt: skip
def test_normalization_edge_cases(text):
    from transforms.toxicity.classifier import _normalized_line_texts

    assert _normalized_line_texts(text) == _reference_lines(text)
    assert normalize_text(text) == _normalize_every_step(text)


def test_edge_case_results():
    assert normalize_text("") == normalize_text(" \n\t ") == ""
    assert windows(" \n\n ") == []
    assert normalize_text("a" * 100_000) == "aa"
    assert normalize_text("x'y 'x' x''y é’s ΣΑΣ İ") == "x'y x x y é s σας i"
    assert normalize_text("哈哈哈 𝐀𝐀𝐀𝐀 😀😀😀 ٣٣٣") == "哈哈 𝐀𝐀 ٣٣"


def test_a_very_long_line_is_cut_into_windows(classifier):
    text = " ".join(f"w{i % 500}" for i in range(20_000)) + "\nlast line"
    parts = windows(text)
    # 209 slices of 95 or 96 words; the last line does not fit after a 95-word slice.
    assert [len(p.split(" ")) for p in parts[:-1]] == [96] * 145 + [95] * 64
    assert parts[-1] == "last line"
    assert " ".join(parts) == normalize_text(text)
    score = classifier.score_document(text)
    assert score.windows == len(parts) and 0.0 <= score.mean <= score.max <= 1.0


def test_score_document_is_score_normalized_over_windows(classifier):
    """score_document's own predict call gives what score_normalized gives, bit for bit."""
    pages = ["\n".join(CLEAN * 5) + "\n" + " ".join(TOXIC), "RT @x: " + TOXIC[0], "ok " * 300]
    for text in pages:
        parts = windows(text)
        scores = classifier.score_normalized(parts)
        weights = [len(p.split(" ")) for p in parts]
        mean = sum(s * w for s, w in zip(scores, weights, strict=True)) / sum(weights)
        score = classifier.score_document(text)
        assert (score.max, score.mean, score.windows) == (max(scores), mean, len(parts))


def _line(name: str, count: int) -> str:
    return " ".join(f"{name}{j}" for j in range(count))


def test_windows_follow_lines():
    """A line of at least min_words is a window of its own; a shorter one joins the window
    before it, and a short window takes in the next line, up to window_words."""
    text = "\n".join(
        [_line("menu", 3), _line("title", 5), _line("para", 30), _line("contact", 6),
         _line("comment", 25), _line("footer", 4)]
    )  # fmt: skip
    parts = windows(text, 60, 10)
    assert [p.split()[0] for p in parts] == ["menu0", "comment0"]
    assert [len(p.split()) for p in parts] == [44, 29]
    assert " ".join(parts).split() == normalize_text(text).split()
    # With at most 40 words the contact line no longer fits after the paragraph: it starts
    # a window that, being short, takes in the comment.
    assert [p.split()[0] for p in windows(text, 40, 10)] == ["menu0", "contact0"]
    # A short line that would overflow the window before it starts a new one.
    assert [len(p.split()) for p in windows(_line("a", 38) + "\n" + _line("b", 5), 40, 10)] == [
        38,
        5,
    ]
    # min_words 0: every line alone.
    assert len(windows(text, 40, 0)) == 6


def test_long_lines_are_cut_into_equal_slices():
    text = _line("w", 50)
    parts = windows(text, 20, 0)
    assert [len(p.split()) for p in parts] == [17, 17, 16]
    assert " ".join(parts).split() == text.split()
    assert windows("one two", 20) == ["one two"]
    assert windows("&amp; \n !!! ", 20) == ["!"]
    assert windows("", 20) == []


def test_shipped_model_is_small_and_loads_by_default(classifier):
    assert os.path.isfile(MODEL_FILE)
    assert MODEL_FILE.endswith(".ftz") and os.path.getsize(MODEL_FILE) < 3 * 2**20
    assert classifier.model_path == MODEL_FILE


def test_shipped_model_separates_toxic_from_clean(classifier):
    toxic, clean = classifier.score(TOXIC), classifier.score(CLEAN)
    assert all(0.0 <= s <= 1.0 for s in toxic + clean)
    assert min(toxic) > 0.9, toxic
    assert max(clean) < 0.5, clean
    assert classifier.score([]) == []


def test_score_normalizes_like_training(classifier):
    raw = "RT @someone: YOU ARE A STUPID BITCH!!! http://t.co/x"
    assert classifier.score([raw]) == classifier.score_normalized([normalize_text(raw)])


def test_one_toxic_paragraph_raises_the_max_not_the_mean(classifier):
    clean_page = "\n".join(CLEAN * 12)  # about 400 words of clean prose
    page = clean_page + "\n" + " ".join(TOXIC)
    clean_score = classifier.score_document(clean_page, 64)
    score = classifier.score_document(page, 64)
    assert score.windows > 3
    assert clean_score.max < 0.5
    assert score.max > 0.9  # the toxic paragraph decides
    assert score.mean < 0.5  # but a whole-page average would have missed it
    assert score.mean < score.max


def test_empty_document_scores_zero(classifier):
    score = classifier.score_document("  \n\n")
    assert (score.max, score.mean, score.windows) == (0.0, 0.0, 0)


def test_model_is_package_data():
    """`pip install .` must install the model next to the code: pyproject's
    [tool.setuptools.package-data] has to name it (setuptools copies only .py otherwise)."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"].get("package-data", {}).get("transforms.toxicity")
    assert patterns, 'pyproject.toml needs [tool.setuptools.package-data] "transforms.toxicity"'
    relative = os.path.relpath(MODEL_FILE, root / "transforms" / "toxicity")
    assert any(fnmatch.fnmatch(relative, p) for p in patterns), (relative, patterns)


def test_shipped_model_on_its_held_out_tweets(fixtures, classifier):
    """The shipped model against the held-out side of the split it was trained with: fails
    when normalize_text changes without the model being retrained."""
    from transforms.toxicity.train import TrainSettings, read_rows, roc_auc, split

    path = fixtures / "toxicity" / "davidson-labeled_data.csv"
    if not path.is_file():
        pytest.skip(f"Davidson toxicity fixture not found at {path}")
    settings = TrainSettings()
    _, test = split(
        read_rows(str(path), "tweet", "class", ["0", "1"]), settings.seed, settings.test_fraction
    )
    scores = classifier.score_normalized([text for text, _ in test])
    assert roc_auc(scores, [toxic for _, toxic in test]) > 0.97  # 0.9788 when trained


def test_shipped_model_flags_no_held_out_clean_web_page(fixtures, classifier):
    """C4 and CCNet pages (not toxic) of the files train.py does not train on, at the
    default threshold: none may be flagged (bench/toxicity.py: 0 of 60 held-out pages)."""
    from transforms.toxicity import DEFAULT_THRESHOLD
    from transforms.toxicity.train import read_clean

    names = ("c4-sample.03.json.gz", "c4-guardian.jsonl.gz", "ccnet-cc_en_head-0174.jsonl.gz")
    paths = [fixtures / "web-jsonl" / name for name in names]
    if not all(path.is_file() for path in paths):
        pytest.skip(f"web-jsonl fixtures not found under {fixtures}")
    texts = [text for path in paths for text in read_clean(str(path))]
    maxima = [classifier.score_document(t).max for t in texts]
    assert len(texts) == 30
    assert max(maxima) < DEFAULT_THRESHOLD, sorted(maxima)[-3:]


def test_shipped_model_catches_the_demo_reader_comments(classifier):
    """The demo corpus's pages that end with an abusive reader comment (issue 16: at least
    15 of the 20; bench/toxicity.py measures 15)."""
    from pipelines.sample_corpus import SEED, web_pages
    from transforms.toxicity import DEFAULT_THRESHOLD

    pages = [p["text"] for p in web_pages(1200, random.Random(SEED))]
    rants = [t for t in pages if "\nReader comment: " in t]
    caught = sum(classifier.score_document(t).max >= DEFAULT_THRESHOLD for t in rants)
    assert len(rants) == 20 and caught >= 15, caught
