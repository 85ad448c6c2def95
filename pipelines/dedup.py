"""Near-duplicate removal only: surviving documents, clusters and the cross-run index.

    python -m pipelines.dedup --input GLOB --output DIR [--index_input GLOB]... [Beam flags]

Reads with the same readers and options as `pipelines.curate` (`--input NAME=GLOB`,
`--config`, `--stages '{"near_dedup": {...}, "read": {...}}'`, every Beam flag) and writes
under DIR:

- `documents/*.parquet`: the surviving documents (DOCUMENT_SCHEMA)
- `clusters/*.parquet`: every document's `id`, `cluster_id` (its survivor's id) and `kept`
- `index/*.parquet`: the survivors' band hashes and signatures, for later runs'
  `--index_input DIR/index/*.parquet` (documents duplicating them are dropped: earlier
  runs win); `--index_output` writes it elsewhere
- `summary.json`: counts (records read = kept + near duplicates + dropped on read +
  dead-lettered) and the shard listings

A run is built in DIR/_staging/ and swapped in when complete; DIR must be new, empty or an
earlier dedup output (pipelines/output.py). Exit codes: 2 for a bad flag, setting or input
pattern, 1 for a run that read nothing usable or a DIR another run holds.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sys

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.cluster import run_graph
from pipelines.dask_compat import partitioned_for
from pipelines.options import (
    DEFAULT_OUTPUT,
    CurateConfig,
    CurateOptions,
    UserError,
    check_inputs,
    command_line,
    curate_config,
    input_file_sizes,
    load_options,
)
from pipelines.output import StagedOutput, delete_tree, settle, write_bytes
from pipelines.stages import REGISTRY, Registry
from schemas import arrow
from schemas.document import DeadLetter, Document, Rejected, document_order
from schemas.manifest import shard_listing, to_json
from transforms.common import split_by_type
from transforms.near_dedup import STAGE, ClusterDocs, NearDedupConfig, WriteIndex
from transforms.readers import READ_STAGE, ReaderConfig, ReadInputs
from transforms.write import TEMPORARY_DIR, WriteSharded, write_atomically

DEFAULT_DEDUP_OUTPUT = "./out/dedup"
SUMMARY_FILE = "summary.json"
TARGET_SHARD_BYTES = 256 << 20
DEDUP_STAGES = (READ_STAGE, STAGE)  # the registry's stages this pipeline runs


class DedupOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--index_input",
            action="append",
            default=None,
            help="Glob of an earlier run's index files (DIR/index/*.parquet); repeatable. "
            "Documents that duplicate an indexed survivor are dropped (earlier runs win).",
        )
        parser.add_argument(
            "--index_output",
            default=None,
            help="Directory for this run's survivors' index (default OUTPUT/index).",
        )


def dedup_settings(
    config: CurateConfig, options: PipelineOptions, registry: Registry = REGISTRY
) -> tuple[ReaderConfig, NearDedupConfig]:
    """The registry's read and near_dedup configs from the run's `stages:`, with
    --index_input / --index_output on top. ValueError for any other stage or a bad
    setting."""
    stages, output = dict(config.stages), config.output
    settings = dict(stages.get(STAGE) or {})
    dedup = options.view_as(DedupOptions)
    if dedup.index_input:
        settings["index_input"] = list(dedup.index_input)
    settings["index_output"] = (
        dedup.index_output or settings.get("index_output") or (FileSystems.join(output, "index"))
    )
    configs = registry.configs({**stages, STAGE: settings}, config.code_sources, DEDUP_STAGES)
    return configs[READ_STAGE], configs[STAGE]


def build(
    pipeline: beam.Pipeline, inputs, output: str, reader: ReaderConfig, config: NearDedupConfig
) -> None:
    """Wire read -> cluster -> documents/, clusters/, index/, summary.json."""
    records = pipeline | "Read" >> ReadInputs(inputs, reader)
    docs, dead, dropped = split_by_type(records, "Read/Split", Document, DeadLetter, Rejected)
    assigned = docs | "NearDedup" >> ClusterDocs(config)
    survivors = (
        assigned
        | "Survivors" >> beam.Filter(lambda a: a.kept)
        | "Survivors/Documents" >> beam.Map(lambda a: a.doc)
    )
    documents = survivors | "Documents" >> WriteSharded(
        output,
        folder="documents",
        prefix="documents",
        extension="parquet",
        key=document_order,
        weight=lambda d: len(d.text) + 1,
        serialize=lambda ds: (arrow.table_to_parquet_bytes(arrow.documents_to_table(ds)), {}),
        target=TARGET_SHARD_BYTES,
    )
    clusters = assigned | "Clusters" >> WriteSharded(
        output,
        folder="clusters",
        prefix="clusters",
        extension="parquet",
        key=lambda a: (a.doc.id, a.cluster_id, *document_order(a.doc)),
        weight=lambda a: len(a.doc.id) + len(a.cluster_id) + 2,
        serialize=lambda rows: (
            arrow.table_to_parquet_bytes(
                arrow.clusters_to_table([(a.doc.id, a.cluster_id, a.kept) for a in rows])
            ),
            {},
        ),
        target=TARGET_SHARD_BYTES,
    )
    index = assigned | "Index" >> WriteIndex(config.index_output, config)
    counts = {
        "documents_in": docs,
        "kept": survivors,
        "dropped_on_read": dropped,
        "dead_lettered": dead,
    }
    side = {
        name: beam.pvalue.AsSingleton(pcoll | f"Count/{name}" >> beam.combiners.Count.Globally())
        for name, pcoll in counts.items()
    }
    listings = {
        name: beam.pvalue.AsList(pcoll)
        for name, pcoll in {"documents": documents, "clusters": clusters, "index": index}.items()
    }
    _ = (
        pipeline
        | "Summary/Once" >> beam.Create([None])
        | "Summary/Write" >> beam.Map(_write_summary, output, inputs, config, **side, **listings)
    )


def _write_summary(
    _,
    output,
    inputs,
    config,
    documents_in,
    kept,
    dropped_on_read,
    dead_lettered,
    documents,
    clusters,
    index,
):
    summary = {
        "inputs": [{"source": s, "pattern": p} for s, p in inputs],
        "near_dedup": {
            **config.index_params(),
            "threshold": config.threshold,
            "verify": config.verify,
            "index_input": list(config.index_input),
            "index_output": config.index_output,
        },
        "records": {
            "read": documents_in + dropped_on_read + dead_lettered,
            "documents": documents_in,
            "kept": kept,
            "near_duplicates": documents_in - kept,
            "dropped_on_read": dropped_on_read,
            "dead_lettered": dead_lettered,
        },
        "documents": {"shards": shard_listing(documents)},
        "clusters": {"shards": shard_listing(clusters)},
        "index": {"shards": shard_listing(index)},
    }
    write_atomically(output, "summary.json", to_json(summary).encode("utf-8"))


def run(argv: list[str] | None = None) -> dict:
    """Run near-dedup to completion; returns the summary (also written as summary.json).

    Like a curate run (pipelines/output.py): built in OUTPUT/_staging/<run id>/ under
    OUTPUT's lock and swapped in once summary.json is written; an output folder holding
    files that are not ours is refused. UserError for bad flags, settings or inputs;
    RunFailed for a run that read no record or only unreadable ones (nothing replaced)."""
    options = load_options(argv)
    FileSystems.set_options(options)
    opts = options.view_as(CurateOptions)
    if not opts.input:
        raise UserError("--input is required")
    if opts.output == DEFAULT_OUTPUT:
        opts.output = DEFAULT_DEDUP_OUTPUT
    resolved = curate_config(options, opts.input)
    output = resolved.output
    try:
        reader, config = dedup_settings(resolved, options)
    except ValueError as err:
        raise UserError(str(err)) from err
    check_inputs(resolved.inputs, resolved.stages.get(READ_STAGE))
    with StagedOutput(output, SUMMARY_FILE, command="pipelines.dedup") as staged:
        staged_config = dataclasses.replace(config, index_output=staged.rebase(config.index_output))
        inputs, staging = resolved.inputs, staged.staging
        sizes = functools.partial(input_file_sizes, resolved)
        with partitioned_for(sizes):  # called only if a Dask graph sizes its partitions
            run_graph(options, lambda p: build(p, inputs, staging, reader, staged_config))
        index_parent = staged_config.index_output.rstrip("/").rsplit("/", 1)[0] or "/"
        for folder in {staged.staging, index_parent}:
            delete_tree(FileSystems.join(folder, TEMPORARY_DIR))
        summary_path = FileSystems.join(staged.staging, SUMMARY_FILE)
        with FileSystems.open(summary_path) as f:
            summary = json.loads(f.read())
        summary["near_dedup"]["index_output"] = config.index_output  # not the staging path
        write_bytes(summary_path, to_json(summary).encode("utf-8"))
        settle(staged, summary["records"], summary_path, "summary")
    return summary


@command_line
def main(argv: list[str] | None = None) -> int:
    """The command line; exit codes as for pipelines.curate (2: nothing ran, 1: failed)."""
    logging.basicConfig(level=logging.WARNING)
    summary = run(sys.argv[1:] if argv is None else argv)
    records = summary["records"]
    print(
        f"read {records['read']:,} records: {records['documents']:,} documents, "
        f"kept {records['kept']:,}, near duplicates {records['near_duplicates']:,}, "
        f"dropped on read {records['dropped_on_read']:,}, "
        f"dead-lettered {records['dead_lettered']:,}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
