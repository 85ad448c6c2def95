"""A single-node Slurm cluster for the tests, on this machine, when it can run one.

Needs root and Debian's `slurm-wlm` and `munge` (`.ci/run` installs them). Everything it
starts is its own, under one temporary folder, on free ports: a `munged` with its own key
and socket, a `slurmctld` and a `slurmd` whose node has this machine's CPUs and memory.
`stop()` stops what it started; clients (sbatch, squeue, scancel) find the cluster through
`SLURM_CONF` in `env`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PARTITION = "main"
PROGRAMS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
START_SECONDS = 60


@dataclass
class LocalSlurm:
    root: Path
    env: dict[str, str]
    log_directory: Path
    pid_files: list[Path] = field(default_factory=list)

    def run(self, *command: str) -> str:
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)
        return done.stdout

    def queue(self) -> list[str]:
        """`squeue` lines (job id, name, state) of every job in the cluster."""
        return self.run("squeue", "-h", "-o", "%i %j %T").split("\n")[:-1]

    def stop(self) -> None:
        for pid_file in reversed(self.pid_files):  # slurmd, slurmctld, then munged
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
            except (OSError, ValueError):
                continue
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(p) for p in self.pid_files):
            time.sleep(0.2)
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (OSError, ValueError):
        return False
    return True


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def why_not() -> str | None:
    """Why no cluster can start here (one line), or None when one can."""
    if os.geteuid() != 0:
        return "a local Slurm cluster needs root (slurmd runs jobs as their users)"
    missing = [
        p for p in PROGRAMS if shutil.which(p) is None and not Path(f"/usr/sbin/{p}").exists()
    ]
    if missing:
        return f"Slurm/munge not installed ({', '.join(missing)}): apt-get install slurm-wlm munge"
    return None


def _program(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        total_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return total_kb // 1024 - 1024  # what slurmd sees, less a margin it must not exceed


def start() -> LocalSlurm:
    """Start munged, slurmctld and slurmd; return once the node takes jobs."""
    root = Path(tempfile.mkdtemp(prefix="curate-slurm-"))  # short: a socket path lives here
    root.chmod(0o700)
    (root / "state").mkdir()
    (root / "spool").mkdir()
    logs = root / "logs"
    logs.mkdir()
    host = socket.gethostname()
    ctl_port, node_port = _free_ports(2)
    munge_socket = root / "munge.sock"
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=curatetest",
                f"SlurmctldHost={host}",
                f"SlurmctldPort={ctl_port}",
                f"SlurmdPort={node_port}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={munge_socket}",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "ReturnToService=2",
                "MpiDefault=none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                f"NodeName={host} CPUs={os.cpu_count()} RealMemory={_memory_mb()} State=UNKNOWN",
                f"PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    (root / "cgroup.conf").write_text("CgroupPlugin=cgroup/v1\nCgroupAutomount=no\n")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cluster = LocalSlurm(root, env, logs)
    try:
        key = root / "munge.key"
        subprocess.run([_program("mungekey"), "--create", f"--keyfile={key}"], check=True)
        _daemon(
            cluster,
            root / "munged.pid",
            _program("munged"),
            "--force",
            f"--socket={munge_socket}",
            f"--key-file={key}",
            f"--log-file={root / 'munged.log'}",
            f"--pid-file={root / 'munged.pid'}",
            f"--seed-file={root / 'munged.seed'}",
        )
        _daemon(cluster, root / "slurmctld.pid", _program("slurmctld"), "-c", "-f", str(conf))
        _daemon(cluster, root / "slurmd.pid", _program("slurmd"), "-f", str(conf))
        deadline = time.monotonic() + START_SECONDS
        while "idle" not in cluster.run("sinfo", "-h", "-o", "%T"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Slurm node did not come up: see {root}/slurmd.log")
            time.sleep(0.3)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _daemon(cluster: LocalSlurm, pid_file: Path, *command: str) -> None:
    """Start a daemon that forks into the background and writes `pid_file`."""
    subprocess.run(command, env=cluster.env, check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + START_SECONDS
    while not _alive(pid_file):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{Path(command[0]).name} did not start: see {cluster.root}")
        time.sleep(0.1)
    cluster.pid_files.append(pid_file)
