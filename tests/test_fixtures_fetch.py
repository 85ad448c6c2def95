"""The fixture fetcher (tests/fixtures.py) against local origins, and where the tests find
the fixtures. No network: origins are `file://` trees (and one local http.server) laid out
as {owner}/{repo}/{commit}/{path}, built from made-up bytes or from the fixtures themselves."""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from tests import conftest
from tests.fixtures import (
    FIXTURE_FILES,
    FirstJsonRecords,
    FixtureError,
    FixtureFile,
    TarMember,
    Whole,
    fetch,
    main,
    missing_files,
    sha256_of,
)

ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _file(name: str, data: bytes, rule=None, path: str = "data/origin.bin") -> FixtureFile:
    return FixtureFile(name, "someone/repo", COMMIT, path, sha256_of(data), rule or Whole())


def _serve(origin: Path, fixture: FixtureFile, data: bytes) -> None:
    target = origin / fixture.repo / fixture.commit / fixture.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _leftovers(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_urls_are_raw_github_files_at_the_full_commit():
    for fixture in FIXTURE_FILES:
        assert re.fullmatch(r"[0-9a-f]{40}", fixture.commit), fixture.name
        assert re.fullmatch(r"[0-9a-f]{64}", fixture.sha256), fixture.name
    first = FIXTURE_FILES[0]
    assert first.url() == (
        "https://raw.githubusercontent.com/chatnoir-eu/chatnoir-resiliparse/"
        "70459f0399718955d7dff1dec30781e07af1bbb7/tests/data/warcfile.warc.gz"
    )
    assert first.url("file:///o/").startswith("file:///o/chatnoir-eu/chatnoir-resiliparse/")
    assert len({f.name for f in FIXTURE_FILES}) == len(FIXTURE_FILES)


def test_the_right_bytes_are_written_in_place(tmp_path):
    data = b"real bytes\n" * 100
    fixture = _file("text/sample.txt", data)
    _serve(tmp_path / "origin", fixture, data)
    dest = tmp_path / "dest"
    written = fetch(dest, (tmp_path / "origin").as_uri(), [fixture])
    assert written == [dest / "text" / "sample.txt"]
    assert (dest / "text" / "sample.txt").read_bytes() == data
    assert _leftovers(dest) == ["text/sample.txt"]


def test_wrong_bytes_are_an_error_naming_the_file_and_nothing_is_left(tmp_path):
    fixture = _file("pile/bad.jsonl.zst", b"the bytes we expect")
    _serve(tmp_path / "origin", fixture, b"the bytes the origin has")
    dest = tmp_path / "dest"
    with pytest.raises(FixtureError, match=r"pile/bad\.jsonl\.zst: sha256 mismatch"):
        fetch(dest, (tmp_path / "origin").as_uri(), [fixture])
    assert not dest.exists()


def test_a_wrong_file_does_not_stop_the_others_and_a_stale_file_is_replaced(tmp_path):
    good, bad = b"good", b"expected"
    files = [_file("a/bad.bin", bad, path="bad.bin"), _file("a/good.bin", good, path="good.bin")]
    _serve(tmp_path / "origin", files[0], b"tampered")
    _serve(tmp_path / "origin", files[1], good)
    dest = tmp_path / "dest"
    (dest / "a").mkdir(parents=True)
    (dest / "a" / "good.bin").write_bytes(b"stale")
    (dest / "a" / "bad.bin").write_bytes(b"stale too")
    with pytest.raises(FixtureError) as raised:
        fetch(dest, (tmp_path / "origin").as_uri(), files)
    assert "a/bad.bin" in str(raised.value) and "a/good.bin" not in str(raised.value)
    assert (dest / "a" / "good.bin").read_bytes() == good
    # A mismatch never touches what is there (it is not written over, nor removed).
    assert (dest / "a" / "bad.bin").read_bytes() == b"stale too"
    assert _leftovers(dest) == ["a/bad.bin", "a/good.bin"]


def test_a_missing_origin_is_an_error_naming_the_file(tmp_path):
    fixture = _file("commoncrawl/gone.warc.gz", b"x")
    (tmp_path / "origin").mkdir()
    with pytest.raises(FixtureError, match=r"commoncrawl/gone\.warc\.gz: cannot get it from file:"):
        fetch(tmp_path / "dest", (tmp_path / "origin").as_uri(), [fixture])
    assert not (tmp_path / "dest").exists()


def test_files_in_place_are_not_downloaded_again(tmp_path):
    data = b"already here"
    fixture = _file("t/here.txt", data)
    (tmp_path / "dest" / "t").mkdir(parents=True)
    (tmp_path / "dest" / "t" / "here.txt").write_bytes(data)
    # No origin at all: only the sha256 of the file in place is checked.
    assert fetch(tmp_path / "dest", (tmp_path / "nowhere").as_uri(), [fixture])
    with pytest.raises(FixtureError):
        fetch(tmp_path / "dest", (tmp_path / "nowhere").as_uri(), [fixture], force=True)


def test_tar_member_rule_unpacks_one_file_and_downloads_the_tar_once(tmp_path, monkeypatch):
    one, two = b"\x28\xb5\x2f\xfd first", b"\x28\xb5\x2f\xfd second"
    archive = _tar({"test_dir/": b"", "test_dir/1.zst": one, "test_dir/2.zst": two})
    files = [
        _file("pile/one.zst", one, TarMember("test_dir/1.zst"), "test/a.tar"),
        _file("pile/two.zst", two, TarMember("test_dir/2.zst"), "test/a.tar"),
    ]
    _serve(tmp_path / "origin", files[0], archive)
    calls = []
    from tests import fixtures as module

    download = module._download
    monkeypatch.setattr(module, "_download", lambda url: calls.append(url) or download(url))
    fetch(tmp_path / "dest", (tmp_path / "origin").as_uri(), files)
    assert (tmp_path / "dest" / "pile" / "one.zst").read_bytes() == one
    assert (tmp_path / "dest" / "pile" / "two.zst").read_bytes() == two
    assert len(calls) == 1
    absent = _file("pile/three.zst", b"?", TarMember("test_dir/3.zst"), "test/a.tar")
    with pytest.raises(FixtureError, match=r"pile/three\.zst: .*no regular file 'test_dir/3\.zst'"):
        fetch(tmp_path / "dest", (tmp_path / "origin").as_uri(), [absent])


def test_first_json_records_rule_cuts_and_rewrites_on_one_line(tmp_path):
    records = [{"full_text": f"Zoë {i} — ünïcode", "spans": [], "metadata": None} for i in range(7)]
    origin = json.dumps(records, indent=4).encode()  # as the origin file is laid out
    expected = json.dumps(records[:3], ensure_ascii=False).encode("utf-8")
    fixture = _file("pii/cut.json", expected, FirstJsonRecords(3), "data/all.json")
    _serve(tmp_path / "origin", fixture, origin)
    fetch(tmp_path / "dest", (tmp_path / "origin").as_uri(), [fixture])
    assert (tmp_path / "dest" / "pii" / "cut.json").read_bytes() == expected


def test_fetch_over_http(tmp_path):
    data = b"served over http"
    fixture = _file("web-jsonl/served.json.gz", data)
    _serve(tmp_path / "origin", fixture, data)
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "origin")
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        fetch(tmp_path / "dest", base, [fixture])
        with pytest.raises(FixtureError, match=r"web-jsonl/gone\.gz: cannot get it .*404"):
            fetch(tmp_path / "dest", base, [_file("web-jsonl/gone.gz", b"x", path="gone.gz")])
    finally:
        server.shutdown()
        server.server_close()
    assert (tmp_path / "dest" / "web-jsonl" / "served.json.gz").read_bytes() == data


