"""rejected/ and dead_letter/ hold no PII by default; only their text changes."""

import dataclasses
import gzip
import json

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.curate import run
from schemas.document import DeadLetter, Document, Rejected
from tests.conftest import jsonl_bytes, write_input
from transforms.pii import PiiConfig, Scrubber
from transforms.pii.dropped import (
    SNIPPET_CHARS,
    TRUNCATED,
    cut_tail,
    redact_dead_letters,
    redact_rejected,
)
from transforms.pii.stage import PiiRedaction, RedactDeadLetters, RedactRejected

EMAIL, PHONE = "leak.dropped.q7x@example.com", "+1 415 555 0142"
CONTACT = f"Write to {EMAIL} or call {PHONE} today."
REDACTED = "Write to <EMAIL_ADDRESS> or call <PHONE_NUMBER> today."


@pytest.fixture(scope="module")
def scrubber():
    return Scrubber(PiiConfig(code_sources=("code",)))


def _rejected(text, stage="quality", source="web", doc_id="a"):
    doc = Document(doc_id, text, source, "f.jsonl", url="https://x.example/", scores={"q": 1.0})
    return Rejected(doc, stage, "some_rule", duplicate_of="b" if stage == "exact_dedup" else None)


def test_rejected_text_is_redacted_and_nothing_else_changes(scrubber):
    batch = [_rejected(CONTACT), _rejected("no contact here", doc_id="b")]
    out = redact_rejected(scrubber, batch)
    assert out[0] == dataclasses.replace(
        batch[0], doc=dataclasses.replace(batch[0].doc, text=REDACTED)
    )
    assert out[1] is batch[1]


def test_rows_of_stages_that_redacted_already_pass_unchanged(scrubber):
    batch = [_rejected(CONTACT, stage="balance"), _rejected(CONTACT, stage="quality")]
    out = redact_rejected(scrubber, batch, redacted_stages=("pii", "balance"))
    assert out[0] is batch[0] and out[1].doc.text == REDACTED


def test_redacting_redacted_text_changes_nothing(scrubber):
    once = redact_rejected(scrubber, [_rejected(CONTACT)])
    assert redact_rejected(scrubber, once)[0] is once[0]


def test_rejected_code_loses_only_e_mail_addresses(scrubber):
    out = redact_rejected(scrubber, [_rejected(CONTACT, source="code")])
    assert out[0].doc.text == f"Write to <EMAIL_ADDRESS> or call {PHONE} today."


def test_dead_letter_snippets_are_redacted_and_a_value_cut_at_the_end_is_dropped(scrubber):
    whole = DeadLetter("web", "f.jsonl", "malformed JSON", 3, 120, '{"text": "' + CONTACT)
    cut = ('{"text": "' + "word " * 60)[: SNIPPET_CHARS - 14] + "mail me: jo.r@exa"
    cut = DeadLetter("web", "f.jsonl", "malformed JSON", 4, 320, cut[-SNIPPET_CHARS:])
    plain = DeadLetter("web", "f.jsonl", "no 'text' field (fields: url)", 5, 400, '{"url": 1}')
    out = redact_dead_letters(scrubber, [whole, cut, plain])
    assert out[0] == dataclasses.replace(whole, snippet='{"text": "' + REDACTED)
    assert out[1].snippet.endswith("mail me: " + TRUNCATED) and "jo.r" not in out[1].snippet
    assert out[2] is plain


def test_only_a_cut_tail_holding_an_at_sign_or_digits_is_dropped():
    assert cut_tail("call me on +1 415 55") == "call me on " + TRUNCATED
    assert cut_tail("write to jane.doe@exam") == "write to " + TRUNCATED
    assert cut_tail("just some words") == "just some words"
    assert cut_tail("mail <EMAIL_ADDRESS>") == "mail <EMAIL_ADDRESS>"


def test_the_snippet_length_is_the_readers():
    from transforms.readers import jsonl, warc

    assert SNIPPET_CHARS == jsonl.SNIPPET_CHARS == warc.SNIPPET_CHARS


def test_dropped_text_settings_are_checked():
    assert (
        PiiConfig().rejected_text == "redacted" and PiiConfig().dead_letter_snippets == "redacted"
    )
    assert PiiConfig.from_dict({"rejected_text": "full"}).rejected_text == "full"
    with pytest.raises(ValueError, match="stages.pii.rejected_text must be one of redacted, full"):
        PiiConfig(rejected_text="none")
    with pytest.raises(ValueError, match="stages.pii.dead_letter_snippets"):
        PiiConfig(dead_letter_snippets="raw")


def test_the_pii_stage_redacts_the_documents_it_drops_unless_told_not_to():
    text = " ".join(f"u{i}@example.com" for i in range(5))
    docs = [Document("c", text, "web", "f")]
    for setting, expected in (("redacted", " ".join(["<EMAIL_ADDRESS>"] * 5)), ("full", text)):
        with TestPipeline() as p:
            out = p | beam.Create(docs) | PiiRedaction(PiiConfig(max_hits=3, rejected_text=setting))
            assert_that(
                out | beam.Map(lambda r: (r.reason, r.doc.text)), equal_to([("pii", expected)])
            )


@pytest.mark.parametrize("setting", ["redacted", "full"])
def test_redact_rejected_step_redacts_unless_full_text_is_asked_for(setting):
    rows = [_rejected(CONTACT, doc_id=f"d{i}") for i in range(5)]
    rows.append(_rejected(CONTACT, stage="pii", doc_id="p"))
    expected = [
        (r.doc.id, REDACTED if setting == "redacted" and r.stage != "pii" else CONTACT)
        for r in rows
    ]
    with TestPipeline() as p:
        out = p | beam.Create(rows) | RedactRejected(PiiConfig(rejected_text=setting, batch_size=2))
        assert_that(out | beam.Map(lambda r: (r.doc.id, r.doc.text)), equal_to(expected))


