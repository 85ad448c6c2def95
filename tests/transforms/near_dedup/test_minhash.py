import numpy as np
import pytest

from transforms.near_dedup.minhash import MinHasher, shingle_hash32, shingle_hashes
from transforms.near_dedup.shingle import shingles

datasketch = pytest.importorskip("datasketch", reason="datasketch (dev extra) is the reference")

TEXTS = [
    "The quick brown fox jumps over the lazy dog. " * 20,
    "",
    "two words",
    " ".join(f"token{i}" for i in range(1000)),
    "École — naïve résumé, 東京 タワー; emoji 😀 and tabs\tand\nnewlines " * 3,
    "repeated repeated repeated repeated repeated repeated repeated",
]


def reference(text, num_perm, seed, scheme, ngram=5):
    m = datasketch.MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash32, scheme=scheme)
    m.update_batch([s.encode("utf-8") for s in shingles(text, ngram)])
    return m.hashvalues


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 7), (256, 42)])
def test_signatures_equal_datasketch_arrays(scheme, num_perm, seed):
    ours = MinHasher(num_perm, seed, scheme).signatures(TEXTS)
    for text, signature in zip(TEXTS, ours, strict=True):
        expected = reference(text, num_perm, seed, scheme)
        assert signature.dtype == expected.dtype
        np.testing.assert_array_equal(signature, expected)


def test_default_scheme_is_datasketchs_default():
    default = datasketch.MinHash(num_perm=128, seed=1, hashfunc=shingle_hash32)
    default.update_batch([s.encode() for s in shingles(TEXTS[0])])
    np.testing.assert_array_equal(MinHasher().signatures([TEXTS[0]])[0], default.hashvalues)


def test_vectorized_shingle_hashes_equal_the_reference_hash():
    for ngram in (1, 3, 5):
        hashes, per_doc = shingle_hashes(TEXTS, ngram)
        expected = [shingle_hash32(s.encode()) for t in TEXTS for s in shingles(t, ngram)]
        assert hashes.tolist() == expected
        assert per_doc.tolist() == [len(shingles(t, ngram)) for t in TEXTS]


def test_batching_does_not_change_signatures():
    hasher = MinHasher(128, 1)
    together = hasher.signatures(TEXTS * 50)  # spans several blocks of shingles
    alone = np.stack([hasher.signatures([t])[0] for t in TEXTS * 50])
    np.testing.assert_array_equal(together, alone)
    assert hasher.signatures([]).shape == (0, 128)


def test_threads_growing_the_shared_power_tables_get_the_single_threaded_hashes(monkeypatch):
    """The BASE power tables are shared by every thread of a process and grow on demand;
    a thread must never see one table grown and the other not (it raised IndexError)."""
    import threading

    from transforms.near_dedup import minhash

    texts = [" ".join(f"w{i}x{j}" for j in range(50 * (i + 1))) for i in range(40)]
    expected = [shingle_hashes([t], 5)[0] for t in texts]
    monkeypatch.setattr(minhash, "_POWERS", minhash._Powers())  # start small: every call grows
    errors, results = [], {}
    start = threading.Barrier(8)

    def work(worker):
        start.wait()
        try:
            for round_ in range(6):
                for i in range(worker % 4, len(texts), 2):
                    results[(worker, round_, i)] = shingle_hashes([texts[i]], 5)[0]
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for (_, _, i), hashes in results.items():
        np.testing.assert_array_equal(hashes, expected[i])
