"""PII throughput: our screened stage against presidio on each whole document, same run.

    python -m bench.pii [--pages 400]
    python -m bench.pii --startup 5    # per-process set-up only (fresh processes)

Corpora: real web text, most of it without PII (the C4 and CCNet fixtures, the Wikipedia
article cut at paragraph boundaries into ~3 KB pages); the Common Crawl WARC fixtures' pages
(Chinese shop pages full of phone numbers: the hard case); generated C4-like pages of the
demo corpus (one in eight ends with contact details). Every document is distinct. Both
sides use the same `AnalyzerEngine` (recognizers, NLP engine, score threshold): the baseline calls
`AnalyzerEngine.analyze` on each whole document, ours is `RegionAnalyzer.analyze_batch`; the
spans (start, end, type, score) must be identical. Also measures recall and precision per
entity type on presidio-synth (presidio's default recognizers, then ours) and how many
results each finds on the web fixtures. Each throughput is the best of 3 runs, the two sides
alternating. MB are 10**6 bytes of UTF-8 text. Results go to
bench/results/pii.json; a table is printed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from pathlib import Path

from bench.common import MB, environment, log, result_row, timed
from bench.quality import _read
from pipelines.sample_corpus import SEED, web_pages

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
RESULTS = ROOT / "bench" / "results" / "pii.json"
TYPES = ("CREDIT_CARD", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "PHONE_NUMBER", "US_SSN")
MIN_SCORE = 0.4


def web_fixture_texts() -> list[str]:
    texts = []
    for f in sorted((FIXTURES / "web-jsonl").glob("*.gz")):
        texts += [json.loads(line)["text"] for line in gzip.open(f, "rt") if line.strip()]
    return texts


def real_web_corpus(pii_share: float = 0.1) -> list[str]:
    """Real web text: the C4 and CCNet fixtures and the Wikipedia article cut at paragraph
    boundaries into ~3 KB pages; into `pii_share` of the documents (chosen with the seed) one
    labelled presidio-synth sentence with card, e-mail, IBAN, IP, phone or SSN is inserted
    between two paragraphs, so most documents hold no PII, as on the web."""
    texts = web_fixture_texts()
    article = (FIXTURES / "text" / "wikipedia-taylorswift.txt").read_text()
    chunk: list[str] = []
    for paragraph in article.split("\n"):
        chunk.append(paragraph)
        if sum(len(p) for p in chunk) > 3000:
            texts.append("\n".join(chunk))
            chunk = []
    texts.append("\n".join(chunk))
    synth = json.loads((FIXTURES / "pii" / "presidio-synth-1000.json").read_text())
    sentences = [
        r["full_text"] for r in synth if any(s["entity_type"] in TYPES for s in r["spans"])
    ]
    rng = random.Random(SEED)
    out = []
    for text in dict.fromkeys(texts):
        if rng.random() < pii_share:
            paragraphs = text.split("\n")
            at = rng.randrange(len(paragraphs) + 1)
            text = "\n".join(paragraphs[:at] + [rng.choice(sentences)] + paragraphs[at:])
        out.append(text)
    return out


def common_crawl_pages() -> list[str]:
    """The HTML pages of the Common Crawl WARC fixtures, as the pipeline's reader extracts
    them: mostly Chinese company and shop pages, dense with phone numbers."""
    paths = sorted((FIXTURES / "commoncrawl").glob("CC-MAIN-*.warc.gz"))
    return [doc.text for path in paths for doc in _read(str(path), "web")]


def demo_corpus(pages: int) -> list[str]:
    """The generated C4-like pages of the demo corpus (pipelines.sample_corpus): about one
    in eight ends with a contact line (e-mail and +1 phone number)."""
    return list(dict.fromkeys(p["text"] for p in web_pages(pages, random.Random(SEED))))


def _key(results) -> list[tuple]:
    return [(r.start, r.end, r.entity_type, round(r.score, 9)) for r in results]


def _best(runs: list[tuple]) -> tuple:
    """The (result, timing) of the fastest of several runs of the same work."""
    return min(runs, key=lambda run: run[1][0])


def throughput(analyzer, texts: list[str], name: str, repeats: int = 3) -> dict:
    from transforms.pii.engine import DEFAULT_ENTITIES, analyze_whole
    from transforms.pii.screen import RegionAnalyzer

    size = sum(len(t.encode("utf-8")) for t in texts)
    region = RegionAnalyzer(analyzer, DEFAULT_ENTITIES, MIN_SCORE)
    # Warm both paths alike (lazy imports, tldextract's suffix list, libphonenumber metadata).
    warm = "mail a@example.com, call +1 415 555 0134, 2001:db8::1, DE89370400440532013000"
    region.analyze_batch([warm])
    region.clear_caches()
    analyze_whole(analyzer, warm, min_score=MIN_SCORE)
    log(f"{name}: presidio on {len(texts)} whole documents ({size / MB:.2f} MB) and ours")

    def ours_cold():
        region.clear_caches()  # every run starts as the first one did
        return region.analyze_batch(texts)

    # Alternate the two so that a change in machine load hits both alike; keep each best.
    runs_whole, runs_ours = [], []
    for _ in range(repeats):
        runs_whole.append(
            timed(lambda: [analyze_whole(analyzer, t, min_score=MIN_SCORE) for t in texts])
        )
        runs_ours.append(timed(ours_cold))
    (whole, t_whole), (ours, t_ours) = _best(runs_whole), _best(runs_ours)
    identical = [_key(a) for a in whole] == [_key(b) for b in ours]
    rows = [
        result_row("presidio AnalyzerEngine.analyze, whole documents", t_whole, size, len(texts)),
        result_row("ours: screen + candidate regions (RegionAnalyzer)", t_ours, size, len(texts)),
    ]
    covered = sum(e - s for t in texts for s, e in region.regions(t))
    return {
        "corpus": name,
        "docs": len(texts),
        "rows": rows,
        "repeats": repeats,
        "speedup": round(rows[1]["mb_per_s"] / rows[0]["mb_per_s"], 1),
        "speedup_cpu": round(t_whole[1] / t_ours[1], 1),
        "spans_identical": identical,
        "results": sum(len(r) for r in whole),
        "docs_with_results": sum(1 for r in whole if r),
        "fraction_of_text_analyzed": round(covered / sum(len(t) for t in texts), 4),
    }


def quality(analyzer, min_score: float) -> dict:
    """Recall and precision per type on presidio-synth (a result of the right type
    overlapping a labelled span), and results per type on the web fixtures."""
    from transforms.pii.engine import analyze_whole

    rows = json.loads((FIXTURES / "pii" / "presidio-synth-1000.json").read_text())
    tp = dict.fromkeys(TYPES, 0)
    total = dict.fromkeys(TYPES, 0)
    found = dict.fromkeys(TYPES, 0)
    correct = dict.fromkeys(TYPES, 0)
    for row in rows:
        results = analyze_whole(analyzer, row["full_text"], min_score=min_score)
        gold = row["spans"]
        for g in gold:
            if g["entity_type"] in total:
                total[g["entity_type"]] += 1
                tp[g["entity_type"]] += any(
                    r.entity_type == g["entity_type"]
                    and r.start < g["end_position"]
                    and g["start_position"] < r.end
                    for r in results
                )
        for r in results:
            if r.entity_type in found:
                found[r.entity_type] += 1
                correct[r.entity_type] += any(
                    g["entity_type"] == r.entity_type
                    and r.start < g["end_position"]
                    and g["start_position"] < r.end
                    for g in gold
                )
    web = dict.fromkeys(TYPES, 0)
    for text in web_fixture_texts():
        for r in analyze_whole(analyzer, text, min_score=min_score):
            web[r.entity_type] = web.get(r.entity_type, 0) + 1
    per_type = {
        t: {
            "recall": round(tp[t] / total[t], 3),
            "precision": round(correct[t] / found[t], 3) if found[t] else None,
            "labelled": total[t],
            "found": found[t],
            "web_fixture_results": web[t],
        }
        for t in TYPES
    }
    return {
        "min_score": min_score,
        "recall_all_six": round(sum(tp.values()) / sum(total.values()), 3),
        "per_type": per_type,
    }


def table(results: dict) -> str:
    lines = []
    for t in results["throughput"]:
        lines.append(f"\n{t['corpus']}: {t['docs']} docs, {t['docs_with_results']} with PII")
        lines.append(f"{'stage':52} {'MB':>6} {'s':>7} {'MB/s':>7}")
        for r in t["rows"]:
            lines.append(f"{r['stage']:52} {r['mb']:6.2f} {r['seconds']:7.2f} {r['mb_per_s']:7.2f}")
        lines.append(
            f"speedup {t['speedup']}x, spans identical: {t['spans_identical']}, "
            f"text analyzed: {t['fraction_of_text_analyzed']:.2%}"
        )
    for name, q in results["quality"].items():
        lines.append(f"\n{name} (min_score {q['min_score']}), recall all six {q['recall_all_six']}")
        for ty, v in q["per_type"].items():
            lines.append(
                f"  {ty:14} recall {v['recall']:.3f} precision {v['precision']} "
                f"({v['found']} found, {v['labelled']} labelled), web fixtures: "
                f"{v['web_fixture_results']}"
            )
    return "\n".join(lines)


# Run in a fresh process: what a new worker pays before its first PII result.
STARTUP_SCRIPT = """
import json, sys, time
if sys.argv[1] == "beam":
    import apache_beam  # a Beam worker has it imported already
