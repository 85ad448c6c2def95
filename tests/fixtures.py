"""The real-data fixtures: where each file comes from, its sha256, and a fetcher.

    python -m tests.fixtures fetch [--dest DIR] [--base-url URL] [--force]

downloads every fixture from its public origin (a GitHub repository at a pinned commit),
cuts or unpacks it where the origin holds more than the fixture, checks its sha256 and only
then writes it, atomically, under DIR (default: tests/.fixtures, where the tests look after
../shared/fixtures). A file whose bytes do not match is an error naming it, and nothing is
written for it. Files already in place with the right sha256 are not downloaded again.

URLs are `{base_url}/{owner}/{repo}/{commit}/{path}`, by default on raw.githubusercontent.com
with the full 40-hex commit: that host serves a file at any commit of a public repository,
a full SHA names exactly one commit (a short one may become ambiguous as a repository
grows), and the same layout under a `file://` or local `http://` base serves the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

RAW_BASE_URL = "https://raw.githubusercontent.com"
DEFAULT_DEST = Path(__file__).resolve().parent / ".fixtures"
TIMEOUT_SECONDS = 120


class FixtureError(Exception):
    """A fixture that could not be fetched or whose bytes do not match its sha256."""


@dataclass(frozen=True)
class Whole:
    """The origin file is the fixture."""

    def apply(self, data: bytes) -> bytes:
        return data


@dataclass(frozen=True)
class TarMember:
    """The fixture is one member of an (uncompressed or compressed) tar file."""

    member: str

    def apply(self, data: bytes) -> bytes:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            try:
                extracted = tar.extractfile(self.member)
            except KeyError:
                extracted = None
            if extracted is None:
                raise FixtureError(f"no regular file {self.member!r} in the tar")
            return extracted.read()


@dataclass(frozen=True)
class FirstJsonRecords:
    """The fixture is the first `count` records of a JSON array, written back as one line of
    JSON (`json.dumps` with its default separators, non-ASCII kept as UTF-8)."""

    count: int

    def apply(self, data: bytes) -> bytes:
        records = json.loads(data)
        if not isinstance(records, list):
            raise FixtureError("the origin is not a JSON array")
        return json.dumps(records[: self.count], ensure_ascii=False).encode("utf-8")


Rule = Whole | TarMember | FirstJsonRecords


@dataclass(frozen=True)
class FixtureFile:
    """One fixture: `name` is its path under the fixtures folder; the origin is `path` in
    the GitHub repository `repo` at `commit`; `rule` turns the origin's bytes into the
    fixture's, which must hash to `sha256`."""

    name: str
    repo: str
    commit: str
    path: str
    sha256: str
    rule: Rule = Whole()

    def url(self, base_url: str = RAW_BASE_URL) -> str:
        return f"{base_url.rstrip('/')}/{self.repo}/{self.commit}/{self.path}"


_RESILIPARSE = ("chatnoir-eu/chatnoir-resiliparse", "70459f0399718955d7dff1dec30781e07af1bbb7")
_WHIRLWIND = ("commoncrawl/whirlwind-python", "08dcfbe4d579a7b1ee27e7ce39a019de6292c1c7")
_DOLMA = ("allenai/dolma", "669f534823b08d266a8fff01f8a1c916a5a56576")
_OLMO = ("allenai/OLMo", "59a53e3f68e546330ca5a99ec626e58f9ab96494")
_LM_DATAFORMAT = ("leogao2/lm_dataformat", "ac85cb7dae49ce25e9973a128ebd9167deaf64dd")
_MINBPE = ("karpathy/minbpe", "1acefe89412b20245db5a22d2a02001e547dc602")
_DAVIDSON = (
    "t-davidson/hate-speech-and-offensive-language",
    "cb50f7e9eb855a99abc51423bf40df0e26d6fe30",
)
_PRESIDIO_RESEARCH = ("microsoft/presidio-research", "7622dec1e5f7d25dc60b57c28c39f4c4af197018")
_C4_DOMAINS = "test_fixtures/evaluation/ppl-test-data/c4_100_domains/val"
_BLNS_SHA256 = "e5f4835983a15e185f056feb10bcec911d70c77ff5b5019dd99db1d670940df6"

