"""End-to-end runs of the curation pipeline on the DirectRunner."""

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from pipelines.curate import main, run
from pipelines.sample_corpus import write_sample_corpus
from schemas.arrow import DOCUMENT_SCHEMA, TOKENS_SCHEMA
from tests.conftest import jsonl_bytes, write_input
from tokenizer import iter_sequences

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--vocab_size=2000", "--seq_len=256"]
# The manifest's stages before balancing, in graph order.
FILTER_STAGES = [
    "read",
    "normalize",
    "lang",
    "quality",
    "exact_dedup",
    "near_dedup",
    "toxicity",
    "pii",
]


@pytest.fixture(scope="module")
def sample_inputs(tmp_path_factory):
    return write_sample_corpus(str(tmp_path_factory.mktemp("corpus")), scale=0.25)


@pytest.fixture(scope="module")
def sample_run(sample_inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    argv = [*SMALL, f"--output={out}", *(f"--input={spec}" for spec in sample_inputs)]
    return out, run(argv)


def _file_hashes(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("documents", "tokens", "tokenizer", "rejected", "dead_letter")
        for p in sorted((out / sub).glob("*"))
    }


def _lines_in(spec: str) -> int:
    path = spec.split("=", 1)[1]
    if path.endswith(".gz"):
        data = gzip.open(path).read()
    elif path.endswith(".zst"):
        import zstandard

        data = zstandard.ZstdDecompressor().decompressobj().decompress(open(path, "rb").read())
    else:
        data = open(path, "rb").read()
    return sum(1 for line in data.split(b"\n") if line.strip())


def test_output_follows_the_contract(sample_run):
    out, manifest = sample_run
    documents = pq.read_table(out / "documents")
    assert documents.schema.equals(DOCUMENT_SCHEMA)
    assert documents.num_rows == manifest["records"]["kept"]
    assert len(set(documents.column("id").to_pylist())) == documents.num_rows
    tokens = pq.read_table(out / "tokens")  # both splits, as HF datasets would read them
    assert tokens.schema.equals(TOKENS_SCHEMA)
    lengths = {len(row) for row in tokens.column("input_ids").to_pylist()}
    assert lengths == {256}
    validation = manifest["validation"]
    assert tokens.num_rows == manifest["tokens"]["rows"] + validation["rows"]
    assert manifest["tokens"]["rows"] > validation["rows"] > 0
    tokenizer = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    assert tokenizer.get_vocab_size() <= 2000
    facts = manifest["tokenizer"]
    assert facts["vocab_size"] == tokenizer.get_vocab_size()
    assert facts["vocab_size_requested"] == 2000
    assert 0 < facts["sample_documents"] <= documents.num_rows and facts["sample_characters"] > 0
    assert (facts["vocab_note"] is None) == (facts["vocab_size"] == 2000)
    assert (
        manifest["tokenizer"]["sha256"]
        == hashlib.sha256((out / "tokenizer" / "tokenizer.json").read_bytes()).hexdigest()
    )
    for shard in manifest["tokens"]["shards"] + validation["shards"]:
        data = (out / shard["path"]).read_bytes()
        assert shard["sha256"] == hashlib.sha256(data).hexdigest()
        assert shard["rows"] == pq.read_metadata(out / shard["path"]).num_rows


def test_accounting_balances_against_the_input_files(sample_run, sample_inputs):
    _, manifest = sample_run
    records = manifest["records"]
    assert records["balanced"]
    assert records["read"] == sum(_lines_in(spec) for spec in sample_inputs)
    assert records["read"] == records["kept"] + records["dropped"] + records["dead_lettered"]
    assert records["dead_lettered"] == 2  # the two broken lines of the sample web file
    for entry in manifest["inputs"]:
        dropped = sum(entry["dropped"].values())
        assert entry["read"] == entry["kept"] + dropped + entry["dead_lettered"]
    dedup = next(s for s in manifest["stages"] if s["stage"] == "exact_dedup")
    assert dedup["dropped"]["exact_dup"] > 0
    rejected = pq.read_table(Path(sample_run[0]) / "rejected")
    assert rejected.num_rows == records["dropped"]
    # Dedup drops name the document kept in their place; no other drop does.
    by_id = {r["id"]: r for r in rejected.to_pylist()}
    for row in by_id.values():
        named = row["duplicate_of"] is not None
        assert named == (row["reason"] in ("exact_dup", "near_dup")), row["reason"]
        if named:
            assert row["duplicate_of"] != row["id"]


def test_token_shards_hold_exactly_the_curated_documents(sample_run):
    out, manifest = sample_run
    tokenizer = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    texts = pq.read_table(out / "documents").column("text").to_pylist()
    expected = sum(len(tokenizer.encode(t, add_special_tokens=False).ids) + 1 for t in texts)
    splits = manifest["splits"]
    assert splits["train"]["tokens"] + splits["validation"]["tokens"] == expected
    for info in (manifest["tokens"], manifest["validation"]):
        evened_out = info["rows_dropped_for_equal_shards"] * info["seq_len"]
        assert info["tokens"] + info["tail_tokens_dropped"] + evened_out == info["document_tokens"]
    # Every complete document between two starts decodes to one curated text.
    eos = manifest["tokenizer"]["eos_id"]
    stream = np.concatenate(list(iter_sequences(str(out))))
    pieces = np.split(stream, np.flatnonzero(stream == eos) + 1)[:-1]
    decoded = {tokenizer.decode(p[:-1].tolist(), skip_special_tokens=False) for p in pieces[1:]}
    assert decoded <= set(texts) and len(decoded) > len(texts) // 2


def test_same_input_and_config_give_identical_bytes(sample_run, sample_inputs, tmp_path):
    out, _ = sample_run
    run([*SMALL, f"--output={tmp_path}", *(f"--input={spec}" for spec in sample_inputs)])
    assert _file_hashes(tmp_path) == _file_hashes(out)


def test_real_fixtures(fixtures, tmp_path):
    manifest = run(
        [
            *SMALL,
            f"--output={tmp_path}",
            f"--input=web={fixtures}/web-jsonl/*.json*.gz",
            f"--input=pile={fixtures}/pile/*.jsonl.zst",
        ]
    )
    records = manifest["records"]
    assert records["balanced"] and records["dead_lettered"] == 0
    assert records["read"] == 30 + 10 + 10 + 10 + 4 + 4
    # blns-1 and blns-2 are byte-identical, and records 1 and 3 of each share their text:
    # 8 Pile records hold 3 distinct texts. Language ID drops the two that are not English
    # enough (a list of strings under "#" headings, "testing 123456789"), 6 records; the
    # Pile is exempt from the quality rules, so 2 copies of one text reach exact dedup.
    stages = {s["stage"]: s for s in manifest["stages"]}
    assert stages["lang"]["dropped"] == {"lang": 6}
    # The quality rules take 11 of the 60 web documents (short or repetitive pages).
    assert sum(stages["quality"]["dropped"].values()) == 11
    assert stages["exact_dedup"]["dropped"] == {"exact_dup": 1}
    assert records["kept"] == 49 + 1
    sub_sources = set(pq.read_table(tmp_path / "documents").column("sub_source").to_pylist())
    assert "common-crawl" in sub_sources


def test_bad_inputs_are_dead_lettered_and_the_job_goes_on(tmp_path):
    data = tmp_path / "in"
    good = jsonl_bytes([{"text": f"good document {i}"} for i in range(50)])
    write_input(data / "good.jsonl", good)
    write_input(data / "mixed.jsonl", jsonl_bytes([{"text": "fine"}, "{oops", b'{"text": "\xff"}']))
    truncated = gzip.compress(good * 40)
    (data / "truncated.jsonl.gz").write_bytes(truncated[: len(truncated) // 2])
    (data / "empty.jsonl").write_bytes(b"")
    (data / "not-gzip.jsonl.gz").write_bytes(good)
    manifest = run([*SMALL, f"--output={tmp_path / 'out'}", f"--input=web={data}/*"])
    assert manifest["records"]["balanced"]
    dead = [
        json.loads(line)
        for f in sorted((tmp_path / "out" / "dead_letter").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    by_file = {os.path.basename(d["file"]): d for d in dead if "mixed" not in d["file"]}
    assert by_file["empty.jsonl"]["error"] == "empty file"
    assert "not a gzip stream" in by_file["not-gzip.jsonl.gz"]["error"]
    assert "truncated" in by_file["truncated.jsonl.gz"]["error"]
    assert by_file["truncated.jsonl.gz"]["line"] > 1
    mixed = sorted((d["line"], d["error"].split(":")[0]) for d in dead if "mixed" in d["file"])
    assert mixed == [(2, "malformed JSON"), (3, "invalid UTF-8 at byte 10 of the line")]
    assert manifest["records"]["dead_lettered"] == len(dead) == 5


def test_shard_count_is_a_multiple_of_the_world_size(sample_inputs, tmp_path):
    manifest = run(
        [*SMALL, "--dp_world_size=4", f"--output={tmp_path}", f"--input={sample_inputs[0]}"]
    )
    shards = manifest["tokens"]["shards"]
    assert len(shards) == 4
    assert [s["path"] for s in shards] == [
        f"tokens/train-{i:05d}-of-00004.parquet" for i in range(4)
    ]
    # Every shard, so every rank, holds the same number of rows; fewer than 4 are left out.
    assert {s["rows"] for s in shards} == {manifest["tokens"]["rows_per_shard"]}
    per_rank = [sum(1 for _ in iter_sequences(str(tmp_path), rank, 4)) for rank in range(4)]
    assert per_rank == [manifest["tokens"]["rows_per_shard"]] * 4
    assert manifest["tokens"]["rows_dropped_for_equal_shards"] < 4


def test_no_arguments_runs_the_demo(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.curate"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "accounting balanced: True" in result.stdout
    out = tmp_path / "out" / "curate"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["output"] == str(out)
    assert [s["stage"] for s in manifest["stages"]] == [*FILTER_STAGES, "balance"]
    # Filtering leaves documents from every source, and the demo mix is met.
    assert {e["source"] for e in manifest["inputs"] if e["kept"]} == {"web", "books", "code"}
    for source in manifest["balance"]["sources"]:
        assert source["achieved_share"] == pytest.approx(source["target_share"], abs=0.02)
    assert "mix of" in result.stdout
    # The demo corpus is too small for the default 32,768 entries, and the run says so.
    learned = manifest["tokenizer"]["vocab_size"]
    assert learned < manifest["tokenizer"]["vocab_size_requested"] == 32768
    said = f"the tokenizer learned {learned:,} of the 32,768 vocabulary entries asked for: too"
    assert f"note: {said} little text" in result.stdout
    assert said in (out / "report.html").read_text()
    assert (out / "tokenizer" / "tokenizer.json").is_file()
    assert "<h1>Curate run report</h1>" in (out / "report.html").read_text()
    assert f"report: {out / 'report.html'}" in result.stdout
    assert list((out / "tokens").glob("train-*.parquet"))
    assert not (out / "_temporary").exists()


def test_unknown_stage_settings_fail_before_the_run(tmp_path):
    argv = ["--input", "x=/none/*.jsonl", "--output", str(tmp_path), '--stages={"dedupe": {}}']
    with pytest.raises(ValueError, match="unknown stage.*dedupe"):
        run(argv)
    argv[-1] = '--stages={"read": {"extractor": "lynx"}}'
    with pytest.raises(ValueError, match="extractor"):
        run(argv)


def test_code_sources_are_set_once_for_every_stage(tmp_path):
    argv = ["--input", "x=/none/*.jsonl", "--output", str(tmp_path)]
    with pytest.raises(ValueError, match="--code_sources"):
        run([*argv, '--stages={"lang": {"code_sources": ["x"]}}'])


def test_code_keeps_its_indentation(sample_run):
    out, _ = sample_run
    docs = pq.read_table(out / "documents").to_pylist()
    code = [d["text"] for d in docs if d["source"] == "code"]
    assert code and all("\n    " in text for text in code if "def " in text)


def test_a_common_crawl_listing_end_to_end(fixtures, tmp_path):
    """A warc.paths.gz listing under a local base: WARC pages extracted, then language ID
    drops the Chinese, Japanese and other non-English pages; every record accounted for."""
    listing = tmp_path / "warc.paths.gz"
    names = ["CC-MAIN-2020-34-sample", "CC-MAIN-2024-22-whirlwind", "clueweb09-quirks"]
    listing.write_bytes(
        gzip.compress("".join(f"commoncrawl/{n}.warc.gz\n" for n in names).encode(), mtime=0)
    )
    manifest = run(
        [
            *SMALL,
            f"--output={tmp_path / 'out'}",
            f"--input=cc={listing}",
            f"--commoncrawl_base_url={fixtures}",
        ]
    )
    stages = {s["stage"]: s for s in manifest["stages"]}
    assert manifest["records"]["read"] == 16 + 1 + 29 and manifest["records"]["balanced"]
    assert manifest["records"]["dead_lettered"] == 0
    assert stages["lang"]["dropped"]["lang"] >= 44
    rejected = pq.read_table(tmp_path / "out" / "rejected").to_pylist()
    langs = {r["lang"] for r in rejected if r["reason"] == "lang"}
    assert {"zh", "ja"} <= langs
    docs = pq.read_table(tmp_path / "out" / "documents").to_pylist()
    assert all(d["lang"] == "en" and d["content_type"] == "text/html" for d in docs)
    assert {e["file"] for e in manifest["inputs"]} == {
        f"{fixtures}/commoncrawl/{n}.warc.gz" for n in names
    }


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, capsys, monkeypatch):
    from pipelines.curate import main

    monkeypatch.chdir(tmp_path)  # the demo corpus would be written here
    config = ROOT / "configs" / "dask.yaml"
    argv = ["--dry_run", f"--config={config}", "--input=web=/data/*.json.gz"]
    assert main([*argv, f"--output={tmp_path / 'out'}", "--seq_len=512"]) == 0
    printed = capsys.readouterr().out
    assert "runner: apache_beam.runners.dask.dask_runner.DaskRunner" in printed
    assert "web: /data/*.json.gz" in printed and "seq_len: 512" in printed
    stages = printed.split("stages, in order:\n", 1)[1].splitlines()
    assert [line.split(":")[0].strip() for line in stages][:8] == FILTER_STAGES
    assert "threshold=0.85" in printed  # each stage's resolved settings (toxicity's)
    assert not any(tmp_path.iterdir())  # no output, no demo corpus
    # The demo's plan, with its source mix; bad settings fail as a run would.
    assert main(["--dry_run=true"]) == 0
    assert "  balance: BalanceConfig(targets={'web': 0.5" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())
    assert main(["--dry_run", '--stages={"nope": {}}']) == 2
    assert capsys.readouterr().err.startswith("error: unknown stage(s) under stages: nope")


def test_a_record_lost_between_reading_and_writing_is_reported(tmp_path, monkeypatch):
    """The reader's own per-file counts are checked against the outcomes: a stage that
    silently swallows a document makes the run unbalanced (and `main` exit 1)."""
    from transforms import stage

    data = tmp_path / "in"
    write_input(data / "a.jsonl", jsonl_bytes([{"text": f"document {i}"} for i in range(5)]))
    original = stage._ApplyFn.process

    def buggy(self, doc):  # the normalize stage (first of its ParDo) loses one document
        lost = self.steps[0].stage == "normalize" and doc.text == "document 3"
        return [] if lost else original(self, doc)

    monkeypatch.setattr(stage._ApplyFn, "process", buggy)
    manifest = run([*SMALL, f"--output={tmp_path / 'out'}", f"--input=web={data}/*"])
    entry = manifest["inputs"][0]
    assert (entry["read"], entry["accounted"]) == (5, 4)
    assert not manifest["records"]["balanced"]


# ---------------------------------------------------------------------------------------
# The output folder and exit codes (pipelines/output.py)


def _tree_hashes(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _small_input(directory: Path) -> str:
    write_input(directory / "a.jsonl", jsonl_bytes([{"text": f"document {i}"} for i in range(9)]))
    return f"--input=web={directory}/*.jsonl"


def test_a_rerun_replaces_the_previous_run_only_once_it_is_complete(
    fixtures, tmp_path, monkeypatch
):
    from transforms import tokenize

    out = tmp_path / "out"
    argv = [*SMALL, f"--output={out}", f"--input=web={fixtures}/web-jsonl/c4-sample.01.json.gz"]
    run([*argv, "--dp_world_size=2"])
    before = _tree_hashes(out)
    assert {"tokens/train-00001-of-00002.parquet", "report.html"} <= set(before)

    def fail(*args, **kwargs):
        raise RuntimeError("worker lost while writing token shards")

    with monkeypatch.context() as patch:
        patch.setattr(tokenize, "assemble_shard", fail)
        with pytest.raises(Exception, match="worker lost"):
            run(argv)
    assert _tree_hashes(out) == before  # the previous run, whole; no staging, no lock

    manifest = run([*argv, "--write_rejected=false"])
    after = _tree_hashes(out)
    listed = {
        s["path"]
        for key in ("documents", "tokens", "validation", "dead_letter")
        for s in manifest[key]["shards"]
    }
    assert set(after) == listed | {"tokenizer/tokenizer.json", "manifest.json", "report.html"}
    assert manifest["config"]["output"] == str(out) and manifest["tokens"]["dp_world_size"] == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "documents",
        "manifest.json",
        "report.html",
        "tokenizer",
        "tokens",
    ]  # the old rejected/ and second token shard are gone, and so are staging and lock


def test_output_dot_in_a_source_checkout_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    from pipelines.curate import main

    checkout = tmp_path / "checkout"
    for name in ("tokenizer/train.py", "documents/README.md", "pyproject.toml"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text(name)
    before = _tree_hashes(checkout)
    monkeypatch.chdir(checkout)
    assert main([*SMALL, "--output=.", _small_input(tmp_path / "in")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: --output {checkout} is not empty and holds no manifest.json")
    assert _tree_hashes(checkout) == before


def test_inputs_that_name_no_file_fail_before_anything_is_written(tmp_path, capsys):
    from pipelines.curate import main

    out = tmp_path / "out"
    assert main([f"--output={out}", f"--input=web={tmp_path}/none/*.jsonl"]) == 2
    assert capsys.readouterr().err == (
        f"error: --input web={tmp_path}/none/*.jsonl: input pattern matched no files\n"
    )
    assert main([f"--output={out}", f"--input={tmp_path}"]) == 2
    assert f"{tmp_path}: a directory, not a file" in capsys.readouterr().err
    assert not out.exists()


def test_a_vocabulary_too_small_for_the_bytes_is_an_error_before_anything_runs(tmp_path, capsys):
    from pipelines.curate import main

    data = tmp_path / "in" / "web.jsonl"
    write_input(data, jsonl_bytes([{"text": "some words"}]))
    out = tmp_path / "out"
    assert main([f"--output={out}", f"--input=web={data}", "--vocab_size", "100"]) == 2
    assert capsys.readouterr().err == (
        "error: --vocab_size 100 is too small: a byte-level BPE vocabulary holds the 256 byte "
        "symbols and the 2 special tokens (<|endoftext|>, <|pad|>), so at least 258 entries\n"
    )
    assert not out.exists()


def test_a_run_that_reads_nothing_usable_fails_and_replaces_nothing(tmp_path, capsys):
    from pipelines.curate import main

    out = tmp_path / "out"
    out.mkdir()
    previous = {"records": {"read": 1, "dead_lettered": 0}, "tokens": {"shards": []}}
    (out / "manifest.json").write_text(json.dumps(previous))
    for name in ("empty-1.jsonl", "empty-2.jsonl"):
        write_input(tmp_path / "in" / name, b"")
    assert main([*SMALL, f"--output={out}", f"--input=web={tmp_path}/in/*.jsonl"]) == 1
    # One error line, the last (a loaded machine may print a progress line before it).
    err = capsys.readouterr().err.splitlines()
    assert [line.startswith("error: ") for line in err].count(True) == 1
    assert err[-1].startswith("error: all 2 records read were unreadable (dead-lettered)")
    kept = Path(err[-1].rsplit(" ", 1)[1].strip())  # the failed run's manifest, for a look
    assert kept.parent.parent == out / "_staging"
    assert json.loads(kept.read_text())["records"]["dead_lettered"] == 2
    assert json.loads((out / "manifest.json").read_text()) == previous
    # The next run removes what the failed one left.
    assert main([*SMALL, f"--output={out}", _small_input(tmp_path / "good")]) == 0
    assert not (out / "_staging").exists()


def test_a_second_run_on_the_same_output_fails_naming_the_first(tmp_path, capsys):
    import socket

    from pipelines.curate import main

    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out.mkdir()
        lock = {"pid": holder.pid, "host": socket.gethostname(), "command": "pipelines.curate"}
        (out / "_lock.json").write_text(json.dumps(lock))
        assert main([*SMALL, f"--output={out}", _small_input(tmp_path / "in")]) == 1
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"is in use by pipelines.curate (pid {holder.pid} on {socket.gethostname()}" in err
    assert sorted(p.name for p in out.iterdir()) == ["_lock.json"]


def test_a_skipped_stage_is_left_out_of_the_run(sample_inputs, tmp_path, capsys):
    argv = [*SMALL, f"--output={tmp_path}", *(f"--input={spec}" for spec in sample_inputs)]
    settings = '--stages={"toxicity": {"threshold": 0.5}}'  # a skipped stage's settings: ignored
    manifest = run([*argv, "--skip_stage=toxicity,pii", settings])
    names = [s["stage"] for s in manifest["stages"]]
    assert names == [n for n in FILTER_STAGES if n not in ("toxicity", "pii")]
    assert manifest["records"]["balanced"] and manifest["config"]["skip_stage"] == [
        "pii",
        "toxicity",
    ]
    assert main([*argv, "--skip_stage=read"]) == 2
    assert main([*argv, "--skip_stage=toxic"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "error: the read stage cannot be skipped",
        "error: --skip_stage toxic: no such stage (stages: read, normalize, lang, quality, "
        "exact_dedup, near_dedup, toxicity, pii, balance)",
    ]
