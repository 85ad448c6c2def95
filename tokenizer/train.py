"""Train a byte-level BPE tokenizer with `tokenizers` on a deterministic sample of documents.

Beam-free: `train_bpe` and the sample order (`sample_rank`, `take_sample`). The pipeline's
`transforms.train_tokenizer.TrainTokenizer` (one worker trains on the sample) and the
command line `python -m pipelines.train_tokenizer` both use them.

The sample is the documents with the smallest `sample_rank(id)`, in that order, until
`sample_bytes` characters are reached, so it does not depend on file or arrival order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from schemas.document import stable_hash64

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
BYTE_SYMBOLS = 256  # a byte-level BPE starts from every byte value


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
        if self.vocab_size < self.smallest_vocab_size:
            raise ValueError(
                f"--vocab_size {self.vocab_size} is too small: a byte-level BPE vocabulary "
                f"holds the {BYTE_SYMBOLS} byte symbols and the {len(self.special_tokens)} "
                f"special tokens ({', '.join(self.special_tokens)}), so at least "
                f"{self.smallest_vocab_size} entries"
            )

    @property
    def smallest_vocab_size(self) -> int:
        """The byte alphabet and the special tokens: a vocabulary with no merge at all."""
        return BYTE_SYMBOLS + len(self.special_tokens)

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


def vocab_shortfall(
    requested: int, learned: int, sample: dict, config: TokenizerConfig
) -> str | None:
    """None when training learned the vocabulary asked for, else one sentence saying so and
    why: BPE stops early only when no pair of tokens in its sample occurs `min_frequency`
    times any more, i.e. the sample holds too little text. `sample`: {"documents",
    "characters"} of the training sample."""
    if learned >= requested:
        return None
    characters = sample.get("characters", 0)
    remedy = (
        "raise --tokenizer_sample_bytes or lower --vocab_size"
        if characters >= config.sample_bytes
        else "give more input text or a smaller --vocab_size"
    )
    return (
        f"the tokenizer learned {learned:,} of the {requested:,} vocabulary entries asked for: "
        f"too little text, its training sample ({characters:,} characters in "
        f"{sample.get('documents', 0):,} documents) has no more pairs of tokens seen at least "
        f"{config.min_frequency} times ({remedy})"
    )


def sample_facts(texts: list[str]) -> dict:
    """What a tokenizer was trained on: documents and characters of its sample."""
    return {"documents": len(texts), "characters": sum(map(len, texts))}


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
