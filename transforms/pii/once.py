"""Process-wide values built once, behind a lock, for the threads of one worker.

Beam-free. A worker process runs many DoFn instances on several threads at once;
`functools.cache` would let two threads build the same value at the same time and hand
them different objects. `built_once` builds it exactly once; the value must not be
mutated afterwards.
"""

from __future__ import annotations

import functools
import threading


def built_once(build):
    """`build()` (no arguments) run at most once per process; every call returns its value."""
    lock = threading.Lock()
    built: list = []

    @functools.wraps(build)
    def get():
        if not built:
            with lock:
                if not built:
                    built.append(build())
        return built[0]

    return get


def built_once_per_key(build):
    """`build(*key)` run at most once per process for each (hashable) key; every call with
    that key returns its value."""
    lock = threading.Lock()
    built: dict = {}

    @functools.wraps(build)
    def get(*key):
        if key not in built:
            with lock:
                if key not in built:
                    built[key] = build(*key)
        return built[key]

    return get
