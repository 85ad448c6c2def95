"""The whole curation pipeline: read -> document stages -> tokenizer -> token shards.

    python -m pipelines.curate                       # demo on the embedded sample corpus
    python -m pipelines.curate --input web=data/*.jsonl.gz --output out/run1 [Beam flags]

Stages come from the one ordered registry, `pipelines.stages.REGISTRY`: each document
stage takes Documents and emits Documents and Rejected records, so adding a stage is one
module and one line there (README: "How to add a stage").
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import logging
import os
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.cluster import describe_cluster, resolve_cluster, run_graph
from pipelines.dask_compat import partitioned_for
from pipelines.local_runner import runs_alone
from pipelines.options import (
    CurateConfig,
    CurateOptions,
    UserError,
    check_inputs,
    command_line,
    curate_config,
    input_file_sizes,
    load_options,
    pop_dry_run,
)
from pipelines.output import StagedOutput, delete_tree, remove_run, settle, write_bytes
from pipelines.report import REPORT_FILE, write_report
from pipelines.sample_corpus import (
    SAMPLE_CORPUS_MIX,
    sample_corpus_inputs,
    write_sample_corpus,
)
from pipelines.stages import REGISTRY, Registry
from pipelines.summary import balanced_exit_code, summary
from schemas import arrow
from schemas.document import DeadLetter, Document, FileRead, Rejected, document_order
from schemas.manifest import MANIFEST_VERSION, outcome_summary, shard_listing, to_json
from tokenizer.pack import TAIL_PAD
from tokenizer.plan import TokenShardsConfig
from tokenizer.train import TokenizerConfig, load_tokenizer_json, vocab_shortfall
from transforms.accounting import CountOutcomes
from transforms.balance import STAGE as BALANCE_STAGE
from transforms.common import split_by_type
from transforms.near_dedup import STAGE as NEAR_DEDUP_STAGE
from transforms.pii import STAGE as PII_STAGE
from transforms.pii.stage import RedactDeadLetters, RedactRejected
from transforms.readers import READ_STAGE, ReadInputs
from transforms.stage import DOCUMENTS, FILES, TOKENS, ApplySteps
from transforms.tokenize import (
    EncodedDocument,
    EncodeDocuments,
    WriteTokens,
    token_sections,
    with_packed_copies,
)
from transforms.train_tokenizer import TrainTokenizer
from transforms.write import TEMPORARY_DIR, WriteFile, WriteSharded, write_atomically

OUTPUT_MANIFEST = "manifest.json"
# Written next to the manifest, which does not list them (pipelines/output.py's ownership).
OUTPUT_SIDE_FILES = (REPORT_FILE,)
SAMPLE_CORPUS_DIR = "./out/sample-corpus"


def run_registry(config: CurateConfig, registry: Registry = REGISTRY) -> Registry:
    """The stages a run runs: `registry` less those `--skip_stage` names. ValueError for
    a name that is no stage of `registry`, or the read stage."""
    unknown = sorted(set(config.skip_stages) - set(registry.names))
    if unknown:
        raise ValueError(
            f"--skip_stage {', '.join(unknown)}: no such stage (stages: "
            f"{', '.join(registry.names)})"
        )
    return registry.without(config.skip_stages)


def stage_configs(config: CurateConfig, registry: Registry = REGISTRY) -> dict:
    """Stage name -> its config, from `config.stages` and `--code_sources`, for the stages
    the run runs; the balance targets checked against the inputs. Raises ValueError for an
    unknown stage, a bad setting or targets that do not match the sources, before anything
    runs. Settings of a skipped stage are ignored."""
    stages = {k: v for k, v in config.stages.items() if k not in config.skip_stages}
    configs = run_registry(config, registry).configs(stages, config.code_sources)
    if BALANCE_STAGE in configs:
        configs[BALANCE_STAGE].check_sources({source for source, _ in config.inputs})
    return configs


def build(pipeline: beam.Pipeline, config: CurateConfig, registry: Registry = REGISTRY) -> None:
    """Wire the whole curation graph onto `pipeline`: read, the registry's document stages
    in order, tokenizer, encode, its token stages (balance), pack, write, manifest."""
    out = config.output
    configs = stage_configs(config, registry)
    registry = run_registry(config, registry)
    # Input files -> Document | DeadLetter | Rejected | FileRead (records per file).
    records = pipeline | "Read" >> ReadInputs(
        config.inputs, configs[READ_STAGE], config.only_files, with_counts=True
    )
    docs, dead, dropped_on_read, file_reads = split_by_type(
        records, "Read/Split", Document, DeadLetter, Rejected, FileRead
    )
    # (source, file) -> records the reader read there.
    reader_counts = (
        file_reads
        | "Read/CountKeys" >> beam.Map(lambda f: ((f.source, f.source_file), f.records))
        | "Read/CountPerFile" >> beam.CombinePerKey(sum)
    )
    run = _StagesRun(registry, configs, [READ_STAGE], [dropped_on_read], {})
    docs = run.stages(docs, DOCUMENTS, Document)  # Documents as curated

    # One tokenizer.json string, and what it was trained on (None for --tokenizer).
    tokenizer_json, tokenizer_sample = _tokenizer(pipeline, docs, config)
    tokenizer_file = (
        tokenizer_json
        | "Tokenizer/Serialize"
        >> beam.Map(
            lambda j, sample: (
                "tokenizer/tokenizer.json",
                j.encode("utf-8"),
                _tokenizer_facts(j, config.tokenizer, sample),
            ),
            beam.pvalue.AsSingleton(tokenizer_sample),
        )
        | "Tokenizer/Write" >> beam.ParDo(WriteFile(out))
    )
    # EncodedDocuments; the tokenizer's own threads only where the runner has none.
    one_core = not runs_alone(pipeline.options)
    encoded = docs | "Encode" >> EncodeDocuments(tokenizer_json, one_core)
    encoded = run.stages(encoded, TOKENS, EncodedDocument)  # with their copies set
    rejected = run.dropped | "AllRejected" >> beam.Flatten()

    layout_config = TokenShardsConfig(
        pack=config.pack,
        dp_world_size=config.dp_world_size,
        target_bytes=config.target_shard_bytes,
        eos_token=config.tokenizer.eos_token,
        pad_token=config.tokenizer.pad_token,
        formats=config.output_formats,
    )
    # Token file metadata dicts (path, tokens, sha256, ...), each split's ShardLayout, and
    # the copies the parquet shards do not hold whole (few: a group's last rows).
    fraction = config.validation_fraction
    token_files, layouts, unpacked_per_doc = encoded | "TokenFiles" >> WriteTokens(
        tokenizer_json, out, layout_config, fraction
    )
    # Every document says how often it is in the token shards, whole and cut short.
    docs = encoded | "CuratedDocuments" >> beam.Map(
        with_packed_copies, beam.pvalue.AsDict(unpacked_per_doc), fraction
    )
    side = {**run.manifest_sections, "layout_config": layout_config}
    side.update({f"{_LAYOUT}{s}": beam.pvalue.AsSingleton(v) for s, v in layouts.items()})
    side["unpacked"] = beam.pvalue.AsDict(unpacked_per_doc)
    doc_shards = docs | "Documents" >> _write_documents(out, config.target_shard_bytes)
    written = {"documents": doc_shards, "tokens": token_files, "tokenizer": tokenizer_file}
    # Dropped text leaves redacted like the kept documents (stages.pii.rejected_text and
    # dead_letter_snippets); only the written text changes, Accounting counts the records.
    pii = configs.get(PII_STAGE)  # None in a registry without the PII stage
    dead_text, rejected_text = dead, rejected
    if pii is not None:
        redacted_stages = run.names[run.names.index(PII_STAGE) :]  # PII and after
        dead_text = dead | "RedactDeadLetters" >> RedactDeadLetters(pii)
        if config.write_rejected:
            rejected_text = rejected | "RedactRejected" >> RedactRejected(pii, redacted_stages)
    written["dead_letter"] = dead_text | "DeadLetters" >> _write_dead_letters(out)
    if config.write_rejected:
        written["rejected"] = rejected_text | "Rejected" >> _write_rejected(
            out, config.target_shard_bytes
        )

    counts = (docs, rejected, dead) | "Accounting" >> CountOutcomes()
    side.update({k: beam.pvalue.AsList(v) for k, v in written.items()})
    _ = (
        pipeline
        | "Manifest/Once" >> beam.Create([None])
        | "Manifest/Write"
        >> beam.Map(
            _write_manifest,
            config,
            run.names,
            beam.pvalue.AsList(counts),
            beam.pvalue.AsList(reader_counts),
            **side,
        )
    )


@dataclasses.dataclass
class _StagesRun:
    """The registry's stages as they are wired: their names in order (the manifest's
    stage list), every stage's Rejected records, and the side inputs of the stages'
    manifest sections."""

    registry: Registry
    configs: dict
    names: list[str]
    dropped: list
    manifest_sections: dict

    def stages(self, records, place: str, kind: type):
        """`records` (of `kind`) through the active stages that run on `place`, in order;
        -> the records every stage kept. Consecutive per-document stages (`ApplySteps`)
        run as one ParDo, labelled with their names joined by "+"."""
        running = [
            (stage.name, stage.transform(self.configs.get(stage.name)))
            for stage in self.registry.running(place, self.configs)
        ]
        self.names.extend(name for name, _ in running)
        for fused, group in itertools.groupby(
            running, lambda named: isinstance(named[1], ApplySteps)
        ):
            group = list(group)
            if fused:
                label = "+".join(name for name, _ in group)
                steps = tuple(step for _, transform in group for step in transform.steps)
                records = self._split(records | label >> ApplySteps(steps), label, kind)
                continue
            for name, transform in group:
                outputs = records | name >> transform
                if isinstance(outputs, tuple):  # (records, the stage's manifest section)
                    outputs, section = outputs
                    self.manifest_sections[_SECTION + name] = beam.pvalue.AsSingleton(section)
                records = self._split(outputs, name, kind)
        return records

    def _split(self, outputs, label: str, kind: type):
        records, rejected = split_by_type(outputs, f"{label}/Split", kind, Rejected)
        self.dropped.append(rejected)
        return records


def _tokenizer(pipeline: beam.Pipeline, docs, config: CurateConfig):
    """One-element PCollections of tokenizer.json text and of its training sample's facts
    (`tokenizer.train.sample_facts`): `--tokenizer PATH` as it is (and None), or one
    trained on a deterministic sample of the curated documents."""
    if config.tokenizer_path:
        tokenizer_json = load_tokenizer_json(
            config.tokenizer_path,
            config.pack.tail == TAIL_PAD,
            config.tokenizer.eos_token,
            config.tokenizer.pad_token,
        )
        loaded = pipeline | "Tokenizer/Load" >> beam.Create([tokenizer_json])
        return loaded, pipeline | "Tokenizer/NoSample" >> beam.Create([None])
    return docs | "Tokenizer" >> TrainTokenizer(config.tokenizer, with_sample=True)


def _write_documents(out: str, target_bytes: int) -> WriteSharded:
    return WriteSharded(
        out,
        folder="documents",
        prefix="documents",
        extension="parquet",
        key=document_order,
        weight=lambda d: len(d.text) + 1,
        serialize=lambda docs: (arrow.table_to_parquet_bytes(arrow.documents_to_table(docs)), {}),
        target=target_bytes,
    )


def _write_rejected(out: str, target_bytes: int) -> WriteSharded:
    return WriteSharded(
        out,
        folder="rejected",
        prefix="rejected",
        extension="parquet",
        key=lambda r: (r.doc.id, r.stage, r.reason, r.duplicate_of or "", *document_order(r.doc)),
        weight=lambda r: len(r.doc.text) + 1,
        serialize=lambda rs: (arrow.table_to_parquet_bytes(arrow.rejected_to_table(rs)), {}),
        target=target_bytes,
    )


def _write_dead_letters(out: str) -> WriteSharded:
    def to_jsonl(dead: list[DeadLetter]) -> tuple[bytes, dict]:
        lines = (
            json.dumps(
                {
                    "source": d.source,
                    "file": d.source_file,
                    "line": d.line,
                    "offset": d.offset,
                    "error": d.error,
                    "snippet": d.snippet,
                },
                ensure_ascii=False,
            )
            for d in dead
        )
        return "".join(line + "\n" for line in lines).encode("utf-8"), {}

    return WriteSharded(
        out,
        folder="dead_letter",
        prefix="dead_letter",
        extension="jsonl",
        key=lambda d: (
            d.source_file,
            *_number(d.offset),
            *_number(d.line),
            d.error,
            d.source,
            d.snippet,
        ),
        weight=lambda d: len(d.snippet) + len(d.error) + 1,
        serialize=to_jsonl,
        target=64 << 20,
    )


def _number(value: int | None) -> tuple[bool, int]:
    """An optional line or offset as a sort key: None before every number."""
    return value is not None, value or 0


def _tokenizer_facts(tokenizer_json: str, tokens: TokenizerConfig, sample: dict | None) -> dict:
    """The manifest's `tokenizer` section (less the file's path, size and hash): the
    vocabulary it has, its special tokens and, for a trained one, the size asked for, the
    sample it learned from and, when it learned fewer entries, why (`vocab_note`)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    learned = tokenizer.get_vocab_size(with_added_tokens=False)
    trained = sample is not None
    return {
        "vocab_size": learned,
        "vocab_size_requested": tokens.vocab_size if trained else None,
        "sample_documents": sample["documents"] if trained else None,
        "sample_characters": sample["characters"] if trained else None,
        "vocab_note": vocab_shortfall(tokens.vocab_size, learned, sample, tokens)
        if trained
        else None,
        "eos_token": tokens.eos_token,
        "eos_id": tokenizer.token_to_id(tokens.eos_token),
        "pad_token": tokens.pad_token,
        "pad_id": tokenizer.token_to_id(tokens.pad_token),
    }


