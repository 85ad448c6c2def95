"""Scheduled refresh: only new files, no duplicates of earlier versions, versioned output,
and a failed run that changes nothing."""

import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines import refresh as refresh_module
from pipelines.refresh import main, refresh
from transforms import tokenize

FLAGS = ["--vocab_size=800", "--seq_len=128"]


def _argv(root: Path, raw: Path) -> list[str]:
    return [*FLAGS, f"--dataset_root={root}", f"--input=web={raw}/*.json.gz"]


def _tree_hashes(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def raw(fixtures, tmp_path) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("c4-sample.01.json.gz", "c4-sample.02.json.gz"):
        shutil.copy(fixtures / "web-jsonl" / name, raw / name)
    return raw


def _add_new_file(fixtures: Path, raw: Path) -> list[str]:
    """A new file: the third C4 sample plus three pages of the first one again; returns
    the copied texts."""
    earlier = [json.loads(line) for line in gzip.open(raw / "c4-sample.01.json.gz")][:3]
    fresh = [
        json.loads(line) for line in gzip.open(fixtures / "web-jsonl" / "c4-sample.03.json.gz")
    ]
    lines = "".join(json.dumps(r) + "\n" for r in fresh + earlier)
    (raw / "c4-sample.04.json.gz").write_bytes(gzip.compress(lines.encode(), mtime=0))
    return [r["text"] for r in earlier]


def test_versions_hold_only_new_files_and_drop_what_earlier_versions_kept(
    fixtures, raw, tmp_path, capsys
):
    root = tmp_path / "dataset"
    first = refresh(_argv(root, raw))
    assert first["version"] == "v0001" and len(first["files"]) == 2
    index_before = (root / "index.json").read_bytes()
    v1 = _tree_hashes(root / "v0001")

    # Nothing new: nothing written, and it says so.
    assert main(_argv(root, raw)) == 0
    assert "nothing new" in capsys.readouterr().out
    assert (root / "index.json").read_bytes() == index_before

    copied = _add_new_file(fixtures, raw)
    second = refresh(_argv(root, raw))
    assert second["version"] == "v0002"
    assert [Path(f["path"]).name for f in second["files"]] == ["c4-sample.04.json.gz"]
    manifest = json.loads((root / "v0002" / "manifest.json").read_text())
    assert {Path(e["file"]).name for e in manifest["inputs"]} == {"c4-sample.04.json.gz"}
    assert manifest["records"]["read"] == 13 and manifest["records"]["balanced"]
    # The three pages v0001 already holds are near-duplicates of its survivors.
    near = next(s for s in manifest["stages"] if s["stage"] == "near_dedup")
    assert near["dropped"] == {"near_dup": 3}
    texts = set(pq.read_table(root / "v0002" / "documents").column("text").to_pylist())
    assert texts and not texts & set(copied)
    # One tokenizer for every version; v0001 untouched; the index lists both versions.
    assert second["tokenizer_sha256"] == first["tokenizer_sha256"]
    assert manifest["config"]["output"] == str(root / "v0002")
    assert _tree_hashes(root / "v0001") == v1
    index = json.loads((root / "index.json").read_text())
    assert [v["version"] for v in index["versions"]] == ["v0001", "v0002"]
    assert sorted(p.name for p in root.iterdir()) == ["index.json", "v0001", "v0002"]


def test_a_failed_run_leaves_the_dataset_as_it_was(fixtures, raw, tmp_path, monkeypatch):
    root = tmp_path / "dataset"
    refresh(_argv(root, raw))
    before = _tree_hashes(root)
    _add_new_file(fixtures, raw)

    def fail(*args, **kwargs):
        raise RuntimeError("worker lost while writing token shards")

    with monkeypatch.context() as patch:
        patch.setattr(tokenize, "assemble_shard", fail)
        with pytest.raises(Exception, match="worker lost"):
            refresh(_argv(root, raw))
    after = {k: v for k, v in _tree_hashes(root).items() if not k.startswith("_staging-")}
    assert after == before
    # The next run starts over and succeeds.
    assert refresh(_argv(root, raw))["version"] == "v0002"
    assert not list(root.glob("_staging-*"))


def test_refresh_needs_a_root_and_inputs_and_writes_no_output_of_its_own(tmp_path):
    with pytest.raises(ValueError, match="--dataset_root"):
        refresh([*FLAGS, "--input=web=/none/*.json"])
    with pytest.raises(ValueError, match="--input"):
        refresh([*FLAGS, f"--dataset_root={tmp_path}"])
    with pytest.raises(ValueError, match="--output"):
        refresh([f"--dataset_root={tmp_path}", "--input=x=/a/*", f"--output={tmp_path}"])


def test_a_changed_file_counts_as_new():
    index = {"versions": [{"files": [{"path": "/a", "size": 3, "mtime": 1.0}]}]}
    files = [{"path": "/a", "size": 3, "mtime": 1.0}, {"path": "/b", "size": 1, "mtime": 1.0}]
    assert refresh_module.new_files(files, index) == files[1:]
    assert refresh_module.new_files([{"path": "/a", "size": 4, "mtime": 2.0}], index)


ROOT = Path(__file__).resolve().parents[2]


def test_a_second_refresh_fails_in_one_line_naming_the_run_that_holds_the_root(
    raw, tmp_path, capsys
):
    root = tmp_path / "dataset"
    first = subprocess.Popen(
        [sys.executable, "-m", "pipelines.refresh", *_argv(root, raw)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (root / "_lock.json").exists():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        assert main(_argv(root, raw)) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert err.startswith(f"error: {root} is in use by pipelines.refresh (pid {first.pid} on ")
        out, err = first.communicate(timeout=600)
    finally:
        first.kill()
    assert first.returncode == 0, err[-2000:]
    assert "v0001: 2 new file(s)" in out
    assert sorted(p.name for p in root.iterdir()) == ["index.json", "v0001"]


def test_what_a_killed_run_left_is_removed_under_the_lock(raw, tmp_path):
    root = tmp_path / "dataset"
    # v0001 moved into place, the index not yet rewritten; two staging folders.
    (root / "v0001" / "tokens").mkdir(parents=True)
    (root / "v0001" / "tokens" / "t.parquet").write_text("a version the index misses")
    listing = {"records": {"read": 1}, "tokens": {"shards": [{"path": "tokens/t.parquet"}]}}
    (root / "v0001" / "manifest.json").write_text(json.dumps(listing))
    for orphan in ("_staging-v0002/tokens/t.parquet", "_staging-v0003/manifest.json"):
        (root / orphan).parent.mkdir(parents=True, exist_ok=True)
        (root / orphan).write_text("left by a killed run")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = {"pid": dead.pid, "host": socket.gethostname(), "command": "pipelines.refresh"}
    (root / "_lock.json").write_text(json.dumps(lock))
    assert refresh(_argv(root, raw))["version"] == "v0001"
    assert sorted(p.name for p in root.iterdir()) == ["index.json", "v0001"]


def test_a_refresh_of_only_empty_files_fails_and_writes_no_version(raw, tmp_path, capsys):
    root = tmp_path / "dataset"
    refresh(_argv(root, raw))
    index = (root / "index.json").read_bytes()
    (raw / "c4-sample.05.json.gz").write_bytes(gzip.compress(b"", mtime=0))
    assert main(_argv(root, raw)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: all 1 records read were unreadable (dead-lettered)")
    assert (root / "index.json").read_bytes() == index and not (root / "v0002").exists()


def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main([*FLAGS, "--input=web=/none/*.json"]) == 2
    assert capsys.readouterr().err == "error: --dataset_root is required\n"
    assert main([*FLAGS, f"--dataset_root={tmp_path}", f"--input=web={tmp_path}/*.json"]) == 2
    assert capsys.readouterr().err == (
        f"error: --input web={tmp_path}/*.json: input pattern matched no files\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_folder_named_like_the_next_version_that_is_not_ours_is_refused(raw, tmp_path, capsys):
    root = tmp_path / "dataset"
    (root / "v0001").mkdir(parents=True)
    (root / "v0001" / "notes.md").write_text("the user's own folder")
    assert main(_argv(root, raw)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {root / 'v0001'} (the next version's folder, not in index.json)")
    assert "holds no manifest.json of this pipeline (notes.md)" in err
    assert sorted(p.name for p in root.iterdir()) == ["v0001"]  # no lock left behind
    assert (root / "v0001" / "notes.md").exists()
