"""`python -m pipelines.ablate`: does curation help? Train identical small models on each
arm (curated runs, the raw input, runs with one stage switched off) with the same token
budget, seeds and schedule, and compare them on held-out text.

    python -m pipelines.ablate                          # the demo: raw vs curated
    python -m pipelines.ablate --arm curated=out/run1 --raw raw='data/*.jsonl.gz' \\
        --eval wiki='heldout/*.jsonl' --drop_stage toxicity --seeds 3

Writes OUTPUT/ablation.json and OUTPUT/ablation.html and prints progress with an ETA.
Without --arm and --raw it curates the demo corpus itself (OUTPUT/corpus, OUTPUT/arms).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from pipelines.ablate import report
from pipelines.options import UserError, command_line, parse_checked, print_error
from pipelines.sample_corpus import SAMPLE_CORPUS_MIX, write_clean_prose, write_sample_corpus

DEFAULT_OUTPUT = "./out/ablate"
TOXIC_REASON = "toxic"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.ablate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--arm", action="append", default=[], help="NAME=RUN_DIR (repeatable)")
    parser.add_argument("--raw", action="append", default=[], help="NAME=GLOB (repeatable)")
    parser.add_argument("--eval", action="append", default=[], help="NAME=GLOB (repeatable)")
    parser.add_argument(
        "--drop_stage",
        action="append",
        default=[],
        help="Curate the first arm's input again without STAGE and add that arm (repeatable).",
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train_tokens", type=int, default=500_000)
    parser.add_argument("--seq_len", type=int, default=128, help="Model context length.")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--d_model", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--learning_rate", type=float, default=3e-3)
    parser.add_argument("--evaluations", type=int, default=6, help="Points on each curve.")
    parser.add_argument(
        "--vocab_size", type=int, default=4096, help="Tokenizer of the demo's curate run."
    )
    parser.add_argument("--demo_scale", type=float, default=1.0, help="Size of the demo corpus.")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if any)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    return parser.parse_args(argv)


def _named(spec: str, flag: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep or not name or not value:
        raise UserError(f"{flag} {spec}: give NAME=PATH")
    return name, value


def demo_arms(args, output: str) -> tuple[list[tuple[str, str]], list[tuple[str, list[str]]]]:
    """Curate the demo corpus into OUTPUT/arms/curated; -> the curated and raw arms."""
    inputs = write_sample_corpus(os.path.join(output, "corpus"), args.demo_scale)
    run_dir = os.path.join(output, "arms", "curated")
    argv = [f"--input={i}" for i in inputs] + [
        f"--output={run_dir}",
        f"--vocab_size={args.vocab_size}",
        f"--stages={json.dumps({'balance': SAMPLE_CORPUS_MIX})}",
    ]
    _curate(argv, "the demo corpus")
    return [("curated", run_dir)], [("raw", inputs)]


def _curate(argv: list[str], what: str) -> None:
    from pipelines.curate import run

    print(f"[ablate] curating {what} ...", file=sys.stderr, flush=True)
    manifest = run(argv)
    if not manifest["records"]["balanced"]:
        raise UserError(f"curating {what}: the records do not add up")


def without_stage_run(first_dir: str, stage: str, output: str) -> str:
    """Curate the first arm's input again, with its settings and tokenizer, without
    `stage`; -> the run folder."""
    from pipelines.ablate import data

    config = data.read_manifest(first_dir)["config"]
    run_dir = os.path.join(output, "arms", f"without-{stage}")
    argv = [f"--input={i['source']}={i['pattern']}" for i in config["inputs"]] + [
        f"--output={run_dir}",
        f"--tokenizer={os.path.join(first_dir, 'tokenizer', 'tokenizer.json')}",
        f"--skip_stage={','.join([*config.get('skip_stage', []), stage])}",
        f"--stages={json.dumps(config['stages'])}",
        f"--code_sources={','.join(config['code_sources'])}",
        f"--validation_fraction={config.get('validation_fraction', 0.0)}",
    ]
    for flag in ("seq_len", "pack_tail", "dp_world_size", "target_shard_bytes", "eos_token",
                 "pad_token"):  # fmt: skip
        argv.append(f"--{flag}={config[flag]}")
    _curate(argv, f"the first arm's input without {stage}")
    return run_dir


class Progress:
    """Progress on stderr, at most every few seconds, with an ETA over all runs."""

    def __init__(self, runs: int):
        self.runs, self.done_steps, self.started, self.last = runs, 0, time.monotonic(), 0.0
        self.label = ""

    def __call__(self, step: int, steps: int) -> None:
        self.done_steps += 1
        now = time.monotonic()
        if now - self.last < 5 and step != steps:
            return
        self.last = now
        total = steps * self.runs
        rate = (now - self.started) / self.done_steps
        eta = rate * (total - self.done_steps)
        print(
            f"[ablate] {self.label}: step {step}/{steps}, {self.done_steps / total:.0%} of all, "
            f"ETA {int(eta // 60)}m{int(eta % 60):02d}s",
            file=sys.stderr,
            flush=True,
        )


def ablate(args) -> dict:
    """Build the arms, train every (arm, seed), and return the result `report.write` takes."""
    try:
        from pipelines.ablate import data
        from pipelines.ablate.model import ModelConfig
        from pipelines.ablate.train import TrainConfig, train
    except ImportError as err:  # torch is an extra: the curation pipeline runs without it
        raise UserError(f"python -m pipelines.ablate needs PyTorch ({err}): pip install "
                        "'.[torch]'") from err  # fmt: skip
    output = os.path.abspath(args.output)
    arms_spec = [(*_named(a, "--arm"), "curated") for a in args.arm]
    raw_spec: dict[str, list[str]] = {}
    for spec in args.raw:
        raw_spec.setdefault(_named(spec, "--raw")[0], []).append(spec)
    evals = list(args.eval)
    if not arms_spec and not raw_spec:
        curated, raws = demo_arms(args, output)
        arms_spec = [(name, run_dir, "curated") for name, run_dir in curated]
        raw_spec = dict(raws)
        evals = evals or [write_clean_prose(os.path.join(output, "eval", "clean.jsonl"))]
    if not arms_spec:
        raise UserError("give at least one --arm NAME=RUN_DIR (its tokenizer tokenizes --raw)")
    first_dir = arms_spec[0][1]
    for stage in args.drop_stage:
        run_dir = without_stage_run(first_dir, stage, output)
        arms_spec.append((f"without-{stage}", run_dir, f"without:{stage}"))
    names = [name for name, _, _ in arms_spec] + list(raw_spec)
    if len(set(names)) != len(names):
        raise UserError(f"arm names must differ: {', '.join(names)}")
    first = data.read_manifest(first_dir)
    eos_token = first["config"]["eos_token"]
    fraction = first["config"].get("validation_fraction", 0.0)
    first_encoder = data.Encoder(data.run_tokenizer_json(first_dir), eos_token)

    arms, encoders = [], {}
    for name, run_dir, kind in arms_spec:
        encoders[name] = data.Encoder(data.run_tokenizer_json(run_dir), eos_token)
        arms.append(data.curated_arm(name, run_dir, encoders[name], kind))
    for name, specs in raw_spec.items():
        encoders[name] = first_encoder
        arms.append(data.raw_arm(name, specs, first_encoder, fraction))
    eval_texts = {_named(e, "--eval")[0]: data.read_documents([e]) for e in evals}
    probes = {"probe:contact_details": data.canary_texts()}
    toxic = data.most_toxic_lines(data.dropped_texts(first_dir, TOXIC_REASON))
    if toxic:
        probes["probe:dropped_toxic_lines"] = toxic

    model_base = dict(seq_len=args.seq_len, layers=args.layers, d_model=args.d_model,
                      heads=args.heads)  # fmt: skip
    runs, progress = [], Progress(len(arms) * args.seeds)
    for arm in arms:
        encoder = encoders[arm.name]
        sets = {name: encoder.eval_set([d.text for d in docs]) for name, docs in eval_texts.items()}
        if arm.validation is not None:
            sets["own validation"] = arm.validation
        sets.update({name: encoder.eval_set(texts) for name, texts in probes.items()})
        vocab = encoder.tokenizer.get_vocab_size(with_added_tokens=True)
        model = ModelConfig(vocab_size=vocab, **model_base)
        for seed in range(args.seeds):
            progress.label = f"{arm.name} seed {seed + 1}/{args.seeds}"
            config = TrainConfig(
                train_tokens=args.train_tokens,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                evaluations=args.evaluations,
                seed=seed,
                device=args.device,
            )
            result = train(model, config, arm.train_stream, sets, progress)
            runs.append({"arm": arm.name, "seed": seed, "model": model.to_dict(),
                         **result.to_dict()})  # fmt: skip

    summary = report.summarize(runs)
    reference = next(iter(eval_texts), "own validation")
    names = [a.name for a in arms]
    other = next((a.name for a in arms if a.kind == "raw"), names[1] if len(names) > 1 else None)
    said = (
        report.verdict(summary, names[0], other, reference, args.seeds)
        if other and all(reference in summary[n] for n in (names[0], other))
        else "One arm only: nothing to compare."
    )
    return {
        "config": {
            "seeds": args.seeds,
            "model": model_base,
            "train": TrainConfig(
                train_tokens=args.train_tokens,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
            ).to_dict(),  # fmt: skip
            "eval": evals,
            "probes": sorted(probes),
        },
        "arms": [a.facts() for a in arms],
        "runs": runs,
        "summary": summary,
        "verdict": said,
    }


@command_line
def main(argv: list[str] | None = None) -> int:
    """The command line: 0 done, 2 a bad flag or input (one error line)."""
    logging.basicConfig(level=logging.WARNING)
    args = parse_checked(lambda: parse_args(sys.argv[1:] if argv is None else argv))
    if args.seeds < 1 or args.train_tokens < 1:
        raise UserError("--seeds and --train_tokens must be at least 1")
    started = time.monotonic()
    result = ablate(args)
    result["seconds"] = round(time.monotonic() - started, 1)
    json_path, html_path = report.write(os.path.abspath(args.output), result)
    print(result["verdict"])
    print(f"{json_path}\n{html_path}  ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print_error("interrupted")
        sys.exit(130)
