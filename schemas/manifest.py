"""The run manifest: what went in, what came out, and where every record went."""

from __future__ import annotations

import json
from collections import defaultdict

MANIFEST_VERSION = 1


def outcome_summary(
    counts: list[tuple[tuple, int]],
    stage_names: list[str],
    reader_counts: list[tuple[tuple[str, str], int]] | None = None,
) -> dict:
    """Turn event counts into the manifest's `records`, `stages` and `inputs` sections.

    `counts` holds ((kind, source, file, stage, reason), n) with kind in kept / dropped /
    dead_letter. `reader_counts` holds ((source, file), records the reader produced); then
    `read` is that count, `accounted` the sum of outcomes, and `records.balanced` says that
    they agree for every input file (a record lost on the way shows as a difference).
    Without reader counts, `read` is the sum of outcomes.
    """
    per_file: dict[tuple[str, str], dict] = {}
    dropped_by_stage: dict[str, dict[str, int]] = {name: defaultdict(int) for name in stage_names}
    for (kind, source, file, stage, reason), n in counts:
        entry = per_file.setdefault(
            (source, file),
            {"source": source, "file": file, "kept": 0, "dropped": {}, "dead_lettered": 0},
        )
        if kind == "kept":
            entry["kept"] += n
        elif kind == "dead_letter":
            entry["dead_lettered"] += n
        else:
            entry["dropped"][f"{stage}/{reason}"] = entry["dropped"].get(f"{stage}/{reason}", 0) + n
            dropped_by_stage.setdefault(stage, defaultdict(int))[reason] += n
    read_by_reader = dict(reader_counts) if reader_counts is not None else None
    for source, file in read_by_reader or {}:
        per_file.setdefault(
            (source, file),
            {"source": source, "file": file, "kept": 0, "dropped": {}, "dead_lettered": 0},
        )
    inputs, files_agree = [], True
    for key in sorted(per_file):
        entry = per_file[key]
        entry["dropped"] = dict(sorted(entry["dropped"].items()))
        accounted = entry["kept"] + sum(entry["dropped"].values()) + entry["dead_lettered"]
        if read_by_reader is None:
            entry["read"] = accounted
        else:
            entry["read"] = read_by_reader.get(key, 0)
            entry["accounted"] = accounted
            files_agree &= entry["read"] == accounted
        inputs.append(entry)

    kept = sum(e["kept"] for e in inputs)
    dead = sum(e["dead_lettered"] for e in inputs)
    dropped_total = sum(sum(e["dropped"].values()) for e in inputs)
    read = sum(e["read"] for e in inputs)
    stages, flowing = [], read - dead
    for name in stage_names:
        reasons = dict(sorted(dropped_by_stage[name].items()))
        out = flowing - sum(reasons.values())
        stages.append({"stage": name, "in": flowing, "out": out, "dropped": reasons})
        flowing = out
    return {
        "records": {
            "read": read,
            "kept": kept,
            "dropped": dropped_total,
            "dead_lettered": dead,
            "balanced": files_agree and read == kept + dropped_total + dead and flowing == kept,
        },
        "stages": stages,
        "inputs": inputs,
    }


def shard_listing(metadata: list[dict]) -> list[dict]:
    """File metadata from the writers, sorted by path."""
    return sorted(metadata, key=lambda m: m["path"])


def to_json(manifest: dict) -> str:
    return json.dumps(manifest, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
