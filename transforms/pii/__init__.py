"""PII redaction: presidio pattern recognizers, a screen so only candidate lines reach them.

Beam-free core: `scrub_text(text) -> (redacted_text, spans)` and `Scrubber`; the Beam stage is
`PiiRedaction` (stage.py). The same settings redact what leaves the pipeline beside the
curated documents, `rejected/` and `dead_letter/` (dropped.py; Beam steps `RedactRejected`,
`RedactDeadLetters`). Settings live under `stages: {pii: {...}}` (`PiiConfig`).
"""

from __future__ import annotations

import dataclasses
import hashlib

from transforms.pii.engine import DEFAULT_ENTITIES, build_analyzer
from transforms.pii.once import built_once, built_once_per_key
from transforms.settings import DEFAULT_CODE_SOURCES, config_from_dict

STAGE = "pii"
DROP_PII = "pii"
MODES = ("placeholder", "mask", "hash")
# What rejected/ and dead_letter/ keep of dropped text: run through this stage's redaction
# (the default), or as read.
REDACTED, FULL = "redacted", "full"
DROPPED_TEXT = (REDACTED, FULL)


@dataclasses.dataclass(frozen=True)
class PiiConfig:
    """Settings of the PII stage.

    entities: presidio entity types to redact (defaults: card, e-mail, IBAN, IP, phone, US
        SSN; any other type presidio finds without NER is analyzed on the whole text; PERSON
        and LOCATION need `spacy_model`).
    min_score: presidio's score threshold. 0.4 keeps presidio's medium patterns (phone 0.4,
        e-mail 0.5, SSN 0.5) and anything a context word lifted; weak patterns (score < 0.4,
        e.g. a bare 9-digit number as SSN, or our context-only card and phone patterns) count
        only with a context word.
    mode: "placeholder" (`<EMAIL_ADDRESS>`), "mask" (`mask_char` per character) or "hash"
        (`<EMAIL_ADDRESS:3f2a...>`, a salted BLAKE2b of the value, so equal values stay equal
        across documents without being recoverable; needs `hash_salt`).
    max_hits: documents with more PII spans are dropped with reason `pii` (a page listing
        dozens of contacts is a directory, not prose); None keeps every document.
    spacy_model: an installed spaCy model for NER entities; None uses spacy.blank("en").
    batch_size: documents analyzed together (their regions are tokenized in one spaCy pipe).
    code_entities: the only types redacted in source code (default e-mail addresses, e.g.
        authors' in file headers): in code, the phone, card and IP patterns match integer
        constants and version strings (`2147483647`, `1.2.3.4`), and rewriting them breaks
        the code.
    code_sources: `Document.source` names of source code (the pipelines set it from
        `--code_sources`).
    rejected_text: the text `rejected/` stores of each dropped document (at crawl scale most
        of the input, with all its contacts): "redacted" (default) redacts it with these
        settings, as kept documents are; "full" stores it as read, to debug the filters.
        Counts and rows are the same either way.
    dead_letter_snippets: the same for the `snippet` (up to 200 characters of unreadable
        input) of each `dead_letter/` record: "redacted" (default), where a value the cut
        at 200 characters may have split (a last word with "@", or last digit groups) also
        becomes `<TRUNCATED>`, or "full".
    """

    entities: tuple[str, ...] = DEFAULT_ENTITIES
    min_score: float = 0.4
    mode: str = "placeholder"
    mask_char: str = "*"
    hash_salt: str | None = None
    max_hits: int | None = 50
    spacy_model: str | None = None
    batch_size: int = 64
    code_entities: tuple[str, ...] = ("EMAIL_ADDRESS",)
    code_sources: tuple[str, ...] = DEFAULT_CODE_SOURCES
    rejected_text: str = REDACTED
    dead_letter_snippets: str = REDACTED

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(
                f"stages.pii.mode must be one of {', '.join(MODES)}, not {self.mode!r}"
            )
        if self.mode == "hash" and not self.hash_salt:
            raise ValueError("stages.pii.mode hash needs stages.pii.hash_salt")
        if len(self.mask_char) != 1:
            raise ValueError("stages.pii.mask_char must be one character")
        for name in ("rejected_text", "dead_letter_snippets"):
            if getattr(self, name) not in DROPPED_TEXT:
                raise ValueError(
                    f"stages.pii.{name} must be one of {', '.join(DROPPED_TEXT)}, "
                    f"not {getattr(self, name)!r}"
                )

    @classmethod
    def from_dict(cls, mapping) -> PiiConfig:
        return config_from_dict(cls, mapping, f"stages.{STAGE}")


