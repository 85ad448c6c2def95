"""Reading a run's tables for the report: a bounded sample of whole Parquet row groups
(through Beam's FileSystems, so any filesystem works), the columns the sections use as numpy
arrays, and weighted counts and quantiles over them."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.toxicity.stage import MAX_KEY as TOXICITY_KEY

# Rows read per table (documents/, rejected/): enough for smooth histograms and shares to
# within a fraction of a percent, while a run of billions of documents stays a quick read.
DEFAULT_MAX_ROWS = 200_000
PII_PREFIX, PII_HITS = "pii.", "pii.hits"
# Only these signals are kept from `scores` when reading a run: the rest can be large.
_SCORE_KEYS = (TOXICITY_KEY, PII_HITS)


@dataclass(frozen=True)
class Sample:
    """How much of a table was read: `rows` of `total_rows`, in `row_groups` of
    `total_row_groups` (whole row groups)."""

    rows: int
    total_rows: int
    row_groups: int
    total_row_groups: int

    @property
    def complete(self) -> bool:
        return self.rows >= self.total_rows

    @property
    def weight(self) -> float:
        """Documents of the run that one read row stands for."""
        return self.total_rows / self.rows if self.rows else 1.0


def _unit_order(name: str, row_group: int) -> bytes:
    """The stable order in which row groups are sampled, from the file's name (not its
    directory: a copied run samples the same rows)."""
    return hashlib.blake2b(f"{name}#{row_group}".encode(), digest_size=8).digest()


def _slim_scores(scores: pa.Array) -> pa.MapArray:
    """A map<string, double> array -> the same rows with only the keys the report uses."""
    scores = scores.combine_chunks() if isinstance(scores, pa.ChunkedArray) else scores
    offsets = scores.offsets.to_numpy()
    start, stop = int(offsets[0]), int(offsets[-1])
    keys, items = scores.keys.slice(start, stop - start), scores.items.slice(start, stop - start)
    parents = np.repeat(np.arange(len(scores)), np.diff(offsets))
    mask = pc.or_(pc.starts_with(keys, PII_PREFIX), pc.is_in(keys, pa.array(_SCORE_KEYS)))
    mask_np = mask.to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[mask_np], minlength=len(scores))
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.MapArray.from_arrays(pa.array(new_offsets), keys.filter(mask), items.filter(mask))


def _open(path: str):
    """A seekable Beam file object: pyarrow reads only the byte ranges it needs from it."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _slim_row_group(part: pa.Table) -> pa.Table:
    """A row group as read -> `text` replaced by `text_chars` (its length in characters) and
    `scores` with only the keys the report uses."""
    if "text" in part.column_names:
        chars = pc.cast(pc.utf8_length(part.column("text")), pa.int64())
        part = part.drop_columns(["text"]).append_column("text_chars", chars)
    if "scores" in part.column_names:
        index = part.schema.get_field_index("scores")
        part = part.set_column(index, "scores", _slim_scores(part.column("scores")))
    return part


def read_sample(directory: str, columns: Sequence[str], max_rows: int = DEFAULT_MAX_ROWS):
    """Parquet files in `directory` (on any Beam filesystem) -> (table, Sample), or
    (None, None) if there are none.

    Reads every file's footer, then only `columns` (those present) of whole row groups until
    `max_rows` is reached (at least one), chosen by a stable hash of file name and row-group
    number. `text` becomes `text_chars` and `scores` keeps only the keys the report uses, so
    memory stays proportional to the rows, not to their text.
    """
    pattern = FileSystems.join(directory, "*.parquet")
    files = sorted(meta.path for meta in FileSystems.match([pattern])[0].metadata_list)
    if not files:
        return None, None
    units, total = [], 0
    for path in files:
        with _open(path) as f:
            meta = pq.ParquetFile(f).metadata
        name = FileSystems.split(path)[1]
        for i in range(meta.num_row_groups):
            units.append((path, i, meta.row_group(i).num_rows, _unit_order(name, i)))
            total += meta.row_group(i).num_rows
    chosen, rows = [], 0
    for unit in sorted(units, key=lambda u: u[3]):
        if rows >= max_rows and chosen:
            break
        chosen.append(unit)
        rows += unit[2]
    if rows >= total:
        chosen = units
    groups_by_file = defaultdict(list)
    for path, group, _, _ in chosen:
        groups_by_file[path].append(group)
    tables = []
    for path in sorted(groups_by_file):
        with _open(path) as f:
            parquet = pq.ParquetFile(f)
            present = [c for c in columns if c in parquet.schema_arrow.names]
            for group in sorted(groups_by_file[path]):
                tables.append(_slim_row_group(parquet.read_row_group(group, columns=present)))
    table = pa.concat_tables(tables) if tables else None
    return table, Sample(rows, total, len(chosen), len(units))