FIXTURE_FILES: tuple[FixtureFile, ...] = (
    FixtureFile(
        "commoncrawl/CC-MAIN-2020-34-sample.warc.gz",
        *_RESILIPARSE,
        "tests/data/warcfile.warc.gz",
        "5cb22a7ab6d90664d69d5d17bdb4054b8eccc9b0a3b0e766dbf6469f32613221",
    ),
    FixtureFile(
        "commoncrawl/clueweb09-quirks.warc.gz",
        *_RESILIPARSE,
        "tests/data/clueweb-quirk.warc.gz",
        "862802d6c3283f3e38bf8155f74ab75cbe6fb1a9d96f78672a9f17c74850476b",
    ),
    FixtureFile(
        "commoncrawl/CC-MAIN-2024-22-whirlwind.warc.gz",
        *_WHIRLWIND,
        "whirlwind.warc.gz",
        "2219c8d0fe743f47657de4921eed91fabdbab6dba4bd7497e37b3e96d89648f8",
    ),
    FixtureFile(
        "commoncrawl/CC-MAIN-2024-22-whirlwind.warc.wet.gz",
        *_WHIRLWIND,
        "whirlwind.warc.wet.gz",
        "b2f1db3943b2bfbb34ad807c36e5eff315cc28efd474edf5a91cbb4962a1deef",
    ),
    FixtureFile(
        "web-jsonl/ccnet-cc_en_head-0091.jsonl.gz",
        *_DOLMA,
        "tests/data/multiple_files/cc_en_head-0091.jsonl.gz",
        "21c78b2bd26e46092006a30d9a647763e3a60845b8911757aabead51daf075ba",
    ),
    FixtureFile(
        "web-jsonl/ccnet-cc_en_head-0174.jsonl.gz",
        *_DOLMA,
        "tests/data/multiple_files/cc_en_head-0174.jsonl.gz",
        "a89a333772c1025e507ff1bbcd1f61b6d7eb5a81028fc81165c9bd9f8a0be571",
    ),
    FixtureFile(
        "web-jsonl/c4-sample.01.json.gz",
        *_OLMO,
        "test_fixtures/c4-sample.01.json.gz",
        "7f7e6ca0cec97d99c7d0d821582693d078a8d399b82812f91cefb3afc751cf0f",
    ),
    FixtureFile(
        "web-jsonl/c4-sample.02.json.gz",
        *_OLMO,
        "test_fixtures/c4-sample.02.json.gz",
        "9fc44f3dc18e99ae975267d83bf27ea666380aad6014dbb903b43731226547a2",
    ),
    FixtureFile(
        "web-jsonl/c4-sample.03.json.gz",
        *_OLMO,
        "test_fixtures/c4-sample.03.json.gz",
        "c0bb33407c723172f208c0ac0193785c8f7a87e3d75c2eca6e81021c63da7926",
    ),
    FixtureFile(
        "web-jsonl/c4-guardian.jsonl.gz",
        *_OLMO,
        f"{_C4_DOMAINS}/c4_100_domains_5_www.theguardian.com_00000000.jsonl.gz",
        "1ad576f436016d72acde5359426b5a0dc90e14df11a21e014a62da17056a81a4",
    ),
    FixtureFile(
        "pile/blns-1.jsonl.zst",
        *_LM_DATAFORMAT,
        "test/blns.jsonl.zst.tar",
        _BLNS_SHA256,
        TarMember("test_dir/1.zst"),
    ),
    FixtureFile(
        "pile/blns-2.jsonl.zst",
        *_LM_DATAFORMAT,
        "test/blns.jsonl.zst.tar",
        _BLNS_SHA256,
        TarMember("test_dir/2.zst"),
    ),
    FixtureFile(
        "text/wikipedia-taylorswift.txt",
        *_MINBPE,
        "tests/taylorswift.txt",
        "c2e39cb822d4ae0caac22152cefc306d466e31217a9c5524e493ad2b76792f57",
    ),
    FixtureFile(
        "toxicity/davidson-labeled_data.csv",
        *_DAVIDSON,
        "data/labeled_data.csv",
        "fcb8bc7c68120ae4af04a5b9acd58585513ede11e1548ebf36a5c2040b6f6281",
    ),
    FixtureFile(
        "pii/presidio-synth-1000.json",
        *_PRESIDIO_RESEARCH,
        "data/synth_dataset_v2.json",
        "161a81e035042442e20efb4f2f086c63bf7f13409733b84d21da3f627c5b88ac",
        FirstJsonRecords(1000),
    ),
)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def missing_files(directory: Path, files: Iterable[FixtureFile] = FIXTURE_FILES) -> list[str]:
    """The names of `files` that are not regular files under `directory` (no hashing)."""
    return [f.name for f in files if not (directory / f.name).is_file()]


