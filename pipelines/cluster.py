"""Where the graph runs: `--cluster local|slurm|kubernetes|address:HOST:PORT`, and
`run_graph`, which every pipeline runs its graph with.

`local` (the default) leaves the runner as the flags name it. The others run the same
graph on Beam's DaskRunner against a Dask cluster:

- `slurm`: the pipeline starts a Dask scheduler in this process and submits the workers
  as Slurm batch jobs (dask-jobqueue's SLURMCluster), with the settings of `--slurm`
  (`slurm:` in a config file; `SlurmSettings` names every key). It checks the job script
  with `sbatch --test-only` first, so a wrong partition or account is one line before
  anything is queued; starts the run once a worker has joined (more join as Slurm starts
  them); and cancels every job it submitted when the run ends, fails, is interrupted
  (Ctrl-C) or is terminated (SIGTERM, as from Airflow or `scancel` of the driver's job).
  Jobs carry a name unique to the run, and are cancelled by that name too.
- `kubernetes`: a DaskCluster resource (dask-kubernetes' operator must run in the
  Kubernetes cluster) with the workers of `--kubernetes`, deleted when the run ends.
- `address:HOST:PORT`: a Dask scheduler someone else started (`--dask_client_address`).

A cluster that gives no worker within `start_timeout` seconds fails the run with one line
naming the jobs still pending and the reason Slurm gives. Workers need this project (the
same version) in the Python they run, and the inputs and the output on paths every node
reads: a shared filesystem or an object store. A worker that dies mid-run (preempted,
cancelled, out of walltime) changes no output byte: Dask reruns its tasks on the others,
and on Slurm the run submits a job in its place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import getpass
import importlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines import beam_speedups, dask_compat
from pipelines.dask_compat import DASK_RUNNER, partition_count, uses_dask_runner
from pipelines.local_runner import OfflineDirectRunner, in_memory, runner_for
from pipelines.options import RunFailed, UserError, parse_json_mapping
from transforms.progress import ProgressReporter

LOCAL = "local"
SLURM = "slurm"
KUBERNETES = "kubernetes"
ADDRESS = "address:"
# Placeholder for the scheduler's address in a dry run's job script (the run starts it).
SCHEDULER_PLACEHOLDER = "tcp://SCHEDULER-STARTED-BY-THE-RUN:8786"
JOB_NAME_PREFIX = "curate-"
CANCEL_WAIT_SECONDS = 30  # how long to wait for cancelled jobs to leave the queue
QUEUE_POLL_SECONDS = 5  # how often the queue is read while waiting for the first worker
LOST_JOB_POLL_SECONDS = 5  # how often a run looks for worker jobs to replace

log = logging.getLogger(__name__)


def parse_cluster(value: str) -> str:
    """`--cluster` text, checked: local, slurm, kubernetes or address:HOST:PORT."""
    value = value.strip()
    if value in (LOCAL, SLURM, KUBERNETES):
        return value
    if value.startswith(ADDRESS) and ":" in value[len(ADDRESS) :].split("://")[-1]:
        return value
    raise ValueError(f"--cluster {value!r}: choose local, slurm, kubernetes or address:HOST:PORT")


class ClusterOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--cluster",
            default=LOCAL,
            help="Where to run: local (the runner the flags name), slurm (Dask workers as "
            "Slurm jobs, see --slurm), kubernetes (Dask workers as pods, see --kubernetes) "
            "or address:HOST:PORT (a running Dask scheduler). All but local use the "
            "DaskRunner (pip install '.[slurm]' or '.[kubernetes]').",
        )
        parser.add_argument(
            "--slurm",
            type=parse_json_mapping,
            default={},
            help="Slurm worker jobs, as JSON (a `slurm:` mapping in --config): partition, "
            "account, jobs or minimum_jobs/maximum_jobs, cores, memory, walltime, sbatch "
            "(extra #SBATCH lines), setup (shell lines, e.g. module loads), ... "
            "(configs/slurm.yaml lists every key).",
        )
        parser.add_argument(
            "--kubernetes",
            type=parse_json_mapping,
            default={},
            help="Kubernetes worker pods, as JSON (a `kubernetes:` mapping in --config): "
            "image, namespace, workers, cores, memory, env (configs/kubernetes.yaml).",
        )


def _from_mapping(cls, values: dict, flag: str):
    """A settings dataclass from a mapping; UserError naming an unknown key (and the
    closest known one) or a value of the wrong kind."""
    known = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, 1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise UserError(f"--{flag}: unknown key {key!r}{hint}")
    try:
        settings = cls(**values)
    except (TypeError, ValueError) as err:
        raise UserError(f"--{flag}: {err}") from err
    return settings


def _positive(owner: str, **values) -> None:
    """ValueError naming the first of `values` that is set but not a positive number."""
    for name, value in values.items():
        if value is not None and (not isinstance(value, int | float) or value <= 0):
            raise ValueError(f"{name} must be a positive number, got {value!r} ({owner})")


@dataclass(frozen=True)
class SlurmSettings:
    """The worker jobs of `--cluster slurm`; each job runs `processes` Dask workers that
    share its `cores` as threads and its `memory`."""

    partition: str | None = None  # sbatch -p; None: the cluster's default partition
    account: str | None = None  # sbatch -A
    jobs: int = 2  # worker jobs for the whole run (ignored when maximum_jobs is set)
    minimum_jobs: int | None = None  # adaptive: keep at least this many jobs...
    maximum_jobs: int | None = None  # ...and at most this many, as the work queue asks
    cores: int = 1  # CPUs per job: its Dask worker threads
    processes: int = 1  # Dask worker processes per job
    memory: str = "4GB"  # per job; Dask spills to local_directory as it fills
    walltime: str = "04:00:00"  # sbatch -t
    sbatch: tuple[str, ...] = ()  # extra #SBATCH lines, e.g. "--qos=high", "--constraint=cpu"
    setup: tuple[str, ...] = ()  # shell lines run before the worker: module load, venv
    python: str | None = None  # the workers' Python; None: the one running this pipeline
    local_directory: str | None = None  # node-local scratch for spilled data, e.g. /tmp
    log_directory: str | None = None  # each job's .out/.err; None: the submit directory
    interface: str | None = None  # network interface scheduler and workers use, e.g. ib0
    start_timeout: float = 600  # seconds to wait for the first worker before failing

    def __post_init__(self):
        for name in ("sbatch", "setup"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} must be a list of lines, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        _positive(
            "slurm",
            jobs=self.jobs,
            minimum_jobs=self.minimum_jobs,
            maximum_jobs=self.maximum_jobs,
            cores=self.cores,
            processes=self.processes,
            start_timeout=self.start_timeout,
        )
        if self.minimum_jobs is not None and self.maximum_jobs is None:
            raise ValueError("minimum_jobs needs maximum_jobs (adaptive scaling)")
        if self.maximum_jobs is not None and (self.minimum_jobs or 1) > self.maximum_jobs:
            raise ValueError("minimum_jobs must not exceed maximum_jobs")

    @property
    def adaptive(self) -> bool:
        return self.maximum_jobs is not None

    @property
    def threads(self) -> int:
        """Worker threads of the cluster at its largest."""
        return (self.maximum_jobs or self.jobs) * self.cores

    def job_arguments(self, job_name: str) -> dict:
        """Keyword arguments of dask-jobqueue's SLURMCluster/SLURMJob."""
        arguments = {
            "queue": self.partition,
            "account": self.account,
            "cores": self.cores,
            "processes": self.processes,
            "memory": self.memory,
            "walltime": self.walltime,
            "job_name": job_name,
            "job_extra_directives": list(self.sbatch),
            "job_script_prologue": list(self.setup),
            "python": self.python or sys.executable,
            "local_directory": self.local_directory,
            "log_directory": self.log_directory,
        }
        if self.interface:
            arguments["interface"] = self.interface
        return arguments


