"""The token files, read by the trainers' own readers (not ours): megatron-core's
IndexedDataset and GPTDataset, nanoGPT's np.memmap, litdata's StreamingDataset with
TokensLoader, and HF datasets' parquet loader; the validation split keeps every copy and
every near-duplicate cluster on one side; every engine writes the same bytes.

One balanced corpus (the sample corpus plus planted near-duplicate pairs), curated with all
four formats on the in-memory DirectRunner (the reference), on 4 threads, on Dask, and with
megatron only. Module-scoped runs, shared by the tests.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from pipelines.curate import main, run
from pipelines.sample_corpus import web_pages, write_sample_corpus
from schemas.arrow import table_to_documents
from tokenizer.formats import OUTPUT_FORMATS, document_files, token_dtype
from tokenizer.litdata import INDEX_FILENAME, litdata_index
from tokenizer.plan import in_validation
from transforms.near_dedup.shingle import shingles

FRACTION = 0.3
MIX = {"web": 0.4, "books": 0.25, "code": 0.1, "c4": 0.25}
ARGS = [
    "--vocab_size=800",
    "--seq_len=64",
    "--dp_world_size=2",
    "--target_shard_bytes=150000",  # a few groups per split
    f"--validation_fraction={FRACTION}",
    f"--stages={json.dumps({'balance': {'targets': MIX}})}",
]
ALL_FORMATS = [f"--output_format={f}" for f in OUTPUT_FORMATS]
SPLITS = ("train", "validation")
PLANTED_PAIRS = 80
NEAR = 0.8  # the near-dedup threshold (transforms.near_dedup.config)


def write_planted_pairs(path: Path) -> None:
    """Web pages, each followed by an edited copy under another id: the second word of the
    first paragraph (the first lines are boilerplate that cleaning strips) replaced, so
    only the first two shingles of ~55 differ, a Jaccard near 0.93, far enough above the
    threshold that MinHash LSH finds every pair. The ids hash to the two splits
    independently, so many pairs have their two members on different sides."""
    rng = random.Random(11)
    records = []
    for i, page in enumerate(web_pages(PLANTED_PAIRS, rng)):
        lines = page["text"].split("\n")
        if len(lines) > 4:  # links, cookies, title, paragraphs..., footer
            words = lines[3].split(" ")
            words[1] = "planted"
            lines[3] = " ".join(words)
        edited = "\n".join(lines)
        for suffix, text in (("", page["text"]), ("-edited", edited)):
            records.append({"id": f"pair-{i:03d}{suffix}", "text": text, "url": page["url"]})
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("trainer-corpus")
    specs = write_sample_corpus(str(root / "sample"), scale=0.1)
    write_planted_pairs(root / "pairs.jsonl")
    specs.append(f"c4={root / 'pairs.jsonl'}")
    return [f"--input={spec}" for spec in specs]


def _curate(out: Path, corpus: list[str], *extra: str) -> dict:
    return run([*ARGS, *extra, f"--output={out}", *corpus])


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> tuple[Path, dict]:
    """All four formats on the in-memory DirectRunner."""
    out = tmp_path_factory.mktemp("reference")
    manifest = _curate(out, corpus, *ALL_FORMATS)
    assert manifest["records"]["balanced"]
    return out, manifest


@pytest.fixture(scope="module")
def threaded(corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("threaded")
    mode = ["--direct_running_mode=multi_threading", "--direct_num_workers=4"]
    return out, _curate(out, corpus, *ALL_FORMATS, *mode)


@pytest.fixture(scope="module")
def megatron_only(corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("megatron-only")
    return out, _curate(out, corpus, "--output_format=megatron")


@pytest.fixture(scope="module")
def indexed_dataset():
    """megatron-core's IndexedDataset class, its import warnings (no Apex, no Transformer
    Engine) silenced."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        module = pytest.importorskip(
            "megatron.core.datasets.indexed_dataset", reason="needs megatron-core"
        )
    return module.IndexedDataset


def _documents(out: Path) -> list:
    return table_to_documents(pq.read_table(out / "documents"))


def _split_of(doc) -> str:
    return "validation" if doc.scores["tokens.validation"] else "train"


def _copies(doc) -> int:
    return int(doc.scores.get("balance.sampled_copies", 1))


