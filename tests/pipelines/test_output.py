"""The output folder: staging and swap, ownership, the lock; on local disk and on s3://
(a local moto server), mostly without running a pipeline."""

import json
import os
import socket
import subprocess
import sys
import types
import uuid
from pathlib import Path

import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import output, storage
from pipelines.lock import LOCK_FILE, OutputLock
from pipelines.options import RunFailed, UserError
from pipelines.output import STAGING_DIR, StagedOutput, check_output, remove_run, run_failure
from pipelines.storage import iter_files, read_bytes, write_bytes

MANIFEST = "manifest.json"


def _manifest(*paths: str, **extra) -> bytes:
    """A manifest of ours: `records` and the shard listings naming `paths`."""
    shards = [{"path": p, "rows": 1, "sha256": "x"} for p in paths]
    body = {"records": {"read": 3, "dead_lettered": 0}, "tokens": {"shards": shards}, **extra}
    return json.dumps(body).encode()


def _write_run(directory: str, files: dict[str, bytes], **extra) -> None:
    """A complete run under `directory`: `files` plus a manifest that lists them."""
    for name, data in files.items():
        write_bytes(FileSystems.join(directory, name), data)
    write_bytes(FileSystems.join(directory, MANIFEST), _manifest(*files, **extra))


def _tree(directory: str) -> dict[str, bytes]:
    return {name: read_bytes(FileSystems.join(directory, name)) for name in iter_files(directory)}


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def live_pid():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process.pid
    process.kill()
    process.wait()


def _lock_file(directory: Path, pid: int, host: str | None = None) -> None:
    holder = {"pid": pid, "host": host or socket.gethostname(), "command": "pipelines.curate"}
    holder["started"] = "2024-01-01T00:00:00+00:00"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / LOCK_FILE).write_text(json.dumps(holder))


# ---------------------------------------------------------------------------------------
# Ownership


def test_an_absent_or_empty_folder_may_be_written(tmp_path):
    assert check_output(str(tmp_path / "new"), MANIFEST) is None
    assert check_output(str(tmp_path), MANIFEST) is None


