"""Encoding on one core: the same tokens, and no thread pool of the tokenizer's own."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tokenizer.train import train_bpe

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [f"Document {i}: the quick brown fox jumps over the lazy dog {i * 7}." for i in range(300)]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_encode_on_one_core_starts_no_threads_and_gives_the_same_tokens(tmp_path):
    tokenizer_json = tmp_path / "tokenizer.json"
    tokenizer_json.write_text(train_bpe(TEXTS, vocab_size=400))
    script = (
        "import json, os, sys\n"
        "from tokenizer.encode import encode_on_one_core, encode_texts, load_tokenizer\n"
        "texts = json.loads(sys.stdin.read())\n"
        "tok = load_tokenizer(open(sys.argv[1]).read())\n"
        "if sys.argv[2] == 'one': encode_on_one_core()\n"
        "before = len(os.listdir('/proc/self/task'))  # numpy's own pool is there already\n"
        "ids = [a.tolist() for a in encode_texts(tok, texts)]\n"
        "print(json.dumps([len(os.listdir('/proc/self/task')) - before, ids]))\n"
    )
    import json

    runs = {
        mode: json.loads(
            subprocess.run(
                [sys.executable, "-c", script, str(tokenizer_json), mode],
                input=json.dumps(TEXTS * 8),
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                env={"PATH": "", "PYTHONPATH": str(ROOT)},
            ).stdout
        )
        for mode in ("one", "pool")
    }
    assert runs["one"][0] == 0  # no thread started to encode
    if (os.cpu_count() or 1) > 1:
        assert runs["pool"][0] > 0  # what it saves: the tokenizer's pool
    assert runs["one"][1] == runs["pool"][1]
