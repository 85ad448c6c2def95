"""ablation.json and ablation.html: per-arm curves, final metrics with their spread over
seeds, and a verdict that says whether a difference is larger than that spread."""

from __future__ import annotations

import json
import os
import statistics

from pipelines.report.charts import SOURCE_COLORS, Line, line_chart
from pipelines.report.html import data_table, escape, key_paragraph, note, section_html
from pipelines.report.page import html_page

JSON_FILE = "ablation.json"
HTML_FILE = "ablation.html"
METRIC = "bits_per_byte"


def spread(values: list[float]) -> dict:
    """Mean, sample standard deviation (0 for one value), min, max and the values."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {
        "mean": statistics.fmean(values),
        "std": std,
        "min": min(values),
        "max": max(values),
        "values": values,
    }


def summarize(runs: list[dict]) -> dict:
    """arm -> eval set -> {bits_per_byte, loss}: spread over the arm's seeds."""
    arms: dict[str, dict] = {}
    for run in runs:
        for name, metrics in run["final"].items():
            cell = arms.setdefault(run["arm"], {}).setdefault(name, {METRIC: [], "loss": []})
            cell[METRIC].append(metrics[METRIC])
            cell["loss"].append(metrics["loss"])
    return {
        arm: {name: {k: spread(v) for k, v in cell.items()} for name, cell in sets.items()}
        for arm, sets in arms.items()
    }


def verdict(summary: dict, first: str, other: str, eval_name: str, seeds: int) -> str:
    """One sentence: is `first` lower than `other` in bits per byte on `eval_name`, by more
    than the seed spread (twice the larger standard deviation)?"""
    a, b = summary[first][eval_name][METRIC], summary[other][eval_name][METRIC]
    difference = b["mean"] - a["mean"]
    noise = 2 * max(a["std"], b["std"])
    lower, higher = (first, other) if difference > 0 else (other, first)
    said = (
        f"On {eval_name}, {first} reaches {a['mean']:.4f} bits per byte and {other} "
        f"{b['mean']:.4f}: {lower} is lower by {abs(difference):.4f}"
    )
    if seeds < 2:
        return f"{said} (one seed: the spread between seeds is unknown, so {higher} may equal it)."
    if abs(difference) > noise:
        return said + f", more than the spread over {seeds} seeds (2 std = {noise:.4f})."
    return said + f", within the spread over {seeds} seeds (2 std = {noise:.4f}): no difference."


def write(output: str, result: dict) -> tuple[str, str]:
    """Write ablation.json and ablation.html into `output`; -> their paths."""
    os.makedirs(output, exist_ok=True)
    json_path, html_path = os.path.join(output, JSON_FILE), os.path.join(output, HTML_FILE)
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(page(result, output))
    return json_path, html_path


def _curves(result: dict, eval_name: str | None) -> list[Line]:
    """Per arm, the mean over seeds of bits per byte on `eval_name` (None: training loss)
    against training tokens, with the min..max over seeds shaded."""
    lines = []
    for i, arm in enumerate(a["name"] for a in result["arms"]):
        runs = [r for r in result["runs"] if r["arm"] == arm]
        points, band = [], []
        for position in range(len(runs[0]["curve"])):
            values = [
                r["curve"][position]["train_loss"]
                if eval_name is None
                else r["curve"][position]["eval"][eval_name][METRIC]
                for r in runs
            ]
            if any(v is None for v in values):
                continue
            points.append((runs[0]["curve"][position]["tokens"], statistics.fmean(values)))
            band.append((min(values), max(values)))
        lines.append(Line(arm, points, SOURCE_COLORS[i % len(SOURCE_COLORS)], band))
    return lines


def page(result: dict, output: str) -> str:
    """The whole ablation.html."""
    summary, arms = result["summary"], [a["name"] for a in result["arms"]]
    eval_names = sorted({name for sets in summary.values() for name in sets})
    rows = [
        (arm, name, *_cells(summary[arm].get(name)))
        for name in eval_names
        for arm in arms
        if summary[arm].get(name)
    ]
    legend = "".join(
        f'<span><i style="background:{SOURCE_COLORS[i % len(SOURCE_COLORS)]}"></i>'
        f"{escape(arm)}</span>"
        for i, arm in enumerate(arms)
    )
    config = result["config"]
    charts = [
        section_html(
            f"curve-{i}",
            f"Bits per byte on {name}",
            line_chart(
                _curves(result, name),
                title=f"bits per byte on {name}",
                x_label="training tokens",
                y_label="bits per byte",
            ),
        )
        for i, name in enumerate(eval_names)
        if all(name in summary[arm] for arm in arms)
    ]
    train_chart = section_html(
        "train-loss",
        "Training loss",
        line_chart(
            _curves(result, None),
            title="training loss",
            x_label="training tokens",
            y_label="nats per token",
        ),
    )
    return html_page(
        "Ablation",
        output,
        key_paragraph(escape(result["verdict"]))
        + note(
            f"{len(arms)} arms x {config['seeds']} seeds; each run trains a fresh model of "
            f"{result['runs'][0]['parameters']:,} parameters on "
            f"{config['train']['train_tokens']:,} tokens ({escape(json.dumps(config['model']))}). "
            "Shaded: the range over seeds. "
            "Bits per byte do not depend on the tokenizer, so arms with different tokenizers "
            "compare."
        )
        + f'<div class="legend">{legend}</div>'
        + section_html(
            "final",
            "Final metrics (mean ± std over seeds)",
            data_table(["arm", "evaluated on", "bits per byte", "loss (nats/token)"], rows, (2, 3)),
        )
        + "".join(charts)
        + train_chart,
    )


def _cells(cell: dict | None) -> tuple[str, str]:
    if not cell:
        return "", ""
    bpb, loss = cell[METRIC], cell["loss"]
    return f"{bpb['mean']:.4f} ± {bpb['std']:.4f}", f"{loss['mean']:.4f} ± {loss['std']:.4f}"
