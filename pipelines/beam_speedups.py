"""Two savings in apache-beam 2.77's graph construction; nothing in what a graph computes.

1. Beam asks each DoFn for its state and timer specs (`userstate.get_dofn_specs`) four or five
times while it builds, validates, translates and re-reads a graph, and each time inspects
the signature of every method of the DoFn: on the curate graph (~220 ParDos) that was
~2,300 calls and 2-4 s of the driver's serial start-up. `patch()` makes the answer one
computation per DoFn object (kept while the object lives), each caller getting its own
copy of the sets.
2. `PipelineOptions.view_as(cls)` builds an argparse parser for `cls` and parses the flags
   again at every call, ~1,400 times while the curate graph is built (type checks ask for
   their options at every apply): about a third of the graph's construction. A view only
   seeds the options' shared value store (`_all_options`) with defaults it lacks, the
   first time, and then reads and writes that store; `patch()` keeps one view per options
   object and class, rebuilt if the object's flags or store are replaced.
"""

from __future__ import annotations

import threading
import weakref

_SPECS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # DoFn -> (states, timers)
_LOCK = threading.Lock()
_ORIGINAL: list = []  # Beam's get_dofn_specs, once patched
_VIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # options -> {class: view}
_ORIGINAL_VIEW_AS: list = []  # Beam's PipelineOptions.view_as, once patched


def dofn_specs(dofn) -> tuple[set, set]:
    """Beam's `get_dofn_specs(dofn)`, computed once per DoFn object."""
    try:
        with _LOCK:
            specs = _SPECS.get(dofn)
    except TypeError:  # not weakly referable or not hashable: ask Beam every time
        return _ORIGINAL[0](dofn)
    if specs is None:
        specs = _ORIGINAL[0](dofn)
        with _LOCK:
            _SPECS[dofn] = specs
    return set(specs[0]), set(specs[1])


def view_as(options, cls):
    """Beam's `options.view_as(cls)`, built once per options object and class."""
    try:
        with _LOCK:
            views = _VIEWS.setdefault(options, {})
            view = views.get(cls)
    except TypeError:  # not weakly referable: build it every time
        return _ORIGINAL_VIEW_AS[0](options, cls)
    if (
        view is None
        or view._flags is not options._flags
        or (view._all_options is not options._all_options)
    ):
        view = _ORIGINAL_VIEW_AS[0](options, cls)
        with _LOCK:
            views[cls] = view
    return view


def patch() -> None:
    """Install the cached `get_dofn_specs` and `view_as` (idempotent; every Beam caller
    looks them up on the `userstate` module and the PipelineOptions class)."""
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.transforms import userstate

    with _LOCK:
        if not _ORIGINAL:
            _ORIGINAL.append(userstate.get_dofn_specs)
            userstate.get_dofn_specs = dofn_specs
        if not _ORIGINAL_VIEW_AS:
            _ORIGINAL_VIEW_AS.append(PipelineOptions.view_as)
            PipelineOptions.view_as = view_as
