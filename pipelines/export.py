"""Add trainer-native token files to a finished curate run, without curating again.

    python -m pipelines.export RUN_DIR --format megatron [--format nanogpt ...] [Beam flags]

The run's curated documents (`documents/`) are encoded again with the run's own
`tokenizer/tokenizer.json`, each as many times as balancing chose, split into train and
validation as the run did, and written by the same sinks as `curate --output_format`: the
files are byte for byte those a curate run with that format would have written. The run's
manifest gains them (`formats`, `config.output_format`), the swap is that of a curate run
(pipelines/output.py: built in `_staging/`, moved in whole, under the run's lock), and the
command prints the flags that point each trainer at them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.cluster import run_graph
from pipelines.local_runner import runs_alone
from pipelines.options import (
    UserError,
    absolute_if_local,
    check_known_flags,
    command_line,
    parse_checked,
)
from pipelines.output import StagedOutput
from pipelines.report import REPORT_FILE, write_report
from pipelines.stages import REGISTRY
from pipelines.storage import read_bytes, read_json, write_bytes
from schemas.arrow import table_to_documents
from schemas.manifest import to_json
from tokenizer.formats import DOCUMENT_FORMATS, LITDATA, MEGATRON, NANOGPT, PARQUET, check_formats
from tokenizer.pack import PackConfig
from tokenizer.plan import TokenShardsConfig
from transforms.balance import COPIES_KEY
from transforms.tokenize import EncodeDocuments, WriteTokens, token_sections
from transforms.write import TEMPORARY_DIR, write_atomically

MANIFEST = "manifest.json"
_SECTIONS_FILE = f"{TEMPORARY_DIR}/export_sections.json"


def shards_config(config: dict, formats: tuple[str, ...]) -> TokenShardsConfig:
    """The run's packing layout (from its manifest's `config`), writing `formats`."""
    return TokenShardsConfig(
        pack=PackConfig(seq_len=config["seq_len"], tail=config["pack_tail"]),
        dp_world_size=config["dp_world_size"],
        target_bytes=config["target_shard_bytes"],
        eos_token=config["eos_token"],
        pad_token=config["pad_token"],
        formats=formats,
    )


def _read_documents(path: str):
    with FileSystems.open(path) as f:
        yield from table_to_documents(pq.read_table(f))


def build(pipeline, run_dir: str, manifest: dict, formats: tuple[str, ...], target: str) -> None:
    """The export graph: the run's documents, encoded, -> `formats` files under `target`,
    and their manifest sections in `target/_temporary/export_sections.json`."""
    config = manifest["config"]
    fraction = config.get("validation_fraction", 0.0)  # runs before the split had none
    layout = shards_config(config, formats)
    tokenizer_json = read_bytes(FileSystems.join(run_dir, manifest["tokenizer"]["path"]))
    tokenizer = pipeline | "Tokenizer" >> beam.Create([tokenizer_json.decode("utf-8")])
    paths = [FileSystems.join(run_dir, s["path"]) for s in manifest["documents"]["shards"]]
    docs = (
        pipeline
        | "DocumentFiles" >> beam.Create(paths)
        | "ReadDocuments" >> beam.FlatMap(_read_documents)
    )
    encoded = (
        docs
        | "Encode" >> EncodeDocuments(tokenizer, not runs_alone(pipeline.options))
        | "Copies" >> beam.Map(lambda e: dataclasses.replace(e, copies=_copies(e.doc)))
    )
    files, layouts, unpacked = encoded | "TokenFiles" >> WriteTokens(
        tokenizer, target, layout, fraction
    )
    _ = (
        pipeline
        | "Once" >> beam.Create([None])
        | "Sections"
        >> beam.Map(
            lambda _, files, unpacked, **layouts: write_atomically(
                target,
                _SECTIONS_FILE,
                json.dumps(token_sections(layout, fraction, files, layouts, unpacked)).encode(),
            ),
            beam.pvalue.AsList(files),
            beam.pvalue.AsDict(unpacked),
            **{split: beam.pvalue.AsSingleton(p) for split, p in layouts.items()},
        )
    )


def _copies(doc) -> int:
    return int(doc.scores.get(COPIES_KEY, 1))


def export(run_dir: str, formats: tuple[str, ...], options: PipelineOptions) -> dict:
    """Write `formats` into the curate run at `run_dir`; -> its updated manifest. UserError
    for a folder without a run of ours."""
    with StagedOutput(run_dir, MANIFEST, (REPORT_FILE,), "pipelines.export") as staged:
        manifest = staged.previous
        if manifest is None or "documents" not in manifest or not manifest.get("tokenizer"):
            raise UserError(f"{run_dir}: no curate run there (no {MANIFEST} of one)")
        run_graph(
            options, lambda pipeline: build(pipeline, run_dir, manifest, formats, staged.staging)
        )
        sections = read_json(FileSystems.join(staged.staging, _SECTIONS_FILE))
        manifest = {**manifest, "formats": {**(manifest.get("formats") or {})}}
        manifest["formats"].update(sections["formats"])
        written = [*manifest["config"].get("output_format", [PARQUET]), *formats]
        manifest["config"] = {**manifest["config"], "output_format": list(check_formats(written))}
        write_bytes(FileSystems.join(staged.staging, MANIFEST), to_json(manifest).encode())
        replaced = tuple(f"{fmt}/" for fmt in formats)
        staged.commit(keep=lambda path: not path.startswith(replaced))
        # The report reads documents/, which stays in the run: written once the swap is done.
        write_report(run_dir, REGISTRY.report_sections())
    return manifest


def trainer_flags(run_dir: str, manifest: dict, fmt: str) -> list[str]:
    """How to point a trainer at a run's files of `fmt`, one line per split."""
    lines = []
    for split, section in (manifest.get("formats") or {}).get(fmt, {}).items():
        files = [f for f in section["files"] if not f["path"].endswith((".idx", ".json"))]
        paths = [FileSystems.join(run_dir, f["path"]) for f in files]
        if fmt == MEGATRON:
            flag = "--train-data-path" if split == "train" else "--valid-data-path"
            weighted = " ".join(
                f"{f['tokens']} {p.removesuffix('.bin')}" for f, p in zip(files, paths, strict=True)
            )
            lines.append(f"{flag} {weighted}")
        elif fmt == NANOGPT:
            name = "train.bin" if split == "train" else "val.bin"
            lines.append(f"cat {' '.join(paths)} > {name}")
        elif fmt == LITDATA:
            folder = FileSystems.join(run_dir, LITDATA, split)
            loader = "TokensLoader(block_size=MAX_SEQ_LENGTH + 1)"
            lines.append(f"StreamingDataset({folder!r}, item_loader={loader})")
    return lines


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.export", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("run_dir", help="A finished curate run's output folder.")
    parser.add_argument(
        "--format",
        action="append",
        required=True,
        choices=DOCUMENT_FORMATS,
        help="Token files to add, repeatable.",
    )
    return parser.parse_known_args(argv)


@command_line
def main(argv: list[str] | None = None) -> int:
    """The command line: 0 done, 2 a bad flag or a folder without a run (one error line)."""
    logging.basicConfig(level=logging.WARNING)
    argv = sys.argv[1:] if argv is None else argv
    args, beam_argv = parse_checked(lambda: parse_args(argv))
    check_known_flags(beam_argv, own=("--format",))
    run_dir = absolute_if_local(args.run_dir)
    formats = tuple(f for f in DOCUMENT_FORMATS if f in args.format)
    options = PipelineOptions(beam_argv)
    FileSystems.set_options(options)
    manifest = export(run_dir, formats, options)
    for fmt in formats:
        listed = manifest["formats"][fmt]
        count = sum(len(s["files"]) for s in listed.values())
        print(f"{fmt}: {count} files under {FileSystems.join(run_dir, fmt)}")
        for line in trainer_flags(run_dir, manifest, fmt):
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