def _files(manifest: dict, fmt: str, split: str, ext: str = "bin") -> list[str]:
    return [f["path"] for f in manifest["formats"][fmt][split]["files"] if f["path"].endswith(ext)]


def _megatron_documents(out: Path, manifest: dict, split: str, indexed_dataset):
    """Per .bin/.idx pair of the split in file order: (prefix, [sequence ids as read by
    megatron-core])."""
    listed = []
    for path in _files(manifest, "megatron", split):
        prefix = str(out / path.removesuffix(".bin"))
        dataset = indexed_dataset(prefix)
        listed.append((prefix, dataset, [np.asarray(dataset[i]) for i in range(len(dataset))]))
    return listed


# 1. megatron-core -------------------------------------------------------------------------


def test_megatron_core_reads_every_copy_of_every_curated_document(reference, indexed_dataset):
    out, manifest = reference
    tokenizer = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    eos = manifest["tokenizer"]["eos_id"]
    docs = _documents(out)
    for split in SPLITS:
        split_docs = [d for d in docs if _split_of(d) == split]
        text_of = {
            tuple(tokenizer.encode(d.text, add_special_tokens=False).ids): d.text
            for d in split_docs
        }
        assert len(text_of) == len(split_docs)  # no two curated texts encode alike
        assert manifest["formats"]["megatron"][split]["dtype"] == "uint16"
        read = _megatron_documents(out, manifest, split, indexed_dataset)
        assert len(read) > 1  # several groups, so file order matters
        decoded = Counter()
        for _, dataset, sequences in read:
            assert dataset.index.dtype == np.uint16
            for ids in sequences:
                assert ids[-1] == eos and eos not in ids[:-1]
                decoded[text_of[tuple(ids[:-1].tolist())]] += 1
        assert sum(decoded.values()) == manifest["splits"][split]["copies"]
        assert decoded == Counter({d.text: _copies(d) for d in split_docs})
        assert max(decoded.values()) > 1 or split == "validation"  # balance repeats pages


def test_megatron_core_gpt_dataset_builds_samples_from_a_prefix(reference, indexed_dataset):
    """GPTDataset (compiled helpers, no GPU, no torch.distributed) builds one epoch of
    seq_len + 1 samples, each a window of its document order's token stream."""
    out, manifest = reference
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        gpt = pytest.importorskip("megatron.core.datasets.gpt_dataset")
        utils = pytest.importorskip("megatron.core.datasets.utils")
        try:
            from megatron.core.datasets import helpers_cpp  # noqa: F401
        except ImportError:
            pytest.skip("megatron-core's compiled dataset helpers are missing")

    class _Tokenizer:  # what GPTDataset asks of a tokenizer
        vocab_size = manifest["tokenizer"]["vocab_size"]
        eod = manifest["tokenizer"]["eos_id"]
        pad = manifest["tokenizer"]["pad_id"]
        unique_identifiers = {"class": "_Tokenizer"}

    seq_len = 64
    config = gpt.GPTDatasetConfig(
        random_seed=1234,
        sequence_length=seq_len,
        reset_position_ids=False,
        reset_attention_mask=False,
        eod_mask_loss=False,
        tokenizer=_Tokenizer(),
        path_to_cache=None,
    )
    prefix = str(out / _files(manifest, "megatron", "train")[0].removesuffix(".bin"))
    low_level = gpt.GPTDataset.build_low_level_dataset(prefix, config)
    indices = np.arange(len(low_level), dtype=np.int32)
    dataset = gpt.GPTDataset(low_level, prefix, indices, None, utils.Split.train, config)
    stream = np.concatenate([np.asarray(low_level[int(d)]) for d in dataset.document_index])
    assert len(dataset) == (len(stream) - 1) // seq_len
    for i in range(len(dataset)):
        sample = dataset[i]
        start = int(dataset.shuffle_index[i]) * seq_len
        window = stream[start : start + seq_len + 1]
        assert sample["tokens"].tolist() == window[:-1].tolist()
        assert sample["labels"].tolist() == window[1:].tolist()


# 2. nanoGPT ------------------------------------------------------------------------------


