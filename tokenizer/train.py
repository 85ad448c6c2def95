"""Train a byte-level BPE tokenizer with `tokenizers` on a deterministic sample of documents.

Usable on its own (`train_bpe`), inside the pipeline (`TrainTokenizer`, one worker trains
on the sample; the result is a single JSON string used as a side input) and from the
command line, on any input the pipeline reads (a curate run's `documents/*.parquet` gives
the tokenizer that run trained, when the run's sample covered its cap):

    python -m tokenizer.train --input 'out/curate/documents/*.parquet' --output tok.json \
        [--vocab_size 32768] [--sample_bytes 67108864] [--min_frequency 2] \
        [--eos_token '<|endoftext|>'] [--pad_token '<|pad|>']

The sample is the documents with the smallest `sample_rank(id)`, in that order, until
`sample_bytes` characters are reached, so it does not depend on file or arrival order.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import apache_beam as beam

from schemas.document import stable_hash64

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"


@dataclass(frozen=True)
class TokenizerConfig:
    """vocab_size counts the 256 byte symbols and the special tokens; min_frequency is the
    fewest occurrences a pair needs to be merged; sample_bytes caps the training text.
    eos_token ends every document in the token stream and pad_token fills a padded tail
    (they may be the same token): a trained tokenizer gets them as its special tokens, a
    given one (--tokenizer) must have them, e.g. "</s>" for Llama 2 or Mistral tokenizers."""

    vocab_size: int = 32768
    min_frequency: int = 2
    sample_bytes: int = 64 << 20
    eos_token: str = EOS_TOKEN
    pad_token: str = PAD_TOKEN

    def __post_init__(self):
        if not self.eos_token or not self.pad_token:
            raise ValueError("the end-of-text and pad tokens must not be empty")

    @property
    def special_tokens(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.eos_token, self.pad_token)))


def train_bpe(
    texts: Iterable[str],
    vocab_size: int = 32768,
    min_frequency: int = 2,
    special_tokens: tuple[str, ...] = (EOS_TOKEN, PAD_TOKEN),
) -> str:
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
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer.to_str()


def load_tokenizer_json(
    path: str, need_pad: bool, eos_token: str = EOS_TOKEN, pad_token: str = PAD_TOKEN
) -> str:
    """The text of an existing tokenizer.json (any Beam filesystem path), checked to load
    and to have `eos_token` (and `pad_token` when `need_pad`); ValueError if not."""
    from apache_beam.io.filesystems import FileSystems
    from tokenizers import Tokenizer

    try:
        with FileSystems.open(path) as f:
            text = f.read().decode("utf-8")
        tokenizer = Tokenizer.from_str(text)
    except Exception as error:  # any reason it cannot be used is the same answer
        raise ValueError(f"--tokenizer {path}: not a loadable tokenizer.json ({error})") from error
    needed = {eos_token: "--eos_token", **({pad_token: "--pad_token"} if need_pad else {})}
    missing = [token for token in needed if tokenizer.token_to_id(token) is None]
    if missing:
        raise ValueError(
            f"--tokenizer {path}: has no {' or '.join(missing)} token; name its own with "
            f"{' and '.join(needed[t] for t in missing)} (the end-of-text token separates "
            "packed documents, the pad token fills --pack_tail pad)"
        )
    return text


def tokenizer_sha256(tokenizer_json: str) -> str:
    return hashlib.sha256(tokenizer_json.encode("utf-8")).hexdigest()


def sample_rank(doc_id: str) -> int:
    """Position of a document in the training sample order (salted: independent of dedup)."""
    return stable_hash64("tokenizer-sample:" + doc_id)


def _in_sample(doc, total_chars: int, sample_bytes: int) -> bool:
    # Over-sample by a quarter so the byte cap, not chance, decides the sample size.
    fraction = min(1.0, 1.25 * sample_bytes / max(total_chars, 1))
    return sample_rank(doc.id) < fraction * 2**64


def take_sample(ranked: Iterable[tuple[int, str, str]], sample_bytes: int) -> list[str]:
    """(rank, id, text) in ascending order -> texts until `sample_bytes` characters are
    reached (the text that crosses the cap is included)."""
    texts, budget = [], sample_bytes
    for _, _, text in ranked:
        if budget <= 0:
            break
        texts.append(text)
        budget -= len(text)
    return texts


def _train_on_group(keyed, config: TokenizerConfig) -> str:
    ranked = sorted(item for item in keyed[1] if item is not None)
    texts = take_sample(ranked, config.sample_bytes)
    return train_bpe(texts, config.vocab_size, config.min_frequency, config.special_tokens)


class SmallestRanks:
    """Streams (id, text) pairs and keeps only what `take_sample` can reach: the smallest
    ranks whose text, all but the last, stays under the cap. Memory ~ sample_bytes."""

    def __init__(self, sample_bytes: int):
        self.sample_bytes = sample_bytes
        self._heap: list[tuple[int, str, str]] = []  # (-rank, id, text): largest rank first
        self._chars = 0

    def add(self, doc_id: str, text: str) -> None:
        heapq.heappush(self._heap, (-sample_rank(doc_id), doc_id, text))
        self._chars += len(text)
        # The largest rank is unreachable once everything before it already fills the cap.
        while self._heap and self._chars - len(self._heap[0][2]) >= self.sample_bytes:
            self._chars -= len(heapq.heappop(self._heap)[2])

    def sample(self) -> list[str]:
        ranked = sorted((-negated, doc_id, text) for negated, doc_id, text in self._heap)
        return take_sample(ranked, self.sample_bytes)


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


def main(argv: list[str] | None = None) -> int:
    """Train a tokenizer from documents in any format the pipeline reads."""
    from apache_beam.io.filesystems import FileSystems

    from schemas.document import DeadLetter, Document
    from transforms.readers import match_input_files, read_file

    parser = argparse.ArgumentParser(prog="python -m tokenizer.train", description=main.__doc__)
    parser.add_argument("--input", action="append", required=True, help="Glob; repeatable.")
    parser.add_argument("--output", required=True, help="Where to write tokenizer.json.")
    parser.add_argument("--vocab_size", type=int, default=TokenizerConfig.vocab_size)
    parser.add_argument("--min_frequency", type=int, default=TokenizerConfig.min_frequency)
    parser.add_argument("--sample_bytes", type=int, default=TokenizerConfig.sample_bytes)
    parser.add_argument("--eos_token", default=EOS_TOKEN, help="End-of-text special token.")
    parser.add_argument("--pad_token", default=PAD_TOKEN, help="Pad special token.")
    args = parser.parse_args(argv)
    special = TokenizerConfig(eos_token=args.eos_token, pad_token=args.pad_token).special_tokens

    kept = SmallestRanks(args.sample_bytes)
    documents = unreadable = 0
    for pattern in args.input:
        for file in match_input_files("train", pattern):
            if isinstance(file, DeadLetter):
                parser.error(f"--input {pattern}: {file.error}")
            for record in read_file(file):
                if isinstance(record, Document):
                    documents += 1
                    kept.add(record.id, record.text)
                else:
                    unreadable += 1
    texts = kept.sample()
    tokenizer_json = train_bpe(texts, args.vocab_size, args.min_frequency, special)
    with FileSystems.create(args.output) as f:
        f.write(tokenizer_json.encode("utf-8"))
    print(
        f"read {documents:,} documents ({unreadable:,} records skipped: dropped or unreadable); "
        f"trained on {len(texts):,} documents, {sum(map(len, texts)):,} characters; "
        f"wrote {args.output} (sha256 {tokenizer_sha256(tokenizer_json)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
