"""The embedded demo corpus, generated deterministically on the machine (no download).

Three sources in three formats, with the problems real data has:
- web (C4-like `.json.gz`: text, url, timestamp): pages with navigation, cookie and footer
  boilerplate, some with e-mail addresses and phone numbers, a few in German, French or
  Spanish (for language ID), a few with an abusive reader comment (for the toxicity filter),
  exact copies of earlier pages under other URLs, near copies with a few words changed,
  plus two broken lines.
- books (Pile-format `.jsonl.zst`: text, meta.pile_set_name): long multi-paragraph texts.
- code (`.jsonl`: text, repo_path, lang): Python standard library source files read from
  this interpreter's own installation.
The same `scale` on the same Python installation gives the same bytes.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import sysconfig

import zstandard

SEED = 20261122
# The demo's source mix (stages.balance) when no other is configured: web pages are the
# bulk of a pretraining mix; books and code are smaller, curated shares.
SAMPLE_CORPUS_MIX = {"targets": {"web": 0.5, "books": 0.3, "code": 0.2}}

_SUBJECTS = (
    "the city council",
    "a local bakery",
    "the research team",
    "our editor",
    "the new library",
    "a small startup",
    "the river trail",
    "the museum",
    "a volunteer group",
    "the school board",
    "the orchestra",
    "a family farm",
    "the cycling club",
    "the weather service",
    "a young chef",
)
_VERBS = (
    "announced",
    "reviewed",
    "explained",
    "celebrated",
    "questioned",
    "opened",
    "described",
    "planned",
    "measured",
    "improved",
    "delayed",
    "shared",
    "tested",
    "welcomed",
    "compared",
)
_OBJECTS = (
    "a plan for the harbor",
    "the results of the survey",
    "a new reading program",
    "the budget for next year",
    "a recipe for sourdough bread",
    "the history of the bridge",
    "a map of the old town",
    "the schedule for the festival",
    "a study of bird migration",
    "the rules for the marathon",
    "a guide to winter gardening",
    "the cost of public transport",
)
_TAILS = (
    "after a long debate",
    "on Tuesday morning",
    "with help from residents",
    "despite the rain",
    "for the first time",
    "in a short statement",
    "at the community center",
    "without delay",
    "to everyone's surprise",
    "as promised last spring",
    "in front of a large crowd",
)
_LINKS = ("Home", "News", "Sports", "Culture", "Opinion", "About us", "Contact", "Subscribe")
# Local news in other languages: the `lang` stage keeps English only by default.
_FOREIGN = {
    "de": (
        "Der Stadtrat hat am Dienstag über den neuen Haushalt beraten.",
        "Viele Bürger wünschen sich mehr Radwege in der Innenstadt.",
        "Die Bibliothek bleibt wegen Umbauarbeiten bis zum Sommer geschlossen.",
        "Am Wochenende wird es im Süden des Landes sonnig und warm.",
        "Die Schule plant einen Ausflug in das Museum für Naturkunde.",
        "Nach dem Spiel feierten die Fans ihre Mannschaft auf dem Marktplatz.",
        "Die Preise für Gemüse sind in diesem Monat leicht gestiegen.",
        "Ein neues Café hat in der Nähe des Bahnhofs eröffnet.",
    ),
    "fr": (
        "Le conseil municipal a présenté mardi le nouveau budget de la ville.",
        "Beaucoup d'habitants demandent davantage de pistes cyclables.",
        "La bibliothèque restera fermée pour travaux jusqu'à l'été.",
        "Le week-end sera ensoleillé et doux dans le sud du pays.",
        "L'école prépare une sortie au musée d'histoire naturelle.",
        "Après le match, les supporters ont fêté leur équipe sur la place.",
        "Les prix des légumes ont légèrement augmenté ce mois-ci.",
        "Un nouveau café a ouvert ses portes près de la gare.",
    ),
    "es": (
        "El ayuntamiento presentó el martes el nuevo presupuesto de la ciudad.",
        "Muchos vecinos piden más carriles para bicicletas en el centro.",
        "La biblioteca permanecerá cerrada por obras hasta el verano.",
        "El fin de semana será soleado y templado en el sur del país.",
        "La escuela prepara una visita al museo de ciencias naturales.",
        "Después del partido, los aficionados celebraron en la plaza.",
        "Los precios de las verduras subieron un poco este mes.",
        "Una nueva cafetería abrió sus puertas cerca de la estación.",
    ),
}
# Abuse under an article, what the `toxicity` stage is for (insults, no slurs). A rant of a
# paragraph: the stage scores windows of about 96 words, in which one short insult fades.
_ABUSIVE_COMMENTS = (
    "Shut up, you stupid idiot. Nobody cares about your worthless opinion, moron. You are a "
    "pathetic loser and a complete joke, and everyone who reads this garbage is a brainless "
    "clown. Go away and stop wasting our time with your dumb crap, you useless fool.",
    "What a load of crap. The author is a dumb ass and so are you clowns in the comments. "
    "This is the dumbest bullshit I have ever read, written by a lying idiot for morons. "
    "Pathetic losers, all of you. Shut your stupid mouths and get lost.",
    "You are all idiots. This garbage site is run by worthless morons who cannot write one "
    "true sentence, and the people who believe it are even dumber. Stupid, pathetic, "
    "brainless fools. Shut up and crawl back under your rock, losers.",
)
_FIRST = ("Maria", "James", "Aiko", "Carlos", "Fatima", "Olga", "Kwame", "Lena")
_LAST = ("Rossi", "Smith", "Tanaka", "Garcia", "Haddad", "Ivanova", "Mensah", "Berg")
_PILE_SETS = ("Wikipedia (en)", "StackExchange", "FreeLaw", "Gutenberg (PG-19)")


def _sentences(rng: random.Random, count: int) -> list[str]:
    """`count` sentences (at most len(_TAILS)) that share no phrase with each other, so a
    page does not trip the Gopher repetition rules the way real boilerplate does."""
    parts = (_SUBJECTS, _VERBS, _OBJECTS, _TAILS)
    drawn = zip(*(rng.sample(part, count) for part in parts), strict=True)
    return [f"{s.capitalize()} {v} {o} {t}." for s, v, o, t in drawn]


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    """`count` paragraphs of 2 to 4 sentences, no phrase repeated across them."""
    sizes = [rng.randint(2, 4) for _ in range(count)]
    sentences = _sentences(rng, min(sum(sizes), len(_TAILS)))
    paragraphs, at = [], 0
    for size in sizes:
        if at < len(sentences):
            paragraphs.append(" ".join(sentences[at : at + size]))
        at += size
    return paragraphs


def _contact_line(rng: random.Random) -> str:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    phone = f"+1 ({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
    return f"Questions? Write to {first.lower()}.{last.lower()}@example.org or call {phone}."


def web_pages(count: int, rng: random.Random) -> list[dict]:
    """C4-like records; about 5% exact copies and 5% near copies of earlier pages, 3% pages
    in German, French or Spanish, and 2% of the rest end with an abusive reader comment."""
    pages = []
    for i in range(count):
        url = f"https://news{i % 37}.example.com/articles/{i:06d}"
        timestamp = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"
        roll = rng.random()
        if pages and roll < 0.05:
            text = rng.choice(pages)["text"]
        elif pages and roll < 0.10:
            words = rng.choice(pages)["text"].split(" ")
            for _ in range(3):
                words[rng.randrange(len(words))] = rng.choice(_VERBS)
            text = " ".join(words)
        elif roll < 0.13:
            sentences = rng.sample(_FOREIGN[rng.choice(sorted(_FOREIGN))], 6)
            text = "\n".join(" ".join(sentences[j : j + 3]) for j in (0, 3))
        else:
            body = _paragraphs(rng, rng.randint(2, 4))
            if rng.random() < 0.15:
                body.append(_contact_line(rng))
            if rng.random() < 0.02:
                body.append(f"Reader comment: {rng.choice(_ABUSIVE_COMMENTS)}")
            text = "\n".join(
                [
                    " | ".join(_LINKS),
                    "We use cookies to improve your experience. Accept all cookies",
                    f"{rng.choice(_SUBJECTS).title()} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}",
                    *body,
                    f"(c) 2024 news{i % 37}.example.com. All rights reserved.  Privacy policy",
                ]
            )
        pages.append({"text": text, "url": url, "timestamp": timestamp})
    return pages


def books(count: int, rng: random.Random) -> list[dict]:
    """Pile-format records: long texts tagged with a `meta.pile_set_name`."""
    return [
        {
            "text": "\n\n".join(
                paragraph for _ in range(rng.randint(2, 4)) for paragraph in _paragraphs(rng, 4)
            ),
            "meta": {"pile_set_name": _PILE_SETS[i % len(_PILE_SETS)]},
        }
        for i in range(count)
    ]


def stdlib_code(count: int, max_bytes: int = 40_000) -> list[dict]:
    """Python files of this interpreter's standard library (deterministic choice)."""
    root = sysconfig.get_paths()["stdlib"]
    candidates = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(
            d for d in subdirs if d not in ("site-packages", "test", "tests", "idlelib")
        )
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                if 500 <= os.path.getsize(path) <= max_bytes:
                    candidates.append(path)
    rng = random.Random(SEED)
    chosen = sorted(rng.sample(candidates, min(count, len(candidates))))
    records = []
    for path in chosen:
        with open(path, encoding="utf-8", errors="replace") as f:
            records.append(
                {"text": f.read(), "repo_path": os.path.relpath(path, root), "lang": "python"}
            )
    return records


