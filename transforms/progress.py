"""Live progress of a local run: what the readers have produced so far, in this process.

On the in-process runner (the default DirectRunner mode) every DoFn runs in the driver's
process, so readers add to `LOCAL_PROGRESS` and a reporter thread prints it. On other
runners the counts stay at zero in the driver and nothing is printed; Beam Metrics
(the `Read` namespace) carry the same counts to the runner's own UI.
"""

from __future__ import annotations

import sys
import threading
import time


class Progress:
    """Thread-safe running totals: records and UTF-8 bytes of text read, files opened."""

    def __init__(self):
        self._lock = threading.Lock()
        self.records = self.bytes = self.files = 0

    def add(self, records: int = 0, text_bytes: int = 0, files: int = 0) -> None:
        with self._lock:
            self.records += records
            self.bytes += text_bytes
            self.files += files

    def snapshot(self) -> tuple[int, int, int]:
        with self._lock:
            return self.records, self.bytes, self.files

    def reset(self) -> None:
        with self._lock:
            self.records = self.bytes = self.files = 0


LOCAL_PROGRESS = Progress()


def progress_line(records: int, text_bytes: int, files: int, seconds: float) -> str:
    rate = text_bytes / 1e6 / seconds if seconds > 0 else 0.0
    return (
        f"read {records:,} records from {files:,} files, {text_bytes / 1e6:,.1f} MB of text "
        f"({rate:,.1f} MB/s), {seconds:,.0f} s elapsed"
    )


class ProgressReporter:
    """Prints `progress` every `interval` seconds while in a `with` block: one line kept up
    to date on a terminal, a line per report otherwise (logs)."""

    def __init__(self, progress: Progress = LOCAL_PROGRESS, stream=None, interval=None):
        self.progress = progress
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.interval = interval or (1.0 if self.tty else 15.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def __enter__(self):
        self.progress.reset()
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _loop(self):
        while not self._stop.wait(self.interval):
            line = progress_line(*self.progress.snapshot(), time.monotonic() - self.started)
            self.stream.write(f"\r{line}\x1b[K" if self.tty else line + "\n")
            self.stream.flush()