_SECTION = "section:"  # side inputs of _write_manifest that are stages' manifest sections
_LAYOUT = "layout:"  # side inputs of _write_manifest that are a split's ShardLayout


def _write_manifest(
    _,
    config,
    stage_names,
    counts,
    reader_counts,
    documents,
    tokens,
    tokenizer,
    dead_letter,
    layout_config,
    unpacked,
    rejected=None,
    **sides,
):
    sections = {k.removeprefix(_SECTION): v for k, v in sides.items() if k.startswith(_SECTION)}
    layouts = {k.removeprefix(_LAYOUT): v for k, v in sides.items() if k.startswith(_LAYOUT)}
    token_output = token_sections(
        layout_config, config.validation_fraction, tokens, layouts, unpacked
    )
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "config": config.to_dict(),
        **outcome_summary(counts, stage_names, reader_counts),
        BALANCE_STAGE: None,  # null in a run without balancing: readers look for the key
        **sections,
        "tokenizer": tokenizer[0] if tokenizer else None,
        **token_output,
        "documents": {"shards": shard_listing(documents)},
        "rejected": {"shards": shard_listing(rejected)} if rejected is not None else None,
        "dead_letter": {"shards": shard_listing(dead_letter)},
    }
    write_atomically(config.output, "manifest.json", to_json(manifest).encode("utf-8"))


