from transforms.near_dedup.shingle import normalize_batch, shingles


def test_lowercase_punctuation_and_whitespace_are_normalized():
    text = "  The QUICK, brown fox -- jumps!\n\tover   the lazy dog's back.  "
    assert shingles(text, 5) == [
        "the quick brown fox jumps",
        "quick brown fox jumps over",
        "brown fox jumps over the",
        "fox jumps over the lazy",
        "jumps over the lazy dogs",
        "over the lazy dogs back",
    ]


def test_shorter_than_n_words_gives_one_shingle_of_all_words():
    assert shingles("Hello, World!", 5) == ["hello world"]
    assert shingles("exactly five words here now", 5) == ["exactly five words here now"]


def test_empty_and_punctuation_only_texts_give_one_empty_shingle():
    assert shingles("", 5) == [""]
    assert shingles(" ... !!! -- ", 5) == [""]


def test_unicode_letters_marks_and_digits_are_kept():
    assert shingles("École NAÏVE 2024 हिन्दी", 2) == ["école naïve", "naïve 2024", "2024 हिन्दी"]


def test_ngram_is_configurable():
    assert shingles("a b c", 1) == ["a", "b", "c"]
    assert shingles("a b c", 2) == ["a b", "b c"]


def test_unicode_whitespace_separates_words():
    assert shingles("a\u00a0b\u2003c\u2028d\te\r\nf", 1) == ["a", "b", "c", "d", "e", "f"]


def test_batch_normalization():
    assert normalize_batch(["  A,  b!\n", "", "--"]).to_pylist() == ["a b", "", ""]
