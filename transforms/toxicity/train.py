"""Train a fastText toxicity classifier from a labelled CSV and report held-out metrics.

    python -m transforms.toxicity.train --csv PATH --output MODEL.ftz
        [--text-column tweet] [--label-column class] [--toxic-labels 0,1]
        [--test-fraction 0.2] [--seed 1] [--epoch 25] [--lr 0.5] [--word-ngrams 2]
        [--dim 50] [--min-count 2] [--cutoff 50000] [--no-balance] [--threshold 0.5]

Each row's text goes through `normalize_text` (the same function that scoring uses); rows
whose text normalizes to nothing are skipped. A row is toxic when its label is one of
`--toxic-labels`, clean otherwise. The held-out split is decided by a seeded stable hash
of the normalized text, so identical tweets (retweets) never sit on both sides and the
split does not depend on row order. Training rows of the smaller class are repeated
(whole copies, then a seeded sample) until both classes are equally frequent, unless
`--no-balance`: the Davidson tweets are 83% toxic, and that prior would otherwise carry
over to web text, which is mostly clean. An output name ending in `.ftz` is quantized
(product quantization with a retrained, pruned vocabulary); `.bin` is written as trained.
fastText trains with `thread=1` and `seed`, so the same CSV and arguments give the same
model. Prints the held-out precision and recall at `--threshold`, ROC-AUC, and the row
counts; `--metrics-json PATH` also writes them as JSON.

The default model shipped in this package (models/davidson.ftz) was made with:

    python -m transforms.toxicity.train \
        --csv ../shared/fixtures/toxicity/davidson-labeled_data.csv \
        --text-column tweet --label-column class --toxic-labels 0,1 \
        --output transforms/toxicity/models/davidson.ftz

from Davidson et al. 2017, "Automated Hate Speech Detection and the Problem of Offensive
Language" (t-davidson/hate-speech-and-offensive-language @cb50f7e, data/labeled_data.csv,
MIT licence): 24,783 tweets, class 0 hate speech and 1 offensive taken as toxic, 2 neither
as clean. Only the trained model ships; the tweets do not.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from transforms.toxicity.classifier import CLEAN_LABEL, TOXIC_LABEL, normalize_text


@dataclass(frozen=True)
class TrainSettings:
    """fastText hyper-parameters and the split. Defaults are the ones the shipped model was
    trained with: bigrams and 25 epochs at lr 0.5 as in fastText's text-classification
    tutorial (Joulin et al. 2017, "Bag of Tricks"), dim 50 and min_count 2 to keep the
    quantized model small; cutoff keeps the 50,000 most useful words and bigrams in the
    quantized model."""

    test_fraction: float = 0.2
    seed: int = 1
    epoch: int = 25
    lr: float = 0.5
    word_ngrams: int = 2
    dim: int = 50
    min_count: int = 2
    bucket: int = 200_000
    balance: bool = True
    cutoff: int = 50_000


@dataclass(frozen=True)
class Metrics:
    """Held-out evaluation: precision and recall of `score >= threshold`, ROC-AUC."""

    threshold: float
    precision: float
    recall: float
    roc_auc: float
    train_rows: int
    test_rows: int
    test_toxic: int


def read_rows(
    path: str, text_column: str, label_column: str, toxic_labels: Sequence[str]
) -> list[tuple[str, bool]]:
    """(normalized text, is toxic) per CSV row; rows with no words left are skipped.
    Raises ValueError naming a missing column."""
    toxic = {str(label).strip() for label in toxic_labels}
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (text_column, label_column) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: no column {missing} (columns: {reader.fieldnames})")
        for record in reader:
            text = normalize_text(record[text_column] or "")
            if text:
                rows.append((text, record[label_column].strip() in toxic))
    return rows


def is_held_out(text: str, seed: int, test_fraction: float) -> bool:
    """Stable seeded assignment of a normalized text to the held-out side."""
    digest = hashlib.blake2b(f"{seed}\0{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < test_fraction


def split(rows, seed: int, test_fraction: float) -> tuple[list, list]:
    """(train rows, held-out rows) by `is_held_out`, each in input order."""
    train, test = [], []
    for row in rows:
        (test if is_held_out(row[0], seed, test_fraction) else train).append(row)
    return train, test


def balanced(rows: list[tuple[str, bool]], seed: int) -> list[tuple[str, bool]]:
    """`rows` with the smaller class repeated up to the size of the larger, shuffled with
    `seed` (fastText's SGD sees examples in file order)."""
    toxic = [r for r in rows if r[1]]
    clean = [r for r in rows if not r[1]]
    rng = random.Random(seed)
    small, large = sorted((toxic, clean), key=len)
    if small:
        copies, rest = divmod(len(large), len(small))
        small = small * copies + rng.sample(small, rest)
    out = small + large
    rng.shuffle(out)
    return out


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a
    random negative, ties counting half (Mann-Whitney U from average ranks). NaN when one
    class is absent."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if not positives or not negatives:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # Average rank within each run of equal scores.
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2  # ranks are 1-based
    u = ranks[y].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def precision_recall(
    scores: Sequence[float], labels: Sequence[bool], threshold: float
) -> tuple[float, float]:
    """Precision and recall of predicting toxic when score >= threshold (0.0 when undefined)."""
    s = np.asarray(scores) >= threshold
    y = np.asarray(labels, dtype=bool)
    tp = int((s & y).sum())
    predicted, actual = int(s.sum()), int(y.sum())
    return (tp / predicted if predicted else 0.0), (tp / actual if actual else 0.0)


def _write_examples(path: str, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for text, toxic in rows:
            f.write(f"{TOXIC_LABEL if toxic else CLEAN_LABEL} {text}\n")


def train(
    rows: list[tuple[str, bool]],
    output: str,
    settings: TrainSettings = TrainSettings(),
    threshold: float = 0.5,
) -> Metrics:
    """Train on the non-held-out `rows`, save to `output` (quantized when it ends in .ftz),
    and evaluate the saved model on the held-out rows."""
    import fasttext

    from transforms.toxicity.classifier import ToxicityClassifier

    train_rows, test_rows = split(rows, settings.seed, settings.test_fraction)
    if not train_rows or not test_rows:
        raise ValueError(f"{len(rows)} rows leave no training or no held-out rows")
    if settings.balance:
        train_rows = balanced(train_rows, settings.seed)
    with tempfile.TemporaryDirectory() as tmp:
        examples = os.path.join(tmp, "train.txt")
        _write_examples(examples, train_rows)
        model = fasttext.train_supervised(
            input=examples,
            epoch=settings.epoch,
            lr=settings.lr,
            wordNgrams=settings.word_ngrams,
            dim=settings.dim,
            minCount=settings.min_count,
            bucket=settings.bucket,
            loss="softmax",
            thread=1,  # one thread: Hogwild updates from several would not be reproducible
            seed=settings.seed,
            verbose=0,
        )
        if output.endswith(".ftz"):
            model.quantize(input=examples, retrain=True, cutoff=settings.cutoff, qnorm=True)
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        model.save_model(output)
    scores = ToxicityClassifier(output).score_normalized([t for t, _ in test_rows])
    labels = [y for _, y in test_rows]
    precision, recall = precision_recall(scores, labels, threshold)
    return Metrics(
        threshold=threshold,
        precision=round(precision, 4),
        recall=round(recall, 4),
        roc_auc=round(roc_auc(scores, labels), 4),
        train_rows=len(train_rows),
        test_rows=len(test_rows),
        test_toxic=sum(labels),
    )


def main(argv: list[str] | None = None) -> int:
    defaults = TrainSettings()
    p = argparse.ArgumentParser(
        prog="python -m transforms.toxicity.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--csv", required=True, help="labelled CSV file with a header row")
    p.add_argument("--output", required=True, help="model file to write (.ftz: quantized)")
    p.add_argument("--text-column", default="tweet")
    p.add_argument("--label-column", default="class")
    p.add_argument("--toxic-labels", default="0,1", help="comma-separated toxic label values")
    p.add_argument("--test-fraction", type=float, default=defaults.test_fraction)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--epoch", type=int, default=defaults.epoch)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--word-ngrams", type=int, default=defaults.word_ngrams)
    p.add_argument("--dim", type=int, default=defaults.dim)
    p.add_argument("--min-count", type=int, default=defaults.min_count)
    p.add_argument("--cutoff", type=int, default=defaults.cutoff, help="words kept in a .ftz")
    p.add_argument("--no-balance", action="store_true", help="train on the classes as they are")
    p.add_argument("--threshold", type=float, default=0.5, help="for precision and recall")
    p.add_argument("--metrics-json", help="also write the metrics to this JSON file")
    args = p.parse_args(argv)
    settings = TrainSettings(
        test_fraction=args.test_fraction,
        seed=args.seed,
        epoch=args.epoch,
        lr=args.lr,
        word_ngrams=args.word_ngrams,
        dim=args.dim,
        min_count=args.min_count,
        balance=not args.no_balance,
        cutoff=args.cutoff,
    )
    toxic_labels = [x for x in args.toxic_labels.split(",") if x.strip()]
    rows = read_rows(args.csv, args.text_column, args.label_column, toxic_labels)
    metrics = train(rows, args.output, settings, args.threshold)
    print(f"rows: {len(rows)} ({sum(y for _, y in rows)} toxic)")
    print(f"train rows (after balancing): {metrics.train_rows}")
    print(f"held-out rows: {metrics.test_rows} ({metrics.test_toxic} toxic)")
    print(f"precision@{metrics.threshold:g}: {metrics.precision:.4f}")
    print(f"recall@{metrics.threshold:g}: {metrics.recall:.4f}")
    print(f"roc_auc: {metrics.roc_auc:.4f}")
    print(f"model: {args.output} ({os.path.getsize(args.output)} bytes)")
    if args.metrics_json:
        with open(args.metrics_json, "w") as f:
            json.dump({**asdict(metrics), "settings": asdict(settings)}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