def clear_output(output: str) -> None:
    """Remove an earlier run of ours from `output`: only the files its manifest.json lists
    (plus report.html, staging and lock leftovers), under the output's lock. Raises
    UserError, deleting nothing, when `output` holds anything else (`--output .` in a source
    checkout): see pipelines/output.py for the rule. A run does not need this: it is built
    beside the previous one and swapped in (`execute`)."""
    remove_run(output, OUTPUT_MANIFEST, OUTPUT_SIDE_FILES, "pipelines.curate")


def resolve(argv: list[str] | None, write_corpus: bool = True, registry: Registry = REGISTRY):
    """Flags and config file -> (PipelineOptions, CurateConfig). Without --input, the
    embedded sample corpus is the input (written unless `write_corpus` is false) and, unless
    stages.balance says otherwise, the demo's source mix applies. Raises UserError for a bad
    flag, config file or stage setting."""
    options = load_options(argv)
    FileSystems.set_options(options)  # credentials/endpoints for gs://, s3:// on the driver
    inputs = options.view_as(CurateOptions).input
    corpus = os.path.abspath(SAMPLE_CORPUS_DIR)
    if not inputs:
        inputs = write_sample_corpus(corpus) if write_corpus else sample_corpus_inputs(corpus)
        config = curate_config(options, inputs)
        if BALANCE_STAGE not in config.stages:
            config = dataclasses.replace(
                config, stages={**config.stages, BALANCE_STAGE: SAMPLE_CORPUS_MIX}
            )
    else:
        config = curate_config(options, inputs)
    try:  # bad stage settings are the user's to fix: one line, before anything runs
        stage_configs(config, registry)
    except ValueError as err:
        raise UserError(str(err)) from err
    resolve_cluster(options)  # a bad --cluster, --slurm or --kubernetes too
    return options, config


