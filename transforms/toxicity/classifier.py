"""Beam-free core of the toxicity stage: text normalization, the fastText classifier, and
document scores over line-aligned windows of words.

Tweets (the Davidson training data) and web pages differ in ways a bag-of-words model
notices: tweets carry `@handles`, `RT` markers, links, HTML entities (`&amp;`, `&#8220;`)
and mixed case. `normalize_text` maps both kinds of text onto the same tokens, and is the
only normalization used, in training (train.py) and in scoring, so the two never drift apart.

A document is scored per window because fastText averages word vectors over its input: one
abusive paragraph in a long page would vanish in a whole-page average. Windows follow the
page's lines (see `windows`), so a reader comment on a line of its own is scored on its own
rather than diluted by the article above it. The document's signals are the maximum window
probability (what the threshold decides on) and the mean over windows weighted by words
(kept for analysis and balancing).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MODEL_FILE = os.path.join(os.path.dirname(__file__), "models", "toxicity.ftz")
TOXIC_LABEL = "__label__toxic"
CLEAN_LABEL = "__label__clean"
# Longest window, in words: a few tweets long. A longer line is cut into equal slices.
DEFAULT_WINDOW_WORDS = 96
# Shortest window a line makes on its own; shorter lines (menus, captions, a one-line
# remark) join the window before them. Measured with the shipped model (bench/toxicity.py,
# threshold 0.85): at 8 words 4 of 60 held-out clean pages were flagged; at 16 none, and 95%
# of the fixture pages with an inserted paragraph of three toxic tweets were caught; at 24
# and 32 words that paragraph joined its neighbour more often (90%, 81% caught).
DEFAULT_MIN_WORDS = 16

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|org|net|co|ly)/\S*")
# Every _URL match holds "www." or a "/" that ends one of these (the fixed parts of its two
# alternatives): "www." in text or _URL_HINT.search(text) is 4x faster than a search for
# each, the regex jumping from "/" to "/".
_URL_HINT = re.compile(
    r"/(?:(?<=http:/)|(?<=https:/)|(?<=\.com/)|(?<=\.org/)|(?<=\.net/)|(?<=\.co/)|(?<=\.ly/))"
)
_HANDLE = re.compile(r"@\w+")
# "RT @user:", "RT:" (lowercased), not inside a word. Written to start with the literal
# "rt" (the word-start check comes after, as a lookbehind over "rt" and the character
# before it), so the regex engine jumps between occurrences of "rt" instead of trying
# every position: 16x faster on web text than (?<!\w)rt(?=...), same matches.
_RETWEET = re.compile(r"rt(?=[ \t]+@user\b|[ \t]*:)(?<!\wrt)")

_ALNUM, _APOSTROPHE, _MARK, _BREAK = 1, 2, 3, 4


def _kinds() -> np.ndarray:
    """What each code point of the Basic Multilingual Plane is to the tokenizer: 1 a letter
    or digit (regex [^\W_], i.e. str.isalnum), 2 the apostrophe, 3 "!" or "?", 4 the line
    break, 0 a separator. Read-only."""
    kinds = np.zeros(0x10000, dtype=np.uint8)
    kinds[[c for c in range(0x10000) if chr(c).isalnum()]] = _ALNUM
    kinds[ord("'")], kinds[[ord("!"), ord("?")]], kinds[ord("\n")] = _APOSTROPHE, _MARK, _BREAK
    kinds.flags.writeable = False
    return kinds


_KINDS = _kinds()


def normalize_text(text: str) -> str:
    """Text -> the lowercase, space-separated tokens the classifier trains and predicts on.

    HTML entities are decoded (tweets in the Davidson set keep `&amp;`, `&#8220;`), URLs
    become `url`, user handles `@user` and retweet markers are removed (they say who, not
    what), word characters repeated three or more times are cut to two, runs of `!`/`?` to
    one, and everything but word characters, apostrophes inside words and `!`/`?` is
    dropped (`#hashtag` -> `hashtag`, `snake_case` -> `snake case`). No token spans a
    line break, so normalizing a whole document gives the same words as normalizing each
    line. The result has no newlines (fastText reads one example per line).
    """
    return " ".join(_normalized_line_texts(text))


def normalized_lines(text: str) -> list[list[str]]:
    """The words of `normalize_text`, per line of `text` (lines without words left out)."""
    return [line.split(" ") for line in _normalized_line_texts(text)]


def _normalized_line_texts(text: str) -> list[str]:
    """`normalize_text` of each line of `text` that has words.

    After `_substituted`, the rest is done on the code points at once (numpy), not by
    regexes: (\w)\1\1+ -> \1\1, ([!?])[!?]+ -> \1, then the tokens
    [^\W_]+(?:'[^\W_]+)*|[!?] each written with a space before it, line breaks kept.
    3.8x faster on web text than the regexes, same lines (python -m bench.toxicity --check).
    """
    text = _substituted(text)
    data = text.encode("utf-16-le", "surrogatepass")
    if len(data) == 2 * len(text):  # nothing above U+FFFF: one uint16 per code point
        codec, chars = "utf-16-le", np.frombuffer(data, np.uint16)
        kind = _KINDS.take(chars)
    else:
        codec = "utf-32-le"
        chars = np.frombuffer(text.encode(codec, "surrogatepass"), np.uint32)
        kind = _KINDS.take(np.minimum(chars, 0xFFFF))
        wide = np.flatnonzero(chars > 0xFFFF)
        kind[wide] = [_ALNUM if chr(c).isalnum() else 0 for c in chars[wide].tolist()]
    if not len(chars):
        return []
    word = kind == _ALNUM
    mark = kind == _MARK
    # The third and later of a run of one letter or digit ("soooo" -> "soo"; "_", the
    # other \w character, is a separator however many there are), and the second and
    # later of a run of "!"/"?".
    drop = np.zeros(len(chars), dtype=bool)
    same = chars[1:] == chars[:-1]
    drop[2:] = same[1:] & same[:-1] & word[2:]
    drop[1:] |= mark[1:] & mark[:-1]
    # An apostrophe between letters or digits belongs to the word (neither drop changes
    # what is next to one).
    word[1:-1] |= (kind[1:-1] == _APOSTROPHE) & word[:-2] & word[2:]
    start = mark & ~drop
    start[0] |= word[0]
    start[1:] |= word[1:] & ~word[:-1]
    keep = np.empty((len(chars), 2), dtype=bool)  # a space before each token, then the char
    keep[:, 0] = start
    keep[:, 1] = (word | mark | (kind == _BREAK)) & ~drop
    out = np.empty((len(chars), 2), dtype=chars.dtype)
    out[:, 0] = ord(" ")
    out[:, 1] = chars
    joined = out.ravel().compress(keep.ravel()).tobytes().decode(codec)  # " tok tok\n\n tok"
    return [line[1:] for line in joined.split("\n") if line]


def _substituted(text: str) -> str:
    """`text` unescaped and lowercased, with URLs, handles and retweet markers replaced;
    line breaks are kept (no pattern matches across one)."""
    text = html.unescape(html.unescape(text))  # some tweets are escaped twice (&amp;#8220;)
    text = text.lower()
    # The substitutions below are the slow part on web text; each runs only when the text
    # holds what every one of its matches must contain.
    if "www." in text or _URL_HINT.search(text):
        text = _URL.sub(" url ", text)
    handles = "@" in text
    if handles:
        text = _HANDLE.sub(" @user ", text)
    if "rt" in text and (handles or ":" in text):
        text = _RETWEET.sub(" ", text)
    return text.replace("@user", " ") if handles else text


def equal_slices(words: list[str], most: int) -> list[list[str]]:
    """`words` cut into ceil(n / most) consecutive slices of equal size (+-1 word, the
    longer ones first), so no slice is a short leftover; [] without words."""
    if not words:
        return []
    count = -(-len(words) // most)
    step, extra = divmod(len(words), count)
    bounds = [i * step + min(i, extra) for i in range(count + 1)]
    return [words[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def windows(
    text: str,
    window_words: int = DEFAULT_WINDOW_WORDS,
    min_words: int = DEFAULT_MIN_WORDS,
) -> list[str]:
    """`text` normalized and cut into windows that follow its lines; [] without words.

    Each line is a window; a line of more than `window_words` words is cut into
    ceil(n / window_words) slices of equal size (+-1 word). A line (or slice) of fewer than
    `min_words` words joins the window before it, and a window of fewer than `min_words`
    words takes in the next line, as long as the result has at most `window_words` words.
    So a reader comment on its own line is scored alone, while menus, captions and one-line
    remarks are scored with their neighbours: fastText's score for a few words is mostly its
    bias and the vectors of those words, and a three-word line should not decide a page.
    """
    return _windows(text, window_words, min_words)[0]


def _windows(text: str, window_words: int, min_words: int) -> tuple[list[str], list[int]]:
    """`windows(text, window_words, min_words)` and the number of words in each."""
    out: list[str] = []
    sizes: list[int] = []
    for line in _normalized_line_texts(text):
        size = line.count(" ") + 1
        if size <= window_words:
            parts = ((line, size),)
        else:
            slices = equal_slices(line.split(" "), window_words)
            parts = [(" ".join(piece), len(piece)) for piece in slices]
        for part, words_in_part in parts:
            if (
                sizes
                and (words_in_part < min_words or sizes[-1] < min_words)
                and sizes[-1] + words_in_part <= window_words
            ):
                out[-1] = f"{out[-1]} {part}"
                sizes[-1] += words_in_part
            else:
                out.append(part)
                sizes.append(words_in_part)
    return out, sizes


@dataclass(frozen=True, slots=True)
class DocumentScore:
    """max: the highest window probability (0.0 for a text without words); mean: the
    window probabilities averaged with each window's word count as weight; windows: how
    many windows were scored."""

    max: float
    mean: float
    windows: int


class ToxicityClassifier:
    """A loaded fastText toxicity model. Construct once per worker (it reads the file).

    `ToxicityClassifier()` loads the default model shipped in this package (trained on the
    Davidson et al. 2017 tweets and clean web text, see train.py); `ToxicityClassifier(path)`
    another one trained with `python -m transforms.toxicity.train`.
    """

    def __init__(self, model_path: str | os.PathLike | None = None):
        import fasttext  # heavy and optional until the stage runs

        self.model_path = os.fspath(model_path or MODEL_FILE)
        self.model = fasttext.load_model(self.model_path)
        labels = set(self.model.get_labels())
        if TOXIC_LABEL not in labels:
            raise ValueError(
                f"{self.model_path} has no {TOXIC_LABEL} label (labels: {sorted(labels)}); "
                "train it with python -m transforms.toxicity.train"
            )

    def score(self, texts: Sequence[str]) -> list[float]:
        """Probability that each text is toxic, in order. Texts are normalized here."""
        return self.score_normalized([normalize_text(t) for t in texts])

    def score_normalized(self, texts: Sequence[str]) -> list[float]:
        """As `score`, for texts already passed through `normalize_text` (no newlines)."""
        if not texts:
            return []
        return self._toxic(self.model.predict(list(texts), k=-1))

    def score_document(
        self,
        text: str,
        window_words: int = DEFAULT_WINDOW_WORDS,
        min_words: int = DEFAULT_MIN_WORDS,
    ) -> DocumentScore:
        """Max and word-weighted mean toxicity over `windows(text, window_words, min_words)`."""
        parts, sizes = _windows(text, window_words, min_words)
        if not parts:
            return DocumentScore(0.0, 0.0, 0)
        # One call for all windows: model.predict less its check of each text for line
        # breaks (windows have none).
        scores = self._toxic(
            self.model.f.multilinePredict([f"{part}\n" for part in parts], -1, 0.0, "strict")
        )
        mean = sum(s * w for s, w in zip(scores, sizes, strict=True)) / sum(sizes)
        return DocumentScore(max(scores), mean, len(parts))

    @staticmethod
    def _toxic(prediction) -> list[float]:
        """The toxic label's probability in each row of a k=-1 (every label) prediction, read
        directly rather than derived from whichever label came first; fastText can overshoot
        1 by 1e-5."""
        labels, probs = prediction
        return [
            min(max(float(row_probs[row_labels.index(TOXIC_LABEL)]), 0.0), 1.0)
            if TOXIC_LABEL in row_labels
            else 0.0
            for row_labels, row_probs in zip(labels, probs, strict=True)
        ]
