"""Option parsing for every shipped config (no live Flink or Dataflow here) and the Dockerfile."""

import os
import re
import subprocess
import sys
from pathlib import Path

import apache_beam
import pytest
from apache_beam.options.pipeline_options import (
    DirectOptions,
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PortableOptions,
    SetupOptions,
    StandardOptions,
    WorkerOptions,
)

from pipelines.options import (
    CurateConfig,
    CurateOptions,
    RunFailed,
    UserError,
    check_inputs,
    command_line,
    curate_config,
    input_file_sizes,
    load_options,
    parse_input,
)

ROOT = Path(__file__).resolve().parents[2]


def _load(name, *argv):
    options = load_options(["--config", str(ROOT / "configs" / f"{name}.yaml"), *argv])
    return options, options.view_as(CurateOptions)


def test_local_config():
    options, curate = _load("local")
    assert options.view_as(StandardOptions).runner == "DirectRunner"
    assert options.view_as(DirectOptions).direct_running_mode == "in_memory"
    assert (curate.seq_len, curate.dp_world_size, curate.write_rejected) == (2048, 1, True)


def test_dask_config():
    from apache_beam.runners.dask.dask_runner import DaskOptions

    options, _ = _load("dask")
    assert (
        options.view_as(StandardOptions).runner == "apache_beam.runners.dask.dask_runner.DaskRunner"
    )
    assert options.view_as(DaskOptions).address == "tcp://127.0.0.1:8786"


def test_flink_config():
    options, curate = _load("flink")
    flink = options.view_as(FlinkRunnerOptions)
    assert options.view_as(StandardOptions).runner == "FlinkRunner"
    assert (flink.flink_master, flink.flink_version, flink.parallelism) == (
        "flink-jobmanager.example.com:8081",
        "1.19",
        8,
    )
    assert options.view_as(PortableOptions).environment_type == "DOCKER"
    assert options.view_as(WorkerOptions).sdk_container_image.endswith("curate-worker:0.1.0")
    assert curate.dp_world_size == 8


def test_dataflow_config():
    options, curate = _load("dataflow")
    gcp = options.view_as(GoogleCloudOptions)
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    assert (gcp.project, gcp.region, gcp.temp_location) == (
        "my-project",
        "us-central1",
        "gs://my-bucket/tmp",
    )
    assert options.view_as(SetupOptions).sdk_location == "container"
    assert options.view_as(WorkerOptions).max_num_workers == 64
    assert curate_config(options, ["web=gs://b/*.json.gz"]).output == "gs://my-bucket/curate/out"


def test_command_line_wins_over_config():
    options, curate = _load(
        "local", "--seq_len=128", "--write_rejected=false", "--runner=DaskRunner"
    )
    assert (curate.seq_len, curate.write_rejected) == (128, False)
    assert options.view_as(StandardOptions).runner == "DaskRunner"


