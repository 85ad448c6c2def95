"""`python -m pipelines.export`: a finished run gains trainer formats, byte for byte those
`curate --output_format` writes, without curating again."""

import hashlib
import json
from pathlib import Path

import pytest

from pipelines import export
from pipelines.curate import run
from pipelines.sample_corpus import write_sample_corpus

# Balanced (the demo's mix), several shards per split, a validation split of a few percent.
FLAGS = [
    "--vocab_size=1500",
    "--seq_len=128",
    "--target_shard_bytes=200000",
    "--dp_world_size=2",
    "--validation_fraction=0.05",
    '--stages={"balance": {"targets": {"web": 0.5, "books": 0.3, "code": 0.2}}}',
]
FORMATS = ("megatron", "nanogpt", "litdata")


def _listed(manifest: dict) -> set[str]:
    """Every relative path the manifest lists."""
    paths = set()

    def walk(node):
        if isinstance(node, dict):
            paths.update(v for k, v in node.items() if k == "path" and isinstance(v, str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(manifest)
    return paths


def _hashes(out: Path, folders=FORMATS) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders
        for p in sorted((out / folder).rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return [f"--input={s}" for s in write_sample_corpus(str(tmp_path_factory.mktemp("c")), 0.15)]


@pytest.fixture(scope="module")
def curated_with_formats(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("all")
    formats = [f"--output_format={f}" for f in ("parquet", *FORMATS)]
    return out, run([*FLAGS, *formats, f"--output={out}", *inputs])


def test_export_writes_the_bytes_curate_writes(curated_with_formats, inputs, tmp_path):
    reference, reference_manifest = curated_with_formats
    out = tmp_path / "run"
    run([*FLAGS, f"--output={out}", *inputs])  # parquet only
    before = {p: h for p, h in _hashes(out, ("documents", "tokens", "tokenizer")).items()}
    argv = [str(out), *(f"--format={f}" for f in FORMATS)]
    assert export.main(argv) == 0
    exported = _hashes(out)
    assert exported == _hashes(reference) and len(exported) > 6
    assert _hashes(out, ("documents", "tokens", "tokenizer")) == before  # left as they were
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["formats"] == reference_manifest["formats"]
    assert manifest["config"]["output_format"] == ["parquet", *FORMATS]
    assert "Splits and token formats" in (out / "report.html").read_text()
    assert "documents/: not present" not in (out / "report.html").read_text()
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert files == _listed(manifest) | {"manifest.json", "report.html"}
    # Again: the same bytes; then a curate run replaces the whole run, exports included.
    assert export.main(argv) == 0
    assert _hashes(out) == exported
    run([*FLAGS, f"--output={out}", *inputs])
    assert not any((out / f).exists() for f in FORMATS)


def test_export_prints_each_trainers_flags(curated_with_formats, capsys):
    out, manifest = curated_with_formats
    assert export.main([str(out), "--format=megatron", "--format=nanogpt"]) == 0
    printed = capsys.readouterr().out
    train = manifest["formats"]["megatron"]["train"]["files"]
    weighted = " ".join(
        f"{f['tokens']} {out / f['path'].removesuffix('.bin')}"
        for f in train
        if f["path"].endswith(".bin")
    )
    assert f"--train-data-path {weighted}\n" in printed
    assert "--valid-data-path " in printed
    nanogpt = [out / f["path"] for f in manifest["formats"]["nanogpt"]["train"]["files"]]
    assert f"cat {' '.join(map(str, nanogpt))} > train.bin\n" in printed and len(nanogpt) > 1


def test_export_refuses_what_is_not_a_run(tmp_path, capsys):
    assert export.main([str(tmp_path), "--format=megatron"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert export.main([str(tmp_path), "--format=parquet"]) == 2
    assert export.main([str(tmp_path), "--format=megatron", "--formt=nanogpt"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "did you mean --format?" in err[-1]