start, cpu = time.perf_counter(), time.process_time()
from transforms.pii import PiiConfig, Scrubber
imported = time.perf_counter()
scrubber = Scrubber(PiiConfig())
built = time.perf_counter()
scrubber.spans_batch(["hello john@x.com call 555-123-4567"], [None])
first = time.perf_counter()
print(json.dumps({"import": imported - start, "build": built - imported,
                  "first_call": first - built, "cpu": time.process_time() - cpu}))
"""


def startup(runs: int) -> dict:
    """Median seconds, over `runs` fresh processes, of importing transforms.pii, building
    the default Scrubber (presidio, spaCy and all they import), and its first call; `total`
    is build + first call, `cpu` this process's CPU seconds for all three. Once with
    apache_beam imported first (a Beam worker), once without."""
    import os
    import statistics
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = {}
    for mode in ("beam", "no_beam"):
        rows = []
        for _ in range(runs):
            done = subprocess.run(
                [sys.executable, "-c", STARTUP_SCRIPT, mode],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                env=env,
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["total"] = row["build"] + row["first_call"]
            rows.append(row)
        out[mode] = {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}
        out[mode]["runs"] = runs
    out["load_1min"] = os.getloadavg()[0]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=400, help="generated C4-like pages")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--startup", type=int, metavar="RUNS", help="only measure per-process set-up"
    )
    args = parser.parse_args(argv)
    if args.startup:
        print(json.dumps(startup(args.startup), indent=2))
        return 0
    if not FIXTURES.is_dir():
        raise SystemExit(f"the shared fixtures are needed: {FIXTURES}")
    import transforms.pii.recognizers as added
    from transforms.pii.engine import build_analyzer

    results = {"environment": environment()}
    analyzer = build_analyzer()
    results["throughput"] = [
        throughput(analyzer, real_web_corpus(), "real web text, 10% with a PII sentence"),
        throughput(analyzer, common_crawl_pages(), "Common Crawl WARC pages, contact-dense"),
        throughput(analyzer, demo_corpus(args.pages), "generated demo pages"),
    ]
    log("recall and precision")
    ours = quality(analyzer, MIN_SCORE)
    extra, added.extra_recognizers = added.extra_recognizers, lambda: []
    try:
        presidio = build_analyzer()
    finally:
        added.extra_recognizers = extra
    results["quality"] = {
        "presidio defaults, every result": quality(presidio, 0.0),
        "presidio defaults": quality(presidio, MIN_SCORE),
        "ours": ours,
    }
    results["environment"]["load_average_at_end"] = __import__("os").getloadavg()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\nresults: {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
