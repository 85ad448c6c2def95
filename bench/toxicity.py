"""Toxicity scoring: throughput on real web text, and how the tweet-trained model behaves
on text that is not tweets.

    python -m bench.toxicity [--docs 3000] [--model PATH] [--results bench/results/toxicity.json]

1. Corpus: the real web text bench/quality.py builds from ../shared/fixtures (C4, CCNet,
   the Common Crawl WARC pages, the Wikipedia article in chunks), normalized as the
   pipeline does, kept when lid.176 says English with a score >= 0.65 (what reaches the
   toxicity stage in the pipeline). None of it is toxic to a human reader (spot-checked:
   the highest-scoring pages, listed under `highest`, are the article's category list
   ("American women guitarists ..."), a 9/11 forum argument and article chunks), so every
   page at or above a threshold is counted as a false positive.
2. Out-of-domain check: `toxicity.max` and `toxicity.mean` of each base page, their
   percentiles, and the false-positive rate at several thresholds, per origin and overall.
   Detection: each page again with one paragraph of three held-out toxic Davidson tweets
   (the seeded split of transforms.toxicity.train, so the model never saw them) inserted
   at a seeded line; the share caught at each threshold is the true-positive rate.
3. Throughput: `score_document` (normalize, window, one fastText predict per document)
   over `--docs` documents (the base pages repeated with seeded edits, as bench/quality),
   in this process, one core; and `score(texts)` on the same documents as whole texts.

MB are 10**6 bytes of UTF-8 document text. Results go to bench/results/toxicity.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

from bench.common import environment, log, result_row, timed
from bench.quality import FIXTURES, base_documents, build_corpus

RESULTS = Path(__file__).resolve().parent / "results" / "toxicity.json"
DAVIDSON = FIXTURES / "toxicity" / "davidson-labeled_data.csv"
THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
PERCENTILES = (50, 90, 95, 99, 100)
SEED = "bench-toxicity-1"
TWEETS_PER_PARAGRAPH = 3


def english(docs: list[dict]) -> list[dict]:
    """The documents the lang stage keeps with its default config (en, >= 0.65)."""
    from transforms.quality import LanguageConfig, LanguageIdentifier

    config, lid = LanguageConfig(), LanguageIdentifier()
    return [d for d in docs if lid.identify(d["text"], config)[2] is None]


def held_out_toxic_tweets() -> list[str]:
    from transforms.toxicity.train import TrainSettings, read_rows, split

    rows = read_rows(str(DAVIDSON), "tweet", "class", ["0", "1"])
    settings = TrainSettings()
    _, test = split(rows, settings.seed, settings.test_fraction)
    return [text for text, toxic in test if toxic]


def with_toxic_paragraph(text: str, tweets: list[str], rng: random.Random) -> str:
    lines = text.split("\n")
    at = rng.randrange(len(lines) + 1)
    paragraph = " ".join(rng.sample(tweets, TWEETS_PER_PARAGRAPH))
    return "\n".join(lines[:at] + [paragraph] + lines[at:])


def _distribution(values: np.ndarray) -> dict:
    return {
        "docs": len(values),
        "percentiles": {str(p): round(float(np.percentile(values, p)), 4) for p in PERCENTILES},
        "rate_at_or_above": {str(t): round(float((values >= t).mean()), 4) for t in THRESHOLDS},
    }


def out_of_domain(classifier, docs: list[dict], window_words: int) -> dict:
    scores = [classifier.score_document(d["text"], window_words) for d in docs]
    maxima = np.array([s.max for s in scores])
    means = np.array([s.mean for s in scores])
    by_origin = {
        origin: _distribution(
            np.array([m for m, d in zip(maxima, docs, strict=True) if d["origin"] == origin])
        )
        for origin in sorted({d["origin"] for d in docs})
    }
    top = sorted(zip(maxima, docs, strict=True), key=lambda x: -x[0])[:5]
    result = {
        "max": _distribution(maxima),
        "mean": _distribution(means),
        "max_by_origin": by_origin,
        "highest": [
            {"id": d["id"], "origin": d["origin"], "max": round(float(m), 4)} for m, d in top
        ],
    }
    if DAVIDSON.is_file():
        tweets, rng = held_out_toxic_tweets(), random.Random(SEED)
        injected = np.array(
            [
                classifier.score_document(
                    with_toxic_paragraph(d["text"], tweets, rng), window_words
                ).max
                for d in docs
            ]
        )
        result["detected_with_toxic_paragraph"] = _distribution(injected)["rate_at_or_above"]
    return result


def throughput(classifier, docs: list[dict], window_words: int) -> list[dict]:
    texts = [d["text"] for d in docs]
    size = sum(len(t.encode("utf-8")) for t in texts)
    _, timing = timed(lambda: [classifier.score_document(t, window_words) for t in texts])
    rows = [result_row("score_document (windows, max+mean)", timing, size, len(texts))]
    _, timing = timed(classifier.score, texts)
    rows.append(result_row("score(texts) (whole text, one predict call)", timing, size, len(texts)))
    return rows


def main(argv: list[str] | None = None) -> int:
    from transforms.toxicity import DEFAULT_THRESHOLD, ToxicityClassifier, ToxicityConfig

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=3000)
    p.add_argument("--model", default=None, help="default: the shipped model")
    p.add_argument("--window-words", type=int, default=ToxicityConfig().window_words)
    p.add_argument("--results", default=str(RESULTS))
    args = p.parse_args(argv)
    if not FIXTURES.is_dir():
        log(f"fixtures not found at {FIXTURES}")
        return 1
    classifier = ToxicityClassifier(args.model)
    log("building the corpus")
    base = english(base_documents())
    corpus, _ = build_corpus(args.docs)
    corpus = [d for d in corpus if d["id"].split("#")[0] in {b["id"] for b in base}]
    log(f"{len(base)} English base pages; {len(corpus)} documents for throughput")
    results = {
        "environment": environment(),
        "model": classifier.model_path,
        "window_words": args.window_words,
        "default_threshold": DEFAULT_THRESHOLD,
        "out_of_domain": out_of_domain(classifier, base, args.window_words),
        "throughput": throughput(classifier, corpus, args.window_words),
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(results, indent=2) + "\n")
    ood = results["out_of_domain"]
    print(f"{len(base)} English web pages; toxicity.max percentiles {ood['max']['percentiles']}")
    print(f"false-positive rate (max >= t): {ood['max']['rate_at_or_above']}")
    print(f"false-positive rate (mean >= t): {ood['mean']['rate_at_or_above']}")
    for origin, dist in ood["max_by_origin"].items():
        print(f"  {origin:12} {dist['docs']:5} pages  {dist['rate_at_or_above']}")
    if "detected_with_toxic_paragraph" in ood:
        print(f"detected with a toxic paragraph: {ood['detected_with_toxic_paragraph']}")
    for row in results["throughput"]:
        print(
            f"{row['stage']:45} {row['mb_per_s']:8.2f} MB/s {row['docs_per_s']:9.1f} docs/s "
            f"({row['mb']} MB, {row['docs']} docs, load {row['load_1min']:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
