"""BPE training, packing token shards and reading them back for training (torch_dataset:
import it alone, it needs torch)."""

from tokenizer.reader import SequenceReader, iter_sequences, shard_paths

__all__ = ["SequenceReader", "iter_sequences", "shard_paths"]