class Rows:
    """The columns of a documents or rejected table the report uses, as numpy arrays.

    `weight` is how many documents of the run one row stands for (1 unless sampled).
    Works on full DOCUMENT_SCHEMA / REJECTED_SCHEMA tables and on `read_sample` output.
    """

    def __init__(self, table: pa.Table, sample: Sample | None):
        self.n = table.num_rows
        self.sample = sample
        self.weight = sample.weight if sample is not None and self.n else 1.0
        names = table.column_names
        self.source = self._strings(table, "source")
        self.lang = self._strings(table, "lang")
        self.stage = self._strings(table, "stage")
        self.reason = self._strings(table, "reason")
        self.duplicate_of = self._strings(table, "duplicate_of")
        if "text_chars" in names:
            self.chars = table.column("text_chars").to_numpy(zero_copy_only=False)
        elif "text" in names:
            self.chars = pc.utf8_length(table.column("text")).to_numpy(zero_copy_only=False)
        else:
            self.chars = None
        if self.chars is not None:
            self.chars = np.nan_to_num(np.asarray(self.chars, dtype=np.float64)).astype(np.int64)
        self._keys, self._values, self._parents = pa.array([], pa.string()), np.zeros(0), None
        if "scores" in names:
            scores = table.column("scores").combine_chunks()
            offsets = scores.offsets.to_numpy()
            start, stop = int(offsets[0]), int(offsets[-1])
            self._keys = scores.keys.slice(start, stop - start)
            self._values = scores.items.slice(start, stop - start).to_numpy(zero_copy_only=False)
            self._parents = np.repeat(np.arange(self.n), np.diff(offsets))

    def _strings(self, table: pa.Table, name: str) -> np.ndarray:
        if name not in table.column_names:
            return np.full(self.n, "(none)", dtype=object)
        values = table.column(name).to_pylist()
        return np.array(["(none)" if v is None else v for v in values], dtype=object)

    def score(self, key: str) -> np.ndarray:
        """One signal per row (NaN where the row does not have it)."""
        out = np.full(self.n, np.nan)
        if self._parents is not None and len(self._keys):
            mask = pc.equal(self._keys, key).to_numpy(zero_copy_only=False)
            out[self._parents[mask]] = self._values[mask]
        return out

    def keys_with_prefix(self, prefix: str) -> list[str]:
        if not len(self._keys):
            return []
        matching = pc.filter(self._keys, pc.starts_with(self._keys, prefix))
        return sorted(pc.unique(matching).to_pylist())


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> list:
    """Values with weights -> the values at quantiles `qs` (NaN when there are none)."""
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    cumulative = np.cumsum(weights)
    if not len(values) or cumulative[-1] <= 0:
        return [math.nan for _ in qs]
    positions = np.searchsorted(cumulative, np.asarray(qs) * cumulative[-1], side="left")
    return [float(values[min(p, len(values) - 1)]) for p in positions]


def weighted_counts(labels: np.ndarray, weight: float, mask: np.ndarray | None = None) -> dict:
    """Labels (optionally masked) -> {label: count x weight}."""
    chosen = labels if mask is None else labels[mask]
    values, counts = np.unique(chosen.astype(str), return_counts=True) if len(chosen) else ([], [])
    return {str(v): float(c) * weight for v, c in zip(values, counts, strict=True)}
