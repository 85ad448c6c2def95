"""Four fixes to apache-beam 2.77's DaskRunner (fresh receivers per bundle, side inputs
computed once, groupings spread over the cluster, combines lifted) and two savings of
per-element work.

1. Beam's `transform_evaluator.apply_dofn_to_bundle` appends each bundle's outputs to a
   receiver list that is shared by every run of the same task graph in a worker process and
   never cleared. When Dask evaluates a branch more than once in one process, outputs of the
   earlier runs come back again: we saw the tokenizer's training sample arrive three times,
   which trained a different tokenizer than the one written to disk. It also collects
   outputs before `finish_bundle`, losing what that emits. `apply_dofn_to_bundle` below
   runs each bundle with private receivers.
2. Beam hands a ParDo its side inputs as bags wrapped in `SideInputMap`s, which Dask cannot
   see into: every partition of the ParDo computes each side input's whole upstream graph
   again inside its task (one `compute()` per partition and side input), so a curate run
   recomputed its read-to-dedup branch dozens of times. `ParDo` below passes each side input
   to the partitions as one Dask task (a reduction of its bag to a list) in the same graph,
   computed once, retried by the scheduler like any other if a worker dies.

3. Beam's Dask translation makes a `Create` of a few elements one partition, turns
   `Reshuffle` into nothing, and gives a GroupByKey (a bag `groupby`) as many partitions as
   its input: the curate graph starts from one Create of the input patterns, so every step
   after it ran as ONE partition, i.e. on one worker, whatever the cluster size (the other
   worker only got the few side-input branches). `Reshuffle` below splits its input into
   `target_partitions()` partitions of equally many elements (the matched files), and
   `GroupByKey` groups into that many partitions (merging adjacent input partitions first
   when there are more, which keeps the shuffle's n x n split tasks few; splitting the
   output into equal runs of keys when there are fewer). `--dask_npartitions` sets the
   number, else it is twice the cluster's worker threads, or one per PARTITION_INPUT_BYTES
   of input files when that is more (`partitioned_for`): a task then holds a bounded
   share of the data whatever the corpus size, and Dask can spill what waits (the
   groupings of a transforms.common.SmallGroupings, e.g. near-dedup's components, keep two
   per thread: an n x n shuffle of a few ids costs more than it spreads). Which
   partition an element lands in never changes what is computed for it.
4. Beam expands a CombinePerKey (and so CombineGlobally, Count, ToDict...) into a
   GroupByKey of every element and a ParDo: on Dask a shuffle of n x n tasks for n
   partitions, 14 of the curate graph's 44 groupings, each for a few counts. Such a
   combine (global window, no side inputs) becomes a `DaskCombinePerKey`: each partition
   combines its values per key, and the partial results merge in a tree of
   COMBINE_SPLIT_EVERY into one partition (few keys: counts and totals). Keys go into a
   dict, so they must be hashable, as every key this project combines on is.

Savings: a ParDo wraps each input element in a WindowedValue, and Beam's wrapper builds a
new GlobalWindow (parsing its end timestamp from a proto constant) for every element;
`windowed` reuses one. A grouping drops its values' windows before its shuffle, not after
(`_unwindowed`): the shuffle moves and spills plain values. A grouping hashes each key
with `dask.tokenize` to choose its partition; `key_hash` does it for the keys this
pipeline groups on (str, bytes, numbers and tuples of them) with crc32 and Python's
numeric hash, which agree in every process, and falls back to `tokenize` for anything
else. 4-5% of a Dask worker's time on the curate graph, nothing in what is computed.

Memory: after a bundle, `release_freed_memory` hands what glibc kept of the freed memory
back to the OS (at most every TRIM_INTERVAL_S), so that a worker's memory is what its
results hold, which Dask can spill, and not freed memory it counts as unmanaged.

`patch()` installs the fixes. Dask pickles functions by reference, so workers import them from
this module: the fixes reach them without being installed there by hand. Tagged outputs
remain unsupported by that runner (the pipeline does not use them, see
transforms.common.split_by_type).
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar

import apache_beam as beam

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"


def apply_dofn_to_bundle(
    items, do_fn_invoker_args, do_fn_invoker_kwargs, tagged_receivers, side_views, *sides
):
    """Run one DoFn over one Dask partition with private receivers; return all outputs.

    `side_views` holds (view class, view options, window fn) per side input and `sides` the
    side inputs' values, in the same order."""
    from apache_beam.runners.common import DoFnInvoker
    from apache_beam.transforms.sideinputs import SideInputMap

    invoker_args, invoker_kwargs, receivers = copy.deepcopy(
        (do_fn_invoker_args, do_fn_invoker_kwargs, tagged_receivers)
    )
    if side_views:
        invoker_kwargs["side_inputs"] = [
            SideInputMap(view, options, [windowed(v, window_fn) for v in values])
            for (view, options, window_fn), values in zip(side_views, sides, strict=True)
        ]
    receivers.values.clear()
    invoker = DoFnInvoker.create_invoker(*invoker_args, **invoker_kwargs)
    invoker.invoke_setup()
    invoker.invoke_start_bundle()
    for item in items:
        invoker.invoke_process(item)
    invoker.invoke_finish_bundle()
    invoker.invoke_teardown()
    outputs = [v.value for v in receivers.values]
    release_freed_memory()
    return outputs


