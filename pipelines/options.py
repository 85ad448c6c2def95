"""Command-line and config-file options of the curation pipelines.

`CurateOptions` is a PipelineOptions subclass, so every standard Beam flag (--runner,
--temp_location, --flink_master, --dask_client_address, --project, ...) works next to
ours. `--config FILE.yaml` supplies defaults: each top-level key is a flag name; flags on
the command line win. `CurateConfig` is the plain, picklable view the graph is built from.

Errors a user can fix (a flag value, the config file, an input pattern, the output folder)
are `UserError`s; a run that finished without a usable result is `RunFailed`. The
`command_line` decorator turns them into one line on stderr, `error: ...`, and the exit
code: 2 for a UserError (nothing was run or written), 1 for RunFailed (as for a run whose
records do not add up). Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import functools
import io
import json
import os
import re
import sys
from dataclasses import dataclass, field

import yaml
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.dask_compat import DASK_RUNNER
from tokenizer.formats import OUTPUT_FORMATS, PARQUET, check_formats
from tokenizer.pack import TAIL_DROP, TAIL_PAD, PackConfig
from tokenizer.train import EOS_TOKEN, PAD_TOKEN, TokenizerConfig
from transforms.settings import DEFAULT_CODE_SOURCES

DEFAULT_OUTPUT = "./out/curate"
DEFAULT_SOURCE = "default"
DEFAULT_VALIDATION_FRACTION = 0.005
_TAGGED_INPUT = re.compile(r"^([A-Za-z0-9_.-]+)=(.+)$")
EXIT_FAILED = 1  # the run finished but its result is not usable (RunFailed, unbalanced)
EXIT_USAGE = 2  # nothing was run: a flag, the config, an input or the output is wrong
EXIT_INTERRUPTED = 130  # Ctrl-C, or SIGTERM while a cluster runs (pipelines.cluster)


class UserError(ValueError):
    """A mistake the user can fix: a flag value, the config file, an input pattern that
    names no file, an output folder that is not ours. A ValueError, so code that caught the
    ValueErrors raised for bad settings before still does."""


class RunFailed(RuntimeError):
    """A run that cannot count as a success: it read no record, or only unreadable ones,
    or another run holds the output's lock."""


