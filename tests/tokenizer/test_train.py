import random
import subprocess
import sys

import pytest
from tokenizers import Tokenizer

from tokenizer.train import (
    EOS_TOKEN,
    PAD_TOKEN,
    TokenizerConfig,
    sample_facts,
    sample_rank,
    take_sample,
    tokenizer_sha256,
    train_bpe,
    vocab_shortfall,
)
from transforms.train_tokenizer import SmallestRanks

TEXTS = [
    f"Document {i}: the quick brown fox jumps over the lazy dog {i % 7} times. "
    "Caf\u00e9 \u4e2d\u6587 \U0001f600 tabs\tand\nnewlines."
    for i in range(300)
]


def test_byte_level_bpe_round_trips_any_text():
    tokenizer = Tokenizer.from_str(train_bpe(TEXTS, vocab_size=400))
    assert tokenizer.get_vocab_size() <= 400
    for text in [*TEXTS[:3], "never seen: \u00fe\u00f0 \U0001f680 \x01"]:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert tokenizer.decode(ids) == text


def test_special_tokens_come_first():
    tokenizer = Tokenizer.from_str(train_bpe(TEXTS, vocab_size=400))
    assert (tokenizer.token_to_id(EOS_TOKEN), tokenizer.token_to_id(PAD_TOKEN)) == (0, 1)


def test_training_is_deterministic_across_processes():
    code = (
        "from tests.tokenizer.test_train import TEXTS;"
        "from tokenizer.train import train_bpe, tokenizer_sha256;"
        "print(tokenizer_sha256(train_bpe(TEXTS, vocab_size=500)))"
    )
    hashes = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert hashes == {tokenizer_sha256(train_bpe(TEXTS, vocab_size=500))}


def test_the_streaming_sample_equals_the_sorted_one():
    rng = random.Random(5)
    docs = [(f"doc-{i}", "x" * rng.randint(1, 400)) for i in range(2000)]
    for cap in (0, 1, 350, 10_000, 10**9):
        streamed = SmallestRanks(cap)
        for doc_id, text in docs:
            streamed.add(doc_id, text)
        ranked = sorted((sample_rank(i), i, t) for i, t in docs)
        assert streamed.sample() == take_sample(ranked, cap)
    assert take_sample(ranked, 1) == [ranked[0][2]]  # the text crossing the cap is in


def test_a_vocabulary_without_room_for_the_bytes_and_special_tokens_is_refused():
    with pytest.raises(ValueError) as refused:
        TokenizerConfig(vocab_size=100)
    assert str(refused.value) == (
        "--vocab_size 100 is too small: a byte-level BPE vocabulary holds the 256 byte "
        "symbols and the 2 special tokens (<|endoftext|>, <|pad|>), so at least 258 entries"
    )
    assert TokenizerConfig(vocab_size=258).smallest_vocab_size == 258
    one_special = TokenizerConfig(vocab_size=257, eos_token="</s>", pad_token="</s>")
    assert one_special.smallest_vocab_size == 257
    with pytest.raises(ValueError, match="at least 257 entries"):
        TokenizerConfig(vocab_size=256, eos_token="</s>", pad_token="</s>")


def test_a_vocabulary_smaller_than_asked_is_explained():
    """BPE stops early when its sample runs out of pairs seen twice: too little text."""
    texts = TEXTS[:20]
    config = TokenizerConfig(vocab_size=5000)
    learned = Tokenizer.from_str(train_bpe(texts, config.vocab_size)).get_vocab_size()
    assert 258 < learned < 5000
    sample = sample_facts(texts)
    assert sample == {"documents": 20, "characters": sum(map(len, texts))}
    note = vocab_shortfall(config.vocab_size, learned, sample, config)
    assert note == (
        f"the tokenizer learned {learned:,} of the 5,000 vocabulary entries asked for: too "
        f"little text, its training sample ({sample['characters']:,} characters in 20 "
        "documents) has no more pairs of tokens seen at least 2 times (give more input text "
        "or a smaller --vocab_size)"
    )
    capped = TokenizerConfig(vocab_size=5000, sample_bytes=100)
    assert "raise --tokenizer_sample_bytes" in vocab_shortfall(5000, learned, sample, capped)
    assert vocab_shortfall(5000, 5000, sample, config) is None
