"""The scheduling examples name real entry points and options."""

import ast
import shlex
from pathlib import Path

import pytest

from pipelines.cluster import resolve_cluster
from pipelines.curate import resolve
from pipelines.options import load_options
from pipelines.refresh import RefreshOptions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _known(flags: list[str]) -> None:
    """Raise unless Beam's parser and ours know every flag (unknown ones are kept apart)."""
    options = load_options(flags)
    unknown = options.get_all_options(retain_unknown_options=True).keys() - set(
        options.get_all_options()
    )
    assert not unknown, unknown
    options.view_as(RefreshOptions)


@pytest.mark.parametrize("name", ["refresh.cron", "refresh_slurm.cron"])
def test_the_cron_lines_run_refresh_with_known_flags(name):
    lines = [line for line in (EXAMPLES / name).read_text().splitlines() if line[:1].isdigit()]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert len(fields) == 6  # five schedule fields and the command
    command = shlex.split(fields[5].split("&&", 1)[1].split(">>")[0])
    module = command.index("-m") + 1
    assert command[module] == "pipelines.refresh"
    flags = command[module + 1 :]
    config = flags.index("--config") + 1
    flags[config] = str(ROOT / flags[config])  # the project's own config file
    if "--cluster" in flags:
        pytest.importorskip("dask_jobqueue", reason="needs the slurm extra")
    _known(flags)
    resolve_cluster(load_options(flags))  # the cluster settings hold too


def test_the_airflow_dag_passes_known_options_to_refresh():
    pytest.importorskip("apache_beam.runners.dask.dask_runner", reason="needs the dask extra")
    tree = ast.parse((EXAMPLES / "airflow_refresh_dag.py").read_text())
    call = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "BeamRunPythonPipelineOperator"
    )
    keywords = {k.arg: k.value for k in call.keywords}
    assert ast.unparse(keywords["py_file"]) == "pipelines.refresh.__file__"
    options = ast.literal_eval(keywords["pipeline_options"])
    flags = [f"--runner={ast.literal_eval(keywords['runner'])}"]
    for key, value in options.items():
        flags += [f"--{key}={v}" for v in (value if isinstance(value, list) else [value])]
    _known(flags)
    _, config = resolve(flags, write_corpus=False)
    assert config.dp_world_size == 8 and [s for s, _ in config.inputs] == ["web", "code"]
    assert resolve_cluster(load_options(flags)).slurm.jobs == 8
