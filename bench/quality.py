"""Quality-rule throughput and agreement: our rules (transforms/quality) against datatrove's.

    python -m bench.quality [--docs 2000] [--results bench/results/quality.json]
    python -m bench.quality --speed [--rounds 7] [--base REV]   (see `speed_main`)

1. Corpus: real web text from ../shared/fixtures: the C4 and CCNet JSON lines, the pages our
   reader extracts from the Common Crawl WARC fixtures, and the Wikipedia article cut into
   documents of consecutive paragraphs. Each text is normalized (`normalize_text`) as the
   pipeline does before the quality stage. The base documents are repeated to `--docs`;
   every copy after the first gets a few seeded edits (a line dropped, a line repeated, two
   lines swapped, a word replaced), so no two texts are equal and the repetition rules see
   the near-copies they see on the web.
2. For each rule family both sides implement (Gopher quality, Gopher repetition, C4,
   FineWeb): our Beam-free `score` + `decide` and datatrove's `filter(doc)`, in this
   process, on one core (both are single-threaded Python), on the same texts; then our
   whole `assess` against datatrove's four filters chained. For each: MB/s, docs/s, the
   ratio ours / datatrove, and the keep/drop agreement: the documents where the decisions
   differ, grouped by (our reason, theirs), with examples and our value of the signal.
3. Our configs are set to datatrove's defaults where a key exists (see `OUR_CONFIGS`); where
   the definitions differ and no key can align them, the module `NOT_ALIGNED` notes say so,
   and those are where the disagreements come from.

How datatrove is called: `filter(doc)` directly on prebuilt `datatrove.data.Document`s, no
executor, so none of `BaseFilter.run`'s per-document stats. `C4QualityFilter.filter` itself
calls `stat_update` for every line; the headline row replaces `stat_update` by a no-op on
the instance (so we do not charge datatrove for bookkeeping we do not do either) and a
second row times it as shipped. C4 rewrites `doc.text`, so every timed datatrove run gets
fresh Documents, built before the clock starts. datatrove caches word splitting per text
(`lru_cache(5)`): in the chain, filters after the first reuse the split (its real
behaviour); across documents it never hits, as no two texts are equal. datatrove 0.10
splits English words with spaCy (`spacy.blank("en")`, no model download), which `pip install
datatrove` does not install; without spaCy the comparison is skipped with that reason.

MB are 10**6 bytes of UTF-8 document text. Results go to bench/results/quality.json; a
table is printed. Nothing is asserted: read the disagreements.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import importlib.metadata
import importlib.util
import json
import os
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from bench.common import MB, environment, log, result_row, timed
from transforms.quality import c4, fineweb, gopher
from transforms.quality.stage import QualityConfig, assess

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
RESULTS = Path(__file__).resolve().parent / "results" / "quality.json"
SEED = "bench-quality-1"
WIKI_DOC_CHARS = 3000  # Wikipedia paragraphs are grouped into documents of about this size
EXAMPLES = 3  # per disagreement class
OUR_REPEATS = 3  # our rules are timed as the mean of this many runs, datatrove's once
EPS = 1e-12  # turns our "<=" / ">=" into datatrove's "<" / ">" (ratios are p/q, q << 1e10)

FAMILIES = ("gopher_quality", "gopher_repetition", "c4", "fineweb")

# Our configs, aligned with datatrove 0.10's defaults where a key allows it.
OUR_CONFIGS = {
    # Same thresholds as datatrove's GopherQualityFilter / GopherRepetitionFilter defaults.
    "gopher_quality": gopher.GopherQualityConfig(),
    "gopher_repetition": gopher.GopherRepetitionConfig(),
    # datatrove's END_PUNCTUATION adds "'" to TFDS's . ? ! "; 3 words / 5 sentences as ours.
    "c4": c4.C4Config(end_marks=(*c4.END_MARKS, "'"), rewrite=False),
    # datatrove drops at line_punct < 0.12, short lines > 0.67, duplicate-line characters
    # > 0.01 (its default, vs the paper's 0.1), newlines per word > 0.3.
    "fineweb": fineweb.FineWebConfig(
        min_line_punct_frac=0.12 - EPS,
        max_short_line_frac=0.67 + EPS,
        max_dup_line_char_frac=0.01 + EPS,
        max_newline_ratio=0.3,
    ),
}

NOT_ALIGNED = {
    "gopher_quality": [
        "words: ours are whitespace tokens, datatrove's are spaCy tokens (punctuation split "
        "off, \"don't\" -> do + n't): word count, mean word length, the #/ellipsis per word "
        'denominator and the stop words ("the," counts for datatrove) differ',
        "alpha-word fraction: datatrove counts punctuation tokens as words without a letter",
        "lines: datatrove takes all str.splitlines() lines (blank ones too), ours the "
        "non-blank lines; bullets: datatrove '•' and '-', ours more (module constant)",
        "stop words: datatrove only matches lower case, ours also Title and UPPER case",
    ],
    "gopher_repetition": [
        "n-gram fractions: datatrove divides by len(text) (spaces and newlines included), ours "
        "by the characters of the words; datatrove's top n-gram counts an n-gram seen once, "
        "ours needs two occurrences; datatrove's duplicate n-grams skip n words after a "
        "repeat, ours count the union of repeated spans",
        "n-grams are over spaCy tokens for datatrove, whitespace words for ours",
        "lines: datatrove splits on runs of newlines (a whitespace-only line counts), ours "
        "takes the non-blank lines",
    ],
    "c4": [
        "sentences: datatrove runs spaCy's sentencizer on each kept line, ours a regex with an "
        "abbreviation list (no key)",
        "lines: datatrove uses str.splitlines(), ours split('\\n') (same on normalized text)",
        "words per line: datatrove counts them before citations are cut out, ours after",
    ],
    "fineweb": [
        "newline ratio: datatrove divides by spaCy tokens, ours by whitespace words",
        "terminal punctuation: datatrove's set has more scripts than ours (module constant)",
    ],
}

# datatrove's drop reason -> the signal of ours that measures the same thing.
THEIR_SIGNAL = {
    "gopher_short_doc": "gopher.word_count",
    "gopher_long_doc": "gopher.word_count",
    "gopher_below_avg_threshold": "gopher.mean_word_length",
    "gopher_above_avg_threshold": "gopher.mean_word_length",
    "gopher_too_many_hashes": "gopher.hash_ratio",
    "gopher_too_many_ellipsis": "gopher.ellipsis_ratio",
    "gopher_too_many_bullets": "gopher.bullet_lines_frac",
    "gopher_too_many_end_ellipsis": "gopher.ellipsis_lines_frac",
    "gopher_below_alpha_threshold": "gopher.alpha_words_frac",
    "gopher_enough_stop_words": "gopher.stop_words",
    "dup_para_frac": "gopher.dup_para_frac",
    "dup_para_char_frac": "gopher.dup_para_char_frac",
    "dup_line_frac": "gopher.dup_line_frac",
    "dup_line_char_frac": "gopher.dup_line_char_frac",
    **{f"top_{n}_gram": f"gopher.top_{n}gram_char_frac" for n in (2, 3, 4)},
    **{f"duplicated_{n}_n_grams": f"gopher.dup_{n}gram_char_frac" for n in range(5, 11)},
    "lorem_ipsum": "c4.lorem_ipsum",
    "curly_bracket": "c4.curly_bracket",
    "too_few_sentences": "c4.sentences",
    "line_punct_ratio": "fineweb.line_punct_frac",
    "short_line_ratio": "fineweb.short_line_frac",
    "char_dup_ratio": "fineweb.dup_line_char_frac",
    "list_ratio": "fineweb.newline_ratio",
}
# Our drop reason -> its signal (the n-gram reasons are derived).
OUR_SIGNAL = {
    gopher.DROP_WORD_COUNT: "gopher.word_count",
    gopher.DROP_MEAN_WORD_LENGTH: "gopher.mean_word_length",
    gopher.DROP_HASH_RATIO: "gopher.hash_ratio",
    gopher.DROP_ELLIPSIS_RATIO: "gopher.ellipsis_ratio",
    gopher.DROP_BULLET_LINES: "gopher.bullet_lines_frac",
    gopher.DROP_ELLIPSIS_LINES: "gopher.ellipsis_lines_frac",
    gopher.DROP_ALPHA_WORDS: "gopher.alpha_words_frac",
    gopher.DROP_STOP_WORDS: "gopher.stop_words",
    gopher.DROP_DUP_LINE_FRAC: "gopher.dup_line_frac",
    gopher.DROP_DUP_PARA_FRAC: "gopher.dup_para_frac",
    gopher.DROP_DUP_LINE_CHAR_FRAC: "gopher.dup_line_char_frac",
    gopher.DROP_DUP_PARA_CHAR_FRAC: "gopher.dup_para_char_frac",
    **{gopher.top_ngram_reason(n): f"gopher.top_{n}gram_char_frac" for n in (2, 3, 4)},
    **{gopher.dup_ngram_reason(n): f"gopher.dup_{n}gram_char_frac" for n in range(5, 11)},
    c4.DROP_LOREM_IPSUM: "c4.lorem_ipsum",
    c4.DROP_CURLY_BRACKET: "c4.curly_bracket",
    c4.DROP_TOO_FEW_SENTENCES: "c4.sentences",
    c4.DROP_EMPTY: "c4.lines_kept",
    fineweb.DROP_LINE_PUNCT: "fineweb.line_punct_frac",
    fineweb.DROP_SHORT_LINES: "fineweb.short_line_frac",
    fineweb.DROP_DUP_LINE_CHARS: "fineweb.dup_line_char_frac",
    fineweb.DROP_NEWLINE_RATIO: "fineweb.newline_ratio",
}


# --- corpus ---------------------------------------------------------------------------


def _read(path: str, source: str) -> list:
    from schemas.document import Document
    from transforms.readers import read_file
    from transforms.readers.files import InputFile

    file = InputFile(source, path, os.path.basename(path), os.path.getsize(path))
    return [r for r in read_file(file) if isinstance(r, Document)]


def _wikipedia_chunks(path: Path) -> list[str]:
    """The article's paragraphs grouped in order into documents of at least WIKI_DOC_CHARS
    characters (the last may be shorter)."""
    from transforms.toxicity.train import paragraph_documents

    return paragraph_documents(path.read_text(encoding="utf-8"), WIKI_DOC_CHARS)


def base_documents() -> list[dict]:
    """The fixtures' documents, normalized: [{id, origin, text}], empty texts left out."""
    from transforms.normalize import normalize_text

    docs = []
    for path in sorted(glob.glob(str(FIXTURES / "web-jsonl" / "*"))):
        origin = os.path.basename(path).split("-")[0]  # c4 or ccnet
        docs += [(origin, d.id, d.text) for d in _read(path, origin)]
    for path in sorted(glob.glob(str(FIXTURES / "commoncrawl" / "*.warc.gz"))):
        docs += [("commoncrawl", d.id, d.text) for d in _read(path, "commoncrawl")]
    wiki = FIXTURES / "text" / "wikipedia-taylorswift.txt"
    docs += [("wikipedia", f"wiki:{i}", t) for i, t in enumerate(_wikipedia_chunks(wiki))]
    out = []
    for origin, doc_id, text in docs:
        text = normalize_text(text)
        if text:
            out.append({"id": doc_id, "origin": origin, "text": text})
    return out


