"""What a training job gets: shards that round-trip to the curated text, a reusable and
reproducible tokenizer, and a balanced source mix."""

import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from pipelines.curate import run
from pipelines.sample_corpus import write_sample_corpus
from schemas.arrow import table_to_documents
from tokenizer import iter_sequences
from tokenizer.plan import copy_keys
from tokenizer.train import train_bpe

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--vocab_size=1500", "--seq_len=128"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_sample_corpus(str(tmp_path_factory.mktemp("corpus")), scale=0.15)


@pytest.fixture(scope="module")
def padded_run(inputs, tmp_path_factory):
    """One shard, last row padded: every curated token is in the shard."""
    out = tmp_path_factory.mktemp("padded")
    argv = [*SMALL, "--pack_tail=pad", f"--output={out}", *(f"--input={s}" for s in inputs)]
    return out, run(argv)


def _documents(out: Path, split: str | None = None):
    """The run's curated documents; with `split`, only those of that split."""
    docs = table_to_documents(pq.read_table(out / "documents"))
    if split is None:
        return docs
    return [d for d in docs if d.scores["tokens.validation"] == (split == "validation")]


def _splits(manifest: dict) -> list[tuple[str, dict]]:
    """(split, its parquet section) for every split the run wrote."""
    sections = [("train", manifest["tokens"]), ("validation", manifest["validation"])]
    return [(split, section) for split, section in sections if section is not None]


def _token_hashes(out: Path) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("tokens/*"))]


def _assert_shards_detokenize_to_the_curated_documents(out: Path, manifest: dict):
    """The one shard of each split of a padded run, cut at its end-of-text tokens, decodes
    to exactly the curated texts of that split in shard order, and its document starts
    follow end-of-text tokens."""
    assert [split for split, _ in _splits(manifest)] == ["train", "validation"]
    tokenizer = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    eos, pad = manifest["tokenizer"]["eos_id"], manifest["tokenizer"]["pad_id"]
    for split, section in _splits(manifest):
        assert len(section["shards"]) == 1
        stream = np.concatenate(list(iter_sequences(str(out), split=split)))
        padding = section["pad_tokens"]
        text_part = stream[: len(stream) - padding]
        assert (stream[len(text_part) :] == pad).all() and (pad == eos or pad not in text_part)
        pieces = np.split(text_part, np.flatnonzero(text_part == eos) + 1)
        assert len(pieces[-1]) == 0  # the stream ends with an end-of-text
        decoded = [
            tokenizer.decode(p[:-1].tolist(), skip_special_tokens=False) for p in pieces[:-1]
        ]
        docs = sorted(_documents(out, split), key=lambda d: copy_keys(d.id, d.text)[0])
        assert decoded == [d.text for d in docs] and docs
        # Document starts in each row point just after an end-of-text (or at the stream start).
        rows = iter_sequences(str(out), with_doc_starts=True, split=split)
        for row, (ids, starts) in enumerate(rows):
            for start in starts:
                position = row * len(ids) + start
                assert position == 0 or stream[position - 1] == eos


def test_shards_detokenize_to_the_curated_documents_in_order(padded_run):
    _assert_shards_detokenize_to_the_curated_documents(*padded_run)


def test_a_tokenizer_with_its_own_end_of_text_token(inputs, tmp_path):
    """A Llama-style tokenizer whose only special token is </s>, which also pads."""
    given = tmp_path / "llama-style.json"
    given.write_text(
        train_bpe(["some text to learn from"] * 5, vocab_size=400, special_tokens=("</s>",))
    )
    out = tmp_path / "out"
    argv = [*SMALL, "--pack_tail=pad", f"--tokenizer={given}", f"--output={out}"]
    argv += [f"--input={s}" for s in inputs]
    refused = "has no <\\|endoftext\\|> or <\\|pad\\|> token; name its own with --eos_token and"
    with pytest.raises(ValueError, match=refused):
        run(argv)
    manifest = run([*argv, "--eos_token=</s>", "--pad_token=</s>"])
    facts = manifest["tokenizer"]
    assert facts["eos_token"] == facts["pad_token"] == "</s>"
    assert facts["eos_id"] == facts["pad_id"] == Tokenizer.from_file(str(given)).token_to_id("</s>")
    assert manifest["config"]["eos_token"] == "</s>"
    _assert_shards_detokenize_to_the_curated_documents(out, manifest)


