"""Common Crawl path listings: local, file:// and http:// bases, limits and damage."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from schemas.document import DeadLetter, Document
from tests.transforms.readers.test_http import (
    DROP,
    UNAVAILABLE,
    no_backoff,  # noqa: F401 - a fixture
    serve,
)
from transforms.readers import _MatchFiles, read_file
from transforms.readers.config import ReaderConfig
from transforms.readers.files import InputFile
from transforms.readers.listings import UNKNOWN_SIZE, expand_listing, is_listing, join_base

SEGMENT = "crawl-data/CC-MAIN-2024-22/segments/1715971057216.39"
WARC = f"{SEGMENT}/warc/CC-MAIN-2024-22-whirlwind.warc.gz"
WET = f"{SEGMENT}/wet/CC-MAIN-2024-22-whirlwind.warc.wet.gz"
SAMPLE = "crawl-data/CC-MAIN-2020-34/segments/1596439737645.2/warc/CC-MAIN-2020-34-sample.warc.gz"
FIXTURE_OF = {
    WARC: "CC-MAIN-2024-22-whirlwind.warc.gz",
    WET: "CC-MAIN-2024-22-whirlwind.warc.wet.gz",
    SAMPLE: "CC-MAIN-2020-34-sample.warc.gz",
}
# Comments, blank lines and a CRLF line end are skipped or stripped.
# Every test here retries HTTP faults without waiting.
pytestmark = pytest.mark.usefixtures("no_backoff")

LISTING = f"# CC-MAIN-2024-22 sample\n{WARC}\n\n{SAMPLE}\r\n  \n{WET}\n".encode()


def _mirror(fixtures: Path, base: Path) -> None:
    """A local crawl mirror under `base`: the listed paths link to the fixtures."""
    for path, name in FIXTURE_OF.items():
        (base / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(fixtures / "commoncrawl" / name, base / path)


def _expand(listing: str, base: str, **settings) -> list:
    config = ReaderConfig(commoncrawl_base_url=base, **settings)
    return list(expand_listing("cc", listing, config))


def _read_all(files: list) -> list:
    return [record for file in files for record in read_file(file)]


def _check_crawl(files: list, base_prefix: str) -> None:
    assert [f.relative_path for f in files] == [WARC, SAMPLE, WET]
    assert [f.path for f in files] == [base_prefix + p for p in (WARC, SAMPLE, WET)]
    assert {f.size for f in files} == {UNKNOWN_SIZE}
    records = _read_all(files)
    docs = [r for r in records if isinstance(r, Document)]
    assert not [r for r in records if isinstance(r, DeadLetter)]
    assert len(docs) == 1 + 16 + 1
    whirlwind = [d for d in docs if d.url == "https://an.wikipedia.org/wiki/Escopete"]
    assert [d.source_file for d in whirlwind] == [base_prefix + WARC, base_prefix + WET]


def test_base_is_a_local_directory(fixtures, tmp_path):
    _mirror(fixtures, tmp_path / "mirror")
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress(LISTING))
    files = _expand(str(listing), str(tmp_path / "mirror"))
    _check_crawl(files, f"{tmp_path}/mirror/")


def test_base_is_a_file_url_and_the_listing_is_matched_by_a_glob(fixtures, tmp_path):
    _mirror(fixtures, tmp_path / "mirror")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "wet.paths").write_bytes(LISTING)  # uncompressed works too
    config = ReaderConfig(commoncrawl_base_url=f"file://{tmp_path}/mirror/")
    files = list(_MatchFiles(config).process(("cc", f"{tmp_path}/lists/*.paths*")))
    _check_crawl(files, f"{tmp_path}/mirror/")


def test_listing_and_files_over_http_survive_a_503_and_a_dropped_connection(fixtures):
    files = {"/" + p: (fixtures / "commoncrawl" / n).read_bytes() for p, n in FIXTURE_OF.items()}
    files["/crawl-data/CC-MAIN-2024-22/warc.paths.gz"] = gzip.compress(LISTING)
    faults = {
        "/crawl-data/CC-MAIN-2024-22/warc.paths.gz": [UNAVAILABLE],
        "/" + SAMPLE: [None, DROP],
    }
    with serve(files, faults) as server:
        config = ReaderConfig(commoncrawl_base_url=server.url + "/")
        listing = server.url + "/crawl-data/CC-MAIN-2024-22/warc.paths.gz"
        named = list(_MatchFiles(config).process(("cc", listing)))
        _check_crawl(named, server.url + "/")
        resumed_at = len(files["/" + SAMPLE]) // 2
        assert ("GET", "/" + SAMPLE, f"bytes={resumed_at}-") in server.log


def test_max_files_per_listing(tmp_path):
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress(LISTING))
    files = _expand(str(listing), "https://data.commoncrawl.org/", max_files_per_listing=2)
    assert [f.path for f in files] == [
        "https://data.commoncrawl.org/" + WARC,
        "https://data.commoncrawl.org/" + SAMPLE,
    ]


def test_join_base():
    assert join_base("https://data.commoncrawl.org/", "crawl-data/x.warc.gz") == (
        "https://data.commoncrawl.org/crawl-data/x.warc.gz"
    )
    assert join_base("/mirror", "crawl-data/x.warc.gz") == "/mirror/crawl-data/x.warc.gz"
    assert join_base("file:///mirror/", "crawl-data/x.warc.gz") == "/mirror/crawl-data/x.warc.gz"
    assert join_base("", "crawl-data/x.warc.gz") == "crawl-data/x.warc.gz"
    # Lines that say where they are already are kept (file:// made a path for Beam).
    assert join_base("/mirror", "s3://bucket/x.warc.gz") == "s3://bucket/x.warc.gz"
    assert join_base("/mirror", "/data/x.warc.gz") == "/data/x.warc.gz"
    assert join_base("/mirror", "file:///data/x.warc.gz") == "/data/x.warc.gz"
    assert is_listing("s3://b/CC-MAIN-2024-22/warc.paths.gz") and is_listing("wet.paths")
    assert not is_listing("x.warc.gz")


# --- listings that cannot be read: files named before the damage, then a DeadLetter --


def test_truncated_listing_keeps_the_names_before_the_damage(tmp_path):
    lines = [f"crawl-data/seg/warc/file-{i:05d}.warc.gz" for i in range(5000)]
    blob = gzip.compress("\n".join(lines).encode() + b"\n")
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(blob[: len(blob) // 2])
    *files, dead = _expand(str(listing), "/m")
    assert isinstance(dead, DeadLetter) and "damaged listing" in dead.error
    assert "truncated" in dead.error and dead.source_file == str(listing)
    assert 0 < len(files) < len(lines)
    assert [f.relative_path for f in files] == lines[: len(files)]
    assert dead.line == len(files) + 1


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("warc.paths.gz", b"crawl-data/x.warc.gz\n", "damaged listing: not a gzip stream"),
        ("warc.paths", b"crawl-data/a.warc.gz\n\x89PNG\x00\xff\n", "cannot read listing"),
        ("warc.paths.gz", gzip.compress(b"# nothing\n\n"), "listing names no files"),
        ("warc.paths.gz", b"", "listing names no files"),
    ],
)
def test_unreadable_listing_is_a_dead_letter(tmp_path, name, data, message):
    listing = tmp_path / name
    listing.write_bytes(data)
    records = _expand(str(listing), "/m")
    assert message in records[-1].error and records[-1].source_file == str(listing)
    assert all(isinstance(r, InputFile) for r in records[:-1])


def test_missing_listing_is_a_dead_letter(tmp_path):
    (dead,) = _expand(str(tmp_path / "gone" / "warc.paths.gz"), "/m")
    assert "cannot read listing" in dead.error and "No such file" in dead.error
    (dead,) = list(_MatchFiles(ReaderConfig()).process(("cc", f"{tmp_path}/*.paths.gz")))
    assert dead.error == "input pattern matched no files"
    with serve({}) as server:
        url = server.url + "/crawl-data/CC-MAIN-2024-22/warc.paths.gz"
        (dead,) = _expand(url, "/m")
        assert "cannot read listing" in dead.error and "404" in dead.error
        (dead,) = list(_MatchFiles(ReaderConfig()).process(("cc", url)))
        assert dead.error == "input pattern matched no files"


def test_a_listed_file_that_is_gone_is_a_dead_letter(fixtures):
    files = {"/" + WET: (fixtures / "commoncrawl" / FIXTURE_OF[WET]).read_bytes()}
    with serve(files) as server:
        listing = f"{server.url}/wet.paths.gz"
        server.files["/wet.paths.gz"] = gzip.compress(f"{WARC}\n{WET}\n".encode())
        named = _expand(listing, server.url)
        gone, doc = _read_all(named)
        assert isinstance(gone, DeadLetter) and "404" in gone.error
        assert gone.source_file == f"{server.url}/{WARC}"
        assert isinstance(doc, Document) and doc.url == "https://an.wikipedia.org/wiki/Escopete"