def _perturb(text: str, rng: random.Random) -> str:
    """One to three seeded edits of a copy: drop, repeat or swap lines, replace a word."""
    lines = text.split("\n")
    for _ in range(rng.randint(1, 3)):
        op, i = rng.randrange(4), rng.randrange(len(lines))
        if op == 0 and len(lines) > 1:
            del lines[i]
        elif op == 1:
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
        elif op == 2 and len(lines) > 1:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            words = lines[i].split(" ")
            pool = text.split()
            words[rng.randrange(len(words))] = pool[rng.randrange(len(pool))]
            lines[i] = " ".join(words)
    return "\n".join(lines)


def build_corpus(n: int) -> tuple[list[dict], int]:
    """`n` documents: the base documents in turn, copy k > 0 perturbed with seed (SEED, i).
    Copies that an edit made equal to an earlier text are edited again. -> (docs, bases)."""
    base = base_documents()
    docs, seen = [], set()
    for i in range(n):
        doc, copy = base[i % len(base)], i // len(base)
        text, rng = doc["text"], random.Random(f"{SEED}:{i}")
        while text in seen:
            text = _perturb(text, rng)
        seen.add(text)
        doc_id = f"{doc['id']}#{copy}" if copy else doc["id"]
        docs.append({**doc, "id": doc_id, "text": text, "copy": copy})
    return docs, len(base)