def describe(options, config: CurateConfig, registry: Registry = REGISTRY) -> str:
    """What a run would do, without running it: resolved options, inputs, stage list with
    each stage's settings. Raises ValueError for bad settings, as a run would."""
    configs = stage_configs(config, registry)
    registry = run_registry(config, registry)
    beam_flags = options.get_all_options(drop_default=True, retain_unknown_options=True)
    ours = set(config.to_dict()) | {"input", "config", "stages", "slurm", "kubernetes"}
    lines = ["runner and Beam options:"]
    lines += [f"  {k}: {v}" for k, v in sorted(beam_flags.items()) if k not in ours] or [
        "  (defaults)"
    ]
    lines.append("inputs:")
    lines += [f"  {source}: {pattern}" for source, pattern in config.inputs]
    lines.append("settings:")
    lines += [f"  {k}: {v}" for k, v in config.to_dict().items() if k not in ("inputs", "stages")]
    lines.append("stages, in order:")
    names = [s.name for place in (FILES, DOCUMENTS) for s in registry.running(place, configs)]
    tokenizer = f"load {config.tokenizer_path}" if config.tokenizer_path else "train"
    names += [f"tokenizer ({tokenizer})", "encode"]
    names += [s.name for s in registry.running(TOKENS, configs)]
    names += [f"pack + write token files ({', '.join(config.output_formats)})", "manifest"]
    for name in names:
        settings = configs.get(name)
        lines.append(f"  {name}" + (f": {settings}" if settings is not None else ""))
    lines += describe_cluster(resolve_cluster(options))
    return "\n".join(lines)