def command_line(main):
    """Wrap a `main(argv) -> exit code`: UserError -> `error: ...` on stderr and exit 2,
    RunFailed -> `error: ...` and exit 1, an interrupt -> `error: interrupted ...` and exit
    130. Other exceptions propagate (bugs keep their traceback)."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except UserError as err:
            print_error(err)
            return EXIT_USAGE
        except RunFailed as err:
            print_error(err)
            return EXIT_FAILED
        except KeyboardInterrupt as err:
            print_error(f"interrupted ({err})" if str(err) else "interrupted")
            return EXIT_INTERRUPTED

    return wrapper


def print_error(message) -> None:
    """One line on stderr: schedulers and log greps see the whole reason on it."""
    print("error: " + " ".join(str(message).split()), file=sys.stderr)


def parse_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {value!r}")


def parse_json_mapping(value: str) -> dict:
    """`--stages` text -> a dict; argparse reports the ArgumentTypeError as the flag's."""
    try:
        parsed = json.loads(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {value!r}") from err
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(f"not a JSON object of stage settings: {value!r}")
    return parsed


def comma_separated(value: str) -> list[str]:
    """`a, b,c` -> ["a", "b", "c"] (a flag that names several things at once)."""
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_formats(value: str) -> list[str]:
    """`--output_format` text -> format names: comma-separated, `all` for every one."""
    names = comma_separated(value)
    if names == ["all"]:
        return list(OUTPUT_FORMATS)
    unknown = [n for n in names if n not in OUTPUT_FORMATS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown format {value!r}: choose from {', '.join(OUTPUT_FORMATS)} or all"
        )
    return names


class CurateOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--input",
            action="append",
            default=None,
            help="Input file pattern, optionally tagged with a source name: NAME=GLOB. "
            "Repeatable. Any Beam filesystem path works (local, gs://, s3://). "
            "Without --input the embedded sample corpus is generated and used.",
        )
        parser.add_argument("--output", default=DEFAULT_OUTPUT, help="Output directory.")
        parser.add_argument("--config", default=None, help="YAML file of default flag values.")
        parser.add_argument(
            "--seq_len", type=int, default=PackConfig.seq_len, help="Tokens per packed row."
        )
        parser.add_argument(
            "--dp_world_size",
            type=int,
            default=1,
            help="Data-parallel world size: the token shard count is a multiple of it.",
        )
        parser.add_argument(
            "--vocab_size", type=int, default=TokenizerConfig.vocab_size, help="BPE vocabulary."
        )
        parser.add_argument(
            "--tokenizer",
            default=None,
            help="An existing tokenizer.json (any Beam filesystem path) to tokenize with "
            "instead of training one; it must have the --eos_token (and, with --pack_tail pad, "
            "the --pad_token). It is copied to OUTPUT/tokenizer/.",
        )
        parser.add_argument(
            "--eos_token",
            default=EOS_TOKEN,
            help="The special token after every document (a given tokenizer's own, e.g. </s>).",
        )
        parser.add_argument(
            "--pad_token",
            default=PAD_TOKEN,
            help="The special token filling a padded tail (--pack_tail pad); may be the "
            "--eos_token.",
        )
        parser.add_argument(
            "--tokenizer_sample_bytes",
            type=int,
            default=TokenizerConfig.sample_bytes,
            help="Characters of curated text the tokenizer is trained on (deterministic sample).",
        )
        parser.add_argument(
            "--target_shard_bytes",
            type=int,
            default=256 << 20,
            help="Target size of one token shard (int32 tokens) and of one document shard.",
        )
        parser.add_argument(
            "--pack_tail",
            choices=(TAIL_DROP, TAIL_PAD),
            default=TAIL_DROP,
            help="Last partial row of each token shard: drop it (counted) or pad it.",
        )
        parser.add_argument(
            "--output_format",
            action="extend",
            type=parse_formats,
            default=None,
            help="Token files to write (repeatable, or comma-separated, or `all`): parquet "
            "(packed rows, the default), megatron (.bin/.idx indexed datasets), nanogpt "
            "(flat uint16/uint32 binaries), litdata (TokensLoader chunks). The document "
            "formats hold every copy whole and leave packing to the trainer.",
        )
        parser.add_argument(
            "--skip_stage",
            action="extend",
            type=comma_separated,
            default=None,
            help="Leave a document stage out of the run (repeatable or comma-separated), "
            "e.g. to measure what it buys (python -m pipelines.ablate --drop_stage).",
        )
        parser.add_argument(
            "--validation_fraction",
            type=float,
            default=DEFAULT_VALIDATION_FRACTION,
            help="Share of documents that go to the validation split, chosen by a stable "
            "hash of their id (all copies on one side); 0 writes no validation split.",
        )
        parser.add_argument(
            "--stages",
            type=parse_json_mapping,
            default={},
            help="Per-stage settings as JSON, e.g. '{\"read\": {...}}'; in a --config file, "
            "a `stages:` mapping of stage name to settings.",
        )
        parser.add_argument(
            "--code_sources",
            type=comma_separated,
            default=DEFAULT_CODE_SOURCES,
            help="Comma-separated source names (the NAME of --input NAME=GLOB) that hold "
            "source code: indentation is kept, language ID is skipped and the code quality "
            f"rules apply. Default: {','.join(DEFAULT_CODE_SOURCES)}.",
        )
        parser.add_argument(
            "--commoncrawl_base_url",
            default=None,
            help="Where the relative paths of a Common Crawl listing (an --input naming "
            "warc.paths.gz or wet.paths.gz) live; default https://data.commoncrawl.org/. "
            "Same as stages.read.commoncrawl_base_url.",
        )
        parser.add_argument(
            "--write_rejected",
            type=parse_bool,
            nargs="?",
            const=True,
            default=True,
            help="Write dropped documents with their reason to rejected/ (default true).",
        )