@dataclasses.dataclass(frozen=True, slots=True)
class PiiSpan:
    """One redacted span: offsets in the input text, presidio's entity type and score."""

    start: int
    end: int
    entity_type: str
    score: float


def resolve_overlaps(results) -> list[PiiSpan]:
    """Non-overlapping spans from presidio results, sorted by start.

    presidio reports overlapping results of different types (a card number is also a valid
    phone number); the highest score wins, then the longer span, then the earlier one.
    """
    ranked = sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start, r.entity_type))
    chosen: list[PiiSpan] = []
    for r in ranked:
        if all(r.end <= c.start or c.end <= r.start for c in chosen):
            chosen.append(PiiSpan(r.start, r.end, r.entity_type, r.score))
    return sorted(chosen, key=lambda s: s.start)


def redact(text: str, spans: list[PiiSpan], config: PiiConfig) -> str:
    """`text` with each span replaced as `config.mode` says."""
    out, last = [], 0
    for s in spans:
        out.append(text[last : s.start])
        value = text[s.start : s.end]
        if config.mode == "mask":
            out.append(config.mask_char * len(value))
        elif config.mode == "hash":
            digest = hashlib.blake2b(
                value.encode("utf-8", "surrogatepass"),
                key=config.hash_salt.encode("utf-8")[:64],
                digest_size=8,
            ).hexdigest()
            out.append(f"<{s.entity_type}:{digest}>")
        else:
            out.append(f"<{s.entity_type}>")
        last = s.end
    out.append(text[last:])
    return "".join(out)


@built_once_per_key
def shared_analyzer(entities: tuple[str, ...], spacy_model: str | None, min_score: float):
    """The process's one RegionAnalyzer for these settings: presidio loads once per worker
    process (about a second), not once per thread or per DoFn; calls from several threads
    take turns on it."""
    from transforms.pii.screen import RegionAnalyzer

    return RegionAnalyzer(build_analyzer(entities, spacy_model), entities, min_score)


class Scrubber:
    """Finds and redacts PII with the process's analyzer for its settings (built by the
    first Scrubber that needs it). Thread-safe."""

    def __init__(self, config: PiiConfig | None = None):
        self.config = config or PiiConfig()
        self.analyzer = shared_analyzer(
            self.config.entities, self.config.spacy_model, self.config.min_score
        )

    def spans_batch(self, texts: list[str], allowed=None) -> list[list[PiiSpan]]:
        """Spans per text. `allowed`: per text, the entity types to keep (None: all), chosen
        before overlaps are resolved so that a dropped type never hides a kept one."""
        results = self.analyzer.analyze_batch(texts)
        allowed = allowed or [None] * len(texts)
        return [
            resolve_overlaps([r for r in found if types is None or r.entity_type in types])
            for found, types in zip(results, allowed, strict=True)
        ]

    def scrub_batch(self, texts: list[str]) -> list[tuple[str, list[PiiSpan]]]:
        """(redacted text, spans) per text."""
        return [
            (redact(t, spans, self.config), spans)
            for t, spans in zip(texts, self.spans_batch(texts), strict=True)
        ]

    def scrub(self, text: str) -> tuple[str, list[PiiSpan]]:
        return self.scrub_batch([text])[0]

    def allowed(self, source: str) -> tuple[str, ...] | None:
        """The entity types to redact in a text from `source` (None: all of `entities`)."""
        return self.config.code_entities if source in self.config.code_sources else None


@built_once
def _default_scrubber() -> Scrubber:
    return Scrubber()


def scrub_text(text: str) -> tuple[str, list[PiiSpan]]:
    """(redacted text, spans) with the default settings; each span has `start`, `end`
    (offsets in `text`), `entity_type` and `score`."""
    return _default_scrubber().scrub(text)


def __getattr__(name):  # the Beam steps import apache_beam; load them only when asked for
    if name in ("PII", "PiiRedaction", "RedactRejected", "RedactDeadLetters"):
        from transforms.pii import stage

        return getattr(stage, name)
    raise AttributeError(name)