def _origin_from_fixtures(fixtures: Path, origin: Path) -> None:
    """An origin tree shaped as the real one, built from the fixtures: whole files copied,
    tar members packed into one tar per origin path, JSON cuts padded with more records."""
    tars: dict[Path, dict[str, bytes]] = {}
    for f in FIXTURE_FILES:
        target = origin / f.repo / f.commit / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        data = (fixtures / f.name).read_bytes()
        if isinstance(f.rule, Whole):
            target.write_bytes(data)
        elif isinstance(f.rule, TarMember):
            tars.setdefault(target, {})[f.rule.member] = data
        elif isinstance(f.rule, FirstJsonRecords):
            records = json.loads(data)
            assert len(records) == f.rule.count
            padded = records + [{"full_text": "one more record", "spans": []}] * 5
            target.write_text(json.dumps(padded, indent=4, ensure_ascii=False))
        else:
            raise AssertionError(f.rule)
    for target, members in tars.items():
        target.write_bytes(_tar(members))


def test_every_listed_fixture_is_fetched_from_an_origin_shaped_tree(fixtures, tmp_path, capsys):
    _origin_from_fixtures(fixtures, tmp_path / "origin")
    dest = tmp_path / "dest"
    code = main(["fetch", "--dest", str(dest), "--base-url", (tmp_path / "origin").as_uri()])
    assert code == 0, capsys.readouterr().err
    assert missing_files(dest) == []
    for f in FIXTURE_FILES:
        assert (dest / f.name).read_bytes() == (fixtures / f.name).read_bytes(), f.name
    assert len(_leftovers(dest)) == len(FIXTURE_FILES)


def test_the_table_matches_the_sha256_list_in_sources_md(fixtures):
    sources = fixtures / "SOURCES.md"
    if not sources.is_file():
        pytest.skip(f"no SOURCES.md in {fixtures}")
    listed = dict(re.findall(r"^\| (\S+) \| ([0-9a-f]{64}) \|$", sources.read_text(), re.M))
    assert listed == {f.name: f.sha256 for f in FIXTURE_FILES}


def test_fixtures_are_found_through_the_environment_override(tmp_path, monkeypatch):
    monkeypatch.setenv(conftest.FIXTURES_ENV, str(tmp_path))
    assert conftest.fixture_dirs() == [tmp_path]
    assert conftest.find_fixtures() is None
    for f in FIXTURE_FILES[:-1]:
        (tmp_path / f.name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f.name).write_bytes(b"")
    assert conftest.find_fixtures() is None  # one file missing: incomplete
    (tmp_path / FIXTURE_FILES[-1].name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / FIXTURE_FILES[-1].name).write_bytes(b"")
    assert conftest.find_fixtures() == tmp_path
    monkeypatch.delenv(conftest.FIXTURES_ENV)
    assert conftest.fixture_dirs() == [conftest.SHARED_FIXTURES, conftest.FETCHED_FIXTURES]


def test_a_run_without_fixtures_says_how_many_tests_it_skipped_and_how_to_fetch(tmp_path):
    env = {**os.environ, conftest.FIXTURES_ENV: str(tmp_path / "absent")}
    test = (
        f"{Path(__file__).relative_to(ROOT)}::test_the_table_matches_the_sha256_list_in_sources_md"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (
        f"1 test skipped: real-data fixtures not found at {tmp_path / 'absent'}; "
        "run `python -m tests.fixtures fetch` to download them"
    ) in run.stdout
