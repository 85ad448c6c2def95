"""The presidio analyzer the PII stage uses: pattern recognizers on a blank spaCy pipeline.

Beam-free. `build_analyzer(entities, spacy_model=None)` returns a presidio `AnalyzerEngine`
whose registry holds exactly the recognizers for `entities`; the fast path
(`transforms.pii.screen`) and the whole-document reference both use it, so "the same
recognizers" is one object, not a convention.

Nothing reaches the network: presidio's e-mail recognizer validates the domain with
`tldextract`, whose default extractor downloads the public suffix list on first use; ours
reads the snapshot bundled with tldextract instead.

Every worker process builds it once, so building is kept short (see `build_analyzer`).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import logging
import os
import sys
import threading

from transforms.pii.once import built_once

# Entity types found by regular expressions and checksums alone (no NER model needed), the
# ones the stage redacts by default: they identify or reach a person directly.
DEFAULT_ENTITIES = (
    "CREDIT_CARD",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "PHONE_NUMBER",
    "US_SSN",
)
# Entities only a spaCy NER model finds; available when `spacy_model` names an installed
# English model (pip install ".[ner]" plus the model package).
NER_ENTITIES = ("PERSON", "LOCATION")
LANGUAGE = "en"
# spaCy lists "call" as a stop word, and presidio never takes a stop word as context, so
# "call me on 555 0134" could not count. Our engine's stop words leave it out.
CONTEXT_NOT_STOP_WORDS = frozenset({"call"})


@built_once
def offline_tld_extractor():
    """A tldextract extractor that uses only the suffix list bundled with tldextract.

    One per process, shared by every thread's e-mail recognizer: it is used once here, under
    `built_once`'s lock, because tldextract loads its suffix list lazily on first use without
    a lock; after that it is only read."""
    import tldextract

    extractor = tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
    )
    extractor("example.com")
    return extractor


def _lemma(token) -> str:
    """The word presidio's context enhancer compares with a recognizer's context words.

    A blank pipeline has no lemmatizer (every `lemma_` is empty, which silently disables
    context), so the lower-cased token stands in. Whitespace tokens get "" (punctuation to
    presidio, so never a context word) and ":" becomes a space, because presidio splits
    keywords on ":" and a split piece could make a stop word count as a keyword everywhere
    in the document. With both rules, whether a token is a context keyword depends on the
    token alone, which is what lets the fast path analyze regions (see screen.py).
    """
    if token.is_space:
        return ""
    lemma = token.lemma_ or token.lower_
    return lemma.lower().replace(":", " ")


def _nlp_engine_class():
    from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
    from spacy.lang.lex_attrs import is_punct

    class BlankSpacyNlpEngine(SpacyNlpEngine):
        """SpacyNlpEngine on `spacy.blank("en")` (or an installed model for NER).

        Stop word and punctuation checks do not go through the spaCy vocabulary, which
        would otherwise grow with every distinct word a long-running worker sees.
        """

        def __init__(self, model_name: str | None = None):
            super().__init__(models=[{"lang_code": LANGUAGE, "model_name": model_name or "blank"}])
            self._model_name = model_name

        def load(self) -> None:
            import spacy

            nlp = spacy.load(self._model_name) if self._model_name else spacy.blank(LANGUAGE)
            self.nlp = {LANGUAGE: nlp}
            self._stop_words = frozenset(nlp.Defaults.stop_words) - CONTEXT_NOT_STOP_WORDS

        def is_stopword(self, word: str, language: str) -> bool:
            return word.lower() in self._stop_words

        def is_punct(self, word: str, language: str) -> bool:
            return is_punct(word)

        def _doc_to_nlp_artifact(self, doc, language):
            entities = self._get_entities(doc)
            scores = self._get_scores_for_entities(doc)
            entities, scores = self._get_updated_entities(entities, scores)
            return NlpArtifacts(
                entities=entities,
                tokens=doc,
                tokens_indices=[t.idx for t in doc],
                lemmas=[_lemma(t) for t in doc],
                nlp_engine=self,
                language=language,
                scores=scores,
            )

    return BlankSpacyNlpEngine


def is_context_keyword(lemma: str, stop_words: frozenset) -> bool:
    """Whether presidio's `NlpArtifacts.set_keywords` keeps `lemma` (see `_lemma`)."""
    from spacy.lang.lex_attrs import is_punct

    return not (lemma.lower() in stop_words or is_punct(lemma) or lemma in ("-PRON-", "be"))


def predefined_recognizers() -> list:
    """New instances of presidio's predefined recognizers for English, less its NER one,
    as presidio's registry loads them."""
    from presidio_analyzer import RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    # presidio warns once per recognizer of another language it skips; nothing to act on.
    log = logging.getLogger("presidio-analyzer")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        registry.load_predefined_recognizers(languages=[LANGUAGE])
    finally:
        log.setLevel(level)
    return [r for r in registry.recognizers if not isinstance(r, SpacyRecognizer)]


