"""Tokenize throughput: the pipeline's tokenize + pack + write path against bare encode_batch.

    python -m bench.tokenize [--size-mb 50] [--seq-len 2048] [--vocab-size 32768]

Corpus: the `pipelines.sample_corpus` generators scaled up as bench/e2e.py does (web pages
and books drawn with seeded RNGs, standard-library code repeated with a header line per
copy; 50/30/20 % of the text bytes), plus the Wikipedia fixture article cut at paragraph
boundaries into ~3 KB documents (skipped with a message when the fixtures are absent), in
one seeded shuffled order. A byte-level BPE tokenizer is trained once with
`tokenizer.train.train_bpe` on the pipeline's deterministic sample (smallest `sample_rank`
first) of --train-mb; training is timed and reported but is part of neither path.

Measured on the same texts, in this process:

- ours: what `EncodeDocuments` + `PackAndWrite` run, minus Beam itself, by the same
  library calls: documents keyed into batches by id hash (`tokenizer.encode`),
  `encode_documents` per batch (`encode_batch_fast` in calls of ENCODE_CALL_DOCS, int32
  arrays), the packing plan of `tokenizer.plan` (`token_copies`, `TokenShardsConfig`'s
  shard count, group, layout and `pack_group`: one group per ~--target-shard-mb of int32
  tokens, a multiple of --dp-world-size), `assemble_shard` per shard (Arrow table + zstd
  Parquet) and `write_atomically` into a temporary directory. The time of each phase is
  recorded too.
- bare: `Tokenizer.encode_batch(texts, add_special_tokens=False)` in calls of the same
  ENCODE_CALL_DOCS documents, keeping the ids (a list of lists); and the same with
  `encode_batch_fast` (no character offsets), the call ours makes, as a second baseline.

tokenizers' batch calls run on every core (rayon; RAYON_NUM_THREADS caps it and is recorded
when set); both paths get the same threads. Pack and Parquet run on one core. After one
warm-up of each path on a small slice, the paths run in turn, best of 3 (one run when the
corpus is over 100 MB; --repeats overrides); wall time by time.perf_counter, CPU time of
the process (all threads) by time.process_time. Checked: ours packs exactly the bare ids'
total + one end-of-text per document, and encodes every document to the bare ids.

MB are 10**6 bytes of UTF-8 text; tokens are document tokens (end-of-text not counted), so
MB/s, documents/s and tokens/s give the same ratio. Results go to
bench/results/tokenize.json; a table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.common import (
    MB,
    environment,
    log,
    own_peak_rss_mib,
    result_row,
    timed,
    tokenizer_sample,
)
from bench.e2e import BROKEN_LINES, FILE_WRITERS, SHARES
from pipelines.sample_corpus import SEED
from tokenizer.encode import (
    ENCODE_CALL_DOCS,
    encode_batch_count,
    encode_batch_of,
    load_tokenizer,
)
from tokenizer.pack import PackConfig
from tokenizer.plan import TokenShardsConfig, add_totals, token_copies
from tokenizer.train import TokenizerConfig, train_bpe
from transforms.tokenize import assemble_shard, encode_documents
from transforms.write import write_atomically

ROOT = Path(__file__).resolve().parents[1]
WIKIPEDIA = ROOT.parent / "shared" / "fixtures" / "text" / "wikipedia-taylorswift.txt"
RESULTS = ROOT / "bench" / "results" / "tokenize.json"
PIECE_BYTES = 3000  # Wikipedia article pieces, cut at the first paragraph end past this
TARGET = 0.8  # ours / bare throughput the tokenize path should reach
OURS = "ours (encode + pack + Parquet + write)"
BARE = "bare encode_batch"
BARE_FAST = "bare encode_batch_fast"
PHASES = ("batch + encode", "order keys + groups + layout", "pack", "Parquet", "write")


# --- corpus ---------------------------------------------------------------------------


def wikipedia_pieces() -> list[str]:
    """The fixture article cut at paragraph ends into pieces of ~PIECE_BYTES."""
    pieces, piece, size = [], [], 0
    for paragraph in WIKIPEDIA.read_text(encoding="utf-8").split("\n"):
        piece.append(paragraph)
        size += len(paragraph.encode("utf-8")) + 1
        if size >= PIECE_BYTES:
            pieces.append("\n".join(piece))
            piece, size = [], 0
    if "".join(piece).strip():
        pieces.append("\n".join(piece))
    return pieces


def build_corpus(size_mb: float) -> tuple[list, dict]:
    """-> (Documents in a seeded shuffled order, per-source counts and totals)."""
    from schemas.document import Document

    sources: dict[str, list[str]] = {}
    if WIKIPEDIA.exists():
        sources["wikipedia"] = wikipedia_pieces()
    else:
        log(f"no {WIKIPEDIA}: the corpus has no Wikipedia pieces")
    real = sum(len(t.encode("utf-8")) for texts in sources.values() for t in texts)
    generated = max(size_mb * MB - real, 0)
    for source, share in SHARES.items():
        # bench/e2e.py's file generators, one file per source: JSON lines, and in the web
        # file two broken ones (for the reader's dead-letter path) that are left out here.
        (lines,) = FILE_WRITERS[source](int(generated * share) + 1, 1)
        sources[source] = [json.loads(line)["text"] for line in lines if line not in BROKEN_LINES]
    docs = [
        Document(id=f"{source}-{i:07d}", text=text, source=source, source_file=f"bench/{source}")
        for source, texts in sources.items()
        for i, text in enumerate(texts)
    ]
    random.Random(SEED).shuffle(docs)
    per_source = {
        source: {"docs": len(texts), "text_bytes": sum(len(t.encode("utf-8")) for t in texts)}
        for source, texts in sources.items()
    }
    description = {
        "sources": per_source,
        "docs": len(docs),
        "text_bytes": sum(s["text_bytes"] for s in per_source.values()),
    }
    return docs, description


# --- the two paths --------------------------------------------------------------------


def bare(encode, texts: list[str], call_docs: int) -> list[list[int]]:
    """Token ids of every text from `encode` (a batch method) in calls of `call_docs`."""
    return [
        encoding.ids
        for start in range(0, len(texts), call_docs)
        for encoding in encode(texts[start : start + call_docs], add_special_tokens=False)
    ]


class Ours:
    """The pipeline's tokenize + pack + write cores, the tokenizer loaded once (as on a
    worker)."""

    def __init__(self, tokenizer_json: str, shards: TokenShardsConfig):
        self.tokenizer = load_tokenizer(tokenizer_json)
        self.shards = shards

    def run(self, docs: list, output_dir: str) -> dict:
        """Encode, pack and write `docs` as token shards under `output_dir` -> a summary:
        seconds per phase, the shards' metadata, the layout, {doc id: ids}."""
        seconds = dict.fromkeys(PHASES, 0.0)
        clock = time.perf_counter()

        def phase(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            seconds[name] += now - clock
            clock = now

        # EncodeDocuments: BatchKey, Batches (the GroupByKey), Encode.
        batch_count = encode_batch_count(len(docs))
        batches = defaultdict(list)
        for doc in docs:
            batches[encode_batch_of(doc.id, batch_count)].append(doc)
        encoded = [
            e for key in sorted(batches) for e in encode_documents(self.tokenizer, batches[key])
        ]
        phase("batch + encode")

        # PackAndWrite: Copies, TotalTokens, AssignGroup, GroupTotals, Layout, Group.
        copies = [c for e in encoded for c in token_copies(e.doc.id, e.doc.text, e.ids, e.copies)]
        total = sum(c.tokens for c in copies)
        groups = defaultdict(list)
        for c in copies:
            groups[self.shards.group_of(c, total)].append(c)
        totals = {g: add_totals((c.tokens, 1) for c in members) for g, members in groups.items()}
        layout = self.shards.layout(totals, total)
        phase("order keys + groups + layout")

        # Pack (per group), then Assemble (the GroupByKey by shard).
        parts = defaultdict(list)
        special_ids = self.shards.special_ids(self.tokenizer)
        for group in range(layout.shard_count):
            members = groups.pop(group, [])
            for shard, part in self.shards.pack_group(group, members, special_ids, layout):
                parts[shard].append(part)
        phase("pack")

        # Serialize and Write, one shard at a time.
        shards = []
        for shard in range(layout.shard_count):
            path, data, metadata = assemble_shard(shard, parts.pop(shard))
            phase("Parquet")
            shards.append({**metadata, **write_atomically(output_dir, path, data)})
            phase("write")
        return {
            "seconds": seconds,
            "shards": shards,
            "layout": layout,
            "ids": {e.doc.id: e.ids for e in encoded},
        }


def _ours_once(ours: Ours, docs: list) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-tokenize-") as output_dir:
        result = ours.run(docs, output_dir)
        files = sorted(p for p in Path(output_dir, "tokens").iterdir())
        result["files"] = [p.name for p in files]
    return result


# --- benchmark ------------------------------------------------------------------------


def bench(docs: list, args) -> dict:
    text_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
    sample = tokenizer_sample(docs, int(args.train_mb * MB))
    log(f"training BPE (vocab {args.vocab_size}) on {len(sample):,} documents")
    min_frequency = TokenizerConfig().min_frequency
    tokenizer_json, timing = timed(train_bpe, sample, args.vocab_size, min_frequency)
    training = result_row(
        "train BPE (not in either path)",
        timing,
        sum(len(t.encode("utf-8")) for t in sample),
        len(sample),
        vocab_size=args.vocab_size,
    )
    tokenizer = load_tokenizer(tokenizer_json)  # as the pipeline encodes documents
    shards = TokenShardsConfig(
        pack=PackConfig(seq_len=args.seq_len),
        dp_world_size=args.dp_world_size,
        target_bytes=int(args.target_shard_mb * 2**20),
    )
    ours = Ours(tokenizer_json, shards)
    texts = [d.text for d in docs]
    paths = {
        OURS: lambda: _ours_once(ours, docs),
        BARE: lambda: bare(tokenizer.encode_batch, texts, ENCODE_CALL_DOCS),
    }
    if hasattr(tokenizer, "encode_batch_fast"):
        paths[BARE_FAST] = lambda: bare(tokenizer.encode_batch_fast, texts, ENCODE_CALL_DOCS)

    warm = docs[:: max(1, len(docs) // 2000)]
    log(f"warm-up on {len(warm):,} documents")
    _ours_once(ours, warm)
    bare(tokenizer.encode_batch, [d.text for d in warm], ENCODE_CALL_DOCS)
    if BARE_FAST in paths:
        bare(tokenizer.encode_batch_fast, [d.text for d in warm], ENCODE_CALL_DOCS)

    repeats = args.repeats or (3 if text_bytes <= 100 * MB else 1)
    timings = {name: [] for name in paths}  # (wall s, CPU s) per run
    loads = {name: [] for name in paths}  # 1-min load average at the end of each run
    ours_phases = []  # ours' seconds per phase, per run
    last = {}  # each path's result of the last run, for the checks
    for repeat in range(repeats):
        for name, path in paths.items():  # in turn, so that load on the machine hits all
            log(f"run {repeat + 1}/{repeats}: {name}")
            result, timing = timed(path)
            timings[name].append(timing)
            loads[name].append(os.getloadavg()[0])
            if name == OURS:
                ours_phases.append(result["seconds"])
            if repeat == repeats - 1:
                last[name] = result
            del result

    bare_ids = last[BARE]
    document_tokens = sum(map(len, bare_ids))
    rows = []
    for name, runs in timings.items():
        best = min(range(repeats), key=lambda run, runs=runs: runs[run][0])
        seconds = runs[best][0]
        row = result_row(
            name,
            runs[best],
            text_bytes,
            len(docs),
            tokens=document_tokens,
            tokens_per_s=round(document_tokens / seconds),
            runs_s=[round(wall, 3) for wall, _ in runs],
            runs_load_1min=loads[name],
        )
        row["load_1min"] = loads[name][best]  # at the end of that run, not of all of them
        rows.append(row)

    ours_last = last[OURS]
    best = min(range(repeats), key=lambda run: timings[OURS][run][0])
    ours_seconds = timings[OURS][best][0]
    phases = {
        name: {"seconds": round(s, 3), "share": round(s / ours_seconds, 3)}
        for name, s in ours_phases[best].items()
    }
    other = ours_seconds - sum(ours_phases[best].values())  # temporary directory, GC
    phases["other"] = {"seconds": round(other, 3), "share": round(other / ours_seconds, 3)}
    layout = ours_last["layout"]
    packed_tokens = sum(layout.group_tokens)
    fast_same = None
    if BARE_FAST in last:
        fast_ids = last[BARE_FAST]
        fast_same = all(a == b for a, b in zip(bare_ids, fast_ids, strict=True))
    ours_ids = ours_last["ids"]
    checks = {
        "packed_tokens": packed_tokens,
        "bare_tokens_plus_one_eos_per_document": document_tokens + len(docs),
        "packed_tokens_match": packed_tokens == document_tokens + len(docs),
        "ours_ids_equal_bare_ids": len(ours_ids) == len(docs)
        and all(np.array_equal(ours_ids[d.id], ids) for d, ids in zip(docs, bare_ids, strict=True)),
        "bare_fast_ids_equal_bare_ids": fast_same,
        "shard_tokens_match_layout": sum(s["tokens"] for s in ours_last["shards"])
        == layout.rows_per_shard * layout.shard_count * layout.seq_len,
        "files_written": len(ours_last["files"]) == layout.shard_count,
    }
    # Throughput ratio = inverse ratio of the best wall times (same texts on both sides).
    best_wall = {name: min(runs)[0] for name, runs in timings.items()}
    ratios = {
        f"ours / {name}": round(best_wall[name] / best_wall[OURS], 3)
        for name in paths
        if name != OURS
    }
    return {
        "training": training,
        "paths": rows,
        "ratios": ratios,
        "target_ratio": TARGET,
        "meets_target": ratios[f"ours / {BARE}"] >= TARGET,
        "ours_phases": phases,
        "ours_output": {
            **layout.to_dict(),
            "parquet_bytes": sum(s["bytes"] for s in ours_last["shards"]),
            "target_shard_mib": args.target_shard_mb,
        },
        "checks": checks,
        "timing": f"best of {repeats} runs per path" if repeats > 1 else "one run per path",
        "encode_call_docs": ENCODE_CALL_DOCS,
    }


def table(results: dict) -> str:
    env, corpus = results["environment"], results["corpus"]
    threads = env["rayon_num_threads"] or f"unset, so all {env['cpus']} CPUs"
    lines = [
        f"machine: {env['cpus']} CPUs, {env['memory_gib']} GiB; 1-min load average "
        f"{env['load_average_at_start'][0]:.2f} at start, {env['load_average_at_end'][0]:.2f} "
        f"at end; RAYON_NUM_THREADS {threads} (the same for both paths); peak RSS "
        f"{env['peak_rss_mib']:,} MiB",
        f"corpus: {corpus['text_bytes'] / MB:.1f} MB of text, {corpus['docs']:,} documents ("
        + ", ".join(
            f"{name} {s['text_bytes'] / MB:.1f} MB / {s['docs']:,}"
            for name, s in corpus["sources"].items()
        )
        + f"); seq_len {results['args']['seq_len']}, vocab {results['args']['vocab_size']}",
        f"tokenizer training: {results['training']['seconds']:.1f} s on "
        f"{results['training']['mb']:.1f} MB (not part of either path)",
        f"{results['timing']}; {results['encode_call_docs']} documents per encode call",
        "",
        f"{'path':<40} {'s':>7} {'CPU s':>7} {'load':>5} {'MB/s':>7} {'docs/s':>9} "
        f"{'tokens/s':>11} {'ours/this':>9}",
    ]
    ratios = results["ratios"]
    for r in results["paths"]:
        ratio = ratios.get(f"ours / {r['stage']}")
        lines.append(
            f"{r['stage']:<40} {r['seconds']:>7.2f} {r['cpu_s']:>7.2f} {r['load_1min']:>5.2f} "
            f"{r['mb_per_s']:>7.2f} {r['docs_per_s']:>9,.0f} {r['tokens_per_s']:>11,} "
            + (f"{ratio:>9.3f}" if ratio is not None else f"{'':>9}")
        )
    lines += [
        f"target ours / {BARE} >= {results['target_ratio']}: "
        + ("met" if results["meets_target"] else "NOT met"),
        "",
        "ours, by phase (its best run):",
    ]
    lines += [
        f"  {name:<32} {p['seconds']:>7.2f} s {100 * p['share']:>5.1f} %"
        for name, p in results["ours_phases"].items()
    ]
    out = results["ours_output"]
    lines += [
        f"ours wrote {out['shards']} shards x {out['rows_per_shard']:,} rows "
        f"({out['parquet_bytes'] / MB:.1f} MB of Parquet; {out['tail_tokens_dropped']:,} tail "
        f"tokens and {out['rows_dropped_for_equal_shards']} rows dropped, as the pipeline does)",
        "checks: " + ", ".join(f"{k}={v}" for k, v in results["checks"].items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=50, help="corpus text, 10**6 bytes")
    parser.add_argument("--seq-len", type=int, default=2048, help="tokens per packed row")
    parser.add_argument("--vocab-size", type=int, default=32768)
    parser.add_argument("--train-mb", type=float, default=20, help="tokenizer training sample")
    parser.add_argument("--target-shard-mb", type=float, default=64, help="MiB of int32 tokens")
    parser.add_argument(
        "--dp-world-size", type=int, default=2, help="the shard count is a multiple of it"
    )
    parser.add_argument("--repeats", type=int, help="runs per path (default 3; 1 over 100 MB)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)

    # environment() runs `git status`: it must not take the index lock while someone else
    # works in the same tree.
    os.environ.setdefault("GIT_OPTIONAL_LOCKS", "0")
    results = {"environment": environment()}
    results["environment"] |= {
        "rayon_num_threads": os.environ.get("RAYON_NUM_THREADS"),
        "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM"),
    }
    results["args"] = vars(args) | {"results": str(args.results)}
    log(f"corpus: {args.size_mb} MB")
    docs, results["corpus"] = build_corpus(args.size_mb)
    results |= bench(docs, args)
    results["environment"]["load_average_at_end"] = os.getloadavg()
    results["environment"]["peak_rss_mib"] = own_peak_rss_mib()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nresults: {args.results}")
    return 0 if all(v is not False for v in results["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