# --- the two sides --------------------------------------------------------------------


def ours() -> dict[str, Callable[[str], str | None]]:
    """Family -> text -> our first drop reason or None (score + decide, Beam-free)."""
    gq, gr = OUR_CONFIGS["gopher_quality"], OUR_CONFIGS["gopher_repetition"]
    c4c, fw = OUR_CONFIGS["c4"], OUR_CONFIGS["fineweb"]
    return {
        "gopher_quality": lambda t: gopher.decide_quality(gopher.score_quality(t, gq), gq),
        "gopher_repetition": lambda t: gopher.decide_repetition(gopher.score_repetition(t, gr), gr),
        "c4": lambda t: c4.decide(c4.score(t, c4c), c4c),
        "fineweb": lambda t: fineweb.decide(fineweb.score(t, fw), fw),
    }


def our_signals(family: str, text: str) -> dict[str, float]:
    if family == "all":
        return assess(_our_document({"id": "", "origin": "web", "text": text}), ALL).signals
    config = OUR_CONFIGS[family]
    return {
        "gopher_quality": gopher.score_quality,
        "gopher_repetition": gopher.score_repetition,
        "c4": c4.score,
        "fineweb": fineweb.score,
    }[family](text, config)


def our_quality_config(score_all: bool) -> QualityConfig:
    """All four text families with the aligned configs; no source exempt."""
    return QualityConfig(
        gopher=OUR_CONFIGS["gopher_quality"],
        gopher_repetition=OUR_CONFIGS["gopher_repetition"],
        c4=OUR_CONFIGS["c4"],
        fineweb=OUR_CONFIGS["fineweb"],
        exempt_sources=(),
        score_all=score_all,
    )