def test_a_source_checkout_is_refused_and_nothing_in_it_is_touched(tmp_path):
    checkout = tmp_path / "checkout"
    for name in ("tokenizer/train.py", "documents/notes.md", "tokens/x.py", "README.md"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text(name)
    before = _tree(str(checkout))
    with pytest.raises(UserError, match=r"holds no manifest.json of this pipeline \(README.md"):
        check_output(str(checkout), MANIFEST)
    with pytest.raises(UserError, match="refusing to write there"):
        with StagedOutput(str(checkout), MANIFEST):
            pytest.fail("a folder that is not ours must not be entered")
    with pytest.raises(UserError, match="refusing"):
        remove_run(str(checkout), MANIFEST)
    assert _tree(str(checkout)) == before  # no lock, no staging folder, nothing deleted


def test_a_file_our_manifest_does_not_list_makes_the_folder_foreign(tmp_path):
    _write_run(str(tmp_path), {"tokens/a.parquet": b"a"})
    assert (
        check_output(str(tmp_path), MANIFEST)["tokens"]["shards"][0]["path"] == "tokens/a.parquet"
    )
    (tmp_path / "tokens" / "mine.py").write_text("a user's file")
    with pytest.raises(
        UserError, match=r"files its manifest.json does not list \(tokens/mine.py\)"
    ):
        check_output(str(tmp_path), MANIFEST)


def test_side_files_staging_leftovers_and_an_index_inside_are_ours(tmp_path):
    index = tmp_path / "dedup-index"
    _write_run(str(tmp_path), {"tokens/a.parquet": b"a"}, config={"index_output": str(index)})
    for name in ("report.html", "_temporary/x", "dedup-index/index-0.parquet", "_staging/r/y"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("ours")
    assert check_output(str(tmp_path), MANIFEST, side_files=("report.html",)) is not None
    with pytest.raises(UserError, match="report.html"):
        check_output(str(tmp_path), MANIFEST)  # not a side file of this kind of run


def test_without_a_manifest_only_staging_and_lock_leftovers_are_ours(tmp_path):
    (tmp_path / STAGING_DIR / "run" / "tokens").mkdir(parents=True)
    (tmp_path / STAGING_DIR / "run" / "tokens" / "a.parquet").write_text("killed run")
    (tmp_path / LOCK_FILE).write_text("{}")
    assert check_output(str(tmp_path), MANIFEST) is None
    # Hadoop and Spark write _temporary/ too: without our manifest it is not ours.
    (tmp_path / "_temporary").mkdir()
    (tmp_path / "_temporary" / "part-0").write_text("spark")
    with pytest.raises(UserError, match="_temporary/part-0"):
        check_output(str(tmp_path), MANIFEST)


def test_another_tools_manifest_is_refused(tmp_path):
    (tmp_path / MANIFEST).write_text('{"name": "my web app", "icons": []}')
    with pytest.raises(UserError, match="holds a manifest.json this pipeline did not write"):
        check_output(str(tmp_path), MANIFEST)
    (tmp_path / MANIFEST).write_text("not json")
    with pytest.raises(UserError, match="did not write"):
        check_output(str(tmp_path), MANIFEST)


def test_an_output_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(UserError, match="is a file, not a directory"):
        check_output(str(tmp_path / "out"), MANIFEST)


def test_remove_run_deletes_only_what_the_run_wrote(tmp_path):
    _write_run(str(tmp_path), {"tokens/a.parquet": b"a", "documents/d.parquet": b"d"})
    (tmp_path / "report.html").write_text("r")
    remove_run(str(tmp_path), MANIFEST, side_files=("report.html",))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------
# Staging and swap


def _staged_run(out: str, files: dict[str, bytes], **kwargs) -> StagedOutput:
    """Enter a StagedOutput on `out` and write a complete run into its staging folder."""
    staged = StagedOutput(out, MANIFEST, **kwargs).__enter__()
    _write_run(staged.staging, files)
    return staged


def test_a_run_is_swapped_in_whole_and_the_previous_runs_files_are_gone(tmp_path):
    out = str(tmp_path / "out")
    _write_run(out, {"tokens/t-0-of-2": b"old0", "tokens/t-1-of-2": b"old1", "rej/r": b"r"})
    staged = _staged_run(out, {"tokens/t-0-of-1": b"new", "documents/d": b"d"})
    assert staged.previous is not None
    # Until the swap, the previous run is untouched beside the staging folder.
    assert _tree(out)["tokens/t-0-of-2"] == b"old0"
    staged.commit()
    staged.__exit__(None, None, None)
    assert _tree(out) == {
        "documents/d": b"d",
        "tokens/t-0-of-1": b"new",
        MANIFEST: _manifest("tokens/t-0-of-1", "documents/d"),
    }
    assert sorted(os.listdir(out)) == ["documents", MANIFEST, "tokens"]  # no empty rej/


def test_a_failed_run_leaves_the_previous_output_as_it_was(tmp_path):
    out = str(tmp_path / "out")
    _write_run(out, {"tokens/a": b"old"})
    before = _tree(out)
    with pytest.raises(RuntimeError, match="worker lost"):
        with StagedOutput(out, MANIFEST) as staged:
            write_bytes(FileSystems.join(staged.staging, "tokens/a"), b"half")
            raise RuntimeError("worker lost")
    assert _tree(out) == before and sorted(os.listdir(out)) == [MANIFEST, "tokens"]


def test_a_first_run_that_fails_leaves_no_folder(tmp_path):
    with pytest.raises(RuntimeError):
        with StagedOutput(str(tmp_path / "out"), MANIFEST):
            raise RuntimeError("bad settings found late")
    assert not (tmp_path / "out").exists()


def test_a_kept_failed_run_stays_for_inspection_until_the_next_run(tmp_path):
    out = str(tmp_path / "out")
    _write_run(out, {"tokens/a": b"old"})
    staged = _staged_run(out, {"tokens/a": b"nothing read"})
    staged.keep()
    staged.__exit__(RunFailed, RunFailed("no records"), None)
    assert _tree(staged.staging)[MANIFEST] and _tree(out)["tokens/a"] == b"old"
    assert not (Path(out) / LOCK_FILE).exists()
    with StagedOutput(out, MANIFEST):
        assert not os.path.exists(staged.staging)


def test_a_swap_killed_half_way_is_finished_by_the_next_run(tmp_path, monkeypatch):
    out = str(tmp_path / "out")
    _write_run(out, {"tokens/t-0-of-2": b"old0", "tokens/t-1-of-2": b"old1"})
    staged = _staged_run(out, {"tokens/t-0-of-1": b"new", "documents/d": b"d"})
    real_move = output.move_files

    def move_one_then_die(source, destination, names):
        real_move(source, destination, names[:1])
        raise KeyboardInterrupt("killed during the swap")

    monkeypatch.setattr(output, "move_files", move_one_then_die)
    with pytest.raises(KeyboardInterrupt):
        staged.commit()
    monkeypatch.undo()
    # Killed: no cleanup ran, the lock's process is "dead" (its pid reused by nobody).
    lock = json.loads((Path(out) / LOCK_FILE).read_text())
    (Path(out) / LOCK_FILE).write_text(json.dumps({**lock, "pid": _dead_pid()}))
    half = _tree(out)
    assert MANIFEST not in half and "tokens/t-0-of-2" not in half  # never a mixed manifest
    # The folder is still ours (the journal accounts for every file), and the next run
    # finishes the swap before it starts.
    with StagedOutput(out, MANIFEST) as next_run:
        assert next_run.previous == json.loads(_manifest("tokens/t-0-of-1", "documents/d"))
        assert _tree(out)["documents/d"] == b"d" and "tokens/t-1-of-2" not in _tree(out)
    assert sorted(os.listdir(out)) == ["documents", MANIFEST, "tokens"]


def test_a_run_whose_manifest_misses_a_file_it_wrote_is_not_swapped_in(tmp_path):
    out = str(tmp_path / "out")
    staged = _staged_run(out, {"tokens/a": b"a"})
    write_bytes(FileSystems.join(staged.staging, "stats/extra.json"), b"{}")
    with pytest.raises(RuntimeError, match=r"does not list \(stats/extra.json\)"):
        staged.commit()
    staged.__exit__(None, None, None)
    assert not os.path.exists(out)


def test_an_index_inside_the_output_is_staged_with_the_run(tmp_path):
    out = tmp_path / "out"
    with StagedOutput(str(out), MANIFEST) as staged:
        assert staged.rebase(str(out / "idx")) == f"{staged.staging}/idx"
        assert staged.rebase(str(tmp_path / "elsewhere")) == str(tmp_path / "elsewhere")


def test_run_failure():
    assert run_failure({"read": 0, "dead_lettered": 0}) == "the run read no records from its inputs"
    assert "all 3 records read were unreadable" in run_failure({"read": 3, "dead_lettered": 3})
    assert run_failure({"read": 3, "dead_lettered": 2}) is None


# ---------------------------------------------------------------------------------------
# Lock


def test_a_live_holder_is_named_and_its_lock_kept(tmp_path, live_pid):
    _lock_file(tmp_path, live_pid)
    held = (tmp_path / LOCK_FILE).read_bytes()
    with pytest.raises(RunFailed) as failure:
        OutputLock(str(tmp_path), "pipelines.refresh").acquire()
    message = str(failure.value)
    assert f"is in use by pipelines.curate (pid {live_pid} on {socket.gethostname()}" in message
    assert "\n" not in message and str(tmp_path / LOCK_FILE) in message
    assert (tmp_path / LOCK_FILE).read_bytes() == held


def test_a_dead_holder_on_this_host_is_taken_over(tmp_path):
    _lock_file(tmp_path, _dead_pid())
    with OutputLock(str(tmp_path), "pipelines.refresh") as lock:
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
        assert lock.held
    assert not (tmp_path / LOCK_FILE).exists()
    assert list(tmp_path.iterdir()) == []  # nothing set aside left behind


def test_a_holder_on_another_host_is_never_taken_over(tmp_path):
    _lock_file(tmp_path, _dead_pid(), host="another-host.example")
    with pytest.raises(RunFailed, match="on another-host.example"):
        OutputLock(str(tmp_path), "x").acquire()


def test_an_unreadable_lock_is_stale_only_when_old(tmp_path):
    (tmp_path / LOCK_FILE).write_text("")
    with pytest.raises(RunFailed, match="its lock file is being written"):
        OutputLock(str(tmp_path), "x").acquire()
    os.utime(tmp_path / LOCK_FILE, (0, 0))
    with OutputLock(str(tmp_path), "x"):
        pass


def test_a_second_staged_run_fails_while_the_first_holds_the_output(tmp_path):
    out = str(tmp_path / "out")
    with StagedOutput(out, MANIFEST):
        with pytest.raises(RunFailed, match=f"pid {os.getpid()}"):
            with StagedOutput(out, MANIFEST):
                pass
    assert not os.path.exists(out)


# ---------------------------------------------------------------------------------------
# Object store: the same rules through Beam's s3:// filesystem (rename = copy + delete)


@pytest.fixture
def s3(monkeypatch):
    """`url` of a new bucket on a local moto server and the `flags` that point Beam's s3://
    filesystem at it (set for this process's FileSystems too). Moto keeps buckets across
    servers in one process, hence a new bucket per test."""
    moto_server = pytest.importorskip("moto.server", reason="needs moto[server] (dev extra)")
    boto3 = pytest.importorskip("boto3", reason="needs apache-beam[aws] (the dev extra)")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    name = f"runs-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    flags = [
        f"--s3_endpoint_url={endpoint}",
        "--s3_access_key_id=testing",
        "--s3_secret_access_key=testing",
        "--s3_region_name=us-east-1",
    ]
    FileSystems.set_options(PipelineOptions(flags))
    yield types.SimpleNamespace(url=f"s3://{name}", flags=flags)
    FileSystems.set_options(PipelineOptions([]))
    server.stop()


@pytest.fixture
def bucket(s3):
    return s3.url


def test_staging_swap_and_ownership_on_an_object_store(bucket):
    out = f"{bucket}/curate/out"
    assert check_output(out, MANIFEST) is None
    _write_run(out, {"tokens/t-0-of-2": b"old0", "tokens/t-1-of-2": b"old1"})
    staged = _staged_run(out, {"tokens/t-0-of-1": b"new"})
    assert LOCK_FILE in set(iter_files(out))
    with pytest.raises(RunFailed, match="is in use by"):
        OutputLock(out, "x").acquire()
    staged.commit()
    staged.__exit__(None, None, None)
    assert _tree(out) == {"tokens/t-0-of-1": b"new", MANIFEST: _manifest("tokens/t-0-of-1")}
    write_bytes(f"{out}/notes.txt", b"a user's file")
    with pytest.raises(UserError, match=r"does not list \(notes.txt\)"):
        StagedOutput(out, MANIFEST).__enter__()
    assert set(iter_files(out)) == {"tokens/t-0-of-1", MANIFEST, "notes.txt"}


def test_a_folder_moves_file_by_file_on_an_object_store(bucket):
    _write_run(f"{bucket}/root/_staging-v0001", {"tokens/a": b"a", "dedup-index/i": b"i"})
    storage.move_tree(f"{bucket}/root/_staging-v0001", f"{bucket}/root/v0001")
    assert set(iter_files(f"{bucket}/root")) == {
        "v0001/tokens/a",
        "v0001/dedup-index/i",
        f"v0001/{MANIFEST}",
    }


def test_a_curate_run_replaces_a_previous_run_on_an_object_store(s3, fixtures):
    from pipelines.curate import run

    out = f"{s3.url}/curate"
    _write_run(out, {"tokens/tokens-00000-of-00002.parquet": b"old", "rejected/r.parquet": b"r"})
    manifest = run(
        [
            "--vocab_size=600",
            "--seq_len=64",
            "--write_rejected=false",
            f"--input=web={fixtures}/web-jsonl/c4-sample.01.json.gz",
            f"--output={out}",
            "--output_format=all",  # every token format's writer, on an object store
            *s3.flags,
        ]
    )
    sections = ("documents", "tokens", "validation")
    listed = {s["path"] for key in sections for s in manifest[key]["shards"]}
    listed |= {
        f["path"]
        for sides in manifest["formats"].values()
        for side in sides.values()
        for f in side["files"]
    }
    assert {p.split("/")[0] for p in listed} >= {"megatron", "nanogpt", "litdata"}
    assert set(iter_files(out)) == listed | {"tokenizer/tokenizer.json", MANIFEST, "report.html"}
    with FileSystems.open(f"{out}/report.html") as f:  # an object-store run gets its report
        assert f.read().startswith(b"<!DOCTYPE html>")
    assert manifest["config"]["output"] == out
