"""A run's exclusive lock on a folder, on local disk or an object store.

`DIR/_lock.json` holds the holder's pid, host, command and start time. On local disk it
is created with O_EXCL; a lock whose pid is dead on this host is stale and taken over; a
lock from another host is never taken over (remove it by hand once that run is known to
be dead; the same for a pid recycled by another process, which looks alive). Object
stores offer no create-if-absent through Beam's FileSystems: there the lock is best effort
(written, then read back after a pause, which catches a concurrent writer in all but a
narrow race); schedule one run per output there.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from datetime import UTC, datetime

from apache_beam.io.filesystems import FileSystems

from pipelines.options import RunFailed
from pipelines.storage import is_local, join, local_path, read_bytes, write_bytes

LOCK_FILE = "_lock.json"
# An unreadable lock file younger than this may be a lock being written right now.
_UNREADABLE_LOCK_GRACE_SECONDS = 30.0


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
        self.path = join(self.directory, LOCK_FILE)
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
                os.remove(local_path(self.path))
            except FileNotFoundError:
                pass
        else:
            FileSystems.delete([self.path])

    def _acquire_local(self) -> None:
        path = local_path(self.path)
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