@dataclass(frozen=True)
class KubernetesSettings:
    """The worker pods of `--cluster kubernetes` (a DaskCluster resource)."""

    image: str | None = None  # an image with this project installed (see the Dockerfile)
    namespace: str | None = None  # None: the kube config's current namespace
    workers: int = 2  # worker pods
    cores: int = 1  # CPUs per pod (request and limit): its Dask worker threads
    memory: str = "4Gi"  # per pod (request and limit)
    env: dict = field(default_factory=dict)  # environment of scheduler and workers
    start_timeout: float = 600  # seconds to wait for the first worker before failing

    def __post_init__(self):
        if not self.image:
            raise ValueError("image is required: a container image with this project installed")
        if not isinstance(self.env, dict):
            raise ValueError(f"env must be a mapping of names to values, got {self.env!r}")
        _positive(
            "kubernetes", workers=self.workers, cores=self.cores, start_timeout=self.start_timeout
        )

    @property
    def threads(self) -> int:
        return self.workers * self.cores

    def cluster_spec(self, name: str) -> dict:
        """The DaskCluster resource the operator turns into a scheduler and worker pods."""
        make_cluster_spec = _need("dask_kubernetes.operator", KUBERNETES).make_cluster_spec
        amount = {"cpu": str(self.cores), "memory": self.memory}
        return make_cluster_spec(
            name=name,
            image=self.image,
            n_workers=self.workers,
            resources={"requests": amount, "limits": dict(amount)},
            env={k: str(v) for k, v in sorted(self.env.items())},
            worker_command=f"dask-worker --nthreads {self.cores}",
        )