def test_inputs_from_the_command_line_replace_the_configs(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("input: [web=/a/*.json, code=/b/*.jsonl]\n")
    assert load_options(["--config", str(config)]).view_as(CurateOptions).input == [
        "web=/a/*.json",
        "code=/b/*.jsonl",
    ]
    options = load_options(["--config", str(config), "--input", "x=/c/*.jsonl"])
    assert options.view_as(CurateOptions).input == ["x=/c/*.jsonl"]


def test_stage_settings_from_a_config_file_and_the_command_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("stages:\n  quality:\n    min_words: 20\n    max_words: null\n")
    options = load_options(["--config", str(config)])
    stages = curate_config(options, ["x.jsonl"]).stages
    assert stages == {"quality": {"min_words": 20, "max_words": None}}
    options = load_options(["--config", str(config), '--stages={"read": {"a": 1}}'])
    assert curate_config(options, ["x.jsonl"]).stages == {"read": {"a": 1}}


def test_input_specs():
    assert parse_input("web=gs://bucket/c4/*.json.gz") == ("web", "gs://bucket/c4/*.json.gz")
    assert parse_input("s3://bucket/k=v/*.jsonl") == ("default", "s3://bucket/k=v/*.jsonl")
    name, pattern = parse_input("data/*.jsonl")
    assert name == "default" and pattern.startswith("/") and pattern.endswith("/data/*.jsonl")


def test_invalid_values_are_rejected_as_user_errors_in_one_line():
    with pytest.raises(UserError, match=r"^argument --pack_tail: invalid choice: 'wrap'"):
        load_options(["--pack_tail=wrap"])
    with pytest.raises(UserError, match=r"^argument --seq_len: invalid int value: 'abc'$"):
        load_options(["--seq_len=abc"])
    with pytest.raises(UserError, match="^argument --direct_num_workers: invalid int"):
        load_options(["--direct_num_workers=many"])  # Beam's own flags too
    with pytest.raises(UserError, match="^--dp_world_size must be at least 1, got 0$"):
        curate_config(load_options(["--dp_world_size=0"]), ["x.jsonl"])


def test_a_flag_no_options_class_defines_is_a_user_error_naming_the_closest():
    with pytest.raises(
        UserError, match=r"^unknown flag --seq-len \(and --bogus_flag\); did you mean --seq_len\?$"
    ):
        load_options(["--seq-len", "100", "--bogus_flag", "3"])
    with pytest.raises(
        UserError, match=r"^unknown flag --vocab_sise; did you mean --vocab_size\?$"
    ):
        load_options(["--vocab_sise=9"])
    with pytest.raises(UserError, match=r"^unknown flag --qwerty$"):
        load_options(["--qwerty"])
    # Beam's flags, and those of the runner in use (its module defines them), are known.
    load_options(["--direct_num_workers=2", "--temp_location=/tmp", "--seq_len=64"])
    pytest.importorskip("distributed", reason="needs the dask extra: pip install '.[dask]'")
    dask = ["--runner=apache_beam.runners.dask.dask_runner.DaskRunner", "--dask_npartitions=8"]
    assert load_options(dask).get_all_options()["npartitions"] == 8


def test_dockerfile_uses_the_beam_sdk_image_of_the_pinned_version():
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM apache/beam_python(\d+\.\d+)_sdk:(\S+)$", dockerfile, re.M)
    assert base, "the worker image must start from Beam's official Python SDK image"
    assert base.group(1) == "3.11"
    assert base.group(2) == apache_beam.__version__
    pinned = re.search(r'"apache-beam==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned.group(1) == apache_beam.__version__
    for package in ("pipelines", "transforms", "tokenizer", "schemas"):
        assert f"COPY {package} ./{package}" in dockerfile
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in dockerfile


def test_commoncrawl_base_url_goes_to_the_read_stage():
    argv = ['--stages={"read": {"extractor": "trafilatura"}}', "--commoncrawl_base_url=/mirror/"]
    stages = curate_config(load_options(argv), ["cc=/l/warc.paths.gz"]).stages
    assert stages == {"read": {"extractor": "trafilatura", "commoncrawl_base_url": "/mirror/"}}
    assert curate_config(load_options([]), ["x.jsonl"]).stages == {}


def test_code_sources_flag():
    assert curate_config(load_options([]), ["x"]).code_sources == ("code", "github", "stack")
    options = load_options(["--code_sources=repos, notebooks"])
    assert curate_config(options, ["x"]).code_sources == ("repos", "notebooks")


def test_the_readme_stage_settings_example_is_valid():
    import yaml

    from pipelines.stages import REGISTRY

    readme = (ROOT / "README.md").read_text()
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    stages = yaml.safe_load(example)["stages"]
    configs = REGISTRY.configs(stages, ("code",))
    assert configs["read"].extractor == "resiliparse"
    assert configs["lang"].languages == ("en", "de")
    assert configs["quality"].fineweb.max_short_line_frac is None
    assert configs["balance"].targets == {"web": 0.6, "books": 0.25, "code": 0.15}
    assert configs["balance"].bucketed("web") and not configs["balance"].bucketed("code")


def test_bad_stage_json_is_a_user_error():
    with pytest.raises(UserError, match="^argument --stages: not valid JSON"):
        load_options(["--stages={quality: 1}"])
    with pytest.raises(UserError, match="^argument --stages: not a JSON object"):
        load_options(["--stages=[1, 2]"])


def test_a_missing_or_malformed_config_file_is_a_user_error(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(UserError, match=f"^--config {missing}: No such file or directory$"):
        load_options([f"--config={missing}"])
    broken = tmp_path / "broken.yaml"
    broken.write_text("stages:\n  quality: {min_words: 1\n")
    with pytest.raises(UserError, match=r"not valid YAML \(.* at line \d+\)$"):
        load_options([f"--config={broken}"])
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(UserError, match="must be a mapping"):
        load_options([f"--config={listed}"])


def test_help_still_prints_and_exits_zero(capsys):
    with pytest.raises(SystemExit) as exit_:
        load_options(["--help"])
    assert exit_.value.code == 0
    assert "--seq_len" in capsys.readouterr().out


def test_input_patterns_that_name_no_file_are_refused_on_the_driver(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    check_inputs([("web", str(tmp_path / "*.jsonl"))])  # fine
    patterns = [("web", str(tmp_path / "*.jsonl")), ("web", str(tmp_path / "none/*.jsonl"))]
    with pytest.raises(UserError, match=r"^--input web=.*/none/\*\.jsonl: input pattern matched"):
        check_inputs(patterns)
    with pytest.raises(UserError, match=f"^--input {tmp_path}: a directory, not a file: name"):
        check_inputs([("default", str(tmp_path))])
    with pytest.raises(UserError, match="extractor"):
        check_inputs([("web", str(tmp_path / "*.jsonl"))], {"extractor": "lynx"})


def test_input_file_sizes_are_those_of_the_files_a_run_reads(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b"x" * 10)
    (tmp_path / "b.jsonl").write_bytes(b"y" * 7)
    listing = tmp_path / "wet.paths"  # a Common Crawl listing: sizes it does not say
    listing.write_text("crawl/one.warc.wet.gz\ncrawl/two.warc.wet.gz\n")
    inputs = [("web", str(tmp_path / "*.jsonl")), ("cc", str(listing))]
    assert input_file_sizes(CurateConfig(inputs)) == [10, 7, -1, -1]
    only_b = CurateConfig(inputs[:1], only_files=frozenset([str(tmp_path / "b.jsonl")]))
    assert input_file_sizes(only_b) == [7]


def test_command_line_turns_user_errors_and_failed_runs_into_one_line(capsys):
    @command_line
    def main(argv):
        if argv == ["user"]:
            raise UserError("--input x: input pattern\nmatched no files")
        if argv == ["failed"]:
            raise RunFailed("the run read no records")
        if argv == ["bug"]:
            raise ValueError("a bug keeps its traceback")
        return 0

    assert main(["user"]) == 2
    assert capsys.readouterr().err == "error: --input x: input pattern matched no files\n"
    assert main(["failed"]) == 1
    assert capsys.readouterr().err == "error: the run read no records\n"
    with pytest.raises(ValueError, match="traceback"):
        main(["bug"])
    assert main([]) == 0


@pytest.mark.parametrize(
    ("module", "flags", "line"),
    [
        ("curate", ["--config={tmp}/missing.yaml"], "--config {tmp}/missing.yaml: No such file"),
        ("curate", ["--seq_len=long"], "argument --seq_len: invalid int value: 'long'"),
        ("dedup", ["--input={tmp}/*.jsonl"], "--input {tmp}/*.jsonl: input pattern matched no"),
        ("dedup", ['--stages={{"lang": {{}}}}', "--input=x"], "unknown stage(s) under stages"),
        ("refresh", ["--input=web={tmp}/*.json"], "--dataset_root is required"),
        ("curate", ["--seq-len", "100", "--dry_run"], "unknown flag --seq-len; did you mean"),
        ("report", ["{tmp}", "--max-rows=5"], "unknown flag --max-rows; did you mean --max_rows"),
    ],
)
def test_every_command_reports_a_user_error_in_one_line_with_exit_code_2(
    module, flags, line, tmp_path
):
    result = subprocess.run(
        [sys.executable, "-m", f"pipelines.{module}", *(f.format(tmp=tmp_path) for f in flags)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: " + line.format(tmp=tmp_path)), result.stderr
    assert result.stderr.count("\n") == 1 and not result.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written: no output, no corpus
