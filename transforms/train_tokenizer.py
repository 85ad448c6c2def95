"""The tokenizer-training PTransform: one worker trains BPE on the pipeline's sample.

`TrainTokenizer` turns documents into a one-element PCollection of tokenizer.json text (the
pipeline's side input); `SmallestRanks` keeps the same sample while streaming, for the
command line (`pipelines.train_tokenizer`). The sample order and training are
`tokenizer.train`'s.
"""

from __future__ import annotations

import heapq

import apache_beam as beam

from tokenizer.train import TokenizerConfig, sample_facts, sample_rank, take_sample, train_bpe


def _in_sample(doc, total_chars: int, sample_bytes: int) -> bool:
    # Over-sample by a quarter so the byte cap, not chance, decides the sample size.
    fraction = min(1.0, 1.25 * sample_bytes / max(total_chars, 1))
    return sample_rank(doc.id) < fraction * 2**64


def _train_on_group(keyed, config: TokenizerConfig) -> tuple[str, dict]:
    """The one group of the sample -> (tokenizer.json text, `sample_facts` of the sample)."""
    ranked = sorted(item for item in keyed[1] if item is not None)
    texts = take_sample(ranked, config.sample_bytes)
    tokenizer_json = train_bpe(
        texts, config.vocab_size, config.min_frequency, config.special_tokens
    )
    return tokenizer_json, sample_facts(texts)


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
    """Documents -> a one-element PCollection holding tokenizer.json text; with
    `with_sample`, (that, a one-element PCollection of the sample's `sample_facts`)."""

    def __init__(self, config: TokenizerConfig, with_sample: bool = False):
        super().__init__()
        self.config = config
        self.with_sample = with_sample

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
        trained = (
            (sample, sentinel)
            | "WithSentinel" >> beam.Flatten()
            | "OneGroup" >> beam.GroupByKey()
            | "TrainBPE" >> beam.Map(_train_on_group, self.config)
        )
        tokenizer_json = trained | "TokenizerJson" >> beam.Map(lambda t: t[0])
        if not self.with_sample:
            return tokenizer_json
        return tokenizer_json, trained | "SampleFacts" >> beam.Map(lambda t: t[1])