@dataclass(frozen=True)
class Cluster:
    """A resolved `--cluster`: its kind and settings (None for local and address)."""

    kind: str
    address: str | None = None
    slurm: SlurmSettings | None = None
    kubernetes: KubernetesSettings | None = None


def resolve_cluster(options: PipelineOptions) -> Cluster:
    """The `--cluster` of `options`, its settings checked; UserError for a bad value or a
    runner flag that contradicts it."""
    view = options.view_as(ClusterOptions)
    try:
        kind = parse_cluster(view.cluster or LOCAL)
    except ValueError as err:
        raise UserError(str(err)) from err
    if kind == LOCAL:
        return Cluster(LOCAL)
    runner = options.view_as(StandardOptions).runner
    if runner is not None and not uses_dask_runner(runner):
        raise UserError(f"--cluster {kind} runs on the DaskRunner: drop --runner {runner}")
    given = options.get_all_options(drop_default=True)
    if "address" in given or "scheduler_file" in given:
        raise UserError(
            f"--cluster {kind} connects to its own scheduler: drop --dask_client_address "
            "and --dask_scheduler_file (or use --cluster address:HOST:PORT alone)"
        )
    if kind.startswith(ADDRESS):
        address = kind[len(ADDRESS) :]
        return Cluster(kind, address=address if "://" in address else f"tcp://{address}")
    if kind == SLURM:
        return Cluster(kind, slurm=_from_mapping(SlurmSettings, view.slurm or {}, SLURM))
    return Cluster(
        kind, kubernetes=_from_mapping(KubernetesSettings, view.kubernetes or {}, KUBERNETES)
    )


def run_graph(
    options: PipelineOptions, build: Callable[[beam.Pipeline], None], show_progress: bool = False
) -> None:
    """Build a graph with `build` and run it to completion where `--cluster` says, on the
    runner `options` name (with the fixes of pipelines.dask_compat and beam_speedups).
    `show_progress`: live counts on stderr while an in-process local run works."""
    beam_speedups.patch()
    with cluster_for_run(options, resolve_cluster(options)):
        if uses_dask_runner(options.view_as(StandardOptions).runner):
            dask_compat.patch()
        runner = runner_for(options)
        in_process = isinstance(runner, OfflineDirectRunner) and in_memory(options)
        with ProgressReporter() if in_process and show_progress else contextlib.nullcontext():
            with beam.Pipeline(runner=runner, options=options) as pipeline:
                build(pipeline)
        dask_compat.close_client(pipeline.result)