def test_a_given_tokenizer_is_used_as_it_is(padded_run, inputs, tmp_path):
    out, manifest = padded_run
    reused = run(
        [
            *SMALL,
            "--pack_tail=pad",
            f"--tokenizer={out / 'tokenizer' / 'tokenizer.json'}",
            f"--output={tmp_path}",
            *(f"--input={s}" for s in inputs),
        ]
    )
    assert reused["tokenizer"]["sha256"] == manifest["tokenizer"]["sha256"]
    assert reused["config"]["tokenizer"] == str(out / "tokenizer" / "tokenizer.json")
    assert _token_hashes(tmp_path) == _token_hashes(out)


def test_a_tokenizer_without_the_special_tokens_is_refused(inputs, tmp_path):
    bare = tmp_path / "bare.json"
    tokenizer = Tokenizer.from_str(train_bpe(["some text to learn from"] * 5, vocab_size=300))
    data = tokenizer.to_str().replace("<|endoftext|>", "<|eot|>")
    bare.write_text(data)
    argv = [*SMALL, f"--tokenizer={bare}", f"--output={tmp_path / 'o'}", f"--input={inputs[0]}"]
    with pytest.raises(ValueError, match="has no <\\|endoftext\\|> token; name its own with"):
        run(argv)
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a loadable tokenizer.json"):
        run([*argv[:2], f"--tokenizer={tmp_path / 'junk.json'}", *argv[3:]])


def test_the_train_command_reproduces_the_runs_tokenizer(padded_run, tmp_path):
    out, _ = padded_run
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.train_tokenizer",
            f"--input={out}/documents/*.parquet",
            f"--output={tmp_path / 'tokenizer.json'}",
            "--vocab_size=1500",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "trained on" in result.stdout
    expected = (out / "tokenizer" / "tokenizer.json").read_bytes()
    assert (tmp_path / "tokenizer.json").read_bytes() == expected


def test_a_balanced_run_meets_its_mix_on_equal_shards(inputs, tmp_path):
    targets = '{"balance": {"targets": {"web": 0.45, "books": 0.3, "code": 0.25}}}'
    manifest = run(
        [
            *SMALL,
            "--dp_world_size=2",
            "--target_shard_bytes=200000",
            f"--stages={targets}",
            f"--output={tmp_path}",
            *(f"--input={s}" for s in inputs),
        ]
    )
    assert manifest["records"]["balanced"]
    balance = manifest["balance"]
    # Whole documents are taken or not, so a share is met to within its largest document
    # (code files of a few thousand tokens in this small corpus; the unit tests show 0.5%
    # on a few thousand documents).
    tokenizer = Tokenizer.from_file(str(tmp_path / "tokenizer" / "tokenizer.json"))
    docs = _documents(tmp_path)
    largest = max(len(tokenizer.encode(d.text).ids) + 1 for d in docs)
    for source in balance["sources"]:
        error = abs(source["achieved_share"] - source["target_share"])
        assert error <= max(0.02, largest / balance["selected_tokens"])
    assert not balance["notes"]
    # Code is down-sampled (dropped documents are accounted for), web pages repeated.
    stage = next(s for s in manifest["stages"] if s["stage"] == "balance")
    assert stage["dropped"]["downsampled"] > 0
    rejected = pq.read_table(tmp_path / "rejected").to_pylist()
    assert {r["source"] for r in rejected if r["reason"] == "downsampled"} == {"code"}
    assert len(docs) == manifest["records"]["kept"]
    sampled = Counter(
        d.source for d in docs for _ in range(int(d.scores["balance.sampled_copies"]))
    )
    assert sampled["web"] > sum(d.source == "web" for d in docs)
    # The two splits hold exactly the selected tokens, on equal shards, less what packing
    # drops.
    splits = manifest["splits"]
    assert splits["train"]["tokens"] + splits["validation"]["tokens"] == balance["selected_tokens"]
    assert splits["validation"]["copies"] > 0
    eos = manifest["tokenizer"]["eos_id"]
    for split, tokens in _splits(manifest):
        assert tokens["document_tokens"] == splits[split]["tokens"]
        assert len(tokens["shards"]) % 2 == 0 and len(tokens["shards"]) >= 2
        assert {s["rows"] for s in tokens["shards"]} == {tokens["rows_per_shard"]}
        evened_out = tokens["rows_dropped_for_equal_shards"] * tokens["seq_len"]
        held_tokens = tokens["tokens"] + tokens["tail_tokens_dropped"] + evened_out
        assert held_tokens == tokens["document_tokens"]
        # On many shards every end-of-text closes a whole copy and every document start
        # opens a copy that is whole or cut; what packing left out is counted per document
        # and in all.
        split_docs = _documents(tmp_path, split)
        held = list(iter_sequences(str(tmp_path), with_doc_starts=True, split=split))
        whole = sum(int(d.scores["tokens.copies"]) for d in split_docs)
        cut = sum(int(d.scores["tokens.cut_copies"]) for d in split_docs)
        assert whole == sum(int((ids == eos).sum()) for ids, _ in held)
        assert whole + cut == sum(len(starts) for _, starts in held)
        lost = {
            d.id: d.scores["balance.sampled_copies"] - d.scores["tokens.copies"] for d in split_docs
        }
        assert min(lost.values()) >= 0
        assert cut == tokens["copies_cut"]
        assert sum(lost.values()) == tokens["copies_cut"] + tokens["copies_dropped"]
        assert sum(n > 0 for n in lost.values()) == tokens["documents_not_all_copies_whole"]
    assert manifest["tokens"]["shards"] and len(manifest["tokens"]["shards"]) > 2
    assert manifest["tokens"]["copies_dropped"] > 0