TRIM_INTERVAL_S = 2.0  # at most this often per worker process; one trim takes ~30 ms
_LAST_TRIM = [0.0]
_TRIM_LOCK = threading.Lock()


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_memory() -> None:
    """Hand back to the OS the memory finished bundles freed (glibc only), at most every
    TRIM_INTERVAL_S per process. glibc keeps freed memory in its arenas: on the 2 GB run a
    worker held 5.8 GiB with under 1 GB of results in memory, which Dask counts as unmanaged
    memory it cannot spill, and pauses the worker at 80% of its limit; malloc_trim(0) took
    it to 2.1-2.6 GiB."""
    trim = _malloc_trim()
    now = time.monotonic()
    with _TRIM_LOCK:
        if trim is None or now - _LAST_TRIM[0] < TRIM_INTERVAL_S:
            return
        _LAST_TRIM[0] = now
    trim(0)


_WINDOWING: list = []  # (wrapped types, Beam's get_windowed_value, WindowedValue, windows)
_WINDOWING_LOCK = threading.Lock()


def _windowing() -> tuple:
    if not _WINDOWING:
        with _WINDOWING_LOCK:
            if not _WINDOWING:
                from apache_beam.pvalue import TaggedOutput
                from apache_beam.runners.dask.transform_evaluator import get_windowed_value
                from apache_beam.transforms.window import GlobalWindow, TimestampedValue
                from apache_beam.utils.windowed_value import WindowedValue

                wrapped = (TaggedOutput, WindowedValue, TimestampedValue)
                _WINDOWING.append((wrapped, get_windowed_value, WindowedValue, (GlobalWindow(),)))
    return _WINDOWING[0]


def windowed(item, window_fn):
    """Beam's `get_windowed_value`, with one shared GlobalWindow for plain elements."""
    wrapped, get_windowed_value, windowed_value, global_windows = _windowing()
    if isinstance(item, wrapped):
        return get_windowed_value(item, window_fn)
    return windowed_value(item, 0, global_windows)


_M64 = (1 << 64) - 1


def key_hash(key) -> int:
    """A grouping key's partition hash, the same in every process for equal keys (Python's
    `hash` of str and bytes changes per process; its hash of numbers does not, and makes
    1 == 1.0 == True and -0.0 == 0.0 agree)."""
    kind = type(key)
    if kind is str:
        return zlib.crc32(key.encode("utf-8", "surrogatepass"))
    if kind is bytes:
        return zlib.crc32(key) ^ 0xB5
    if kind is int or kind is bool or (kind is float and key == key):  # NaN: by identity
        return hash(key) & _M64
    if kind is tuple:
        h = 0x345678 + len(key)
        for item in key:
            h = ((h * 1_000_003) ^ key_hash(item)) & _M64
        return h
    from dask.base import tokenize

    return int(tokenize(key), 16)


TASK_PREFIX = "pardo:"


