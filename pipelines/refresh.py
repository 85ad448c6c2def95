"""Incremental, scheduled curation: process only input files no earlier run has seen, and
write the result as a new dataset version next to the old ones.

    python -m pipelines.refresh --dataset_root data/curated --input web=data/raw/*.json.gz \\
        [every option of pipelines.curate]

Layout under the dataset root:

    index.json         every version: its files (path, size, modification time), counts,
                       tokens, tokenizer hash; what a later run compares the inputs with
    v0001/, v0002/...  one curate output each (documents/, tokens/, manifest.json, ...)
                       plus dedup-index/, the band hashes of its surviving documents

A file counts as processed when an earlier version holds its path with the same size and
modification time. Each version drops documents that near-duplicate any earlier version's
survivors (earlier versions win) and tokenizes with the first version's tokenizer, so the
versions' token shards can be trained on together. A run is written under
`_staging-vNNNN/` and renamed into place, and only then is the index rewritten (atomically):
a run that fails part way leaves the earlier versions and the index as they were.

One run at a time: a run holds `_lock.json` under the dataset root (pid, host, start time;
see pipelines/lock.py) from reading the index to rewriting it; a second run fails at once
with one line naming the holder (exit 1), and a lock whose process died on this host is
taken over. Under the lock, staging folders a killed or failed run left are removed first.
Exit codes as for pipelines.curate: 2 for a bad flag or input pattern, 1 for a failed run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from datetime import UTC, datetime

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.curate import execute, resolve
from pipelines.lock import OutputLock
from pipelines.options import (
    CurateConfig,
    CurateOptions,
    UserError,
    check_inputs,
    command_line,
)
from pipelines.output import check_output
from pipelines.report import REPORT_FILE
from pipelines.storage import delete_tree, is_local, iter_files, move_tree, write_bytes
from pipelines.summary import balanced_exit_code, summary
from schemas.manifest import to_json
from transforms.near_dedup import STAGE as NEAR_DEDUP_STAGE
from transforms.readers import READ_STAGE, ReaderConfig, match_input_files
from transforms.readers.files import InputFile

INDEX_FILE = "index.json"
STAGING_PREFIX = "_staging-"
DEDUP_INDEX_DIR = "dedup-index"
TOKENIZER_PATH = "tokenizer/tokenizer.json"


class RefreshOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--dataset_root",
            default=None,
            help="Directory that holds the dataset's versions (v0001, ...) and index.json.",
        )


def load_index(root: str) -> dict:
    """The dataset root's index ({"versions": [...]}); an empty one for a new root."""
    path = FileSystems.join(root, INDEX_FILE)
    if not FileSystems.exists(path):
        return {"versions": []}
    with FileSystems.open(path) as f:
        return json.loads(f.read())


def input_files(config: CurateConfig) -> list[dict]:
    """Every file the inputs name now (listings expanded): source, path, size and
    modification time (None where the filesystem does not say)."""
    read_config = ReaderConfig.from_dict(config.stages.get(READ_STAGE))
    return [
        {"source": source, "path": f.path, "size": f.size, "mtime": f.mtime}
        for source, pattern in config.inputs
        for f in match_input_files(source, pattern, read_config)
        if isinstance(f, InputFile)
    ]


def _identity(file: dict) -> tuple:
    return file["path"], file["size"], file["mtime"]


def new_files(files: list[dict], index: dict) -> list[dict]:
    """The files no version of `index` has processed (a changed file counts as new)."""
    seen = {_identity(f) for version in index["versions"] for f in version["files"]}
    return [f for f in files if _identity(f) not in seen]


def version_config(config: CurateConfig, root: str, index: dict, staging: str, files) -> dict:
    """`config` for the next version: written to `staging`, reading only `files`, deduped
    against every earlier version's index, tokenized with the first version's tokenizer
    (unless --tokenizer names one)."""
    versions = [v["version"] for v in index["versions"]]
    near_dedup = dict(config.stages.get(NEAR_DEDUP_STAGE) or {})
    near_dedup["index_input"] = [
        *near_dedup.get("index_input", []),
        *(FileSystems.join(root, v, DEDUP_INDEX_DIR, "*.parquet") for v in versions),
    ]
    near_dedup["index_output"] = FileSystems.join(staging, DEDUP_INDEX_DIR)
    tokenizer = config.tokenizer_path
    if tokenizer is None and versions:
        tokenizer = FileSystems.join(root, versions[0], TOKENIZER_PATH)
    return dataclasses.replace(
        config,
        output=staging,
        only_files=frozenset(f["path"] for f in files),
        tokenizer_path=tokenizer,
        stages={**config.stages, NEAR_DEDUP_STAGE: near_dedup},
    )


