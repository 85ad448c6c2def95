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

Lock. `DIR/_lock.json` holds the holder's pid, host, command and start time. On local
disk it is created with O_EXCL; a lock whose pid is dead on this host is stale and taken
over; a lock from another host is never taken over (remove it by hand once that run is
known to be dead; the same for a pid recycled by another process, which looks alive).
Object stores offer no create-if-absent through Beam's FileSystems: there the lock is
best effort (written, then read back after a pause, which catches a concurrent writer in
all but a narrow race); schedule one run per output there.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.options import RunFailed, UserError, absolute_if_local
from transforms.write import TEMPORARY_DIR

STAGING_DIR = "_staging"
LOCK_FILE = "_lock.json"
JOURNAL_SUFFIX = ".commit.json"
# An unreadable lock file younger than this may be a lock being written right now.
_UNREADABLE_LOCK_GRACE_SECONDS = 30.0
_MAX_LISTED_STRAYS = 3


def is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def _local_path(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _join(directory: str, *relative: str) -> str:
    return FileSystems.join(directory, *relative)


def iter_files(directory: str) -> Iterator[str]:
    """Relative paths ('/'-separated) of the files under `directory`; nothing when it is
    absent. Lazy on local disk, so a check can stop at the first file it does not expect."""
    if is_local(directory):
        root = _local_path(directory)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                yield os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
        return
    prefix = directory.rstrip("/") + "/"
    for meta in FileSystems.match([prefix + "**"])[0].metadata_list:
        if not meta.path.endswith("/"):  # a "folder" placeholder object
            yield meta.path[len(prefix) :]


def read_bytes(path: str) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    if is_local(path):
        try:
            with open(_local_path(path), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    """Replace `path` by `data` at once: a rename on local disk (readers never see half a
    file); on object stores a single upload is already all-or-nothing."""
    if is_local(path):
        path = _local_path(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
        return
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


_NOT_JSON = object()  # a file that exists but does not parse


def _read_json(path: str):
    """Parsed JSON, None when the file is absent, `_NOT_JSON` when it does not parse."""
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return _NOT_JSON


def delete_tree(directory: str) -> None:
    """Remove `directory` and everything under it; nothing to do when it is absent."""
    if is_local(directory):
        shutil.rmtree(_local_path(directory), ignore_errors=True)
        return
    files = [_join(directory, f) for f in iter_files(directory)]
    if files:
        FileSystems.delete(files)


def _delete_files(directory: str, relative: list[str]) -> None:
    if not relative:
        return
    if is_local(directory):
        root = _local_path(directory)
        for name in relative:
            try:
                os.remove(os.path.join(root, name))
            except FileNotFoundError:
                pass
            _prune_empty_parents(root, name)
        return
    present = set(iter_files(directory))
    existing = [_join(directory, f) for f in relative if f in present]
    if existing:
        FileSystems.delete(existing)


def _prune_empty_parents(root: str, relative: str) -> None:
    """Remove the folders a deleted file leaves empty (e.g. a `rejected/` no longer written)."""
    parent = os.path.dirname(relative)
    while parent:
        try:
            os.rmdir(os.path.join(root, parent))
        except OSError:
            return  # not empty, or already gone
        parent = os.path.dirname(parent)


def _move_files(source: str, destination: str, relative: list[str]) -> None:
    if not relative:
        return
    if is_local(source):
        src, dst = _local_path(source), _local_path(destination)
        for name in relative:
            target = os.path.join(dst, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(os.path.join(src, name), target)
        return
    FileSystems.rename(
        [_join(source, f) for f in relative], [_join(destination, f) for f in relative]
    )


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
    staging = _join(output, STAGING_DIR)
    names = sorted(f for f in iter_files(staging) if "/" not in f and f.endswith(JOURNAL_SUFFIX))
    found = []
    for name in names:
        content = _read_json(_join(staging, name))
        found.append((_join(staging, name), content if isinstance(content, dict) else None))
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
    if is_local(output) and os.path.isfile(_local_path(output)):
        raise UserError(f"{called} is a file, not a directory")
    manifest = _read_json(_join(output, manifest_name))
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
# Lock


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class OutputLock:
    """An exclusive lock on `directory`: `directory/_lock.json` holding pid, host, command
    and start time. RunFailed, naming the holder, when another live run holds it."""

    def __init__(self, directory: str, command: str, settle_seconds: float = 1.0):
        self.directory = directory.rstrip("/")
        self.path = _join(self.directory, LOCK_FILE)
        self.holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "token": uuid.uuid4().hex,
        }
        self.content = (json.dumps(self.holder) + "\n").encode("utf-8")
        # Object stores only: how long to wait before reading the lock back.
        self.settle_seconds = settle_seconds
        self.held = False

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        if is_local(self.path):
            self._acquire_local()
        else:
            self._acquire_remote()
        self.held = True

    def release(self) -> None:
        """Remove the lock if it is still ours (a lock taken over meanwhile is left)."""
        if not self.held:
            return
        self.held = False
        if read_bytes(self.path) != self.content:
            return
        if is_local(self.path):
            try:
                os.remove(_local_path(self.path))
            except FileNotFoundError:
                pass
        else:
            FileSystems.delete([self.path])

    def _acquire_local(self) -> None:
        path = _local_path(self.path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        for _ in range(5):  # a stale lock taken over by a concurrent run: look again
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                try:
                    mtime = os.path.getmtime(path)
                except FileNotFoundError:
                    continue  # released meanwhile
                raw = read_bytes(path)
                if raw is None:
                    continue
                if not self._stale(raw, mtime):
                    raise self._held_by(raw) from None
                self._take_over(path, raw)
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(self.content)
            return
        raise RunFailed(f"{self.directory}: could not take the lock {self.path}; try again")

    @staticmethod
    def _take_over(path: str, stale: bytes) -> None:
        """Remove the stale lock `stale`, unless another run replaced it meanwhile: it is
        renamed aside (atomic: one of two concurrent takers wins) and checked."""
        aside = f"{path}.{uuid.uuid4().hex}.stale"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return
        if read_bytes(aside) != stale:  # a live lock taken in between: put it back
            try:
                os.link(aside, path)
            except FileExistsError:
                pass
        os.remove(aside)

    def _acquire_remote(self) -> None:
        raw = read_bytes(self.path)
        if raw is not None:
            try:
                mtime = FileSystems.last_updated(self.path)
            except Exception:  # noqa: BLE001 - not every object store reports it
                mtime = None
            if not self._stale(raw, mtime):
                raise self._held_by(raw)
            FileSystems.delete([self.path])
        write_bytes(self.path, self.content)
        time.sleep(self.settle_seconds)
        raw = read_bytes(self.path)
        if raw != self.content:  # a concurrent run wrote after us: it goes on, we stop
            raise self._held_by(raw or b"")

    def _stale(self, raw: bytes, mtime: float | None) -> bool:
        try:
            holder = json.loads(raw)
            pid, host = int(holder["pid"]), str(holder["host"])
        except (ValueError, KeyError, TypeError):
            # Half-written by a run that died, or being written now: wait a while.
            return mtime is not None and time.time() - mtime > _UNREADABLE_LOCK_GRACE_SECONDS
        return host == self.holder["host"] and not pid_alive(pid)

    def _held_by(self, raw: bytes) -> RunFailed:
        try:
            holder = json.loads(raw)
            who = (
                f"{holder.get('command', 'a run')} (pid {holder['pid']} on {holder['host']}, "
                f"started {holder.get('started', '?')})"
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            who = "another run (its lock file is being written)"
        return RunFailed(
            f"{self.directory} is in use by {who}; wait for it to finish, or, if that "
            f"process is gone, remove {self.path}"
        )


# ---------------------------------------------------------------------------------------
# Staging and swap


def finish_swaps(output: str) -> None:
    """Roll forward every swap a killed run left half done under OUTPUT (its journal)."""
    for path, journal in _journals(output):
        if journal is not None:
            _roll_forward(output, journal)
        _delete_files(_join(output, STAGING_DIR), [path.rsplit("/", 1)[-1]])


def _roll_forward(output: str, journal: dict) -> None:
    """Carry out a swap journal; safe to repeat after a crash at any step."""
    staging = _join(output, STAGING_DIR, journal["staging"])
    manifest = journal["manifest"]
    waiting = set(iter_files(staging))
    if manifest in waiting:  # the previous manifest must go before any file changes
        _delete_files(output, [manifest])
    _delete_files(output, list(journal["remove"]))
    _move_files(staging, output, [f for f in journal["move"] if f in waiting and f != manifest])
    if manifest in waiting:
        _move_files(staging, output, [manifest])
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
        self.staging = _join(self.output, STAGING_DIR, self.run_id)
        self.previous: dict | None = None
        self._created = is_local(self.output) and not os.path.exists(_local_path(self.output))
        self._done = False

    def __enter__(self) -> StagedOutput:
        check_output(self.output, self.manifest_name, self.side_files)  # before writing a lock
        self.lock.acquire()
        try:
            finish_swaps(self.output)
            self.previous = check_output(self.output, self.manifest_name, self.side_files)
            delete_tree(_join(self.output, STAGING_DIR))  # runs that were killed
            if self.previous is not None:
                delete_tree(_join(self.output, TEMPORARY_DIR))
            if is_local(self.staging):
                os.makedirs(_local_path(self.staging))
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if not self._done:
                delete_tree(self.staging)
            if is_local(self.output):
                _remove_if_empty(os.path.join(_local_path(self.output), STAGING_DIR))
        finally:
            self.lock.release()
        if self._created and is_local(self.output):
            _remove_if_empty(_local_path(self.output))  # a failed first run leaves no folder

    def rebase(self, path: str) -> str:
        """`path` moved into the staging folder when it lies inside the output (a dedup
        index written inside it), so it is swapped in with the rest; else unchanged."""
        relative = _below(path, self.output)
        return path if relative is None else _join(self.staging, relative)

    def keep(self) -> None:
        self._done = True

    def commit(self) -> None:
        """Swap the complete run in (see the module docstring): journal, then roll forward.
        Raises RuntimeError, swapping nothing, when the run wrote a file its own manifest
        does not account for: the next run would refuse the folder."""
        new = [f for f in iter_files(self.staging) if not f.startswith(TEMPORARY_DIR + "/")]
        manifest = _read_json(_join(self.staging, self.manifest_name))
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
        ]
        journal = {
            "staging": self.run_id,
            "manifest": self.manifest_name,
            "move": new,
            "remove": old,
        }
        journal_path = _join(self.output, STAGING_DIR, self.run_id + JOURNAL_SUFFIX)
        write_bytes(journal_path, (json.dumps(journal, indent=1) + "\n").encode("utf-8"))
        # From here on the staging folder is the only copy of files already half swapped:
        # never removed on the way out; a failure is finished by the next run.
        self._done = True
        _roll_forward(self.output, journal)
        _delete_files(_join(self.output, STAGING_DIR), [self.run_id + JOURNAL_SUFFIX])


def _remove_if_empty(folder: str) -> None:
    try:
        os.rmdir(folder)
    except OSError:
        pass  # not empty, or not there


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
        _delete_files(output, doomed)
    if is_local(output):
        _remove_if_empty(os.path.join(_local_path(output), STAGING_DIR))


def move_tree(source: str, destination: str, last: str | None = None) -> None:
    """Move a folder: one atomic rename on local disk; file by file (copy + delete) on
    object stores, `last` (a manifest) after the rest, where a reader must not trust
    `destination` until the caller says so (refresh: the index names a version only after
    its move)."""
    if is_local(source):
        os.rename(_local_path(source), _local_path(destination))
        return
    files = list(iter_files(source))
    _move_files(source, destination, [f for f in files if f != last])
    _move_files(source, destination, [f for f in files if f == last])
