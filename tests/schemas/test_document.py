"""The records' pickling (schemas/document.py `pickled_by_fields`): every field survives."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from schemas.document import DeadLetter, Document, FileRead, Rejected, pickled_by_fields
from transforms.tokenize import EncodedDocument

DOC = Document(
    "id", "text ü\n", "web", "f.json.gz", "http://x", "2024-01-01", "sub", "en",
    {"lid.score": 0.5, "q": float("inf")}, "text/html",
)  # fmt: skip


@pytest.mark.parametrize(
    "record",
    [
        DOC,
        Document("id", "", "web", "f"),
        Rejected(DOC, "near_dedup", "near_dup", "other"),
        DeadLetter("web", "f", "bad json", 3, 17, "{x"),
        FileRead("web", "f", 12),
    ],
)
def test_every_field_round_trips(record):
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        copy = pickle.loads(pickle.dumps(record, protocol))
        assert type(copy) is type(record) and copy == record
        for f in dataclasses.fields(record):
            assert getattr(copy, f.name) == getattr(record, f.name)


def test_encoded_documents_round_trip_with_their_ids():
    encoded = EncodedDocument(DOC, np.arange(5, dtype=np.int32), copies=3)
    copy = pickle.loads(pickle.dumps(encoded))
    assert copy.doc == DOC and copy.copies == 3
    assert copy.ids.dtype == np.int32 and copy.ids.tolist() == [0, 1, 2, 3, 4]


def test_a_one_field_class_is_refused():
    with pytest.raises(TypeError, match="two fields"):

        @pickled_by_fields
        @dataclasses.dataclass(slots=True)
        class One:
            x: int


def _flat_order(doc: Document) -> tuple[str, ...]:
    """document_order as every field written out: the order it must keep."""
    fields = (doc.url, doc.timestamp, doc.sub_source, doc.lang, doc.content_type)
    rest = ("" if v is None else "\x01" + v for v in fields)
    return (doc.id, doc.source, doc.source_file, *rest, repr(sorted(doc.scores.items())), doc.text)


def test_document_order_and_digest_are_those_of_every_field_written_out():
    import hashlib
    import itertools
    import random

    from schemas.document import document_digest, document_order

    variants = itertools.product(
        ["b", "a"], ["web", "pile"], ["f2", "f1"], [None, "", "http://x"],
        [{}, {"q": 0.5}, {"q": 0.25, "a": 1.0}, {"q": float("nan")}], ["t", "s", ""],
    )  # fmt: skip
    docs = [Document(i, t, s, f, url=u, scores=dict(c)) for i, s, f, u, c, t in variants]
    docs += [Document(d.id, d.text, d.source, d.source_file, d.url, scores=dict(d.scores))
             for d in docs[::7]]  # fmt: skip
    random.Random(3).shuffle(docs)
    assert sorted(docs, key=document_order) == sorted(docs, key=_flat_order)
    assert min(docs, key=document_order) is min(docs, key=_flat_order)
    for doc in docs[:50]:
        joined = "\x00".join(_flat_order(doc)).encode("utf-8", "surrogatepass")
        assert document_digest(doc) == hashlib.blake2b(joined, digest_size=16).hexdigest()