def task_name(label: str) -> str:
    """The name a ParDo's Dask tasks carry: its Beam label, so the dashboard and the task
    stream say which step ran (`pardo:normalize+lang+quality/Apply`), without the "-" that
    Dask splits key names on."""
    return TASK_PREFIX + re.sub(r"[^\w+/.:]", "_", label)


def _concat(lists):
    return [x for part in lists for x in part]


def _pardo_op():
    from apache_beam import DoFn
    from apache_beam.runners.common import DoFnContext, DoFnSignature, _OutputHandler
    from apache_beam.runners.dask import transform_evaluator as beam_dask

    class ParDo(beam_dask.ParDo):
        """Beam's Dask ParDo translation, with side inputs as tasks of the graph (fix 2)."""

        def apply(self, input_bag, side_inputs=None):
            transform = self.transform
            args, kwargs = transform.raw_side_inputs
            main_input = next(iter(self.applied.main_inputs.values()))
            window_fn = getattr(getattr(main_input, "windowing", None), "windowfn", None)
            receivers = beam_dask.OneReceiver()
            output_handler = _OutputHandler(
                window_fn=window_fn,
                main_receivers=receivers[None],
                tagged_receivers=receivers,
                per_element_output_counter=None,
                output_batch_converter=None,
                process_yields_batches=False,
                process_batch_yields_elements=False,
            )
            invoker_kwargs = dict(
                context=DoFnContext(transform.label, state=None),
                side_inputs=[],
                input_args=list(args),
                input_kwargs=kwargs,
                user_state_context=None,
                bundle_finalizer_param=DoFn.BundleFinalizerParam(),
            )
            # Beam's SideInputMap keeps what it wraps in private attributes; 2.77 is pinned.
            views = [
                (s._view_class, s._view_options, s._iterable.window_fn) for s in side_inputs or ()
            ]
            # Delayed, not Item: Dask optimizes an Item argument's graph on its own, under new
            # keys, which would compute the side input's upstream a second time.
            sides = [
                s._iterable.bag.reduction(list, _concat).to_delayed(optimize_graph=False)
                for s in side_inputs or ()
            ]
            return input_bag.map(windowed, window_fn).map_partitions(
                apply_dofn_to_bundle,
                [DoFnSignature(transform.fn), output_handler],
                invoker_kwargs,
                receivers,
                views,
                *sides,
                token=task_name(self.applied.full_label),
            )

    return ParDo


DEFAULT_PARTITIONS_PER_THREAD = 2
FALLBACK_PARTITIONS = 8  # when no Dask client is reachable while the graph is built
# Input file bytes (as stored: compressed files count compressed) per partition, at least:
# about 90 MB of text from gzipped JSON lines, a few hundred MB of Python objects in a task.
PARTITION_INPUT_BYTES = 32 * 2**20

_INPUT_SIZES: ContextVar = ContextVar("input_sizes", default=tuple)


@contextlib.contextmanager
def partitioned_for(input_sizes: Callable[[], Iterable[int]]) -> Iterator[None]:
    """While the block builds and runs a graph, default partition counts are at least one
    per PARTITION_INPUT_BYTES of the input files, and one per file of unknown size.
    `input_sizes` gives their sizes in bytes (negative: unknown); it is called once, and
    only if a Dask graph asks."""
    token = _INPUT_SIZES.set(functools.cache(input_sizes))
    try:
        yield
    finally:
        _INPUT_SIZES.reset(token)


