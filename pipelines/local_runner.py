"""The DirectRunner without its network access: Beam's FnApiRunner, always.

Beam 2.77's `DirectRunner` first tries the Prism runner, whose binary it downloads from
GitHub at run time (and, without network, retries and falls back after a delay). A
curation run must not reach the network and must run the same way on every machine, so
`--runner DirectRunner` (or no runner) runs on the FnApiRunner that the DirectRunner falls
back to, with the same options (`--direct_running_mode`, `--direct_num_workers`).

One saving in that runner's plan, nothing in what it computes: it runs every Flatten of
several inputs as a stage of its own that reads what the inputs wrote and writes it again.
Where that stage only feeds a grouping, its inputs write into the grouping directly
(`write_flattens_into_groupings`). The curate graph flattens before grouping to join
(CoGroupByKey) and to give empty shards a key: on the 20 MB scale corpus, 104 of the
424 MB that its stages encoded and decoded again.
"""

from __future__ import annotations

import functools

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineRunner

MATERIALIZE, GROUP = b"materialize:", b"group:"  # the FnApiRunner's kinds of buffer id

DIRECT_RUNNER_NAMES = {None, "direct", "directrunner", "switchingdirectrunner"}


class OfflineDirectRunner(PipelineRunner):
    """Runs a batch pipeline on the FnApiRunner, with the options visible to DoFns."""

    def run_pipeline(self, pipeline, options):
        from apache_beam.portability.api import beam_provision_api_pb2
        from apache_beam.runners.portability.fn_api_runner import fn_runner
        from apache_beam.runners.portability.portable_runner import JobServiceHandle

        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
        )
        return _runner_class()(provision_info=provision).run_pipeline(pipeline, options)


@functools.cache
def _runner_class():
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    class FnApiRunner(fn_runner.FnApiRunner):
        def create_stages(self, pipeline_proto):
            context, stages = super().create_stages(pipeline_proto)
            return context, write_flattens_into_groupings(stages)

    return FnApiRunner


def write_flattens_into_groupings(stages: list) -> list:
    """The FnApiRunner's ordered `stages`, less each stage that only copies a Flatten's
    buffer into a grouping's: the Flatten's inputs write into the grouping instead, and
    the stages that had to follow the copy follow them. The grouping buffer merges what
    several stages write, keeps their order, and its reader waits for all of them."""
    from apache_beam.runners.worker.bundle_processor import DATA_INPUT_URN, DATA_OUTPUT_URN

    readers: dict[bytes, int] = {}
    for stage in stages:
        for t in stage.transforms:
            if t.spec.urn == DATA_INPUT_URN:
                readers[t.spec.payload] = readers.get(t.spec.payload, 0) + 1
    into: dict[bytes, bytes] = {}  # a Flatten's buffer -> the grouping's it is copied to
    copies: dict = {}  # copy stage -> the stages it must follow
    for stage in stages:
        if len(stage.transforms) != 2 or any(stage.side_inputs()) or stage.timers:
            continue
        read, write = sorted(stage.transforms, key=lambda t: t.spec.urn != DATA_INPUT_URN)
        source, target = read.spec.payload, write.spec.payload
        if (
            read.spec.urn == DATA_INPUT_URN
            and write.spec.urn == DATA_OUTPUT_URN
            and source.startswith(MATERIALIZE)
            and target.startswith(GROUP)
            and readers[source] == 1
            and list(write.inputs.values()) == list(read.outputs.values())
        ):
            into[source], copies[stage] = target, stage.must_follow
    if not copies:
        return stages
    kept = []
    for stage in stages:
        if stage in copies:
            continue
        for t in stage.transforms:
            if t.spec.urn == DATA_OUTPUT_URN and t.spec.payload in into:
                t.spec.payload = into[t.spec.payload]
        while stage.must_follow & copies.keys():  # a copy stage may follow another
            stage.must_follow = frozenset().union(*(copies.get(s, {s}) for s in stage.must_follow))
        kept.append(stage)
    return kept


def runner_for(options: PipelineOptions) -> PipelineRunner | None:
    """An OfflineDirectRunner when the options ask for the DirectRunner, else None (Beam
    creates the runner they name)."""
    name = options.view_as(StandardOptions).runner
    if name is None or name.lower().rsplit(".", 1)[-1] in DIRECT_RUNNER_NAMES:
        return OfflineDirectRunner()
    return None


def in_memory(options: PipelineOptions) -> bool:
    """Whether the local runner runs every bundle in this process (its default mode)."""
    return options.view_as(DirectOptions).direct_running_mode in (None, "in_memory")


def runs_alone(options: PipelineOptions) -> bool:
    """Whether the run's bundles run one at a time, in this process: the local runner,
    in memory, with one worker. Only then do a library's own threads (the tokenizer's)
    have cores to themselves; on every other runner the runner fills them."""
    workers = options.view_as(DirectOptions).direct_num_workers or 1
    return runner_for(options) is not None and in_memory(options) and workers == 1