ALL = our_quality_config(score_all=True)


def datatrove_filters() -> dict | str:
    """Family -> a datatrove filter with its defaults, or why datatrove cannot run."""
    if importlib.util.find_spec("datatrove") is None:
        return "datatrove is not installed (pip install -e '.[bench]')"
    if importlib.util.find_spec("spacy") is None:
        return (
            "datatrove's filters split English words with spaCy, which is not installed "
            "(pip install spacy; no model download is needed)"
        )
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return {
        "gopher_quality": GopherQualityFilter(),
        "gopher_repetition": GopherRepetitionFilter(),
        "c4": C4QualityFilter(),
        "fineweb": FineWebQualityFilter(),
    }


def _no_stats(step):
    """`step` with `stat_update` a no-op on the instance (its class keeps the real one)."""
    step.stat_update = lambda *labels, **kwargs: None
    return step


def _their_reason(result) -> str | None:
    if result is True:
        return None
    if isinstance(result, tuple):
        return result[1] if not result[0] else None
    return None if result else "dropped"


def run_datatrove(filters: list, docs: list) -> list[str | None]:
    """Each doc through `filters` in order until one drops it -> reasons (None: kept)."""
    reasons = []
    for doc in docs:
        reason = None
        for step in filters:
            result = step.filter(doc)
            if result is not True:
                reason = _their_reason(result)
                if reason is not None:
                    break
        reasons.append(reason)
    return reasons


def run_ours(decide: Callable[[str], str | None], texts: list[str]) -> list[str | None]:
    return [decide(t) for t in texts]


# --- agreement ------------------------------------------------------------------------


