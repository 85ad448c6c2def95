"""What a curate run prints when it ends: a short account of its manifest, and the exit
code that says whether its records add up."""

from __future__ import annotations

import os

from apache_beam.io.filesystems import FileSystems

from pipelines.options import print_error
from pipelines.report import REPORT_FILE


def summary(manifest: dict, seconds: float) -> str:
    """A short human-readable account of a run."""
    records, tokens = manifest["records"], manifest["tokens"]
    lines = [f"read {records['read']:,} records from {len(manifest['inputs'])} files"]
    lines.append(f"  {'dead-lettered':<14} {records['dead_lettered']:>10,}")
    for stage in manifest["stages"]:
        reasons = ", ".join(f"{r}={n:,}" for r, n in stage["dropped"].items()) or "none dropped"
        lines.append(
            f"  {stage['stage']:<14} {stage['in']:>10,} -> {stage['out']:>10,}  ({reasons})"
        )
    lines.append(f"kept {records['kept']:,} documents; accounting balanced: {records['balanced']}")
    balance = manifest.get("balance")
    if balance:
        shares = ", ".join(
            f"{s['source']} {s['achieved_share']:.1%} (target {s['target_share']:.1%}"
            + (", capped)" if s["capped"] else ")")
            for s in balance["sources"]
        )
        lines.append(f"mix of {balance['selected_tokens']:,} tokens: {shares}")
    lines.append(
        f"tokens: {tokens['tokens']:,} in {tokens['rows']:,} rows of {tokens['seq_len']} "
        f"({tokens['tail_tokens_dropped']:,} tail tokens dropped, {tokens['pad_tokens']:,} pad) "
        f"in {len(tokens['shards'])} shards of {tokens['rows_per_shard']:,} rows "
        f"({tokens['rows_dropped_for_equal_shards']:,} rows dropped to even them out); "
        f"vocabulary {manifest['tokenizer']['vocab_size']:,}"
    )
    if "copies_dropped" in tokens and tokens["documents_not_all_copies_whole"]:
        lines.append(
            f"  packing left {tokens['copies_dropped']:,} document copies out and cut "
            f"{tokens['copies_cut']:,} short, in {tokens['documents_not_all_copies_whole']:,} "
            "documents (documents/ scores: tokens.copies, tokens.cut_copies)"
        )
    validation = manifest.get("validation")
    if validation:
        splits = manifest["splits"]
        lines.append(
            f"validation split ({validation['fraction']:.2%} of documents by id): "
            f"{splits['validation']['tokens']:,} tokens in {splits['validation']['copies']:,} "
            f"copies (train: {splits['train']['tokens']:,} in {splits['train']['copies']:,})"
        )
    for fmt, section in (manifest.get("formats") or {}).items():
        files = sum(len(s["files"]) for s in section.values())
        dtypes = sorted({s["dtype"] for s in section.values() if s["dtype"]})
        lines.append(f"{fmt}: {files} files ({', '.join(dtypes)}) in {fmt}/")
    if manifest["tokenizer"].get("vocab_note"):
        lines.append(f"note: {manifest['tokenizer']['vocab_note']}")
    lines.append(f"output: {manifest['config']['output']}  ({seconds:.1f} s)")
    report = FileSystems.join(manifest["config"]["output"], REPORT_FILE)
    if FileSystems.get_scheme(report) in (None, "file") and os.path.exists(report):
        lines.append(f"report: {report} (open it in a browser)")
    return "\n".join(lines)


def balanced_exit_code(manifest: dict) -> int:
    """0, or 1 with one error line when the manifest's records do not add up."""
    if not manifest["records"]["balanced"]:
        print_error("records read != kept + dropped + dead-lettered: see the manifest's inputs")
        return 1
    return 0