def _copies_in_one_shard(out: Path, manifest: dict, split: str) -> tuple[Counter, list[np.ndarray]]:
    """Decode the one token shard of a run's split at its document starts: text -> how many
    whole copies of it (ending in end-of-text) the shard holds, and the pieces cut short."""
    assert len(dict(_splits(manifest))[split]["shards"]) == 1
    tokenizer = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    eos = manifest["tokenizer"]["eos_id"]
    rows = list(iter_sequences(str(out), with_doc_starts=True, split=split))
    stream = np.concatenate([ids for ids, _ in rows])
    starts = [r * len(ids) + start for r, (ids, row) in enumerate(rows) for start in row]
    whole, cut = Counter(), []
    for begin, end in zip(starts, [*starts[1:], len(stream)], strict=True):
        piece = stream[begin:end]
        if piece[-1] == eos:
            whole[tokenizer.decode(piece[:-1].tolist(), skip_special_tokens=False)] += 1
        else:
            cut.append(piece)
    return whole, cut


def test_documents_say_how_often_they_are_in_the_shards(inputs, tmp_path):
    """Balance repeats web pages, packing drops the last partial row: each document's
    tokens.copies is what the decoded shard holds whole, tokens.cut_copies the copy cut at
    the end, and balance.sampled_copies what balancing chose (the issue 16 count)."""
    targets = '{"balance": {"targets": {"web": 0.6, "books": 0.25, "code": 0.15}}}'
    # Rows long enough that whole documents fall in the dropped last row.
    argv = ["--vocab_size=1500", "--seq_len=1024", f"--stages={targets}", f"--output={tmp_path}"]
    manifest = run([*argv, *(f"--input={s}" for s in inputs)])
    tokenizer = Tokenizer.from_file(str(tmp_path / "tokenizer" / "tokenizer.json"))
    assert manifest["tokens"]["copies_dropped"] > 0
    for split, tokens in _splits(manifest):  # each split is packed on its own
        assert tokens["tail_tokens_dropped"] > 0 and tokens["copies_cut"] <= 1
        whole, cut = _copies_in_one_shard(tmp_path, manifest, split)
        docs = _documents(tmp_path, split)
        kept = tokens["documents"] - tokens["copies_cut"] - tokens["copies_dropped"]
        assert sum(whole.values()) == kept
        for doc in docs:
            assert doc.scores["tokens.copies"] == whole[doc.text], doc.id
        # the copy cut at the end is the one document that says so
        cut_docs = [d for d in docs if d.scores["tokens.cut_copies"]]
        assert len(cut) == len(cut_docs) == tokens["copies_cut"]
        for piece, cut_doc in zip(cut, cut_docs, strict=True):
            assert tokenizer.encode(cut_doc.text).ids[: len(piece)] == piece.tolist()
        short = [d for d in docs if d.scores["tokens.copies"] < d.scores["balance.sampled_copies"]]
        assert len(short) == tokens["documents_not_all_copies_whole"]
    train_whole, _ = _copies_in_one_shard(tmp_path, manifest, "train")
    assert max(train_whole.values()) > 1  # repeats are counted
    assert manifest["tokens"]["copies_cut"] == 1


def test_train_tokenizer_refuses_a_vocabulary_without_room_for_the_bytes(tmp_path, capsys):
    from pipelines.train_tokenizer import main

    with pytest.raises(SystemExit) as exited:
        main(["--input=none.jsonl", f"--output={tmp_path / 't.json'}", "--vocab_size=257"])
    assert exited.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(
            "error: --vocab_size 257 is too small: a byte-level BPE vocabulary holds the 256 byte "
            "symbols and the 2 special tokens (<|endoftext|>, <|pad|>), so at least 258 entries"
        )
    )
    assert not (tmp_path / "t.json").exists()
