"""The one record type that flows through every stage, and the records that leave the flow."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import operator
from dataclasses import dataclass, field


def pickled_by_fields(cls):
    """Class decorator for a slots dataclass: pickle an instance as its constructor call
    with every field in order. Records are pickled at every stage boundary of a Beam or
    Dask run, and this is about twice as fast both ways as the `__getstate__` and
    `__setstate__` that `dataclass(slots=True)` writes in Python."""
    names = [f.name for f in dataclasses.fields(cls)]
    if len(names) < 2:
        raise TypeError(f"{cls.__name__}: pickled_by_fields needs two fields or more")
    fields = operator.attrgetter(*names)  # -> the tuple of their values

    def __reduce__(self):
        return cls, fields(self)

    cls.__reduce__ = __reduce__
    return cls


@pickled_by_fields
@dataclass(slots=True)
class Document:
    """One text document. Change it with `dataclasses.replace`, never in place.

    `source` is the `--input` tag, `sub_source` a finer origin inside it (the Pile's
    `meta.pile_set_name`), `source_file` the file it was read from (used for per-input
    accounting), `scores` the signals of the filters that looked at it, `content_type` the
    MIME type the text was taken from (a WARC page's HTTP content type), when known.
    """

    id: str
    text: str
    source: str
    source_file: str
    url: str | None = None
    timestamp: str | None = None
    sub_source: str | None = None
    lang: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    content_type: str | None = None


@pickled_by_fields
@dataclass(slots=True)
class Rejected:
    """A document a stage dropped, with the stage's name and a named reason constant.

    `duplicate_of` is the id of the document kept in its place, for the dedup stages'
    drops (exact_dup, near_dup; with a dedup index, possibly a document of an earlier run);
    None for every other reason."""

    doc: Document
    stage: str
    reason: str
    duplicate_of: str | None = None


@pickled_by_fields
@dataclass(slots=True)
class DeadLetter:
    """Input that could not be turned into a Document.

    `line` is the 1-based line (or record) number when known; `offset` is the byte offset
    in the decompressed stream where the bad record (or the damage) starts.
    """

    source: str
    source_file: str
    error: str
    line: int | None = None
    offset: int | None = None
    snippet: str = ""


@pickled_by_fields
@dataclass(slots=True)
class FileRead:
    """How many records (documents, rejected and dead letters) a reader produced from one
    input file (or one dead-lettered pattern): the count the manifest checks the outcomes
    against, so a record lost between reading and writing cannot go unnoticed."""

    source: str
    source_file: str
    records: int


def document_order(doc: Document) -> tuple:
    """A total order on documents by content alone: id, source, file, then every other
    field. Two documents with equal keys are equal in every field, so sorting by it, or
    taking its minimum, never depends on the order documents arrive in. Its last item, the
    scores and text, is worked out only when everything before it ties (one id read twice):
    formatting every score of every document cost more than the sorts."""

    def text(value: str | None) -> str:
        return "" if value is None else "\x01" + value  # None sorts before ""

    fields = (doc.url, doc.timestamp, doc.sub_source, doc.lang, doc.content_type)
    return (doc.id, doc.source, doc.source_file, *map(text, fields), _ScoresAndText(doc))


def _scores_and_text(doc: Document) -> tuple[str, str]:
    return repr(sorted(doc.scores.items())), doc.text


@functools.total_ordering
class _ScoresAndText:
    """The end of `document_order`: compares as (repr of the sorted scores, text)."""

    __slots__ = ("doc",)
    __hash__ = None  # a sort key, not a dict key

    def __init__(self, doc: Document):
        self.doc = doc

    def __eq__(self, other) -> bool:
        if not isinstance(other, _ScoresAndText):
            return NotImplemented
        return self.doc is other.doc or _scores_and_text(self.doc) == _scores_and_text(other.doc)

    def __lt__(self, other) -> bool:
        if not isinstance(other, _ScoresAndText):
            return NotImplemented
        return _scores_and_text(self.doc) < _scores_and_text(other.doc)


def document_digest(doc: Document) -> str:
    """A 128-bit hex digest of `document_order(doc)`: a short tie-breaker on content."""
    parts = (*document_order(doc)[:-1], *_scores_and_text(doc))
    joined = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(joined, digest_size=16).hexdigest()


def stable_hash64(value: str) -> int:
    """A 64-bit hash of `value` that is the same in every process, run and machine.

    Python's `hash()` is salted per process, so it must never decide survivors, samples
    or shard assignment.
    """
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest(), "big")


def text_key(text: str) -> bytes:
    """128-bit content hash of (already normalized) text: equal texts, equal keys."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
