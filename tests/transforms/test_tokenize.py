"""EncodeDocuments in a real pipeline: documents become their tokens and nothing else."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that
from tokenizers import Tokenizer

from schemas.document import Document
from tokenizer.train import EOS_TOKEN, PAD_TOKEN, train_bpe
from transforms.tokenize import EncodeDocuments

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