def agreement(
    family: str, docs: list[dict], mine: list[str | None], theirs: list[str | None]
) -> dict:
    """Keep/drop agreement, and the differing documents grouped by (our reason, theirs)."""
    keep = "keep"
    classes: dict[tuple[str, str], list[int]] = defaultdict(list)
    counts = Counter()
    for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
        counts[("keep" if a is None else "drop", "keep" if b is None else "drop")] += 1
        if (a is None) != (b is None):
            classes[(a or keep, b or keep)].append(i)
    out_classes = []
    for (a, b), indices in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        examples = []
        for i in indices[:EXAMPLES]:
            doc = docs[i]
            signals = our_signals(family, doc["text"])
            keys = [k for k in (OUR_SIGNAL.get(a), THEIR_SIGNAL.get(b)) if k]
            examples.append(
                {
                    "id": doc["id"],
                    "origin": doc["origin"],
                    "our_signals": {k: round(signals[k], 4) for k in keys if k in signals},
                    "text_head": doc["text"][:160],
                }
            )
        out_classes.append(
            {
                "ours": a,
                "theirs": b,
                "docs": len(indices),
                "base_docs": len({docs[i]["id"].split("#")[0] for i in indices}),
                "unperturbed": sum(docs[i]["copy"] == 0 for i in indices),
                "examples": examples,
            }
        )
    return {
        "both_keep": counts[("keep", "keep")],
        "both_drop": counts[("drop", "drop")],
        "only_ours_drop": counts[("drop", "keep")],
        "only_theirs_drop": counts[("keep", "drop")],
        "differ": sum(len(v) for v in classes.values()),
        "differ_unperturbed": sum(c["unperturbed"] for c in out_classes),
        "agree_frac": round(1 - sum(len(v) for v in classes.values()) / len(docs), 4),
        "classes": out_classes,
    }


# --- bench ----------------------------------------------------------------------------


def _dt_docs(docs: list[dict]) -> list:
    from datatrove.data import Document

    return [Document(text=d["text"], id=d["id"]) for d in docs]


def bench(docs: list[dict], filters: dict) -> dict:
    texts = [d["text"] for d in docs]
    total = sum(len(t.encode("utf-8")) for t in texts)
    n = len(texts)
    mine = ours()
    # Warm up: spaCy's blank pipeline loads on first use; our stop-word variants are cached.
    for family, step in filters.items():
        run_datatrove([step], _dt_docs(docs[:5]))
        run_ours(mine[family], texts[:5])

    rows, comparisons, agreements, our_rows = [], {}, {}, {}
    for family in FAMILIES:
        log(f"family: {family}")
        decided, timing = _timed_mean(OUR_REPEATS, run_ours, mine[family], texts)
        rows.append(result_row(f"{family}: ours", timing, total, n))
        ours_row = our_rows[family] = rows[-1]
        their_docs = _dt_docs(docs)
        theirs, timing = timed(run_datatrove, [_no_stats(filters[family])], their_docs)
        rows.append(result_row(f"{family}: datatrove", timing, total, n))
        comparisons[family] = _ratio(ours_row, rows[-1])
        agreements[family] = agreement(family, docs, decided, theirs)
    # As shipped: C4QualityFilter counts every line with stat_update.
    from datatrove.pipeline.filters import C4QualityFilter

    log("family: c4, datatrove with its line stats")
    _, timing = timed(run_datatrove, [C4QualityFilter()], _dt_docs(docs))
    rows.append(result_row("c4: datatrove (stat_update as shipped)", timing, total, n))
    comparisons["c4 (datatrove with its stats)"] = _ratio(our_rows["c4"], rows[-1])

    log("all families")
    ours_docs = [_our_document(d) for d in docs]
    all_rows = {}
    for score_all in (True, False):
        config = our_quality_config(score_all)
        assessed, timing = _timed_mean(
            OUR_REPEATS, lambda c=config: [assess(d, c).reason for d in ours_docs]
        )
        label = f"all: ours assess (score_all={score_all})"
        rows.append(result_row(label, timing, total, n))
        all_rows[score_all] = (rows[-1], assessed)
    # C4 last: it rewrites doc.text, and ours scores every family on the text as it came.
    chain = [_no_stats(filters[f]) for f in ("fineweb", "gopher_quality", "gopher_repetition")]
    chain.append(_no_stats(filters["c4"]))
    theirs, timing = timed(run_datatrove, chain, _dt_docs(docs))
    rows.append(result_row("all: datatrove 4 filters chained", timing, total, n))
    comparisons["all (score_all=True)"] = _ratio(all_rows[True][0], rows[-1])
    comparisons["all (score_all=False)"] = _ratio(all_rows[False][0], rows[-1])
    agreements["all"] = agreement("all", docs, all_rows[True][1], theirs)
    return {"stages": rows, "comparisons": comparisons, "agreement": agreements}