def _write_atomically(directory: str, name: str, text: str) -> None:
    """Replace `directory/name` at once (a rename on local disk, one upload elsewhere)."""
    write_bytes(FileSystems.join(directory, name), text.encode("utf-8"))


def stale_staging(root: str) -> list[str]:
    """The `_staging-*` folders under `root`: what failed or killed runs left behind."""
    if is_local(root):
        if not os.path.isdir(root):
            return []
        names = os.listdir(root)
    else:
        names = {f.split("/", 1)[0] for f in iter_files(root) if "/" in f}
    return sorted(FileSystems.join(root, n) for n in names if n.startswith(STAGING_PREFIX))


def refresh(argv: list[str]) -> dict | None:
    """Curate the new input files into the next version; return its index entry, or None
    when there is nothing new. UserError for bad flags or inputs; RunFailed when another
    run holds the dataset root or the run read nothing usable."""
    options, config = resolve(argv, write_corpus=False)
    root = options.view_as(RefreshOptions).dataset_root
    if not root:
        raise UserError("--dataset_root is required")
    if not options.view_as(CurateOptions).input:
        raise UserError("--input is required: refresh has no embedded corpus")
    if "output" in options.get_all_options(drop_default=True):
        raise UserError("--output is not used: versions are written under --dataset_root")
    check_inputs(config.inputs, config.stages.get(READ_STAGE))
    root = root.rstrip("/")
    with OutputLock(root, "pipelines.refresh"):
        index = load_index(root)
        version = f"v{len(index['versions']) + 1:04d}"
        staging = FileSystems.join(root, f"{STAGING_PREFIX}{version}")
        final = FileSystems.join(root, version)
        stale = stale_staging(root)
        if staging not in stale:  # else `final` may be a move a killed run left half done
            # Moved into place by a run that died before rewriting the index: ours to
            # delete; a folder of that name that is not a version of ours is refused.
            called = f"{final} (the next version's folder, not in {INDEX_FILE})"
            check_output(final, "manifest.json", (REPORT_FILE,), called)
        for folder in [*stale, final]:
            delete_tree(folder)
        return _next_version(options, config, root, index, version, staging, final)


def _next_version(
    options, config: CurateConfig, root: str, index: dict, version: str, staging: str, final: str
):
    """Curate the new files into `staging`, move it to `final` and index it (under the lock)."""
    files = new_files(input_files(config), index)
    if not files:
        return None
    manifest = execute(options, version_config(config, root, index, staging, files), in_place=True)
    # The manifest names where it was written; name where it now is.
    manifest["config"] = json.loads(json.dumps(manifest["config"]).replace(staging, final))
    _write_atomically(staging, "manifest.json", to_json(manifest))
    move_tree(staging, final, last="manifest.json")
    entry = {
        "version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
        "records": manifest["records"],
        "tokens": manifest["tokens"]["tokens"],
        "rows": manifest["tokens"]["rows"],
        "tokenizer_sha256": manifest["tokenizer"]["sha256"],
        "manifest": f"{version}/manifest.json",
    }
    index = {"versions": [*index["versions"], entry]}
    _write_atomically(root, INDEX_FILE, json.dumps(index, indent=2) + "\n")
    return entry


@command_line
def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    argv = sys.argv[1:] if argv is None else argv
    started = time.monotonic()
    entry = refresh(argv)
    if entry is None:
        print("nothing new: every input file is in an earlier version; nothing written")
        return 0
    root = RefreshOptions(argv).dataset_root.rstrip("/")
    with FileSystems.open(FileSystems.join(root, entry["manifest"])) as f:
        manifest = json.loads(f.read())
    print(f"{entry['version']}: {len(entry['files'])} new file(s)")
    print(summary(manifest, time.monotonic() - started))
    return balanced_exit_code(manifest)


if __name__ == "__main__":
    sys.exit(main())