def write_sample_corpus(directory: str, scale: float = 1.0) -> list[str]:
    """Write the corpus under `directory`; return tagged input specs (`name=GLOB`)."""
    os.makedirs(directory, exist_ok=True)
    rng = random.Random(SEED)
    web = web_pages(int(1200 * scale), rng)
    # Two broken lines show the dead-letter path in the demo.
    web_lines = [json.dumps(r) for r in web] + ['{"text": "an unterminated', '{"url": "no text"}']
    with open(os.path.join(directory, "web.json.gz"), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(("\n".join(web_lines) + "\n").encode("utf-8"))
    with open(os.path.join(directory, "books.jsonl.zst"), "wb") as f:
        lines = "".join(json.dumps(r) + "\n" for r in books(int(250 * scale), rng))
        f.write(zstandard.ZstdCompressor(level=3).compress(lines.encode("utf-8")))
    with open(os.path.join(directory, "code.jsonl"), "w", encoding="utf-8") as f:
        for record in stdlib_code(int(200 * scale)):
            f.write(json.dumps(record) + "\n")
    return sample_corpus_inputs(directory)


def sample_corpus_inputs(directory: str) -> list[str]:
    """The tagged input specs (`name=GLOB`) of the corpus `write_sample_corpus` writes."""
    return [
        f"web={directory}/web.json.gz",
        f"books={directory}/books.jsonl.zst",
        f"code={directory}/code.jsonl",
    ]


def write_clean_prose(path: str, count: int = 120, seed: int = SEED + 1) -> str:
    """Write `count` clean documents in the demo's prose (no boilerplate, contact details,
    other languages or comments; a seed of its own, so new pages) as JSON lines to `path`:
    held-out text for `python -m pipelines.ablate` on the demo. -> `clean=PATH`."""
    rng = random.Random(seed)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(count):
            text = "\n".join(_paragraphs(rng, rng.randint(2, 4)))
            f.write(json.dumps({"id": f"clean-{i:04d}", "text": text}) + "\n")
    return f"clean={path}"