def _download(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "curate-fixtures"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        return response.read()


def _write_atomically(target: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `target` and rename it into place, so a
    reader never sees a partial file and a failure leaves nothing behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def fetch(
    dest: Path = DEFAULT_DEST,
    base_url: str = RAW_BASE_URL,
    files: Sequence[FixtureFile] = FIXTURE_FILES,
    force: bool = False,
    log=None,
) -> list[Path]:
    """Fetch `files` into `dest` from `base_url` and return their paths.

    A file already under `dest` with the right sha256 is kept unless `force`. Each origin
    URL is downloaded once. Every file is tried; if any fails (download error, cut/unpack
    error, sha256 mismatch) nothing is written for it and, after the others, a FixtureError
    lists each failed file with its reason.
    """
    dest = Path(dest)
    log = log or (lambda message: None)
    downloaded: dict[str, bytes] = {}
    written, errors = [], []
    for fixture in files:
        target = dest / fixture.name
        if not force and target.is_file() and sha256_of(target.read_bytes()) == fixture.sha256:
            log(f"up to date  {fixture.name}")
            written.append(target)
            continue
        url = fixture.url(base_url)
        try:
            if url not in downloaded:
                downloaded[url] = _download(url)
            data = fixture.rule.apply(downloaded[url])
        except (OSError, urllib.error.URLError, ValueError, tarfile.TarError, FixtureError) as e:
            errors.append(f"{fixture.name}: cannot get it from {url}: {e}")
            continue
        digest = sha256_of(data)
        if digest != fixture.sha256:
            errors.append(
                f"{fixture.name}: sha256 mismatch (got {digest}, expected {fixture.sha256}) "
                f"from {url}; not written"
            )
            continue
        _write_atomically(target, data)
        log(f"fetched     {fixture.name}")
        written.append(target)
    if errors:
        raise FixtureError("\n".join(errors))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fixtures", description="Download the real-data test fixtures."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser("fetch", help="download and verify every fixture")
    fetch_parser.add_argument(
        "--dest", type=Path, default=DEFAULT_DEST, help=f"target folder (default {DEFAULT_DEST})"
    )
    fetch_parser.add_argument(
        "--base-url",
        default=RAW_BASE_URL,
        help="origin root holding {owner}/{repo}/{commit}/{path} (default %(default)s)",
    )
    fetch_parser.add_argument(
        "--force", action="store_true", help="download even the files already in place"
    )
    args = parser.parse_args(argv)
    try:
        fetch(args.dest, args.base_url, force=args.force, log=print)
    except FixtureError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{len(FIXTURE_FILES)} fixtures in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
