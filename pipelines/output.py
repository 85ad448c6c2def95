"""A run's output folder: built beside the previous run, swapped in only when complete,
never mixed with files that are not ours, written by one run at a time.

Staging. A run writes under `OUTPUT/_staging/<run id>/` (inside OUTPUT, so it needs no
rights on OUTPUT's parent and works the same on local disk, gs:// and s3://). Its
manifest and report are written there; the previous run stays untouched until then. A run
that raises removes its staging folder; one that read nothing usable keeps it for a look;
one that was killed leaves it: the next run removes every staging folder, under the lock.

Swap. The new run's file list and the previous run's files it does not replace are first
written to `OUTPUT/_staging/<run id>.commit.json` (one atomic write). From then on the
swap is bound to finish: if this process dies, the next run on OUTPUT rolls it forward
before anything else. The swap deletes the previous manifest, then the previous files the
new run does not replace, moves every new file into place (one rename per file: atomic on
local disk; a copy + delete on object stores, where a directory cannot be renamed at all)
and moves the manifest last. A reader sees a complete run with its manifest, or, during a
swap, no manifest; never a manifest beside another run's files.

Ownership. OUTPUT may be written when it is absent or empty, or when every file in it is
accounted for: listed in our manifest (every relative `path` in it; the manifest itself;
the side files, e.g. report.html), under an `index_output` directory the manifest names
inside OUTPUT, named by an unfinished swap's journal, or `_staging/...` and the lock file;
`_temporary/` only next to our manifest (Spark and Hadoop use that name too). Anything
else (a source checkout given as `--output .`, another tool's folder, a run of ours whose
manifest went missing) is refused with UserError and nothing is deleted.

Lock. One run at a time per OUTPUT: `OUTPUT/_lock.json` (pipelines/lock.py).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from pipelines.lock import LOCK_FILE, OutputLock
from pipelines.options import RunFailed, UserError, absolute_if_local
from pipelines.storage import (
    delete_files,
    delete_tree,
    is_local,
    iter_files,
    join,
    local_path,
    move_files,
    read_json,
    remove_if_empty,
    write_bytes,
)
from transforms.write import TEMPORARY_DIR

STAGING_DIR = "_staging"
JOURNAL_SUFFIX = ".commit.json"
_MAX_LISTED_STRAYS = 3


def settle(staged: StagedOutput | None, records: dict, manifest_path: str, kind: str) -> None:
    """End a finished run: swap `staged` in (None: a run written in place), unless
    `run_failure(records)` says it must not count; then keep its staging folder for a look
    and raise RunFailed naming its `kind` ("manifest", "summary") at `manifest_path`."""
    failure = run_failure(records)
    if failure:
        if staged is not None:
            staged.keep()
        raise RunFailed(f"{failure}; nothing replaced; the run's {kind} is {manifest_path}")
    if staged is not None:
        staged.commit()


def run_failure(records: dict) -> str | None:
    """Why a finished run must not count as a success, from its manifest's `records`: it
    read no record, or every record it read was unreadable (dead-lettered; an empty file
    counts as one). None when it is fine."""
    read, dead = records["read"], records["dead_lettered"]
    if read == 0:
        return "the run read no records from its inputs"
    if dead == read:
        return f"all {read:,} records read were unreadable (dead-lettered): no usable input"
    return None


# ---------------------------------------------------------------------------------------
# Ownership


def _below(path: str, directory: str) -> str | None:
    """`path` relative to `directory` when it lies inside it, else None."""
    path = absolute_if_local(path).rstrip("/")
    prefix = directory.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def _relative_file(value: str) -> str | None:
    """A manifest `path` that names a file inside the output: relative, no `..`."""
    if not value or value.startswith("/") or "://" in value:
        return None
    parts = value.split("/")
    return None if ".." in parts or "" in parts else value


def accounted_for(manifest: dict, output: str) -> tuple[set[str], list[str]]:
    """(files, folders) relative to `output` that a manifest of ours accounts for: every
    relative `path` anywhere in it, and every `index_output` folder inside `output`."""
    files, folders = set(), []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "path" and isinstance(value, str):
                    if name := _relative_file(value):
                        files.add(name)
                elif key == "index_output" and isinstance(value, str):
                    if folder := _below(value, output):
                        folders.append(folder)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(manifest)
    return files, folders


def _is_ours(manifest) -> bool:
    # Both the curate manifest and dedup's summary.json account for records read.
    return isinstance(manifest, dict) and isinstance(manifest.get("records"), dict)


def _journals(output: str) -> list[tuple[str, dict | None]]:
    """(path, content or None if unreadable) of every swap journal under OUTPUT/_staging."""
    staging = join(output, STAGING_DIR)
    names = sorted(f for f in iter_files(staging) if "/" not in f and f.endswith(JOURNAL_SUFFIX))
    found = []
    for name in names:
        content = read_json(join(staging, name))
        found.append((join(staging, name), content if isinstance(content, dict) else None))
    return found


def _owned_by_us(output: str, manifest, manifest_name: str, side_files) -> Callable[[str], bool]:
    """Whether a file (relative to `output`) belongs to the run `manifest` describes, to
    an unfinished swap, or to our staging and lock (the rule in the module docstring)."""
    files, folders = {LOCK_FILE}, [STAGING_DIR]
    if manifest is not None:
        listed, index_folders = accounted_for(manifest, output)
        files |= listed | {manifest_name, *side_files}
        folders += [TEMPORARY_DIR, *index_folders]
    for _, journal in _journals(output):
        if journal is not None:
            files |= {*journal["move"], *journal["remove"], journal["manifest"]}
    prefixes = tuple(folder + "/" for folder in folders)
    return lambda name: name in files or name.startswith(prefixes)


def check_output(
    output: str, manifest_name: str, side_files=(), called: str | None = None
) -> dict | None:
    """The previous run's manifest under `output` (None if there is none). Raises UserError,
    having written nothing, when `output` is a file or holds a file no run of ours wrote
    (see the module docstring for the rule). `called`: the folder's name in the message
    (default `--output OUTPUT`)."""
    called = called or f"--output {output}"
    if is_local(output) and os.path.isfile(local_path(output)):
        raise UserError(f"{called} is a file, not a directory")
    manifest = read_json(join(output, manifest_name))
    if manifest is not None and not _is_ours(manifest):
        raise UserError(
            f"{called} holds a {manifest_name} this pipeline did not write; "
            "refusing to write there: choose a new or empty directory"
        )
    owned = _owned_by_us(output, manifest, manifest_name, side_files)
    strays = []
    for name in iter_files(output):
        if owned(name):
            continue
        strays.append(name)
        if len(strays) == _MAX_LISTED_STRAYS:
            strays.append("...")
            break
    if strays:
        why = (
            f"no {manifest_name} of this pipeline"
            if manifest is None
            else f"files its {manifest_name} does not list"
        )
        raise UserError(
            f"{called} is not empty and holds {why} ({', '.join(strays)}); "
            "refusing to write there: choose a new or empty directory"
        )
    return manifest


# ---------------------------------------------------------------------------------------
# Staging and swap


def finish_swaps(output: str) -> None:
    """Roll forward every swap a killed run left half done under OUTPUT (its journal)."""
    for path, journal in _journals(output):
        if journal is not None:
            _roll_forward(output, journal)
        delete_files(join(output, STAGING_DIR), [path.rsplit("/", 1)[-1]])


def _roll_forward(output: str, journal: dict) -> None:
    """Carry out a swap journal; safe to repeat after a crash at any step."""
    staging = join(output, STAGING_DIR, journal["staging"])
    manifest = journal["manifest"]
    waiting = set(iter_files(staging))
    if manifest in waiting:  # the previous manifest must go before any file changes
        delete_files(output, [manifest])
    delete_files(output, list(journal["remove"]))
    move_files(staging, output, [f for f in journal["move"] if f in waiting and f != manifest])
    if manifest in waiting:
        move_files(staging, output, [manifest])
    delete_tree(staging)


class StagedOutput:
    """A run of ours into `output`, as a context manager.

    On entry: refuse an output that is not ours (UserError), take the lock (RunFailed if
    another run holds it), finish a swap a killed run left half done, delete stale staging
    folders, and make `staging` for this run. `commit()` swaps the complete run in; `keep()`
    leaves the staging folder for inspection (a failed run; the next run removes it). On
    exit the staging folder is removed unless committed or kept, and the lock released.
    `side_files`: files a run writes next to the manifest that it does not list."""

    def __init__(self, output: str, manifest_name: str, side_files=(), command: str = "run"):
        self.output = output.rstrip("/")
        self.manifest_name = manifest_name
        self.side_files = tuple(side_files)
        self.lock = OutputLock(self.output, command)
        self.run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self.staging = join(self.output, STAGING_DIR, self.run_id)
        self.previous: dict | None = None
        self._created = is_local(self.output) and not os.path.exists(local_path(self.output))
        self._done = False

    def __enter__(self) -> StagedOutput:
        check_output(self.output, self.manifest_name, self.side_files)  # before writing a lock
        self.lock.acquire()
        try:
            finish_swaps(self.output)
            self.previous = check_output(self.output, self.manifest_name, self.side_files)
            delete_tree(join(self.output, STAGING_DIR))  # runs that were killed
            if self.previous is not None:
                delete_tree(join(self.output, TEMPORARY_DIR))
            if is_local(self.staging):
                os.makedirs(local_path(self.staging))
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if not self._done:
                delete_tree(self.staging)
            if is_local(self.output):
                remove_if_empty(os.path.join(local_path(self.output), STAGING_DIR))
        finally:
            self.lock.release()
        if self._created and is_local(self.output):
            remove_if_empty(local_path(self.output))  # a failed first run leaves no folder

    def rebase(self, path: str) -> str:
        """`path` moved into the staging folder when it lies inside the output (a dedup
        index written inside it), so it is swapped in with the rest; else unchanged."""
        relative = _below(path, self.output)
        return path if relative is None else join(self.staging, relative)

    def keep(self) -> None:
        self._done = True

    def commit(self, keep: Callable[[str], bool] = lambda path: False) -> None:
        """Swap the complete run in (see the module docstring): journal, then roll forward.
        `keep`: files of the previous run to leave in place (an export adds files to a
        run; its new manifest lists both). Raises RuntimeError, swapping nothing, when the
        run wrote a file its own manifest does not account for: the next run would refuse
        the folder."""
        new = [f for f in iter_files(self.staging) if not f.startswith(TEMPORARY_DIR + "/")]
        manifest = read_json(join(self.staging, self.manifest_name))
        if not _is_ours(manifest):
            raise RuntimeError(f"{self.staging} has no {self.manifest_name}: not swapped in")
        # Relative to the output: the manifest names the output, not the staging folder.
        listed = _owned_by_us(self.output, manifest, self.manifest_name, self.side_files)
        unlisted = [f for f in new if not listed(f)]
        if unlisted:
            raise RuntimeError(
                f"the run wrote files its {self.manifest_name} does not list "
                f"({', '.join(unlisted[:_MAX_LISTED_STRAYS])}): list them there"
            )
        replaced = set(new)
        previous = _owned_by_us(self.output, self.previous, self.manifest_name, self.side_files)
        old = [
            f
            for f in iter_files(self.output)
            if f not in replaced
            and f != LOCK_FILE
            and not f.startswith(STAGING_DIR + "/")
            and previous(f)  # a file someone put there during the run is left alone
            and not keep(f)
        ]
        journal = {
            "staging": self.run_id,
            "manifest": self.manifest_name,
            "move": new,
            "remove": old,
        }
        journal_path = join(self.output, STAGING_DIR, self.run_id + JOURNAL_SUFFIX)
        write_bytes(journal_path, (json.dumps(journal, indent=1) + "\n").encode("utf-8"))
        # From here on the staging folder is the only copy of files already half swapped:
        # never removed on the way out; a failure is finished by the next run.
        self._done = True
        _roll_forward(self.output, journal)
        delete_files(join(self.output, STAGING_DIR), [self.run_id + JOURNAL_SUFFIX])


def remove_run(output: str, manifest_name: str, side_files=(), command: str = "run") -> None:
    """Delete the run of ours under `output` (what its manifest accounts for, staging and
    lock leftovers), under the lock; UserError, deleting nothing, if `output` holds any
    other file. Files are removed one by one, so a folder never becomes a wildcard."""
    check_output(output, manifest_name, side_files)
    with OutputLock(output, command):
        finish_swaps(output)
        manifest = check_output(output, manifest_name, side_files)
        owned = _owned_by_us(output, manifest, manifest_name, side_files)
        # The manifest first: a half-deleted run never looks complete.
        doomed = [f for f in iter_files(output) if f != LOCK_FILE and owned(f)]
        doomed.sort(key=lambda f: f != manifest_name)
        delete_files(output, doomed)
    if is_local(output):
        remove_if_empty(os.path.join(local_path(output), STAGING_DIR))
