"""Make apache-beam 2.77's DaskRunner run every DoFn bundle with fresh output receivers.

Beam's `transform_evaluator.apply_dofn_to_bundle` appends each bundle's outputs to a
receiver list that is shared by every run of the same task graph in a worker process and
never cleared. When Dask evaluates a branch more than once in one process (as it does for
side inputs), outputs of the earlier runs come back again: we saw the tokenizer's
training sample arrive three times, which trained a different tokenizer than the one
written to disk. It also collects outputs before `finish_bundle`, losing what that emits.

`patch()` swaps in `apply_dofn_to_bundle` below. Dask pickles functions by reference, so
workers import it from this module: the fix reaches them without being installed there
by hand. Tagged outputs remain unsupported by that runner (the pipeline does not use
them, see transforms.common.split_by_type).
"""

from __future__ import annotations

import copy

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"


def apply_dofn_to_bundle(items, do_fn_invoker_args, do_fn_invoker_kwargs, tagged_receivers):
    """Run one DoFn over one Dask partition with private receivers; return all outputs."""
    from apache_beam.runners.common import DoFnInvoker

    invoker_args, invoker_kwargs, receivers = copy.deepcopy(
        (do_fn_invoker_args, do_fn_invoker_kwargs, tagged_receivers)
    )
    receivers.values.clear()
    invoker = DoFnInvoker.create_invoker(*invoker_args, **invoker_kwargs)
    invoker.invoke_setup()
    invoker.invoke_start_bundle()
    for item in items:
        invoker.invoke_process(item)
    invoker.invoke_finish_bundle()
    invoker.invoke_teardown()
    return [v.value for v in receivers.values]


def uses_dask_runner(runner) -> bool:
    name = runner if isinstance(runner, str) else type(runner).__name__
    return bool(name) and name.rsplit(".", 1)[-1] == "DaskRunner"


def patch() -> None:
    """Install the fixed bundle function into Beam's Dask translation (idempotent)."""
    from apache_beam.runners.dask import transform_evaluator

    transform_evaluator.apply_dofn_to_bundle = apply_dofn_to_bundle


def close_client(result) -> None:
    """Close the Dask client a DaskRunner result holds (Beam leaves it open, and it then
    keeps trying to reconnect once the cluster is gone)."""
    client = getattr(result, "client", None)
    if client is not None:
        client.close()
