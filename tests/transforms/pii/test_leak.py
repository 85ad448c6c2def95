"""Leak test: canary contact details injected into real web documents never reach the tokens."""

import gzip
import json

import numpy as np
import pyarrow.parquet as pq
from tokenizers import Tokenizer

from pipelines.curate import run
from tests.conftest import jsonl_bytes, write_input
from tokenizer import iter_sequences

EMAILS = ["canary.leak.q7x@example.com", "zz.canary-two@mailbox.example.org"]
PHONES = ["+1 415 555 0142", "(212) 555-0187", "+44 20 7946 0958"]
CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"]
CANARIES = EMAILS + PHONES + CARDS


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def test_injected_canaries_appear_nowhere_in_the_token_shards(fixtures, tmp_path):
    docs = []
    for f in sorted((fixtures / "web-jsonl").glob("*.gz")):
        docs += [json.loads(line) for line in gzip.open(f, "rt") if line.strip()]
    records = []
    for i, doc in enumerate(docs):
        paragraphs = doc["text"].split("\n")
        middle = len(paragraphs) // 2
        injected = [
            f"You can write to {EMAILS[i % 2]} with any questions about this page.",
            f"For orders, call {PHONES[i % 3]} between nine and five.",
            f"I paid with my credit card {CARDS[i % 3]} and it went through.",
        ]
        text = "\n".join(paragraphs[:middle] + injected + paragraphs[middle:])
        records.append({"id": f"canary-{i}", "text": text})
    write_input(tmp_path / "in" / "web.jsonl", jsonl_bytes(records))
    out = tmp_path / "out"
    manifest = run(
        ["--vocab_size=2000", "--seq_len=256", f"--output={out}", f"--input=web={tmp_path}/in/*"]
    )
    assert manifest["records"]["balanced"]
    kept = pq.read_table(out / "documents").to_pylist()
    assert len(kept) > 30  # most pages survive, redacted rather than dropped
    assert all(dict(d["scores"])["pii.EMAIL_ADDRESS"] >= 1 for d in kept)

    tokenizer = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    stream = np.concatenate(list(iter_sequences(str(out))))
    decoded = tokenizer.decode(stream.tolist(), skip_special_tokens=False)
    assert "<EMAIL_ADDRESS>" in decoded and "<CREDIT_CARD>" in decoded
    flat = _digits(decoded)
    for canary in CANARIES:
        assert canary not in decoded, canary
    for canary in PHONES + CARDS:  # not even with its separators changed
        assert _digits(canary) not in flat, canary
    for text in (d["text"] for d in kept):
        assert not any(c in text for c in CANARIES)