def _timed_mean(repeats: int, fn: Callable, *args) -> tuple:
    """`_timed` `repeats` times -> (the last result, mean (wall s, CPU s)): ours runs in a
    fraction of a second on a corpus datatrove needs many seconds for."""
    walls = cpus = 0.0
    for _ in range(repeats):
        result, (wall, cpu) = timed(fn, *args)
        walls, cpus = walls + wall, cpus + cpu
    return result, (walls / repeats, cpus / repeats)


def _our_document(doc: dict):
    from schemas.document import Document

    return Document(doc["id"], doc["text"], doc["origin"], "bench")


def _ratio(ours_row: dict, their_row: dict) -> dict:
    return {
        "ours_over_datatrove_mb_s": round(ours_row["mb_per_s"] / their_row["mb_per_s"], 2),
        "ours_over_datatrove_cpu": round(their_row["cpu_s"] / ours_row["cpu_s"], 2),
    }


# --- report ---------------------------------------------------------------------------


def table(results: dict) -> str:
    env, corpus = results["environment"], results["corpus"]
    lines = [
        f"machine: {env['cpus']} CPUs; 1-min load {env['load_average_at_start'][0]:.2f} at start",
        f"corpus: {corpus['docs']:,} documents, {corpus['text_bytes'] / MB:.1f} MB of text "
        f"({corpus['base_docs']} real base documents: {corpus['origins']}, "
        f"{corpus['base_bytes'] / MB:.2f} MB; the rest perturbed copies)",
    ]
    if "skipped" in results:
        return "\n".join([*lines, f"datatrove comparison skipped: {results['skipped']}"])
    bench_ = results["bench"]
    lines += ["", f"{'rules':<44} {'s':>7} {'CPU s':>7} {'MB/s':>8} {'docs/s':>9}"]
    for r in bench_["stages"]:
        lines.append(
            f"{r['stage']:<44} {r['seconds']:>7.2f} {r['cpu_s']:>7.2f} {r['mb_per_s']:>8.2f} "
            f"{r['docs_per_s']:>9,.0f}"
        )
    lines += ["", "ours / datatrove (>1: ours faster)    by MB/s   by CPU s"]
    for k, v in bench_["comparisons"].items():
        by_mb, by_cpu = v["ours_over_datatrove_mb_s"], v["ours_over_datatrove_cpu"]
        lines.append(f"  {k:<34} {by_mb:>7.2f}x {by_cpu:>8.2f}x")
    lines += [
        "",
        "keep/drop agreement (docs where the decisions differ; unperturbed: of the "
        "base documents themselves)",
    ]
    for family, a in bench_["agreement"].items():
        lines.append(
            f"  {family:<18} agree {a['agree_frac']:.2%}  differ {a['differ']:>5,} "
            f"(unperturbed {a['differ_unperturbed']})  both keep {a['both_keep']:,}, "
            f"both drop {a['both_drop']:,}, only ours drop {a['only_ours_drop']:,}, "
            f"only datatrove drops {a['only_theirs_drop']:,}"
        )
        for c in a["classes"]:
            example = c["examples"][0]
            lines.append(
                f"    ours {c['ours']:<26} datatrove {c['theirs']:<28} {c['docs']:>5} docs "
                f"({c['base_docs']} base) e.g. {example['id'][:48]} {example['our_signals']}"
            )
    return "\n".join(lines)


# --- speed and equality against the implementation before the speed-up --------------------
#
#     python -m bench.quality --speed [--rounds 7] [--scale-glob GLOB]
#
# The corpus: the scale corpus's web documents (`--scale-glob`, gzipped JSON lines with a
# `text` field; skipped when absent), normalized like the pipeline does; the fixtures' base
# documents and the Pile fixture's strings (unicode edge cases); made-up edge cases (empty,
# blank, one very long line, long and exact repeats). The check runs `assess` of the
# quality package at `--base` (default BASE_REV, the commit before the speed-up, loaded
# from `git show` into a temporary package) and of the working tree on every document and
# several configs: scores (to the float bit), reason and text must be equal. The timing
# alternates old and new `assess_text` on the scale corpus, CPU time, `--rounds` pairs, and
# reports the medians: the machine is shared, so single runs say little.