def presidio_recognizers(entities, spacy_model: str | None = None) -> list:
    """Recognizer instances for `entities`: presidio's own, the offline e-mail recognizer,
    the word-safe IBAN recognizer, and the added recognizers of `transforms.pii.recognizers`."""
    from presidio_analyzer.predefined_recognizers import (
        EmailRecognizer,
        IbanRecognizer,
        SpacyRecognizer,
    )

    from transforms.pii.recognizers import extra_recognizers, iban_recognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        """presidio's e-mail recognizer, validating domains against the bundled suffix list."""

        def validate_result(self, pattern_text: str):
            return offline_tld_extractor()(pattern_text).fqdn != ""

    wanted = set(entities)
    chosen = []
    for recognizer in predefined_recognizers():
        if not wanted.intersection(recognizer.supported_entities):
            continue
        if isinstance(recognizer, EmailRecognizer):
            recognizer = OfflineEmailRecognizer(context=recognizer.context)
        elif isinstance(recognizer, IbanRecognizer):
            recognizer = iban_recognizer(recognizer)
        chosen.append(recognizer)
    chosen.extend(r for r in extra_recognizers() if wanted.intersection(r.supported_entities))
    ner = wanted.intersection(NER_ENTITIES)
    if ner:
        if not spacy_model:
            raise ValueError(f"entities {sorted(ner)} need an English spaCy model (spacy_model)")
        chosen.append(SpacyRecognizer(supported_entities=sorted(ner)))
    supported = {e for r in chosen for e in r.supported_entities}
    missing = sorted(wanted - supported)
    if missing:
        raise ValueError(f"no presidio recognizer without NER finds {', '.join(missing)}")
    return chosen


class _NoTorchForThisThread(importlib.abc.MetaPathFinder):
    """Makes `import torch` fail, for the thread that installed it only."""

    def __init__(self):
        self.thread = threading.get_ident()

    def find_spec(self, name, path=None, target=None):
        if name == "torch" and threading.get_ident() == self.thread:
            raise ImportError("torch is not needed by a blank spaCy pipeline")
        return None


@contextlib.contextmanager
def _thinc_without_torch(blank: bool):
    """spaCy's thinc imports torch on first import (1.3-2 s) only to learn about GPUs and
    torch-backed layers; a blank pipeline uses neither. When thinc is not imported yet and
    the pipeline is blank, this thread's imports inside the block see no torch, so thinc
    records `has_torch = False`. Other threads, and later imports, see torch as usual."""
    if not blank or "thinc" in sys.modules or "torch" in sys.modules:
        yield
        return
    finder = _NoTorchForThisThread()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


# Per thread: whether presidio's `Pattern` skips its regex check (see `_unchecked_patterns`).
_UNCHECKED = threading.local()
_CHECK_LOCK = threading.Lock()


def _install_pattern_check() -> bool:
    """Route presidio's `Pattern` regex check through one that this thread can switch off,
    once presidio has defined `Pattern` (idempotent; False if it has not yet). Other
    threads, and this one outside `_unchecked_patterns`, check as before. A presidio without
    that check method is left as it is."""
    pattern_cls = getattr(sys.modules.get("presidio_analyzer.pattern"), "Pattern", None)
    if pattern_cls is None:
        return False
    with _CHECK_LOCK:
        method = pattern_cls.__dict__.get("_Pattern__validate_regex")
        if not isinstance(method, staticmethod):
            return True
        check = method.__func__
        if not getattr(check, "skippable", False):

            def validate_regex(pattern: str) -> None:
                if not getattr(_UNCHECKED, "on", False):
                    check(pattern)

            validate_regex.skippable = True
            pattern_cls._Pattern__validate_regex = staticmethod(validate_regex)
    return True


class _PatternCheckInstaller(importlib.abc.MetaPathFinder):
    """Installs the switchable check as soon as presidio has defined `Pattern` (at the next
    module this thread imports), before any recognizer module makes one."""

    def __init__(self):
        self.thread = threading.get_ident()
        self.installed = False

    def find_spec(self, name, path=None, target=None):
        if not self.installed and threading.get_ident() == self.thread:
            self.installed = _install_pattern_check()
        return None


@contextlib.contextmanager
def _unchecked_patterns():
    """presidio's `Pattern(...)` compiles its regex only to check it and throws it away; its
    recognizer compiles it again, with the registry's flags, when it first analyzes. The
    modules presidio imports make about 180 Patterns (URL, country-specific ones) and the
    check costs most of a second per process. Inside this block this thread's Patterns skip
    it: every regex is compiled once, where it is used (an invalid one still fails there)."""
    finder = None
    if not _install_pattern_check():
        finder = _PatternCheckInstaller()
        sys.meta_path.insert(0, finder)
    previous, _UNCHECKED.on = getattr(_UNCHECKED, "on", False), True
    try:
        yield
    finally:
        _UNCHECKED.on = previous
        if finder is not None:
            sys.meta_path.remove(finder)


def build_analyzer(entities=DEFAULT_ENTITIES, spacy_model: str | None = None):
    """A loaded `AnalyzerEngine` with exactly the recognizers for `entities`.

    `spacy_model` names an installed spaCy model (e.g. "en_core_web_sm") for NER entities;
    None uses `spacy.blank("en")`. Loading takes about a second: do it once per worker.
    """
    # presidio imports torch (seconds) only to choose a device for NER models; pattern
    # recognizers and spaCy's CPU pipelines have no use for one. A user's choice stands.
    os.environ.setdefault("PRESIDIO_DEVICE", "cpu")
    with _unchecked_patterns():
        with _thinc_without_torch(blank=spacy_model is None):
            from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

        nlp_engine = _nlp_engine_class()(spacy_model)
        nlp_engine.load()
        registry = RecognizerRegistry(
            recognizers=presidio_recognizers(entities, spacy_model),
            supported_languages=[LANGUAGE],
        )
        return AnalyzerEngine(
            registry=registry, nlp_engine=nlp_engine, supported_languages=[LANGUAGE]
        )


def analyze_whole(analyzer, text: str, entities=DEFAULT_ENTITIES, min_score: float = 0.0) -> list:
    """The reference: presidio on the whole text, results sorted by (start, end, type)."""
    results = analyzer.analyze(
        text=text, language=LANGUAGE, entities=list(entities), score_threshold=min_score
    )
    return sorted(results, key=lambda r: (r.start, r.end, r.entity_type))