def test_nanogpt_memmap_is_the_megatron_stream(reference, indexed_dataset):
    out, manifest = reference
    for split in SPLITS:
        nanogpt = _files(manifest, "nanogpt", split)
        megatron = _megatron_documents(out, manifest, split, indexed_dataset)
        assert [Path(p).name for p in nanogpt] == [Path(p).name + ".bin" for p, _, _ in megatron]
        assert manifest["formats"]["nanogpt"][split]["dtype"] == "uint16"
        for path, (prefix, _, sequences) in zip(nanogpt, megatron, strict=True):
            stream = np.memmap(out / path, dtype=np.uint16, mode="r")
            assert np.array_equal(stream, np.fromfile(prefix + ".bin", dtype=np.uint16))
            assert np.array_equal(stream, np.concatenate(sequences))


def test_each_group_is_packed_in_the_document_files_order(reference):
    """Parquet shard g starts with group g's own rows (`ShardLayout.blocks`): the first
    whole rows of the same stream the megatron and nanoGPT files of group g hold."""
    out, manifest = reference
    seq_len = manifest["tokens"]["seq_len"]
    for split, section in (("train", manifest["tokens"]), ("validation", manifest["validation"])):
        shards = [s["path"] for s in section["shards"]]
        streams = _files(manifest, "nanogpt", split)
        assert [Path(p).stem for p in shards] == [Path(p).stem for p in streams]
        for shard, path in zip(shards, streams, strict=True):
            rows = pq.read_table(out / shard, columns=["input_ids"]).column(0).to_pylist()
            packed = np.concatenate([np.asarray(r) for r in rows])
            stream = np.fromfile(out / path, dtype=np.uint16)
            own = min(len(packed), len(stream) // seq_len * seq_len)
            assert own > 0 and np.array_equal(packed[:own], stream[:own])


def test_a_vocabulary_over_uint16_widens_the_token_ids(tmp_path, indexed_dataset):
    """nanoGPT: uint32 above 65,536 entries; megatron: int32 from 65,500 (megatron-core's
    DType.optimal_dtype), read back by megatron-core."""
    documents = [np.array([69998, 65536, 7], dtype=np.int64), np.array([65535], dtype=np.int64)]
    eos = 69999
    expected = [69998, 65536, 7, eos, 65535, eos]
    ((path, data, facts),) = document_files("nanogpt", "train", 0, 1, documents, eos, 70000)
    assert path == "nanogpt/train-00000-of-00001.bin" and facts["dtype"] == "uint32"
    (tmp_path / "nano.bin").write_bytes(data)
    assert np.memmap(tmp_path / "nano.bin", dtype=np.uint32, mode="r").tolist() == expected
    files = document_files("megatron", "validation", 2, 3, documents, eos, 70000)
    assert [p for p, _, _ in files] == [
        "megatron/validation-00002-of-00003.bin",
        "megatron/validation-00002-of-00003.idx",
    ]
    for path, data, facts in files:
        assert facts["dtype"] == "int32" and facts["documents"] == 2 and facts["tokens"] == 6
        (tmp_path / ("wide" + Path(path).suffix)).write_bytes(data)
    dataset = indexed_dataset(str(tmp_path / "wide"))
    assert dataset.index.dtype == np.int32 and len(dataset) == 2
    assert [dataset[i].tolist() for i in range(2)] == [expected[:4], expected[4:]]
    # the thresholds, each side
    assert (
        token_dtype("megatron", 65499) == np.uint16 and token_dtype("megatron", 65500) == np.int32
    )
    assert token_dtype("nanogpt", 65536) == np.uint16 and token_dtype("nanogpt", 65537) == np.uint32


# 3. litdata ------------------------------------------------------------------------------


def test_litdata_tokens_loader_yields_each_chunks_blocks(reference, tmp_path, monkeypatch):
    monkeypatch.setenv("LITDATA_DISABLE_VERSION_CHECK", "1")
    litdata = pytest.importorskip("litdata", reason="needs litdata")
    out, manifest = reference
    block = 50
    for split in SPLITS:
        expected = []
        for path in _files(manifest, "nanogpt", split):  # the same stream, group by group
            stream = np.fromfile(out / path, dtype=np.uint16)
            whole = len(stream) // block * block
            expected += [stream[i : i + block] for i in range(0, whole, block)]
        chunks = _files(manifest, "litdata", split)
        assert len(chunks) == len(_files(manifest, "nanogpt", split)) > 1
        dataset = litdata.StreamingDataset(
            str(out / "litdata" / split),
            item_loader=litdata.TokensLoader(block_size=block),
            cache_dir=str(tmp_path / "cache" / split),
        )
        blocks = [np.asarray(b) for b in dataset]
        assert len(dataset) == len(blocks) == len(expected)
        assert all(np.array_equal(b, e) for b, e in zip(blocks, expected, strict=True))


def test_litdata_reads_int32_chunks_of_a_wide_vocabulary(tmp_path, monkeypatch):
    monkeypatch.setenv("LITDATA_DISABLE_VERSION_CHECK", "1")
    litdata = pytest.importorskip("litdata", reason="needs litdata")
    documents = [np.array([69998, 65536, 7]), np.array([65535, 1, 2, 3])]
    eos = 69999
    stream = [69998, 65536, 7, eos, 65535, 1, 2, 3, eos]
    ((path, data, facts),) = document_files("litdata", "train", 0, 1, documents, eos, 70000)
    assert facts["dtype"] == "int32" and facts["tokens"] == len(stream)
    folder = tmp_path / "litdata" / "train"
    folder.mkdir(parents=True)
    (tmp_path / path).write_bytes(data)
    chunk = {"filename": Path(path).name, "tokens": facts["tokens"], "bytes": len(data)}
    (folder / INDEX_FILENAME).write_bytes(litdata_index([chunk], np.dtype(np.int32)))
    dataset = litdata.StreamingDataset(
        str(folder),
        item_loader=litdata.TokensLoader(block_size=4),
        cache_dir=str(tmp_path / "cache"),
    )
    assert [np.asarray(b).tolist() for b in dataset] == [stream[:4], stream[4:8]]


# 4. HF datasets --------------------------------------------------------------------------


def test_hf_datasets_finds_both_parquet_splits(reference, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    datasets = pytest.importorskip("datasets", reason="needs HF datasets")
    out, manifest = reference
    loaded = datasets.load_dataset(
        "parquet", data_dir=str(out / "tokens"), cache_dir=str(tmp_path / "hf")
    )
    assert sorted(loaded) == ["train", "validation"]
    assert loaded["train"].num_rows == manifest["tokens"]["rows"] > 0
    assert loaded["validation"].num_rows == manifest["validation"]["rows"] > 0


# 5. the validation split -----------------------------------------------------------------


def _shingle_set(text: str) -> frozenset:
    return frozenset(shingles(text, 5))


def test_no_document_copy_or_near_duplicate_straddles_the_splits(reference, indexed_dataset):
    out, manifest = reference
    docs = _documents(out)
    for doc in docs:  # the split is the id's alone, whatever the run
        assert doc.scores["tokens.validation"] == int(in_validation(doc.id, FRACTION))
    # what the megatron files hold, per side: ids and texts on one side only, every copy
    tokenizer = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    by_ids = {tuple(tokenizer.encode(d.text, add_special_tokens=False).ids): d for d in docs}
    held = {}
    for split in SPLITS:
        held[split] = Counter(
            by_ids[tuple(ids[:-1].tolist())].id
            for _, _, sequences in _megatron_documents(out, manifest, split, indexed_dataset)
            for ids in sequences
        )
    assert held["train"] and held["validation"]
    assert not set(held["train"]) & set(held["validation"])
    texts = {split: {by_id.text for by_id in docs if by_id.id in held[split]} for split in SPLITS}
    assert not texts["train"] & texts["validation"]
    for doc in docs:
        assert held[_split_of(doc)][doc.id] == _copies(doc)
    # near-duplicate clusters: the survivor is curated, and planted pairs did hash apart
    ids = {d.id for d in docs}
    rejected = pq.read_table(out / "rejected").to_pylist()
    near = [r for r in rejected if r["reason"] == "near_dup"]
    assert all(r["duplicate_of"] in ids for r in near)
    planted = [r for r in near if r["id"].startswith("pair-")]
    apart = [
        r
        for r in planted
        if in_validation(r["id"], FRACTION) != in_validation(r["duplicate_of"], FRACTION)
    ]
    assert len(planted) >= PLANTED_PAIRS // 2 and len(apart) >= 10
    # and no curated validation document is a near-duplicate of a train document
    sets = {
        split: [_shingle_set(d.text) for d in docs if _split_of(d) == split] for split in SPLITS
    }
    for v in sets["validation"]:
        for t in sets["train"]:
            assert len(v & t) < NEAR * len(v | t)


# 6. the same bytes on every engine -------------------------------------------------------


def _paths(node) -> list[str]:
    """Every "path" value of the manifest."""
    if isinstance(node, dict):
        own = [node["path"]] if isinstance(node.get("path"), str) else []
        return own + [p for v in node.values() for p in _paths(v)]
    if isinstance(node, list):
        return [p for v in node for p in _paths(v)]
    return []


def _comparable(out: Path, manifest: dict) -> str:
    manifest = json.loads(json.dumps(manifest))
    manifest["config"].pop("output")
    return json.dumps(manifest, sort_keys=True).replace(str(out), "OUT")


def _assert_same_bytes(a: tuple[Path, dict], b: tuple[Path, dict]) -> None:
    (out_a, manifest_a), (out_b, manifest_b) = a, b
    paths = sorted(set(_paths(manifest_a)))
    assert paths == sorted(set(_paths(manifest_b)))
    for fmt in OUTPUT_FORMATS:  # every format is listed
        assert any(Path(p).parts[0] == ("tokens" if fmt == "parquet" else fmt) for p in paths)
    different = []
    for path in paths:
        relative = Path(path).relative_to(out_a) if Path(path).is_absolute() else Path(path)
        if (out_a / relative).read_bytes() != (out_b / relative).read_bytes():
            different.append(str(relative))
    assert different == []
    assert _comparable(out_a, manifest_a) == _comparable(out_b, manifest_b)


def test_four_threads_write_the_in_memory_runners_bytes(reference, threaded):
    _assert_same_bytes(reference, threaded)


def test_dask_with_two_threads_per_worker_writes_the_same_bytes(reference, corpus, tmp_path):
    distributed = pytest.importorskip(
        "distributed", reason="needs the dask extra: pip install '.[dask]'"
    )
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        mode = [
            "--runner=apache_beam.runners.dask.dask_runner.DaskRunner",
            f"--dask_client_address={cluster.scheduler_address}",
        ]
        manifest = _curate(tmp_path, corpus, *ALL_FORMATS, *mode)
    _assert_same_bytes(reference, (tmp_path, manifest))


# 7. user errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--output_format=bogus", "argument --output_format:"),
        ("--validation_fraction=1", "--validation_fraction must be at least 0 and below 1"),
        ("--validation_fraction=-0.1", "--validation_fraction must be at least 0 and below 1"),
    ],
)
def test_a_bad_format_or_fraction_is_a_one_line_error(flag, message, tmp_path, capsys):
    data = tmp_path / "web.jsonl"
    data.write_text(json.dumps({"text": "some words"}) + "\n")
    out = tmp_path / "out"
    assert main([f"--output={out}", f"--input=web={data}", flag]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {message}"), err
    assert flag.split("=")[1] in err and "Traceback" not in err
    assert not out.exists()


# 8. megatron alone -----------------------------------------------------------------------


def test_megatron_alone_holds_every_copy_whole_in_the_same_bytes(reference, megatron_only):
    out, manifest = megatron_only
    assert not [p for p in (out / "tokens").rglob("*") if p.is_file()]
    assert manifest["tokens"]["shards"] == [] and manifest["tokens"]["rows"] == 0
    assert manifest["validation"]["shards"] == []
    assert sorted(manifest["formats"]) == ["megatron"]
    docs = _documents(out)
    for doc in docs:
        assert doc.scores["tokens.copies"] == _copies(doc) and doc.scores["tokens.cut_copies"] == 0
        assert doc.scores["tokens.validation"] == int(in_validation(doc.id, FRACTION))
    assert max(_copies(d) for d in docs) > 1
    ref_out, ref_manifest = reference
    assert manifest["splits"] == ref_manifest["splits"]
    paths = sorted(p for split in SPLITS for p in _files(manifest, "megatron", split, ""))
    assert paths == sorted(
        p for split in SPLITS for p in _files(ref_manifest, "megatron", split, "")
    )
    assert len(paths) >= 4
    for path in paths:
        assert (out / path).read_bytes() == (ref_out / path).read_bytes(), path
