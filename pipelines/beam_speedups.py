"""A saving in apache-beam 2.77's graph construction; nothing in what a graph computes.

Beam asks each DoFn for its state and timer specs (`userstate.get_dofn_specs`) four or five
times while it builds, validates, translates and re-reads a graph, and each time inspects
the signature of every method of the DoFn: on the curate graph (~220 ParDos) that was
~2,300 calls and 2-4 s of the driver's serial start-up. `patch()` makes the answer one
computation per DoFn object (kept while the object lives), each caller getting its own
copy of the sets.
"""

from __future__ import annotations

import threading
import weakref

_SPECS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # DoFn -> (states, timers)
_SPECS_LOCK = threading.Lock()
_ORIGINAL: list = []  # Beam's get_dofn_specs, once patched


def dofn_specs(dofn) -> tuple[set, set]:
    """Beam's `get_dofn_specs(dofn)`, computed once per DoFn object."""
    try:
        with _SPECS_LOCK:
            specs = _SPECS.get(dofn)
    except TypeError:  # not weakly referable or not hashable: ask Beam every time
        return _ORIGINAL[0](dofn)
    if specs is None:
        specs = _ORIGINAL[0](dofn)
        with _SPECS_LOCK:
            _SPECS[dofn] = specs
    return set(specs[0]), set(specs[1])


def patch() -> None:
    """Install the cached `get_dofn_specs` (idempotent; every Beam caller looks it up on
    the `userstate` module)."""
    from apache_beam.transforms import userstate

    with _SPECS_LOCK:
        if not _ORIGINAL:
            _ORIGINAL.append(userstate.get_dofn_specs)
            userstate.get_dofn_specs = dofn_specs