@pytest.mark.parametrize("setting", ["redacted", "full"])
def test_redact_dead_letters_step_redacts_unless_full_snippets_are_asked_for(setting):
    dead = [DeadLetter("web", "f", "malformed JSON", i, i * 10, CONTACT) for i in range(3)]
    snippet = REDACTED if setting == "redacted" else CONTACT
    with TestPipeline() as p:
        out = p | beam.Create(dead) | RedactDeadLetters(PiiConfig(dead_letter_snippets=setting))
        assert_that(out, equal_to([dataclasses.replace(d, snippet=snippet) for d in dead]))


# End to end: real web pages, some dropped by the quality rules, dedup and language ID.
PHONES = ["+1 415 555 0142", "(212) 555-0187", "+44 20 7946 0958"]
EMAILS = ["dropped.canary.q7x@example.com", "zz.dropped-two@mailbox.example.org"]


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _write_corpus(fixtures, directory) -> str:
    """Real web pages with contact lines, exact copies of some (dropped by exact_dedup),
    contact-only snippets (too short to pass language ID or the quality rules), a German
    page, and two broken lines (dead letters, one cut inside a phone number)."""
    pages = []
    for f in sorted((fixtures / "web-jsonl").glob("*.gz")):
        pages += [json.loads(line)["text"] for line in gzip.open(f, "rt") if line.strip()]
    records = []
    for i, page in enumerate(pages[:24]):
        contact = f"Write to {EMAILS[i % 2]} or call {PHONES[i % 3]} for details."
        records.append({"id": f"page-{i}", "text": f"{page}\n{contact}"})
        if i % 4 == 0:
            records.append({"id": f"copy-{i}", "text": f"{page}\n{contact}"})
    for i in range(6):
        records.append({"id": f"short-{i}", "text": f"Mail {EMAILS[i % 2]}, call {PHONES[i % 3]}"})
    german = f"Bitte schreiben Sie an {EMAILS[0]} oder rufen Sie {PHONES[1]} an. Wir antworten "
    records.append({"id": "german", "text": german + "gerne auf alle Ihre Fragen."})
    broken = f'{{"id": "broken", "text": "write to {EMAILS[1]} or call {PHONES[2]} now'
    records += [broken.encode(), b'{"id": "cut", "text": "' + b"x " * 80 + b"call +1 415 555 0187"]
    write_input(directory / "web.jsonl", jsonl_bytes(records))
    return f"--input=web={directory}/*"


def _curate(input_flag: str, out, *flags):
    manifest = run(["--vocab_size=600", "--seq_len=128", f"--output={out}", input_flag, *flags])
    rejected = pq.read_table(out / "rejected").to_pylist()
    dead = [
        json.loads(line) for f in sorted((out / "dead_letter").glob("*.jsonl")) for line in f.open()
    ]
    return manifest, rejected, dead


def _leaks(texts) -> list[str]:
    joined = "\n".join(texts)
    found = [e for e in EMAILS if e in joined]
    return found + [p for p in PHONES if p in joined or _digits(p) in _digits(joined)]


def test_a_curate_run_writes_no_pii_to_rejected_or_dead_letters_unless_asked_to(fixtures, tmp_path):
    corpus = _write_corpus(fixtures, tmp_path / "in")
    manifest, rejected, dead = _curate(corpus, tmp_path / "default")
    full = json.dumps({"pii": {"rejected_text": "full", "dead_letter_snippets": "full"}})
    manifest_full, rejected_full, dead_full = _curate(corpus, tmp_path / "full", f"--stages={full}")

    reasons = {(r["stage"], r["reason"]) for r in rejected}
    assert {"quality", "exact_dedup", "lang"} <= {stage for stage, _ in reasons}
    assert len(dead) == 2
    # By default: not one e-mail address or phone number, not even its digits.
    assert _leaks(r["text"] for r in rejected) == []
    assert _leaks(d["snippet"] for d in dead) == []
    assert any("<EMAIL_ADDRESS>" in r["text"] for r in rejected)
    cut = [d["snippet"] for d in dead if "x x" in d["snippet"]]
    assert len(cut) == 1 and cut[0].endswith(TRUNCATED) and "415" not in cut[0], cut
    # Opted in: the text as read.
    assert set(_leaks(r["text"] for r in rejected_full)) == set(EMAILS + PHONES)
    assert set(_leaks(d["snippet"] for d in dead_full)) >= {EMAILS[1], PHONES[2]}
    assert any(d["snippet"].endswith("call +1 415 555 0") for d in dead_full)

    # The same rows and counts either way; only the text differs.
    def rows(table):
        return sorted((r["id"], r["stage"], r["reason"], r["duplicate_of"]) for r in table)

    assert rows(rejected) == rows(rejected_full)
    assert [(d["line"], d["offset"], d["error"]) for d in dead] == [
        (d["line"], d["offset"], d["error"]) for d in dead_full
    ]
    for key in ("records", "stages"):
        assert manifest[key] == manifest_full[key]
    assert manifest["records"]["balanced"]
    assert [s["rows"] for s in manifest["rejected"]["shards"]] == [
        s["rows"] for s in manifest_full["rejected"]["shards"]
    ]

    # Every other column of rejected/ is the same.
    def others(table):
        return sorted(
            json.dumps({k: v for k, v in r.items() if k != "text"}, sort_keys=True, default=str)
            for r in table
        )

    assert others(rejected) == others(rejected_full)
