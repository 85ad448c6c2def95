"""PII redaction of what leaves the pipeline beside the curated documents.

Beam-free. `rejected/` stores the text of every dropped document and `dead_letter/` up to 200
characters of each unreadable record; both get the PII stage's redaction (same settings,
`PiiConfig.rejected_text` / `dead_letter_snippets` say whether). Only the text changes: the
records, their order and everything else about them stay as they are. The Beam steps are
`RedactRejected` and `RedactDeadLetters` (stage.py).
"""

from __future__ import annotations

import dataclasses
import re

from schemas.document import DeadLetter, Rejected
from transforms.pii import Scrubber, redact

# The readers' snippet length (transforms/readers: SNIPPET_CHARS): a snippet this long may
# have been cut inside a value.
SNIPPET_CHARS = 200
TRUNCATED = "<TRUNCATED>"
# The start of an e-mail address (up to and past its "@"), or of a phone number (digit
# groups split by spaces), at the very end of a cut snippet.
_CUT_TAIL = re.compile(
    r"(?<![\w.%+\-])(?:[\w.%+\-]*@[\w.\-]*|[+(]?\d[\d().\-]*(?: +[+(]?\d[\d().\-]*)*)$"
)


def redact_rejected(
    scrubber: Scrubber, batch: list[Rejected], redacted_stages=()
) -> list[Rejected]:
    """`batch` with each document's text redacted by `scrubber` (in source code only its
    `code_entities`). Rows dropped by one of `redacted_stages` (the PII stage, which redacts
    its own drops, and the stages after it) pass unchanged: their text is redacted already."""
    todo = [i for i, r in enumerate(batch) if r.stage not in redacted_stages]
    texts = [batch[i].doc.text for i in todo]
    found = scrubber.spans_batch(texts, [scrubber.allowed(batch[i].doc.source) for i in todo])
    out = list(batch)
    for i, text, spans in zip(todo, texts, found, strict=True):
        if spans:
            doc = dataclasses.replace(batch[i].doc, text=redact(text, spans, scrubber.config))
            out[i] = dataclasses.replace(batch[i], doc=doc)
    return out


def redact_dead_letters(scrubber: Scrubber, batch: list[DeadLetter]) -> list[DeadLetter]:
    """`batch` with each snippet redacted by `scrubber`, and a value the readers' cut may
    have split at its end (which no recognizer finds any more) replaced by `<TRUNCATED>`."""
    snippets = [d.snippet for d in batch]
    found = scrubber.spans_batch(snippets, [scrubber.allowed(d.source) for d in batch])
    out = []
    for dead, snippet, spans in zip(batch, snippets, found, strict=True):
        redacted = redact(snippet, spans, scrubber.config)
        if len(snippet) >= SNIPPET_CHARS:
            redacted = cut_tail(redacted)
        out.append(dead if redacted == snippet else dataclasses.replace(dead, snippet=redacted))
    return out


def cut_tail(snippet: str) -> str:
    """`snippet` with what may be the start of an e-mail address or phone number cut off at
    its end (a word with "@", or digit groups) replaced by `<TRUNCATED>`."""
    m = _CUT_TAIL.search(snippet)
    return snippet if m is None else snippet[: m.start()] + TRUNCATED
