"""The runs every engine is compared with: one input where ids repeat across files (a
C4-style and a CCNet-style copy of the same pages: some with the same text, some edited,
some different), plus the sample corpus, a dead-lettered line and a mix of five sources,
curated by a `python -m pipelines.curate` subprocess (so the hash seed is its own); every
output file is compared with the reference's: tokens/ (both splits), the megatron/,
nanogpt/ and litdata/ token files, documents/, rejected/, dead_letter/, tokenizer/,
manifest.json (the output path aside) and report.html. The fixtures `corpus` and
`reference` (tests/pipelines/conftest.py) hold one reference run per test session.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

from pipelines.sample_corpus import web_pages, write_sample_corpus

ROOT = Path(__file__).resolve().parents[2]
# Every token format, and a validation split big enough to hold documents of each source.
ARGS = [
    "--vocab_size=800",
    "--seq_len=64",
    "--dp_world_size=2",
    "--output_format=all",
    "--validation_fraction=0.1",
]
FORMATS = ("megatron", "nanogpt", "litdata")
COMPARED = ("tokens", "documents", "rejected", "dead_letter", "tokenizer", *FORMATS)
MIX = {"web": 0.35, "books": 0.25, "code": 0.1, "c4": 0.2, "ccnet": 0.1}


def write_repeated_ids(directory: Path) -> list[str]:
    """Two files of the same pages under the same ids: the CCNet copy has the C4 text for
    half of them, an edited text for a quarter and another page for the rest."""
    rng = random.Random(7)
    pages = web_pages(60, rng)
    others = web_pages(20, random.Random(8))
    c4, ccnet = [], []
    for i, page in enumerate(pages):
        doc_id = f"page-{i:03d}"
        c4.append({"id": doc_id, "text": page["text"], "url": page["url"]})
        if i % 4 in (0, 1):
            text = page["text"]
        elif i % 4 == 2:
            words = page["text"].split(" ")
            words[len(words) // 2] = "edited"
            text = " ".join(words)
        else:
            text = others[i // 4]["text"]
        ccnet.append({"id": doc_id, "text": text, "metadata": {"url": page["url"]}})
    directory.mkdir(parents=True, exist_ok=True)
    for name, records in (("c4.jsonl", c4), ("ccnet.jsonl", ccnet)):
        lines = [json.dumps(r) for r in records]
        if name == "ccnet.jsonl":
            lines.insert(5, '{"id": "broken", "text": ')  # a dead letter
        (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [f"c4={directory}/c4.jsonl", f"ccnet={directory}/ccnet.jsonl"]


def write_corpus(root: Path) -> tuple[list[str], Path]:
    """The flags naming the inputs (sample corpus, repeated ids, a five-source mix)."""
    inputs = write_sample_corpus(str(root / "sample"), scale=0.1)
    inputs += write_repeated_ids(root / "repeated")
    config = root / "mix.json"  # YAML is a superset of JSON
    config.write_text(json.dumps({"stages": {"balance": {"targets": MIX}}}))
    return [f"--input={spec}" for spec in inputs] + [f"--config={config}"], root


def curate(args: list[str], output: Path, seed: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pipelines.curate", *ARGS, *args, f"--output={output}"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def outputs(out: Path) -> dict[str, str]:
    """Relative path -> sha256 of every compared file; the manifest without its path."""
    hashes = {}
    for sub in COMPARED:
        for path in sorted((out / sub).rglob("*")):
            if path.is_file():
                hashes[str(path.relative_to(out))] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["config"].pop("output")
    hashes["manifest.json"] = json.dumps(manifest, sort_keys=True)
    hashes["report.html"] = hashlib.sha256(
        (out / "report.html").read_text().replace(str(out), "OUT").encode()
    ).hexdigest()
    return hashes


def reference_outputs(args: list[str], root: Path) -> dict[str, str]:
    """Curate on the in-memory DirectRunner (one worker): the bytes every engine must write."""
    curate(args, root / "reference", seed=0)
    manifest = json.loads((root / "reference" / "manifest.json").read_text())
    assert manifest["records"]["balanced"]
    assert manifest["records"]["dead_lettered"] >= 3  # sample corpus 2 + the broken line
    assert manifest["stages"][4]["dropped"].get("exact_dup", 0) >= 30  # the shared pages
    assert manifest["validation"]["shards"] and all(manifest["formats"][f] for f in FORMATS)
    return outputs(root / "reference")


def assert_same_outputs(out: Path, reference: dict[str, str]) -> None:
    ours = outputs(out)
    assert sorted(ours) == sorted(reference)
    different = [name for name in ours if ours[name] != reference[name]]
    assert different == []
