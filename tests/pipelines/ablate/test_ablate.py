"""`python -m pipelines.ablate` end to end on a tiny configuration: the demo's arms, a
stage dropped, complete files, learning curves that go down; which arm wins is not
asserted (that is what the tool measures)."""

import json

import pytest

from pipelines.ablate.__main__ import main
from tests.pipelines.report.chromium import screenshot

TINY = [
    "--demo_scale=0.1",
    "--vocab_size=400",
    "--seeds=2",
    "--train_tokens=6000",
    "--seq_len=32",
    "--d_model=32",
    "--layers=1",
    "--heads=2",
    "--batch_size=8",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("ablate")
    assert main([*TINY, f"--output={out}", "--drop_stage=toxicity"]) == 0
    return out, json.loads((out / "ablation.json").read_text())


def test_every_arm_and_seed_trains_and_learns(demo):
    _, result = demo
    assert [(a["name"], a["kind"]) for a in result["arms"]] == [
        ("curated", "curated"),
        ("without-toxicity", "without:toxicity"),
        ("raw", "raw"),
    ]
    assert sorted((r["arm"], r["seed"]) for r in result["runs"]) == sorted(
        (arm, seed) for arm in ("curated", "without-toxicity", "raw") for seed in (0, 1)
    )
    for run in result["runs"]:
        first, last = run["curve"][0], run["curve"][-1]
        assert last["tokens"] >= 6000 and run["final"] == last["eval"]
        for name in ("clean", "own validation", "probe:contact_details"):
            assert last["eval"][name]["loss"] < first["eval"][name]["loss"], (run["arm"], name)
        train_losses = [p["train_loss"] for p in run["curve"][1:]]
        assert train_losses[-1] < train_losses[0]
    # Seeds differ, and the summary holds their spread.
    curated = result["summary"]["curated"]["clean"]["bits_per_byte"]
    assert len(curated["values"]) == 2 and curated["values"][0] != curated["values"][1]
    assert curated["std"] > 0


def test_the_files_are_complete(demo):
    out, result = demo
    assert result["verdict"].startswith("On clean, curated reaches ")
    assert "seeds" in result["verdict"]
    assert result["config"]["seeds"] == 2 and result["config"]["train"]["train_tokens"] == 6000
    html = (out / "ablation.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") >= 2
    assert "without-toxicity" in html and "mean ± std" in html
    for arm in ("curated", "without-toxicity"):
        assert (out / "arms" / arm / "manifest.json").is_file()
    skipped = json.loads((out / "arms" / "without-toxicity" / "manifest.json").read_text())
    assert "toxicity" not in [s["stage"] for s in skipped["stages"]]
    assert skipped["config"]["tokenizer"].endswith("curated/tokenizer/tokenizer.json")


def test_chromium_renders_the_page(demo, tmp_path):
    out, _ = demo
    assert len(screenshot(out / "ablation.html", tmp_path, (1100, 1800))) > 30_000


def test_mistakes_are_one_line_errors(tmp_path, capsys):
    assert main(["--arm=nothing-here", f"--output={tmp_path}"]) == 2
    assert main([f"--arm=a={tmp_path}", f"--output={tmp_path}"]) == 2
    assert main(["--seeds=0"]) == 2
    assert main([f"--arm=a={tmp_path}", f"--raw=a={tmp_path}/*.jsonl"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all(e.startswith("error: ") for e in errors)
    assert "give NAME=PATH" in errors[0] and "not a curate run" in errors[1]
    assert errors[3] == "error: arm names must differ: a, a"
