"""Train a tokenizer on its own, from any input the pipeline reads, with the pipeline's
deterministic sample (a curate run's `documents/*.parquet` gives the tokenizer that run
trained, when the run's sample covered its cap):

    python -m pipelines.train_tokenizer --input 'out/curate/documents/*.parquet' \
        --output tok.json [--vocab_size 32768] [--sample_bytes 67108864] \
        [--min_frequency 2] [--eos_token '<|endoftext|>'] [--pad_token '<|pad|>']
"""

from __future__ import annotations

import argparse
import sys

from apache_beam.io.filesystems import FileSystems

from schemas.document import DeadLetter, Document
from tokenizer.train import EOS_TOKEN, PAD_TOKEN, TokenizerConfig, tokenizer_sha256, train_bpe
from transforms.readers import match_input_files, read_file
from transforms.train_tokenizer import SmallestRanks


def main(argv: list[str] | None = None) -> int:
    """Train a tokenizer from documents in any format the pipeline reads."""
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.train_tokenizer", description=main.__doc__
    )
    parser.add_argument("--input", action="append", required=True, help="Glob; repeatable.")
    parser.add_argument("--output", required=True, help="Where to write tokenizer.json.")
    parser.add_argument("--vocab_size", type=int, default=TokenizerConfig.vocab_size)
    parser.add_argument("--min_frequency", type=int, default=TokenizerConfig.min_frequency)
    parser.add_argument("--sample_bytes", type=int, default=TokenizerConfig.sample_bytes)
    parser.add_argument("--eos_token", default=EOS_TOKEN, help="End-of-text special token.")
    parser.add_argument("--pad_token", default=PAD_TOKEN, help="Pad special token.")
    args = parser.parse_args(argv)
    try:
        settings = TokenizerConfig(
            vocab_size=args.vocab_size, eos_token=args.eos_token, pad_token=args.pad_token
        )
    except ValueError as err:  # one line and exit 2, before any input is read
        parser.error(str(err))
    special = settings.special_tokens

    kept = SmallestRanks(args.sample_bytes)
    documents = unreadable = 0
    for pattern in args.input:
        for file in match_input_files("train", pattern):
            if isinstance(file, DeadLetter):
                parser.error(f"--input {pattern}: {file.error}")
            for record in read_file(file):
                if isinstance(record, Document):
                    documents += 1
                    kept.add(record.id, record.text)
                else:
                    unreadable += 1
    texts = kept.sample()
    tokenizer_json = train_bpe(texts, args.vocab_size, args.min_frequency, special)
    with FileSystems.create(args.output) as f:
        f.write(tokenizer_json.encode("utf-8"))
    print(
        f"read {documents:,} documents ({unreadable:,} records skipped: dropped or unreadable); "
        f"trained on {len(texts):,} documents, {sum(map(len, texts)):,} characters; "
        f"wrote {args.output} (sha256 {tokenizer_sha256(tokenizer_json)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