def describe_cluster(cluster: Cluster) -> list[str]:
    """What a dry run shows of the cluster: the Slurm job script or the DaskCluster
    resource that a run would submit (the scheduler's address is the run's to fill)."""
    if cluster.kind == LOCAL:
        return []
    if cluster.address:
        return [f"cluster: the Dask scheduler at {cluster.address}"]
    if cluster.slurm:
        SLURMJob = _need("dask_jobqueue.slurm", SLURM).SLURMJob
        settings = cluster.slurm
        size = (
            f"{settings.minimum_jobs or 1} to {settings.maximum_jobs} jobs, adaptive"
            if settings.adaptive
            else f"{settings.jobs} jobs"
        )
        job = SLURMJob(
            scheduler=SCHEDULER_PLACEHOLDER,
            name="worker",
            **settings.job_arguments(f"{JOB_NAME_PREFIX}RUN"),
        )
        script = job.job_script().rstrip().splitlines()
        return [f"cluster: slurm, {size}; each job's script:", *(f"  {s}" for s in script)]
    import yaml

    spec = cluster.kubernetes.cluster_spec(f"{JOB_NAME_PREFIX}run")
    text = yaml.safe_dump(spec, sort_keys=False).rstrip().splitlines()
    return ["cluster: kubernetes; the DaskCluster resource:", *(f"  {s}" for s in text)]


@contextlib.contextmanager
def cluster_for_run(options: PipelineOptions, cluster: Cluster) -> Iterator[None]:
    """Start `cluster` (nothing for local), point `options` at it (DaskRunner and its
    scheduler address) while the block runs, then stop it, whatever happens in the block;
    `options` is as it was afterwards."""
    if cluster.kind == LOCAL:
        yield
        return
    if cluster.address:
        started = contextlib.nullcontext(cluster.address)
    elif cluster.slurm:
        started = _slurm_cluster(cluster.slurm)
    else:
        started = _kubernetes_cluster(cluster.kubernetes)
    settings = cluster.slurm or cluster.kubernetes
    threads = settings.threads if settings else None  # an address: the cluster's own count
    with (
        _terminate_as_interrupt(),
        _quiet("distributed"),
        started as address,
        _dask_options(options, address, threads),
    ):
        yield


