"""Write output files ourselves: one call per shard, to a temporary name, then renamed.

Beam's WriteToParquet / WriteToText are not used: on the DaskRunner (apache-beam 2.77)
they left empty output or `beam-temp-*` folders behind. Here each shard's bytes are built
in memory, written under `_temporary/` with a unique name and renamed into place, so a
retried task overwrites the same final file with the same bytes and never leaves a
partial or duplicate shard. The driver removes `_temporary/` after a successful run.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas.document import stable_hash64
from schemas.shards import shard_count, shard_name

TEMPORARY_DIR = "_temporary"


def write_atomically(output_dir: str, relative_path: str, data: bytes) -> dict:
    """Write `data` to `output_dir/relative_path` via a temporary file and a rename.

    Returns {path, bytes, sha256} with `path` relative to `output_dir`.
    """
    final = FileSystems.join(output_dir, relative_path)
    temporary = FileSystems.join(
        output_dir, TEMPORARY_DIR, f"{uuid.uuid4().hex}-{relative_path.replace('/', '_')}"
    )
    with FileSystems.create(temporary, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)
    _ensure_parent_dir(final)
    FileSystems.rename([temporary], [final])
    return {"path": relative_path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _ensure_parent_dir(path: str) -> None:
    parent = path.rsplit("/", 1)[0]
    if FileSystems.get_scheme(path) in (None, "file"):
        try:
            FileSystems.mkdirs(parent)
        except OSError:
            pass  # already there (or created by a concurrent shard)


class WriteFile(beam.DoFn):
    """(relative path, bytes, metadata dict) -> metadata + {path, bytes, sha256}."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir

    def process(self, item):
        relative_path, data, metadata = item
        yield {**metadata, **write_atomically(self.output_dir, relative_path, data)}


class GroupIntoShards(beam.PTransform):
    """(shard index, item) pairs -> (shard index, [items]) for every index in
    range(count_of(total)), empty shards included, so a shard listing is always complete.

    `total` is the side input (AsSingleton) the shard count is computed from.
    """

    def __init__(self, count_of, total):
        super().__init__()
        self.count_of, self.total = count_of, total

    def expand(self, keyed):
        count_of = self.count_of
        every_shard = (
            keyed.pipeline
            | "Once" >> beam.Create([None])
            | "EveryShard"
            >> beam.FlatMap(lambda _, t: [(i, None) for i in range(count_of(t))], self.total)
        )
        return (
            (keyed, every_shard)
            | "WithEmptyShards" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "DropMarkers"
            >> beam.MapTuple(lambda i, items: (i, [x for x in items if x is not None]))
        )


class WriteSharded(beam.PTransform):
    """Items -> files `folder/prefix-i-of-n.extension` under `output_dir`, n from the total
    weight (each shard near `target`); -> file metadata.

    `key(item)` is a tuple of strings that identifies an item uniquely; its first element
    picks the shard (`stable_hash64(key[0]) % n`) and the whole tuple orders items inside
    it, so the bytes of every file depend only on the items, never on arrival order.
    `weight(item)` must be positive; `serialize(items) -> (bytes, metadata)`. With no items,
    nothing is written.
    """

    def __init__(
        self,
        output_dir: str,
        *,
        folder: str,
        prefix: str,
        extension: str,
        key: Callable[[Any], tuple],
        weight: Callable[[Any], int],
        serialize: Callable[[list], tuple[bytes, dict]],
        target: int,
    ):
        super().__init__()
        self.output_dir = output_dir
        self.folder, self.prefix, self.extension = folder, prefix, extension
        self.key, self.weight, self.serialize, self.target = key, weight, serialize, target

    def count_of(self, total_weight: int) -> int:
        return shard_count(total_weight, self.target) if total_weight else 0

    def expand(self, items):
        key, count_of = self.key, self.count_of
        total = beam.pvalue.AsSingleton(
            items | "Weigh" >> beam.Map(self.weight) | "TotalWeight" >> beam.CombineGlobally(sum)
        )
        return (
            items
            | "AssignShard"
            >> beam.Map(lambda x, t: (stable_hash64(key(x)[0]) % count_of(t), x), total)
            | "Group" >> GroupIntoShards(count_of, total)
            | "Serialize" >> beam.Map(self._serialize_group, total)
            | "Write" >> beam.ParDo(WriteFile(self.output_dir))
        )

    def _serialize_group(self, group, total_weight):
        index, members = group
        ordered = sorted(members, key=self.key)
        data, metadata = self.serialize(ordered)
        name = shard_name(self.prefix, index, self.count_of(total_weight), self.extension)
        return f"{self.folder}/{name}", data, {"rows": len(ordered), **metadata}
