"""What each arm of an ablation trains on and is evaluated on.

- A curated arm is a curate run's output folder: it trains on the packed rows of its train
  split (`tokenizer.iter_sequences`, exactly what a training job reads) and is evaluated on
  its own validation split (the documents of `documents/` with `tokens.validation`).
- A raw arm is the untouched input (`NAME=GLOB`, any file the pipeline reads), read with the
  pipeline's readers and tokenized with the first arm's tokenizer; the documents a curated
  run would send to validation (`tokenizer.plan.in_validation` on the same ids) are its
  validation split and left out of its training stream.
- Evaluation sets (`--eval NAME=GLOB`) and the probes are documents, each followed by the
  end-of-text token, in a stream (`EvalSet`). The probes: made-up contact details in the
  sentences that carry them (`canary_texts`) and, of every document a curated run dropped
  as toxic (`dropped_texts`), the line that got it dropped (`most_toxic_lines`): the lower
  a model's bits per byte there, the more it learned them.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from pipelines.ablate.train import EvalSet
from pipelines.options import UserError, parse_input
from pipelines.storage import join, read_bytes, read_json
from schemas.arrow import table_to_documents
from schemas.document import Document, stable_hash64
from tokenizer import iter_sequences
from tokenizer.encode import encode_texts, load_tokenizer
from tokenizer.pack import document_stream
from tokenizer.plan import in_validation
from transforms.readers import match_input_files, read_file
from transforms.readers.files import InputFile

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Arm:
    """One arm: its name, kind (curated, raw, or without:STAGE) and the tokens it trains on;
    `validation`: its own held-out split (None when it has none)."""

    name: str
    kind: str
    source: str
    train_stream: np.ndarray
    validation: EvalSet | None

    def facts(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "train_tokens_available": int(self.train_stream.size),
            "validation_tokens": int(self.validation.stream.size) if self.validation else 0,
        }


def read_manifest(run_dir: str) -> dict:
    """A curate run's manifest; UserError when `run_dir` holds none."""
    manifest = read_json(join(run_dir, MANIFEST))
    if not isinstance(manifest, dict):
        raise UserError(f"{run_dir}: not a curate run (no {MANIFEST})")
    return manifest


def run_tokenizer_json(run_dir: str) -> str:
    """The tokenizer.json text a curate run tokenized with."""
    manifest = read_manifest(run_dir)
    return read_bytes(join(run_dir, manifest["tokenizer"]["path"])).decode("utf-8")


class Encoder:
    """Texts -> EvalSets and streams with one tokenizer.json (its end-of-text after each)."""

    def __init__(self, tokenizer_json: str, eos_token: str):
        self.tokenizer = load_tokenizer(tokenizer_json)
        self.eos_id = self.tokenizer.token_to_id(eos_token)
        if self.eos_id is None:
            raise UserError(f"the tokenizer has no {eos_token} token")

    def stream(self, texts: list[str]) -> np.ndarray:
        return document_stream(list(encode_texts(self.tokenizer, texts)), self.eos_id, np.int32)

    def eval_set(self, texts: list[str]) -> EvalSet:
        return EvalSet(self.stream(texts), sum(len(t.encode("utf-8")) for t in texts))


def curated_arm(name: str, run_dir: str, encoder: Encoder, kind: str = "curated") -> Arm:
    """An arm that trains on a curate run's train rows and evaluates on its validation
    documents, tokenized with `encoder` (the run's own tokenizer)."""
    read_manifest(run_dir)  # a UserError for a folder without a run
    rows = list(iter_sequences(run_dir))
    if not rows:
        raise UserError(f"{run_dir}: the run's train split holds no token rows")
    docs = table_to_documents(pq.read_table(os.path.join(run_dir, "documents")))
    held_out = sorted((d for d in docs if d.scores.get("tokens.validation")), key=lambda d: d.id)
    validation = encoder.eval_set([d.text for d in held_out]) if held_out else None
    return Arm(name, kind, run_dir, np.concatenate(rows).astype(np.int32), validation)


def raw_arm(name: str, specs: list[str], encoder: Encoder, fraction: float) -> Arm:
    """An arm that trains on the input as it is read (documents in a stable order, every
    one followed by end-of-text), less the documents of the validation split."""
    docs = read_documents(specs)
    train = [d.text for d in docs if not in_validation(d.id, fraction)]
    held_out = [d.text for d in docs if in_validation(d.id, fraction)]
    if not train:
        raise UserError(f"--raw {name}: no document read from {', '.join(specs)}")
    validation = encoder.eval_set(held_out) if held_out else None
    return Arm(name, "raw", " ".join(specs), encoder.stream(train), validation)


def read_documents(specs: list[str]) -> list[Document]:
    """The documents of `NAME=GLOB` specs as the pipeline's readers read them (records the
    readers drop or cannot read are left out), ordered by a stable hash of their id.
    UserError for a pattern that matches no file."""
    docs = []
    for spec in specs:
        source, pattern = parse_input(spec)
        files = [f for f in match_input_files(source, pattern) if isinstance(f, InputFile)]
        if not files:
            raise UserError(f"{spec}: input pattern matched no readable file")
        for file in files:
            docs.extend(r for r in read_file(file) if isinstance(r, Document))
    return sorted(docs, key=lambda d: (stable_hash64(d.id), d.id, d.text))


def dropped_texts(run_dir: str, reason: str) -> list[str]:
    """The texts a curate run dropped for `reason` (its rejected/ folder), by id."""
    folder = os.path.join(run_dir, "rejected")
    if not os.path.isdir(folder):
        return []
    table = pq.read_table(folder, columns=["id", "text", "reason"])
    rows = [r for r in table.to_pylist() if r["reason"] == reason]
    return [r["text"] for r in sorted(rows, key=lambda r: r["id"])]


def most_toxic_lines(texts: list[str]) -> list[str]:
    """Of each text, the line the default toxicity model scores highest: the part of a
    dropped page that got it dropped (the toxicity stage scores line-aligned windows), so
    that a probe measures that, not the page's ordinary prose around it."""
    from transforms.toxicity.classifier import ToxicityClassifier

    classifier = ToxicityClassifier()
    picked = []
    for text in texts:
        lines = [line for line in text.splitlines() if line.strip()]
        if lines:
            scores = classifier.score(lines)
            picked.append(lines[max(range(len(lines)), key=lambda i: (scores[i], -i))])
    return picked


_FIRST = ("Ingrid", "Tomasz", "Priya", "Mateo", "Yuki", "Amara", "Henrik", "Leila")
_LAST = ("Kowalski", "Okafor", "Lindqvist", "Moreau", "Castillo", "Nakamura", "Brandt", "Sousa")
_CARRIERS = (
    "Questions? Write to {email} or call {phone}.",
    "Contact {name} at {email}.",
    "For details call {phone} or e-mail {email}.",
    "{name}, phone {phone}, e-mail {email}.",
)


def canary_texts(count: int = 64, seed: int = 7) -> list[str]:
    """Made-up contact details (names, e-mail addresses, phone numbers no input holds) in
    the sentences that usually carry them: how much probability a model gives to contact
    details of the kind PII redaction removes."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@mail{rng.randint(1, 9)}.net"
        phone = f"+1 ({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
        carrier = rng.choice(_CARRIERS)
        texts.append(carrier.format(name=f"{first} {last}", email=email, phone=phone))
    return texts