@contextlib.contextmanager
def _quiet(logger_name: str):
    """Only warnings and errors from `logger_name` while the block runs: Dask's scheduler,
    in this process, logs every client and worker it sees at INFO."""
    logger = logging.getLogger(logger_name)
    before = logger.level
    logger.setLevel(max(before, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(before)


@contextlib.contextmanager
def _dask_options(options: PipelineOptions, address: str, threads: int | None):
    """`options` run on the DaskRunner against `address`, with the graph's partition count
    fixed by the cluster's size (not by how many workers have joined yet)."""
    DaskOptions = _need("apache_beam.runners.dask.dask_runner", "dask").DaskOptions
    standard, dask = options.view_as(StandardOptions), options.view_as(DaskOptions)
    before = (standard.runner, dask.address, dask.npartitions)
    standard.runner, dask.address = DASK_RUNNER, address
    if threads and not dask.npartitions:
        dask.npartitions = partition_count(threads)
    try:
        yield
    finally:
        standard.runner, dask.address, dask.npartitions = before


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM raises KeyboardInterrupt in the main thread while the block runs, so that a
    terminated driver (a scheduler's timeout, `scancel` of its own job) still stops the
    cluster it started."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _say(message: str) -> None:
    """A progress line on stderr (stdout holds the run's summary)."""
    print(message, file=sys.stderr, flush=True)


def _need(module: str, extra: str):
    """Import `module`, or UserError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise UserError(f"--cluster needs {module}: pip install '.[{extra}]' ({err})") from err


def _run_name() -> str:
    return f"{JOB_NAME_PREFIX}{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def _slurm_cluster(settings: SlurmSettings) -> Iterator[str]:
    """Submit the worker jobs, yield the scheduler's address once a worker has joined,
    cancel every job on the way out."""
    SLURMCluster = _need("dask_jobqueue", SLURM).SLURMCluster
    Client = _need("distributed", SLURM).Client
    job_name = _run_name()
    try:
        # The dashboard on a free port: a login node's 8787 is often another user's.
        dashboard = {"dashboard_address": ":0"}
        cluster = SLURMCluster(**settings.job_arguments(job_name), scheduler_options=dashboard)
    except Exception as err:  # noqa: BLE001 - a bad setting, a missing sbatch: one line
        raise UserError(f"--cluster slurm: cannot start the scheduler: {err}") from err
    try:
        _check_job_script(cluster.job_script())
        if settings.adaptive:
            cluster.adapt(
                minimum_jobs=settings.minimum_jobs or 1, maximum_jobs=settings.maximum_jobs
            )
        else:
            cluster.scale(jobs=settings.jobs)
        size = f"up to {settings.maximum_jobs}" if settings.adaptive else str(settings.jobs)
        _say(
            f"slurm: {size} worker jobs named {job_name} (squeue --name {job_name}); "
            f"Dask dashboard {cluster.dashboard_link}"
        )
        started = time.monotonic()
        with Client(cluster) as client:
            _wait_for_a_worker(client, cluster, job_name, settings)
        _say(f"slurm: a worker joined after {time.monotonic() - started:.1f} s; running")
        with _replacing_lost_jobs(cluster):
            yield cluster.scheduler_address
    finally:
        _stop_slurm(cluster, job_name)


@contextlib.contextmanager
def _replacing_lost_jobs(cluster):
    """While the block runs, submit a new job for every worker job that left (preempted,
    cancelled, out of walltime): dask-jobqueue keeps a lost job in its plan without starting
    another, so a run whose jobs were all lost would wait for ever. Dask reruns the lost
    tasks on whichever workers are there."""
    from tornado.ioloop import PeriodicCallback

    def replace_lost() -> None:  # on the cluster's event loop, where its state changes
        lost = set(cluster.worker_spec) - set(cluster.workers)
        if lost and cluster.status.name == "running":
            _say(f"slurm: {len(lost)} worker job(s) lost; submitting replacements")
            cluster.scale(jobs=len(cluster.worker_spec))  # starts what the plan misses

    watch = PeriodicCallback(replace_lost, LOST_JOB_POLL_SECONDS * 1000)
    cluster.loop.add_callback(watch.start)
    try:
        yield
    finally:
        cluster.loop.add_callback(watch.stop)


def _wait_for_a_worker(client, cluster, job_name: str, settings: SlurmSettings) -> None:
    """Return once a Dask worker has joined; RunFailed when `start_timeout` passes first,
    naming the jobs still pending and Slurm's reason, or as soon as every submitted job has
    left the queue without a worker joining (a worker that cannot start: a wrong `python`,
    a missing module), pointing at their logs."""
    deadline = time.monotonic() + settings.start_timeout
    while True:
        try:
            client.wait_for_workers(1, timeout=min(QUEUE_POLL_SECONDS, settings.start_timeout))
            return
        except TimeoutError:
            pass
        submitted = [getattr(job, "job_id", None) for job in cluster.workers.values()]
        if time.monotonic() >= deadline:
            problem = f"no Dask worker joined within {settings.start_timeout:g} s"
            raise RunFailed(
                f"{problem} (slurm.start_timeout): {_pending_jobs(job_name, settings)}; "
                "cancelled them"
            )
        if submitted and all(submitted) and not _queued(job_name) and not client.nthreads():
            where = settings.log_directory or "the submit directory"
            raise RunFailed(
                f"the worker jobs {', '.join(sorted(submitted))} ended before a Dask worker "
                f"joined: see their .err files in {where}"
            )


def _check_job_script(script: str) -> None:
    """`sbatch --test-only` on the worker job: UserError with sbatch's own reason when
    Slurm would refuse it (partition, account, memory, time limit), before anything is
    queued."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(script)
    try:
        done = subprocess.run(
            ["sbatch", "--test-only", f.name], capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        raise UserError("--cluster slurm: sbatch not found; run on a Slurm login node") from None
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
        reason = (errors or done.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise UserError(f"--cluster slurm: sbatch refused the worker job: {reason}")


def _slurm_command(*command: str) -> str:
    """A Slurm client command's output ("" when it is not installed or fails)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.warning("%s: %s", command[0], err)
        return ""
    return done.stdout


def _queued(job_name: str) -> list[tuple[str, str, str]]:
    """(job id, state, reason) of this user's jobs called `job_name` still in the queue."""
    user = getpass.getuser()
    listed = _slurm_command("squeue", "-h", "--name", job_name, "--user", user, "-o", "%i|%T|%r")
    return [tuple(line.split("|", 2)) for line in listed.splitlines() if line.count("|") == 2]


def _pending_jobs(job_name: str, settings: SlurmSettings) -> str:
    """The jobs of the run as one phrase, for the error of a cluster that gave no worker."""
    jobs = _queued(job_name)
    if jobs:
        return "Slurm jobs " + ", ".join(f"{i} {state} ({reason})" for i, state, reason in jobs)
    where = settings.log_directory or "the submit directory"
    return f"no job {job_name} is queued (their logs: {where})"


def _stop_slurm(cluster, job_name: str) -> None:
    """Close the cluster (dask-jobqueue cancels its jobs), then cancel whatever job of the
    run's name is still queued, and wait until they leave the queue."""
    try:
        cluster.close()
    except Exception as err:  # noqa: BLE001 - the scancel below is the guarantee
        log.warning("closing the Slurm cluster: %s", err)
    _slurm_command("scancel", "--name", job_name, "--user", getpass.getuser())
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    while _queued(job_name) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = _queued(job_name)
    if left:
        log.warning("Slurm jobs still leaving the queue: %s", ", ".join(j[0] for j in left))


@contextlib.contextmanager
def _kubernetes_cluster(settings: KubernetesSettings) -> Iterator[str]:
    """Create the DaskCluster resource, yield its scheduler's address once a worker has
    joined, delete it on the way out."""
    KubeCluster = _need("dask_kubernetes.operator", KUBERNETES).KubeCluster
    Client = _need("distributed", KUBERNETES).Client
    name = _run_name()
    try:
        cluster = KubeCluster(
            custom_cluster_spec=settings.cluster_spec(name),
            namespace=settings.namespace,
            shutdown_on_close=True,
        )
    except Exception as err:  # noqa: BLE001 - no kube config, no operator, no access
        # The half-built cluster stays registered for dask-kubernetes' exit hook, which
        # would fail again with a traceback: nothing was created, so it has nothing to do.
        for failed in [c for c in KubeCluster._instances if c.name == name]:
            KubeCluster._instances.discard(failed)
        reason = " ".join(str(err).split()) or type(err).__name__
        raise UserError(f"--cluster kubernetes: cannot create the Dask cluster: {reason}") from err
    try:
        with Client(cluster) as client:
            try:
                client.wait_for_workers(1, timeout=settings.start_timeout)
            except TimeoutError:
                raise RunFailed(
                    f"no Dask worker joined within {settings.start_timeout:g} s "
                    f"(kubernetes.start_timeout): see `kubectl get pods -l "
                    f"dask.org/cluster-name={name}`; deleted the cluster"
                ) from None
        yield cluster.scheduler_address
    finally:
        try:
            cluster.close()
        except Exception as err:  # noqa: BLE001
            log.warning("deleting the Kubernetes Dask cluster %s: %s", name, err)