def _input_partitions() -> int:
    known, unknown = 0, 0
    for size in _INPUT_SIZES.get()():
        known, unknown = (known + size, unknown) if size >= 0 else (known, unknown + 1)
    return -(-known // PARTITION_INPUT_BYTES) + unknown


def partition_count(threads: int, small: bool = False) -> int:
    """Default partitions of a grouping for a cluster of `threads` worker threads: two per
    thread (uneven partitions even out), or more for a large input (`partitioned_for`)
    unless the grouping is `small` (transforms.common.SmallGroupings)."""
    return _with_input_floor(max(1, threads) * DEFAULT_PARTITIONS_PER_THREAD, small)


def _with_input_floor(partitions: int, small: bool) -> int:
    return partitions if small else max(partitions, _input_partitions())


_THREADS: dict[str, int] = {}  # client id -> its cluster's worker threads
_THREADS_LOCK = threading.Lock()


def target_partitions(bag_kwargs: dict | None = None, small: bool = False) -> int:
    """How many partitions a Reshuffle or a grouping (`small`: of SmallGroupings) spreads
    its output over: `--dask_npartitions` when given, else `partition_count` for the
    running client's cluster."""
    npartitions = (bag_kwargs or {}).get("npartitions")
    if npartitions:
        return int(npartitions)
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        return _with_input_floor(FALLBACK_PARTITIONS, small)
    with _THREADS_LOCK:
        if client.id not in _THREADS:  # asked once per run, not once per grouping
            _THREADS[client.id] = sum(client.nthreads().values())
        threads = _THREADS[client.id]
    return partition_count(threads, small)


def _in_small_groupings(applied) -> bool:
    """Whether a step runs inside a transforms.common.SmallGroupings composite."""
    from transforms.common import SmallGroupings

    node = applied.parent
    while node is not None:
        if isinstance(node.transform, SmallGroupings):
            return True
        node = node.parent
    return False


def _key(item):
    return item[0]


def _unwindowed(item):
    """A grouping's input (key, WindowedValue) as (key, value). The grouping drops the
    windows (Beam's own translation did so after the shuffle, see `_grouped`); dropped
    before it, the shuffle moves and spills plain values, which pickle about 2.5x faster
    than the same values each in a WindowedValue (its timestamp, window and pane)."""
    key, value = item
    return key, value.value if isinstance(value, _windowing()[2]) else value


def _grouped(item):
    key, values = item
    return key, [v[1] for v in values]


def _grouping_ops():
    from apache_beam.runners.dask import transform_evaluator as beam_dask
    from dask.bag.core import groupby_tasks

    class GroupByKey(beam_dask.GroupByKey):
        """Beam's Dask GroupByKey translation, with its output spread over at least
        `target_partitions()` partitions (fix 3)."""

        def apply(self, input_bag, side_inputs=None):
            target = target_partitions(self.bag_kwargs, _in_small_groupings(self.applied))
            input_bag = input_bag.map(_unwindowed)
            if input_bag.npartitions > target:
                input_bag = input_bag.repartition(npartitions=target)
            grouped = groupby_tasks(input_bag, _key, hash=key_hash).map(_grouped)
            if grouped.npartitions < target:
                # Equal runs of keys: e.g. the encoder's batches spread evenly.
                grouped = grouped.repartition(npartitions=target)
            return grouped

    class Reshuffle(beam_dask.DaskBagOp):
        """Beam's Reshuffle, which the Dask translation drops: its input split into
        `target_partitions()` partitions of equally many elements (fix 3)."""

        def apply(self, input_bag, side_inputs=None):
            target = target_partitions(self.bag_kwargs)
            if input_bag.npartitions < target:
                return input_bag.repartition(npartitions=target)
            return input_bag

    return GroupByKey, Reshuffle


@contextlib.contextmanager
def _set_up(fn) -> Iterator:
    """A private copy of the CombineFn `fn`, set up while the block runs."""
    fn = copy.deepcopy(fn)
    fn.setup()
    try:
        yield fn
    finally:
        fn.teardown()


def _add_inputs(items, fn) -> list:
    """One partition of (key, value) -> [(key, accumulator)], in first-seen key order."""
    with _set_up(fn) as fn:
        accumulators: dict = {}
        for key, value in items:
            if key not in accumulators:
                accumulators[key] = fn.create_accumulator()
            accumulators[key] = fn.add_input(accumulators[key], value)
        return [(key, fn.compact(acc)) for key, acc in accumulators.items()]


def _merge(parts, fn) -> list:
    """[[(key, accumulator)], ...] -> [(key, merged accumulator)], keys in first-seen order."""
    by_key: dict = {}
    for part in parts:
        for key, accumulator in part:
            by_key.setdefault(key, []).append(accumulator)
    with _set_up(fn) as fn:
        return [(key, fn.merge_accumulators(accs)) for key, accs in by_key.items()]


def _extract(merged, fn) -> list:
    with _set_up(fn) as fn:
        return [(key, fn.extract_output(accumulator)) for key, accumulator in merged]


COMBINE_SPLIT_EVERY = 8  # partial results merged per task of the tree


class DaskCombinePerKey(beam.PTransform):
    """A CombinePerKey as one leaf of the graph, which the Dask translation lifts (fix 4).
    `fn`: its CombineFn, with the transform's arguments curried in."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def expand(self, pcoll):
        return beam.pvalue.PCollection.from_(pcoll)

    def infer_output_type(self, input_type):
        from apache_beam import typehints

        key_type, _ = typehints.trivial_inference.key_value_types(input_type)
        return typehints.KV[key_type, typehints.Any]


def _combine_op():
    from apache_beam.runners.dask import transform_evaluator as beam_dask
    from dask import bag as db

    class CombinePerKey(beam_dask.DaskBagOp):
        """Each partition combines its own values per key, and the partial results merge
        in a tree into one partition (fix 4)."""

        def apply(self, input_bag, side_inputs=None):
            fn, name = self.transform.fn, task_name(self.applied.full_label)
            partial = input_bag.map_partitions(_add_inputs, fn, token=name)
            merge, extract = functools.partial(_merge, fn=fn), functools.partial(_extract, fn=fn)
            merged = partial.reduction(list, merge, split_every=COMBINE_SPLIT_EVERY)
            return db.from_delayed([merged.apply(extract).to_delayed(optimize_graph=False)])

    return CombinePerKey


def _with_lifted_combines(overrides):
    """Beam's Dask overrides (a function returning PTransformOverrides), plus one that
    makes a CombinePerKey in the global window a DaskCombinePerKey (one with side
    inputs is Beam's own combiners.LiftedCombinePerKey, another class, left as it is)."""
    from apache_beam.pipeline import PTransformOverride
    from apache_beam.transforms.combiners import curry_combine_fn
    from apache_beam.transforms.window import GlobalWindows

    class LiftCombines(PTransformOverride):
        def matches(self, applied):
            if type(applied.transform) is not beam.CombinePerKey:
                return False
            main = next(iter(applied.main_inputs.values()), None)
            return main is not None and isinstance(main.windowing.windowfn, GlobalWindows)

        def get_replacement_transform_for_applied_ptransform(self, applied):
            t = applied.transform
            return DaskCombinePerKey(curry_combine_fn(t.fn, t.args, t.kwargs))

    def with_lifted():
        return [LiftCombines(), *overrides()]

    with_lifted.lifts_combines = True
    return with_lifted


def uses_dask_runner(runner) -> bool:
    name = runner if isinstance(runner, str) else type(runner).__name__
    return bool(name) and name.rsplit(".", 1)[-1] == "DaskRunner"


def patch() -> None:
    """Install the four fixes into Beam's Dask translation (idempotent)."""
    from apache_beam.runners.dask import dask_runner, transform_evaluator
    from apache_beam.runners.dask.overrides import _GroupByKeyOnly, _Reshuffle

    transform_evaluator.apply_dofn_to_bundle = apply_dofn_to_bundle
    if not getattr(dask_runner.dask_overrides, "lifts_combines", False):
        dask_runner.dask_overrides = _with_lifted_combines(dask_runner.dask_overrides)
    translations = transform_evaluator.TRANSLATIONS
    if DaskCombinePerKey not in translations:
        translations[DaskCombinePerKey] = _combine_op()
    if translations[beam.ParDo].__module__ != __name__:
        translations[beam.ParDo] = _pardo_op()
    if translations[_GroupByKeyOnly].__module__ != __name__:
        translations[_GroupByKeyOnly], translations[_Reshuffle] = _grouping_ops()


def close_client(result) -> None:
    """Close the Dask client a DaskRunner result holds (Beam leaves it open, and it then
    keeps trying to reconnect once the cluster is gone)."""
    client = getattr(result, "client", None)
    if client is not None:
        client.close()