@dataclass(frozen=True)
class CurateConfig:
    """Everything the graph needs, resolved: plain values only, safe to pickle."""

    inputs: list[tuple[str, str]]
    output: str = DEFAULT_OUTPUT
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    # An existing tokenizer.json to use instead of training one.
    tokenizer_path: str | None = None
    pack: PackConfig = field(default_factory=PackConfig)
    dp_world_size: int = 1
    target_shard_bytes: int = 256 << 20
    write_rejected: bool = True
    code_sources: tuple[str, ...] = DEFAULT_CODE_SOURCES
    # Stage name -> that stage's settings (thresholds etc.), as given under `stages:`.
    stages: dict = field(default_factory=dict)
    # Read only these of the matched files (an incremental refresh); None reads them all.
    only_files: frozenset[str] | None = None
    output_formats: tuple[str, ...] = (PARQUET,)
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    # Stages left out of the run (`pipelines.stages.Registry.without`).
    skip_stages: tuple[str, ...] = ()

    def __post_init__(self):
        if self.dp_world_size < 1:
            raise ValueError(f"--dp_world_size must be at least 1, got {self.dp_world_size}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(
                f"--validation_fraction must be at least 0 and below 1, "
                f"got {self.validation_fraction}"
            )
        object.__setattr__(self, "output_formats", check_formats(self.output_formats))

    def to_dict(self) -> dict:
        return {
            "inputs": [{"source": s, "pattern": p} for s, p in self.inputs],
            "output": self.output,
            "seq_len": self.pack.seq_len,
            "pack_tail": self.pack.tail,
            "dp_world_size": self.dp_world_size,
            "tokenizer": self.tokenizer_path,
            "vocab_size": self.tokenizer.vocab_size,
            "tokenizer_min_frequency": self.tokenizer.min_frequency,
            "tokenizer_sample_bytes": self.tokenizer.sample_bytes,
            "eos_token": self.tokenizer.eos_token,
            "pad_token": self.tokenizer.pad_token,
            "target_shard_bytes": self.target_shard_bytes,
            "write_rejected": self.write_rejected,
            "output_format": list(self.output_formats),
            "validation_fraction": self.validation_fraction,
            "skip_stage": list(self.skip_stages),
            "code_sources": list(self.code_sources),
            "stages": self.stages,
            **({"only_files": sorted(self.only_files)} if self.only_files is not None else {}),
        }


def parse_input(spec: str) -> tuple[str, str]:
    """'name=GLOB' -> (name, GLOB); a bare GLOB gets the default source name.

    Local paths become absolute so that workers with another working directory find them.
    """
    match = _TAGGED_INPUT.match(spec)
    name, pattern = (match.group(1), match.group(2)) if match else (DEFAULT_SOURCE, spec)
    return name, absolute_if_local(pattern)


def absolute_if_local(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def config_file_flags(path: str) -> list[str]:
    """YAML mapping -> flags. Lists repeat the flag; mappings (`stages:`) become JSON;
    true -> bare flag; false is left out (Beam's switches are off by default) except for
    our own booleans. Raises UserError for a file that is missing, unreadable or not a YAML
    mapping."""
    try:
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f) or {}
    except OSError as err:
        raise UserError(f"--config {path}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "cannot be parsed"
        raise UserError(f"--config {path}: not valid YAML ({problem}{where})") from err
    if not isinstance(values, dict):
        raise UserError(f"--config {path}: a config file must be a mapping of flag names to values")
    flags = []
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, dict):
            flags.append(f"--{key}={json.dumps(value)}")
            continue
        for item in value if isinstance(value, list) else [value]:
            if item is True:
                flags.append(f"--{key}")
            elif item is False:
                if key == "write_rejected":
                    flags.append(f"--{key}=false")
            else:
                flags.append(f"--{key}={item}")
    return flags


