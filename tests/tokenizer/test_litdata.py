"""Our litdata token writer, read back by litdata's own StreamingDataset + TokensLoader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# A stock litdata asks PyPI for a newer version on StreamingDataset(); keep tests offline.
os.environ.setdefault("LITDATA_DISABLE_VERSION_CHECK", "1")
litdata = pytest.importorskip("litdata", reason="litdata not installed: no reader to check against")

from tokenizer.litdata import litdata_chunk, litdata_index  # noqa: E402

EOS = {np.dtype(np.uint16): 65_535, np.dtype(np.int32): 200_000}


def random_documents(rng: np.random.Generator, count: int, dtype: np.dtype) -> list[np.ndarray]:
    """Documents of varied length (empty ones too) with ids below the dtype's eos."""
    lengths = rng.choice([0, 1, 2, 5, 17, 40, 123], size=count)
    high = EOS[np.dtype(dtype)]
    return [rng.integers(0, high, size=length).astype(dtype) for length in lengths]


def token_stream(documents: list[np.ndarray], eos_id: int, dtype: np.dtype) -> np.ndarray:
    """Each document's ids followed by eos_id, concatenated."""
    with_eos = [np.append(document.astype(np.int64), eos_id) for document in documents]
    return np.concatenate(with_eos).astype(dtype) if with_eos else np.empty(0, dtype=dtype)


def write_folder(folder: Path, chunk_documents: dict[str, list], dtype: np.dtype) -> None:
    """Chunk files and index.json (chunks handed to the index in reverse name order)."""
    eos_id = EOS[np.dtype(dtype)]
    chunks = []
    for filename, documents in chunk_documents.items():
        data, tokens = litdata_chunk(documents, eos_id, dtype)
        (folder / filename).write_bytes(data)
        chunks.append({"filename": filename, "tokens": tokens, "bytes": len(data)})
    chunks.sort(key=lambda chunk: chunk["filename"], reverse=True)
    (folder / "index.json").write_bytes(litdata_index(chunks, dtype))


def read_with_litdata(folder: Path, block_size: int, cache: Path) -> list:
    dataset = litdata.StreamingDataset(
        str(folder),
        cache_dir=str(cache),
        item_loader=litdata.TokensLoader(block_size=block_size),
        shuffle=False,
    )
    items = list(dataset)
    assert len(items) == len(dataset)
    return items


def expected_blocks(chunk_streams: list[np.ndarray], block_size: int) -> np.ndarray:
    """Each chunk's stream cut into whole blocks; a chunk's remainder is dropped."""
    blocks = [
        stream[: len(stream) // block_size * block_size].reshape(-1, block_size)
        for stream in chunk_streams
    ]
    return np.concatenate(blocks)


@pytest.mark.parametrize("dtype", [np.uint16, np.int32])
@pytest.mark.parametrize("block_size", [1, 7, 64])
def test_litdata_reads_back_every_block_in_order(tmp_path, dtype, block_size):
    rng = np.random.default_rng(1234)
    eos_id = EOS[np.dtype(dtype)]
    chunk_documents = {
        f"chunk-{index:03d}.bin": random_documents(rng, count, dtype)
        for index, count in enumerate([9, 0, 30, 1, 14])
    }
    folder = tmp_path / "dataset"
    folder.mkdir()
    write_folder(folder, chunk_documents, dtype)

    streams = [
        token_stream(chunk_documents[name], eos_id, dtype) for name in sorted(chunk_documents)
    ]
    expected = expected_blocks(streams, block_size)
    items = read_with_litdata(folder, block_size, tmp_path / "cache")

    assert len(items) == len(expected) > 0
    for item in items:
        assert isinstance(item, np.ndarray) and item.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(np.stack(items), expected)


def test_remainders_are_dropped_per_chunk_and_blocks_never_straddle(tmp_path):
    ids = np.arange(1, 6, dtype=np.uint16)  # with eos: 6 tokens per chunk
    short, full = tmp_path / "short", tmp_path / "full"
    short.mkdir()
    full.mkdir()
    write_folder(short, {"a.bin": [ids[:2]], "b.bin": [ids[:2]]}, np.uint16)
    items = read_with_litdata(short, 2, tmp_path / "cache")
    assert [item.tolist() for item in items] == [[1, 2]] * 2  # eos of each chunk dropped

    write_folder(full, {"a.bin": [ids], "b.bin": [ids]}, np.uint16)
    items = read_with_litdata(full, 4, tmp_path / "cache")
    # 12 tokens overall would make 3 blocks of 4; per chunk 6 // 4 = 1 block each.
    assert [item.tolist() for item in items] == [[1, 2, 3, 4]] * 2


def test_a_folder_of_empty_chunks_reads_as_empty(tmp_path):
    folder = tmp_path / "dataset"
    folder.mkdir()
    write_folder(folder, {"a.bin": [], "b.bin": []}, np.int32)
    assert read_with_litdata(folder, 4, tmp_path / "cache") == []


def test_chunk_layout_and_index_fields():
    data, tokens = litdata_chunk(
        [np.array([7, 8], np.uint16), np.array([], np.uint16)], 9, np.uint16
    )
    header = np.frombuffer(data[:16], dtype="<u4")
    assert tokens == 4
    assert header.tolist() == [2, 16, 22, 24]  # items, then offsets of item starts and the end
    assert np.frombuffer(data[16:], dtype="<u2").tolist() == [7, 8, 9, 9]

    index = json.loads(litdata_index([{"filename": "x.bin", "tokens": 4, "bytes": 24}], np.uint16))
    assert index["chunks"] == [{"chunk_bytes": 24, "chunk_size": 2, "dim": 4, "filename": "x.bin"}]
    assert index["config"]["data_format"] == ["no_header_numpy:5"]
    assert index["config"]["item_loader"] == "TokensLoader"
    assert litdata_chunk([], 9, np.int32) == (np.array([0, 8], "<u4").tobytes(), 0)


def test_same_input_gives_identical_bytes():
    rng = np.random.default_rng(7)
    documents = random_documents(rng, 20, np.int32)
    assert litdata_chunk(documents, 5, np.int32) == litdata_chunk(documents, 5, np.int32)
    chunks = [
        {"filename": f"c{index}.bin", "tokens": 3 * index, "bytes": 12 + 12 * index}
        for index in range(1, 6)
    ]
    first = litdata_index(chunks, np.int32)
    assert litdata_index(list(reversed(chunks)), np.int32) == first
    assert litdata_index(chunks, np.int32) == first
    assert [c["filename"] for c in json.loads(first)["chunks"]] == [
        f"c{i}.bin" for i in range(1, 6)
    ]


def test_rejects_ids_outside_the_dtype_and_other_dtypes():
    with pytest.raises(ValueError, match="range"):
        litdata_chunk([np.array([70_000])], 0, np.uint16)
    with pytest.raises(ValueError, match="range"):
        litdata_chunk([np.array([1])], -1, np.uint16)
    with pytest.raises(ValueError, match="uint16 or int32"):
        litdata_chunk([np.array([1])], 0, np.int64)
    with pytest.raises(ValueError, match="do not fit"):
        litdata_index([{"filename": "a.bin", "tokens": 4, "bytes": 13}], np.uint16)


def test_module_imports_without_litdata_or_torch():
    code = (
        "import sys; sys.modules['litdata'] = sys.modules['torch'] = None; import tokenizer.litdata"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env)
