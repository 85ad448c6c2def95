"""The DirectRunner without its network access: Beam's FnApiRunner, always.

Beam 2.77's `DirectRunner` first tries the Prism runner, whose binary it downloads from
GitHub at run time (and, without network, retries and falls back after a delay). A
curation run must not reach the network and must run the same way on every machine, so
`--runner DirectRunner` (or no runner) runs on the FnApiRunner that the DirectRunner falls
back to, with the same options (`--direct_running_mode`, `--direct_num_workers`).
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineRunner

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
        return fn_runner.FnApiRunner(provision_info=provision).run_pipeline(pipeline, options)


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
