import glob
import json
import random
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.dedup import run
from tests.conftest import jsonl_bytes, write_input

ROOT = Path(__file__).resolve().parents[2]
RNG = random.Random(5)
VOCAB = [f"w{i}" for i in range(4000)]


def body(n=120):
    return " ".join(RNG.choice(VOCAB) for _ in range(n))


def near_copy(text):
    words = text.split()
    words[len(words) // 2] = "changed"
    return " ".join(words)


def rows(directory, sub):
    files = sorted(glob.glob(str(directory / sub / "*.parquet")))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


@pytest.fixture
def corpus(tmp_path):
    base = [body() for _ in range(6)]
    first = [{"id": f"a{i}", "text": t} for i, t in enumerate(base)]
    first.append({"id": "a9", "text": near_copy(base[0])})  # a duplicate inside run 1
    second = [
        {"id": "b0", "text": near_copy(base[1])},  # duplicates a run-1 survivor
        {"id": "b1", "text": base[2]},  # exact copy of a run-1 survivor
        {"id": "b2", "text": body()},  # new
        {"id": "b3", "text": near_copy(near_copy(base[5][::-1]))},  # new, with
        {"id": "b4", "text": base[5][::-1]},  # its near copy in the same run
    ]
    write_input(tmp_path / "in1" / "part.jsonl", jsonl_bytes(first))
    write_input(tmp_path / "in2" / "part.jsonl.gz", jsonl_bytes(second))
    return tmp_path


def test_cli_writes_survivors_and_clusters(corpus):
    out = corpus / "out1"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.dedup",
            "--input",
            str(corpus / "in1/*.jsonl"),
            "--output",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "kept 6" in result.stdout
    clusters = {r["id"]: (r["cluster_id"], r["kept"]) for r in rows(out, "clusters")}
    assert clusters["a0"] == ("a0", True) and clusters["a9"] == ("a0", False)
    assert sum(kept for _, kept in clusters.values()) == 6 and len(clusters) == 7
    assert sorted(r["id"] for r in rows(out, "documents")) == [f"a{i}" for i in range(6)]
    assert len(rows(out, "index")) == 6
    assert not (out / "_temporary").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["records"]["near_duplicates"] == 1


def test_second_run_over_overlapping_input_drops_what_earlier_runs_kept(corpus):
    out1, out2 = corpus / "out1", corpus / "out2"
    run(["--input", str(corpus / "in1/*.jsonl"), "--output", str(out1)])
    summary = run(
        [
            "--input",
            f"web={corpus}/in1/*.jsonl",
            "--input",
            str(corpus / "in2/*.gz"),
            "--output",
            str(out2),
            "--index_input",
            str(out1 / "index" / "*.parquet"),
        ]
    )
    clusters = {r["id"]: (r["cluster_id"], r["kept"]) for r in rows(out2, "clusters")}
    # Every run-1 document is now a duplicate of itself in the index: earlier runs win.
    for i in range(6):
        assert clusters[f"a{i}"] == (f"a{i}", False)
    assert clusters["b0"] == ("a1", False)
    assert clusters["b1"] == ("a2", False)
    assert clusters["b2"] == ("b2", True)
    assert clusters["b4"] == ("b3", False) and clusters["b3"] == ("b3", True)
    assert summary["records"]["kept"] == 2
    # Run 2's index holds only its own survivors; with both, a third run keeps nothing new.
    assert sorted(r["id"] for r in rows(out2, "index")) == ["b2", "b3"]
    third = run(
        [
            "--input",
            str(corpus / "in2/*.gz"),
            "--output",
            str(corpus / "out3"),
            "--index_input",
            str(out1 / "index" / "*.parquet"),
            "--index_input",
            str(out2 / "index" / "*.parquet"),
        ]
    )
    assert third["records"]["kept"] == 0


def test_an_index_with_other_parameters_is_refused(corpus):
    out1 = corpus / "out1"
    run(["--input", str(corpus / "in1/*.jsonl"), "--output", str(out1)])
    with pytest.raises(Exception, match="only comparable"):
        run(
            [
                "--input",
                str(corpus / "in2/*.gz"),
                "--output",
                str(corpus / "out2"),
                "--index_input",
                str(out1 / "index" / "*.parquet"),
                '--stages={"near_dedup": {"num_perm": 64}}',
            ]
        )
