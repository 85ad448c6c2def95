"""What every rule family shares: the text split once.

Beam-free. `TextView` splits a document into lines and whitespace words exactly once, so
the Gopher, C4 and FineWeb families all read the same lists instead of re-splitting.
"""

from __future__ import annotations


class TextView:
    """A text with its lines (split on "\\n") and whitespace words, computed once.

    `nonempty_lines` (lines with a non-space character) and `word_chars` (the characters
    of all words) are computed on first use.
    """

    __slots__ = ("text", "lines", "words", "_nonempty", "_word_chars")

    def __init__(self, text: str):
        self.text = text
        self.lines = text.split("\n")
        self.words = text.split()
        self._nonempty: list[str] | None = None
        self._word_chars: int | None = None

    @property
    def nonempty_lines(self) -> list[str]:
        if self._nonempty is None:
            self._nonempty = [line for line in self.lines if line and not line.isspace()]
        return self._nonempty

    @property
    def word_chars(self) -> int:
        if self._word_chars is None:
            self._word_chars = sum(map(len, self.words))
        return self._word_chars


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0.0 when the denominator is 0 (an empty document)."""
    return numerator / denominator if denominator else 0.0
