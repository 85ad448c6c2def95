"""`--cluster` without a cluster: the settings a user gives (flags and config files), what a
dry run shows (the Slurm job script, the Kubernetes DaskCluster resource), the runner
options a cluster sets and restores, and the one-line errors. The live Slurm runs are in
test_slurm.py; Kubernetes cannot run here (no container runtime), so only its resource
and its failure without credentials are tested."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from apache_beam.options.pipeline_options import StandardOptions

from pipelines.cluster import (
    ADDRESS,
    LOCAL,
    SCHEDULER_PLACEHOLDER,
    SLURM,
    Cluster,
    KubernetesSettings,
    SlurmSettings,
    _terminate_as_interrupt,
    cluster_for_run,
    describe_cluster,
    resolve_cluster,
)
from pipelines.curate import main
from pipelines.dask_compat import DASK_RUNNER
from pipelines.options import UserError, load_options
from tests.pipelines.engines import ROOT

pytest.importorskip("dask_jobqueue", reason="needs the slurm extra: pip install '.[slurm]'")


def cluster_of(*argv: str) -> Cluster:
    return resolve_cluster(load_options(list(argv)))


def test_local_is_the_default_and_changes_nothing():
    options = load_options([])
    assert resolve_cluster(options) == Cluster(LOCAL)
    with cluster_for_run(options, Cluster(LOCAL)):
        assert options.view_as(StandardOptions).runner is None
    assert describe_cluster(Cluster(LOCAL)) == []


def test_slurm_settings_from_a_flag_and_from_a_config_file(tmp_path):
    flag = cluster_of(
        "--cluster=slurm", '--slurm={"partition": "cpu", "jobs": 8, "sbatch": ["--qos=low"]}'
    )
    assert flag.slurm == SlurmSettings(partition="cpu", jobs=8, sbatch=("--qos=low",))
    config = tmp_path / "slurm.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "cluster": "slurm",
                "slurm": {"account": "lm", "minimum_jobs": 2, "maximum_jobs": 50, "cores": 4},
            }
        )
    )
    from_file = cluster_of(f"--config={config}")
    assert from_file.slurm.account == "lm" and from_file.slurm.adaptive
    assert from_file.slurm.threads == 200  # the partition count follows the largest size


def test_the_shipped_configs_resolve_and_show_every_key():
    slurm = cluster_of(f"--config={ROOT / 'configs' / 'slurm.yaml'}")
    assert slurm.kind == SLURM and slurm.slurm.partition
    kubernetes = cluster_of(f"--config={ROOT / 'configs' / 'kubernetes.yaml'}")
    assert kubernetes.kubernetes.image and kubernetes.kubernetes.workers >= 1
    for name, settings in (("slurm", SlurmSettings), ("kubernetes", KubernetesSettings)):
        text = (ROOT / "configs" / f"{name}.yaml").read_text()
        for key in dataclasses.fields(settings):  # set, or shown commented out
            assert f"  {key.name}: " in text or f"# {key.name}: " in text, (name, key.name)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cluster=slurmm"], "choose local, slurm, kubernetes or address:HOST:PORT"),
        (["--cluster=address:nohost"], "choose local, slurm"),
        (["--cluster=slurm", '--slurm={"partiton": "x"}'], "did you mean partition?"),
        (["--cluster=slurm", '--slurm={"jobs": 0}'], "jobs must be a positive number"),
        (["--cluster=slurm", '--slurm={"sbatch": "--qos=x"}'], "sbatch must be a list"),
        (["--cluster=slurm", '--slurm={"minimum_jobs": 2}'], "minimum_jobs needs maximum_jobs"),
        (["--cluster=kubernetes"], "image is required"),
        (["--cluster=slurm", "--runner=FlinkRunner"], "runs on the DaskRunner"),
        (
            ["--cluster=slurm", "--dask_client_address=tcp://h:1"],
            "drop --dask_client_address",
        ),
    ],
)
def test_settings_a_user_gets_wrong_are_one_line(argv, message):
    with pytest.raises(UserError, match=message.replace("?", r"\?")):
        cluster_of(*argv)


def test_an_address_runs_the_dask_runner_on_that_scheduler_and_restores_the_options():
    options = load_options(["--cluster=address:10.0.0.5:8786"])
    cluster = resolve_cluster(options)
    assert cluster.address == "tcp://10.0.0.5:8786"
    assert cluster_of(f"--cluster={ADDRESS}tls://h:8786").address == "tls://h:8786"
    with cluster_for_run(options, cluster):
        assert options.view_as(StandardOptions).runner == DASK_RUNNER
        assert options.get_all_options()["address"] == "tcp://10.0.0.5:8786"
    assert options.view_as(StandardOptions).runner is None
    assert options.get_all_options()["address"] is None


def test_the_dry_run_prints_the_job_script_a_run_submits(capsys):
    settings = {
        "partition": "cpu",
        "account": "lm-data",
        "jobs": 16,
        "cores": 8,
        "memory": "32GB",
        "walltime": "12:00:00",
        "sbatch": ["--qos=high", "--constraint=skylake"],
        "setup": ["module load python/3.11", "source /shared/curate/.venv/bin/activate"],
        "python": "/shared/curate/.venv/bin/python",
    }
    argv = ["--cluster=slurm", f"--slurm={json.dumps(settings)}", "--dry_run"]
    assert main(argv) == 0
    shown = capsys.readouterr().out
    assert "cluster: slurm, 16 jobs; each job's script:" in shown
    script = shown.split("each job's script:\n", 1)[1]
    for line in (
        "#SBATCH -p cpu",
        "#SBATCH -A lm-data",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=30G",
        "#SBATCH -t 12:00:00",
        "#SBATCH --qos=high",
        "#SBATCH --constraint=skylake",
        "module load python/3.11",
        "source /shared/curate/.venv/bin/activate",
    ):
        assert f"  {line}\n" in script, line
    worker = next(line for line in script.splitlines() if "dask_worker" in line)
    assert worker.strip().startswith("/shared/curate/.venv/bin/python -m distributed")
    assert SCHEDULER_PLACEHOLDER in worker and "--nthreads 8" in worker


def test_an_adaptive_dry_run_says_so(capsys):
    argv = ["--cluster=slurm", '--slurm={"minimum_jobs": 1, "maximum_jobs": 40}', "--dry_run"]
    assert main(argv) == 0
    assert "cluster: slurm, 1 to 40 jobs, adaptive" in capsys.readouterr().out


def test_the_kubernetes_resource_holds_the_settings():
    settings = KubernetesSettings(
        image="registry.example/curate:0.1.0",
        workers=6,
        cores=4,
        memory="16Gi",
        env={"AWS_REGION": "eu-west-1"},
    )
    spec = settings.cluster_spec("curate-test")
    assert spec["kind"] == "DaskCluster" and spec["metadata"]["name"] == "curate-test"
    worker = spec["spec"]["worker"]
    assert worker["replicas"] == 6
    [container] = worker["spec"]["containers"]
    assert container["image"] == "registry.example/curate:0.1.0"
    assert container["args"][:3] == ["dask-worker", "--nthreads", "4"]
    limits = {"cpu": "4", "memory": "16Gi"}
    assert container["resources"] == {"requests": limits, "limits": limits}
    assert {"name": "AWS_REGION", "value": "eu-west-1"} in container["env"]
    [scheduler] = spec["spec"]["scheduler"]["spec"]["containers"]
    assert scheduler["image"] == "registry.example/curate:0.1.0"


def test_the_kubernetes_dry_run_prints_the_resource(capsys):
    argv = ["--cluster=kubernetes", '--kubernetes={"image": "curate:0.1"}', "--dry_run"]
    assert main(argv) == 0
    shown = capsys.readouterr().out.split("the DaskCluster resource:\n", 1)[1]
    resource = yaml.safe_load("\n".join(line[2:] for line in shown.splitlines()))
    assert resource["spec"]["worker"]["spec"]["containers"][0]["image"] == "curate:0.1"


def test_kubernetes_without_credentials_is_one_line_and_writes_nothing(tmp_path):
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none"), "PYTHONPATH": str(ROOT)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    command = [sys.executable, "-m", "pipelines.curate", "--cluster=kubernetes"]
    command += ['--kubernetes={"image": "curate:0.1"}', f"--output={tmp_path / 'out'}"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: --cluster kubernetes: cannot create the Dask cluster: "
        "Unable to find valid credentials"
    ]
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_sigterm_interrupts_the_run_so_the_cluster_is_stopped():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), _terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises as soon as the signal arrives
    assert signal.getsignal(signal.SIGTERM) is previous


def test_without_sbatch_the_run_says_where_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch on it
    options = load_options(["--cluster=slurm"])
    with pytest.raises(UserError, match="sbatch not found"):
        with cluster_for_run(options, resolve_cluster(options)):
            pass
    assert options.view_as(StandardOptions).runner is None


def test_the_dask_runners_own_flags_go_with_a_cluster():
    options = load_options(["--cluster=slurm", "--dask_npartitions=12"])
    assert options.get_all_options()["npartitions"] == 12
    with pytest.raises(UserError, match="did you mean --dask_npartitions"):
        load_options(["--cluster=slurm", "--dask_npartition=12"])


def test_a_missing_extra_names_the_install(monkeypatch):
    for module in ("dask_jobqueue", "dask_jobqueue.slurm"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(UserError, match=r"pip install '\.\[slurm\]'"):
        describe_cluster(cluster_of("--cluster=slurm"))


def test_dedup_and_export_run_where_the_cluster_flag_says(tmp_path, capsys):
    from pipelines import dedup, export

    page = tmp_path / "web.jsonl"
    page.write_text(json.dumps({"id": "a", "text": "one page of text"}) + "\n")
    argv = [f"--input={page}", f"--output={tmp_path / 'dedup'}", "--cluster=slurmm"]
    assert dedup.main(argv) == 2
    assert "choose local, slurm, kubernetes" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    assert export.main([str(tmp_path / "run"), "--format=nanogpt", "--cluster=slurm"]) == 2
    assert "no curate run there" in capsys.readouterr().err  # the flag itself is known
