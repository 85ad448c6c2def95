"""PII from several threads of one process at once gives the single-threaded results."""

import json
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines.sample_corpus import web_pages
from tests.conftest import find_fixtures
from transforms.pii import Scrubber, scrub_text
from transforms.pii.engine import DEFAULT_ENTITIES, analyze_whole, build_analyzer
from transforms.pii.once import built_once
from transforms.pii.screen import RegionAnalyzer

THREADS = 6
# lru_cache memoizes a pure function and is thread-safe; any other shared cache is a bug.
THREAD_SAFE_MEMOS = {"_valid_in_some_region"}


def _texts() -> list[str]:
    """presidio-synth PII sentences when the fixtures are there (generated web pages, some
    with contact blocks, when not), plus contact lines repeated across pages."""
    fixtures = find_fixtures()
    if fixtures is not None:
        synth_file = fixtures / "pii" / "presidio-synth-1000.json"
        texts = [r["full_text"] for r in json.loads(synth_file.read_text())[:120]]
    else:
        texts = [page["text"] for page in web_pages(120, random.Random(3))]
    # The same contact lines on many "pages", as a site repeats them: the phone-window memo
    # is hit, filled and (with a tiny size) cleared while other threads read it.
    for i in range(40):
        texts.append(
            f"Page {i}. Call our office on +1 415 555 01{i % 7}4 or (212) 555-0187.\n"
            f"Orders: shop{i % 3}@example.com, IBAN ES91 2100 0418 4502 0005 1332 before noon."
        )
    return texts


@pytest.fixture
def fast_switching():
    """Switch threads every few microseconds so that they interleave inside the calls."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def _on_threads(work, n: int = THREADS) -> list:
    barrier = threading.Barrier(n)

    def run(k):
        barrier.wait()
        return work(k)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def _shuffled(n: int, seed: int) -> list[int]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def test_scrub_text_from_many_threads_gives_the_single_threaded_results(
    monkeypatch, fast_switching
):
    from transforms.pii import screen

    monkeypatch.setattr(screen, "PHONE_CACHE_SIZE", 8)
    texts = _texts()
    expected = [scrub_text(t) for t in texts]

    def work(k):
        return {i: scrub_text(texts[i]) for i in _shuffled(len(texts), k)}

    for got in _on_threads(work):
        assert [got[i] for i in range(len(texts))] == expected


def test_a_scrubber_per_thread_gives_the_single_threaded_results(monkeypatch, fast_switching):
    from transforms.pii import screen

    monkeypatch.setattr(screen, "PHONE_CACHE_SIZE", 8)
    texts = _texts()
    expected = Scrubber().scrub_batch(texts)
    scrubbers = [Scrubber() for _ in range(THREADS)]  # as one DoFn instance per thread

    def work(k):
        order = _shuffled(len(texts), k)
        got = {}
        for start in range(0, len(order), 16):
            batch = order[start : start + 16]
            for i, out in zip(
                batch, scrubbers[k].scrub_batch([texts[i] for i in batch]), strict=True
            ):
                got[i] = out
        return got

    for got in _on_threads(work):
        assert [got[i] for i in range(len(texts))] == expected


def test_one_presidio_analyzer_serves_regions_and_whole_texts_on_threads_at_once(
    fast_switching,
):
    """RegionAnalyzer stands in for the phone recognizer's `analyze` while it analyzes a
    region; another thread using the same analyzer must never see that stand-in."""
    analyzer = build_analyzer()
    region = RegionAnalyzer(analyzer, DEFAULT_ENTITIES, 0.4)
    texts = _texts()[100:]

    def key(results):
        return [(r.start, r.end, r.entity_type, round(r.score, 9)) for r in results]

    expected = [key(analyze_whole(analyzer, t, min_score=0.4)) for t in texts]
    assert [key(r) for r in region.analyze_batch(texts)] == expected

    def work(k):
        if k % 2:
            return [key(analyze_whole(analyzer, t, min_score=0.4)) for t in texts]
        return [key(region.analyze(t)) for t in texts]

    for got in _on_threads(work):
        assert got == expected


def test_built_once_builds_once_when_many_threads_ask_at_once():
    calls = []

    @built_once
    def value():
        calls.append(1)
        time.sleep(0.05)
        return object()

    got = _on_threads(lambda _: value(), 8)
    assert len(calls) == 1 and all(v is got[0] for v in got)


def test_nothing_shared_at_module_level_in_the_pii_package_is_mutable():
    import importlib

    names = ("", ".dropped", ".engine", ".once", ".recognizers", ".screen")
    names += (".shortphones", ".stage")
    for name in names:
        module = importlib.import_module("transforms.pii" + name)
        for attr, value in vars(module).items():
            if attr.startswith("__"):
                continue
            where = f"transforms.pii{name}.{attr}"
            assert not isinstance(value, (dict, list, set, bytearray)), where
            if hasattr(value, "cache_info"):  # a functools cache: may build twice, or differ
                assert attr in THREAD_SAFE_MEMOS, where