def pop_dry_run(argv: list[str]) -> tuple[bool, list[str]]:
    """(whether `--dry_run` is given, argv without it). Beam's own `--dry_run` (TestOptions,
    for runner tests) takes a value, so ours is taken off before Beam parses the flags:
    `--dry_run`, `--dry_run=true|false`."""
    dry_run, rest = False, []
    for arg in argv:
        if arg == "--dry_run":
            dry_run = True
        elif arg.startswith("--dry_run="):
            try:
                dry_run = parse_bool(arg.split("=", 1)[1])
            except argparse.ArgumentTypeError as err:
                raise UserError(f"argument --dry_run: {err}") from err
        else:
            rest.append(arg)
    return dry_run, rest


def load_options(argv: list[str] | None) -> PipelineOptions:
    """Command-line flags over config-file flags -> PipelineOptions (view as CurateOptions).

    Every flag value is checked here, once: a value argparse rejects (`--seq_len=abc`,
    `--pack_tail=wrap`) raises UserError with argparse's own message instead of printing
    the usage text and exiting deep inside a run. `--help` still prints and exits."""
    argv = list(argv or [])
    check_known_flags(argv)
    config_path = parse_checked(lambda: CurateOptions(argv).view_as(CurateOptions).config)
    if config_path:
        file_flags = config_file_flags(config_path)
        if any(a == "--input" or a.startswith("--input=") for a in argv):
            file_flags = [f for f in file_flags if not f.startswith("--input=")]
        argv = file_flags + argv
        check_known_flags(argv)  # the file's keys, with the command line's runner
    options = PipelineOptions(argv)
    parse_checked(options.get_all_options)  # every registered flag, Beam's own included
    return options


def check_known_flags(argv: list[str], own: tuple[str, ...] = ()) -> None:
    """UserError for a flag that no registered options class defines, ours or Beam's (those
    of the runner in use included), naming the closest known one: Beam would only log it
    and run with the default (`--seq-len 100` ran with seq_len 2048). Call it before Beam
    parses `argv`, which logs such flags as it goes. `own`: a command's flags that it parses
    itself (not in `argv`), for the hint."""
    if "-h" in argv or "--help" in argv:
        return
    runner = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    runner.add_argument("--runner")
    runner.add_argument("--cluster")
    given = runner.parse_known_args(argv)[0]
    _register_runner_options(given.runner)
    if given.cluster not in (None, "local"):  # pipelines.cluster runs the DaskRunner
        _register_runner_options(DASK_RUNNER)
    unknown: list[str] = []
    known: set[str] = set()

    def collect(parser):  # Beam's parser of every registered flag, before it adds unknowns
        known.update(o for action in parser._actions for o in action.option_strings)
        unknown.extend(parser.parse_known_args(argv)[1])

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            PipelineOptions(argv).get_all_options(
                add_extra_args_fn=collect, retain_unknown_options=True
            )
    except SystemExit:  # a bad value: load_options reports it, in argparse's words
        return
    flags = [a.split("=", 1)[0] for a in unknown if a.startswith("-") and a != "--"]
    if not flags:
        return
    names = {k.lstrip("-").replace("-", "_"): k for k in (*known, *own)}
    close = difflib.get_close_matches(flags[0].lstrip("-").replace("-", "_"), names, 1)
    hint = f"; did you mean {names[close[0]]}?" if close else ""
    more = f" (and {', '.join(flags[1:])})" if flags[1:] else ""
    raise UserError(f"unknown flag {flags[0]}{more}{hint}")


def _register_runner_options(runner) -> None:
    """Import the runner's module, which defines its own options class (FlinkRunnerOptions,
    DaskOptions, ...), so that its flags count as known. A runner that cannot be imported
    is left for the run to report."""
    if runner is None or not isinstance(runner, str):
        return
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(runner)
    except Exception:  # noqa: BLE001 - any reason is the run's to report, with its own words
        return


