"""EncodeDocuments in a real pipeline: documents become their tokens and nothing else."""

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that
from tokenizers import Tokenizer

from schemas.document import Document, text_key
from tokenizer.plan import UnpackedCopies
from tokenizer.train import EOS_TOKEN, PAD_TOKEN, train_bpe
from transforms.tokenize import (
    CUT_COPIES_KEY,
    PACKED_COPIES_KEY,
    EncodedDocument,
    EncodeDocuments,
    unpacked_totals,
    with_packed_copies,
)

TOKENIZER_JSON = train_bpe(["plain words to learn from"] * 5, vocab_size=300)
TEXTS = {
    "gpt": f"GPT-2 separates documents with {EOS_TOKEN}, and pads with {PAD_TOKEN}.",
    "plain": "plain words",
}


def _check(encoded):
    tokenizer = Tokenizer.from_str(TOKENIZER_JSON)
    special = {tokenizer.token_to_id(EOS_TOKEN), tokenizer.token_to_id(PAD_TOKEN)}
    assert sorted(doc_id for doc_id, _ in encoded) == sorted(TEXTS)
    for doc_id, ids in encoded:
        assert not special.intersection(ids), doc_id
        assert tokenizer.decode(ids, skip_special_tokens=False) == TEXTS[doc_id]


def test_special_tokens_written_in_a_document_are_encoded_as_text():
    with TestPipeline() as pipeline:
        docs = pipeline | beam.Create(
            [Document(id=i, text=t, source="web", source_file="f") for i, t in TEXTS.items()]
        )
        tokenizer = pipeline | "Tokenizer" >> beam.Create([TOKENIZER_JSON])
        encoded = docs | EncodeDocuments(tokenizer) | beam.Map(lambda e: (e.doc.id, e.ids.tolist()))
        assert_that(encoded, _check)


def test_documents_get_the_copies_packing_kept():
    docs = [Document(id=i, text=f"text {i}", source="web", source_file="f") for i in "abc"]
    encoded = [
        EncodedDocument(d, np.arange(3), copies=n) for d, n in zip(docs, (1, 3, 2), strict=True)
    ]
    # b: one copy cut, one dropped; c's id with other text is another document.
    unpacked = {
        ("b", text_key("text b")): UnpackedCopies(cut=1, dropped=1),
        ("c", text_key("other text")): UnpackedCopies(dropped=1),
    }
    scores = [with_packed_copies(e, unpacked, 0.0).scores for e in encoded]
    assert [(s[PACKED_COPIES_KEY], s[CUT_COPIES_KEY]) for s in scores] == [(1, 0), (1, 1), (2, 0)]
    assert unpacked_totals(unpacked) == {
        "copies_cut": 1,
        "copies_dropped": 2,
        "documents_not_all_copies_whole": 2,
    }