def run(
    argv: list[str] | None = None, show_progress: bool = False, registry: Registry = REGISTRY
) -> dict:
    """Run the pipeline to completion and return the manifest."""
    options, config = resolve(argv, registry=registry)
    return execute(options, config, show_progress=show_progress, registry=registry)


def execute(
    options,
    config: CurateConfig,
    show_progress: bool = False,
    in_place: bool = False,
    registry: Registry = REGISTRY,
) -> dict:
    """Run the graph for `config` with the runner `options` name; return the manifest.

    The run is built in OUTPUT/_staging/<run id>/ while holding OUTPUT's lock, and swapped
    in only once its manifest and report are written (pipelines/output.py): until then the
    previous run stays as it was, and a run that fails or is killed leaves it so. Raises,
    before anything is written, UserError for an input pattern that names no file, a
    --tokenizer that cannot be used or an output folder holding files that are not ours,
    and RunFailed when another run holds the lock. A run that read no record, or only
    unreadable ones, raises RunFailed after writing its manifest, which stays in the
    staging folder (the next run removes it); nothing is swapped in.
    The graph runs where `--cluster` says: a Slurm or Kubernetes cluster is started for
    it and stopped, every job cancelled, as soon as it ends (pipelines/cluster.py).
    `in_place`: write straight into `config.output`, which the caller has prepared and
    locked (a refresh builds a new version folder so). `show_progress`: print what has
    been read so far on stderr while an in-process local run works. `registry`: the
    stages to run, in order."""
    if config.tokenizer_path:  # checked on the driver: a bad path is a one-line error
        try:
            load_tokenizer_json(
                config.tokenizer_path,
                config.pack.tail == TAIL_PAD,
                config.tokenizer.eos_token,
                config.tokenizer.pad_token,
            )
        except ValueError as err:
            raise UserError(str(err)) from err
    if in_place:
        claim = contextlib.nullcontext()
    else:
        check_inputs(config.inputs, config.stages.get(READ_STAGE))
        claim = StagedOutput(config.output, OUTPUT_MANIFEST, OUTPUT_SIDE_FILES, "pipelines.curate")
    with claim as staged:
        target, run_config = config.output, config
        if staged is not None:
            target, stages = staged.staging, config.stages
            near_dedup = stages.get(NEAR_DEDUP_STAGE) or {}
            if near_dedup.get("index_output"):  # an index inside the output moves with it
                index = staged.rebase(near_dedup["index_output"])
                stages = {**stages, NEAR_DEDUP_STAGE: {**near_dedup, "index_output": index}}
            run_config = dataclasses.replace(config, output=target, stages=stages)
        sizes = functools.partial(input_file_sizes, config)
        with partitioned_for(sizes):  # called only if a Dask graph sizes its partitions
            run_graph(options, lambda p: build(p, run_config, registry), show_progress)
        delete_tree(FileSystems.join(target, TEMPORARY_DIR))
        manifest_path = FileSystems.join(target, OUTPUT_MANIFEST)
        with FileSystems.open(manifest_path) as f:
            manifest = json.loads(f.read())
        if staged is not None:  # the manifest names where the run will be, not the staging
            manifest["config"] = config.to_dict()
            write_bytes(manifest_path, to_json(manifest).encode("utf-8"))
        write_report(target, run_registry(config, registry).report_sections())
        settle(staged, manifest["records"], manifest_path, "manifest")
    return manifest


@command_line
def main(argv: list[str] | None = None) -> int:
    """The command line. Exit codes: 0 done; 1 the run failed (records that do not add up,
    no record read, only unreadable input, the output locked by another run); 2 nothing ran
    (a bad flag, config file, stage setting, input pattern or output folder). Failures are
    one `error: ...` line on stderr."""
    logging.basicConfig(level=logging.WARNING)
    dry_run, argv = pop_dry_run(sys.argv[1:] if argv is None else argv)
    if dry_run:
        print(describe(*resolve(argv, write_corpus=False)))
        return 0
    started = time.monotonic()
    manifest = run(argv, show_progress=True)
    print(summary(manifest, time.monotonic() - started))
    return balanced_exit_code(manifest)


if __name__ == "__main__":
    sys.exit(main())
