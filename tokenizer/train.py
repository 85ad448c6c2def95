"""Train a byte-level BPE tokenizer with `tokenizers` on a deterministic sample of documents.

Usable on its own (`train_bpe`) and inside the pipeline (`TrainTokenizer`, one worker
trains on the sample; the result is a single JSON string used as a side input).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import apache_beam as beam

from schemas.document import stable_hash64

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
SPECIAL_TOKENS = [EOS_TOKEN, PAD_TOKEN]


@dataclass(frozen=True)
class TokenizerConfig:
    """vocab_size counts the 256 byte symbols and the special tokens; min_frequency is the
    fewest occurrences a pair needs to be merged; sample_bytes caps the training text."""

    vocab_size: int = 32768
    min_frequency: int = 2
    sample_bytes: int = 64 << 20


def train_bpe(texts: Iterable[str], vocab_size: int = 32768, min_frequency: int = 2) -> str:
    """Train byte-level BPE (GPT-2 style pre-tokenization) and return tokenizer.json text.

    The same texts in the same order give the same bytes.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer.to_str()


def tokenizer_sha256(tokenizer_json: str) -> str:
    return hashlib.sha256(tokenizer_json.encode("utf-8")).hexdigest()


def sample_rank(doc_id: str) -> int:
    """Position of a document in the training sample order (salted: independent of dedup)."""
    return stable_hash64("tokenizer-sample:" + doc_id)


def _in_sample(doc, total_chars: int, sample_bytes: int) -> bool:
    # Over-sample by a quarter so the byte cap, not chance, decides the sample size.
    fraction = min(1.0, 1.25 * sample_bytes / max(total_chars, 1))
    return sample_rank(doc.id) < fraction * 2**64


def _train_on_group(keyed, config: TokenizerConfig) -> str:
    ranked = sorted(item for item in keyed[1] if item is not None)
    texts, budget = [], config.sample_bytes
    for _, _, text in ranked:
        if budget <= 0:
            break
        texts.append(text)
        budget -= len(text)
    return train_bpe(texts, config.vocab_size, config.min_frequency)


class TrainTokenizer(beam.PTransform):
    """Documents -> a one-element PCollection holding tokenizer.json text."""

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.config = config

    def expand(self, docs):
        total_chars = (
            docs | "TotalChars" >> beam.Map(lambda d: len(d.text)) | beam.CombineGlobally(sum)
        )
        sample = (
            docs
            | "Sample"
            >> beam.Filter(
                _in_sample, beam.pvalue.AsSingleton(total_chars), self.config.sample_bytes
            )
            | "RankSample" >> beam.Map(lambda d: (0, (sample_rank(d.id), d.id, d.text)))
        )
        # A sentinel keeps the single training group present when there are no documents.
        sentinel = docs.pipeline | "EmptySampleSentinel" >> beam.Create([(0, None)])
        return (
            (sample, sentinel)
            | "WithSentinel" >> beam.Flatten()
            | "OneGroup" >> beam.GroupByKey()
            | "TrainBPE" >> beam.Map(_train_on_group, self.config)
        )