BASE_REV = "1a290e8"  # the quality rules before they were made faster
SCALE_GLOB = "/tmp/bench-scale/corpus-20/web-*.json.gz"
_QUALITY_MODULES = ("base", "c4", "code", "fineweb", "gopher", "stage")
CHECK_CONFIGS = (
    {},
    {"score_all": False},
    {"c4": {"variant": "tfds", "rewrite": False}, "fineweb": {"max_dup_line_char_frac": 0.01}},
    {
        "gopher_repetition": {
            "top_ngram_char_frac": {"3": 0.1, "7": 0.2},
            "dup_ngram_char_frac": {"1": 0.5, "4": 0.2, "12": 0.1},
        },
        "c4": {"end_marks": None, "min_words_per_line": None, "min_sentences": None},
    },
)


def load_base_quality(rev: str, into: Path):
    """The quality package at git revision `rev`, imported as a package of its own."""
    import importlib
    import subprocess

    name = f"_quality_{rev}"
    package = into / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    root = Path(__file__).resolve().parents[1]
    for module in _QUALITY_MODULES:
        source = subprocess.run(
            ["git", "show", f"{rev}:transforms/quality/{module}.py"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        source = source.replace("from transforms.quality import", f"from {name} import")
        source = source.replace("from transforms.quality.", f"from {name}.")
        (package / f"{module}.py").write_text(source)
    sys.path.insert(0, str(into))
    return importlib.import_module(f"{name}.stage")


def scale_texts(pattern: str) -> list[str]:
    """The normalized texts of the scale corpus (gzipped JSON lines), in file order."""
    import gzip

    from transforms.normalize import normalize_text

    texts = []
    for path in sorted(glob.glob(pattern)):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            texts += [normalize_text(json.loads(line)["text"]) for line in lines]
    return [t for t in texts if t]


def pile_texts() -> list[str]:
    """The Pile fixture's strings (the Big List of Naughty Strings), raw and normalized."""
    import zstandard

    from transforms.normalize import normalize_text

    texts = []
    for path in sorted(glob.glob(str(FIXTURES / "pile" / "*.jsonl.zst"))):
        with open(path, "rb") as raw:
            data = zstandard.ZstdDecompressor().stream_reader(raw).read()
        for line in data.decode("utf-8").splitlines():
            text = json.loads(line)["text"]
            if isinstance(text, str):  # one record holds a list
                texts += [text, normalize_text(text), *text.split("\n")]
    return texts


def edge_texts(base: list[str]) -> list[str]:
    """Empty, blank, one-word, very long line and heavily repeated texts."""
    rng = random.Random(SEED)
    out = ["", " ", "\n", "\n\n\n", " \t\u00a0\u3000\n ", "word", "a b", "a a a", "a\n\na"]
    out += [
        "x" * 5000,
        "w " * 30000,
        "the cat sat. " * 3000,
        ("lorem ipsum dolor. " * 80 + "\n") * 5,
    ]
    for text in base[:200]:
        words = text.split()
        if len(words) < 20:
            continue
        i, k = rng.randrange(len(words)), rng.randint(5, 40)
        out.append(" ".join(words[:i] + words[i : i + k] * rng.randint(2, 5) + words[i:]))
        out.append(text + "\n\n" + text)
        out.append(" ".join(words))  # one long line
    return out


def check_equal(old_stage, texts: list[str]) -> dict:
    """Every (text, config): the base and the working tree's `assess` agree, bit for bit."""
    from schemas.document import Document
    from transforms.quality import stage as new_stage

    def outcome(module, doc, config):
        signals, reason, text = module.assess(doc, config)
        return {k: float(v).hex() for k, v in signals.items()}, reason, text

    compared = differ = 0
    examples = []
    for mapping in CHECK_CONFIGS:
        old_config = old_stage.QualityConfig.from_dict(mapping)
        new_config = new_stage.QualityConfig.from_dict(mapping)
        for i, text in enumerate(texts):
            doc = Document(f"check:{i}", text, "web", "bench")
            compared += 1
            if outcome(old_stage, doc, old_config) != outcome(new_stage, doc, new_config):
                differ += 1
                if len(examples) < EXAMPLES:
                    examples.append({"config": mapping, "text_head": text[:160]})
    return {"compared": compared, "texts": len(texts), "differ": differ, "examples": examples}


def paired_speed(old_stage, texts: list[str], rounds: int) -> dict:
    """Old and new `assess_text` over `texts`, alternating, CPU seconds -> medians."""
    import statistics
    import time

    from transforms.quality import stage as new_stage

    sides = {
        "base": (old_stage.assess_text, old_stage.QualityConfig()),
        "new": (new_stage.assess_text, new_stage.QualityConfig()),
    }
    seconds: dict[str, list[float]] = {"base": [], "new": []}
    for r in range(rounds):
        for side in ("base", "new") if r % 2 == 0 else ("new", "base"):
            assess_text, config = sides[side]
            start = time.process_time()
            for text in texts:
                assess_text(text, config)
            seconds[side].append(time.process_time() - start)
    mb = sum(len(t.encode("utf-8")) for t in texts) / MB
    out = {"docs": len(texts), "mb": round(mb, 2), "rounds": rounds}
    for side, times in seconds.items():
        median = statistics.median(times)
        out[side] = {
            "cpu_s": round(median, 3),
            "docs_per_s": round(len(texts) / median),
            "mb_per_s": round(mb / median, 2),
        }
    ratios = [b / n for b, n in zip(seconds["base"], seconds["new"], strict=True)]
    out["speedup_median"] = round(statistics.median(ratios), 3)
    return out


def speed_main(args) -> int:
    import tempfile

    log(f"loading the quality rules at {args.base}")
    with tempfile.TemporaryDirectory() as tmp:
        old_stage = load_base_quality(args.base, Path(tmp))
        scale = scale_texts(args.scale_glob)
        base = [d["text"] for d in base_documents()] if FIXTURES.is_dir() else []
        pile = pile_texts() if FIXTURES.is_dir() else []
        texts = scale + base + pile + edge_texts(base + scale[:200])
        log(f"equality check: {len(texts)} texts x {len(CHECK_CONFIGS)} configs")
        results = {"base_rev": args.base, "check": check_equal(old_stage, texts)}
        timed_texts = scale or base
        log(f"timing {len(timed_texts)} documents, {args.rounds} paired rounds")
        results["speed"] = paired_speed(old_stage, timed_texts, args.rounds)
    results["environment"] = {"load_average_at_end": os.getloadavg(), "cpus": os.cpu_count()}
    print(json.dumps(results, indent=2))
    return 0 if results["check"]["differ"] == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000, help="documents in the corpus")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--speed",
        action="store_true",
        help="instead: check scores equal to --base's and time old vs new (printed)",
    )
    parser.add_argument("--base", default=BASE_REV, help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=7, help="paired timing rounds")
    parser.add_argument("--scale-glob", default=SCALE_GLOB, help="the scale corpus's files")
    args = parser.parse_args(argv)
    if args.speed:
        return speed_main(args)
    if not FIXTURES.is_dir():
        raise SystemExit(f"the shared fixtures are needed: {FIXTURES}")
    results = {"environment": environment()}
    packages = ("datatrove", "spacy")
    results["environment"]["packages"] |= {
        p: importlib.metadata.version(p) for p in packages if importlib.util.find_spec(p)
    }
    log(f"building a corpus of {args.docs} documents")
    docs, bases = build_corpus(args.docs)
    base = docs[:bases]
    results["corpus"] = {
        "docs": len(docs),
        "text_bytes": sum(len(d["text"].encode("utf-8")) for d in docs),
        "base_docs": bases,
        "base_bytes": sum(len(d["text"].encode("utf-8")) for d in base),
        "origins": dict(Counter(d["origin"] for d in base)),
        "seed": SEED,
    }
    results["configs"] = {
        "ours": {k: dataclasses.asdict(v) for k, v in OUR_CONFIGS.items()},
        "datatrove": "each filter's defaults",
        "not_aligned": NOT_ALIGNED,
    }
    filters = datatrove_filters()
    if isinstance(filters, str):
        results["skipped"] = filters
    else:
        results["bench"] = bench(docs, filters)
    results["environment"]["load_average_at_end"] = os.getloadavg()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"\nresults: {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