def parse_checked(parse):
    """`parse()`, with argparse's exit on a bad value turned into a UserError."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return parse()
    except SystemExit as exit_:
        if not exit_.code:  # --help: printed, a successful exit
            raise
        printed = captured.getvalue().strip().splitlines() or ["invalid command line"]
        raise UserError(printed[-1].split(": error: ", 1)[-1]) from None


def curate_config(options: PipelineOptions, inputs: list[str]) -> CurateConfig:
    """Resolve CurateOptions (plus the input specs to use) into a CurateConfig; UserError
    for a value it rejects."""
    try:
        return _curate_config(options.view_as(CurateOptions), inputs)
    except ValueError as err:
        raise UserError(str(err)) from err


def _curate_config(opts: CurateOptions, inputs: list[str]) -> CurateConfig:
    return CurateConfig(
        inputs=[parse_input(spec) for spec in inputs],
        output=absolute_if_local(opts.output),
        tokenizer=TokenizerConfig(
            vocab_size=opts.vocab_size,
            sample_bytes=opts.tokenizer_sample_bytes,
            eos_token=opts.eos_token,
            pad_token=opts.pad_token,
        ),
        tokenizer_path=absolute_if_local(opts.tokenizer) if opts.tokenizer else None,
        pack=PackConfig(seq_len=opts.seq_len, tail=opts.pack_tail),
        dp_world_size=opts.dp_world_size,
        target_shard_bytes=opts.target_shard_bytes,
        write_rejected=opts.write_rejected,
        output_formats=tuple(opts.output_format or (PARQUET,)),
        validation_fraction=opts.validation_fraction,
        skip_stages=tuple(sorted(set(opts.skip_stage or ()))),
        code_sources=tuple(opts.code_sources),
        stages=_with_base_url(opts.stages or {}, opts.commoncrawl_base_url),
    )


def _with_base_url(stages: dict, base_url: str | None) -> dict:
    """`stages` with --commoncrawl_base_url folded into the read stage's settings."""
    if base_url is None:
        return stages
    return {**stages, "read": {**stages.get("read", {}), "commoncrawl_base_url": base_url}}


def check_inputs(inputs: list[tuple[str, str]], read_settings: dict | None = None) -> None:
    """Raise UserError unless every (source, pattern) names at least one file: a pattern
    that matches nothing, cannot be listed, or names a directory is refused on the driver,
    before a graph is built (the readers would only dead-letter it, and a run that reads
    nothing must not look like a success). Listings are opened, not read through."""
    from transforms.readers import ReaderConfig, match_input_files
    from transforms.readers.files import InputFile

    try:
        config = ReaderConfig.from_dict(read_settings)
    except ValueError as err:
        raise UserError(str(err)) from err
    for source, pattern in inputs:
        spec = pattern if source == DEFAULT_SOURCE else f"{source}={pattern}"
        problem = "input pattern matched no files"
        for item in match_input_files(source, pattern, config):
            if not isinstance(item, InputFile):  # no match, unlistable, or a directory
                problem = item.error
            else:
                break  # one readable file is enough: the pattern is usable
        else:
            raise UserError(f"--input {spec}: {problem}")


def input_file_sizes(config: CurateConfig) -> list[int]:
    """The size in bytes of every file `config`'s run reads (its inputs' matches, listings
    read through, less what `only_files` leaves out; -1 where a listing does not say), to
    size a Dask run's partitions by (pipelines.dask_compat.partitioned_for)."""
    from transforms.readers import READ_STAGE, ReaderConfig, match_input_files
    from transforms.readers.files import InputFile

    reader, only = ReaderConfig.from_dict(config.stages.get(READ_STAGE)), config.only_files
    return [
        item.size
        for source, pattern in config.inputs
        for item in match_input_files(source, pattern, reader)
        if isinstance(item, InputFile) and (only is None or item.path in only)
    ]
