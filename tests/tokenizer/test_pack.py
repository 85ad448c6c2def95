import numpy as np
import pytest

from tokenizer.pack import TAIL_DROP, TAIL_PAD, PackConfig, pack

EOS, PAD = 0, 1


def _docs(*lengths):
    start = 10
    out = []
    for n in lengths:
        out.append(np.arange(start, start + n, dtype=np.int32))
        start += n
    return out


def test_rows_are_exactly_seq_len_with_eos_after_each_document():
    packed = pack(_docs(3, 4, 2), EOS, PAD, PackConfig(seq_len=4, tail=TAIL_DROP))
    # stream: 10 11 12 E 13 14 15 16 E 17 18 E -> 12 tokens = 3 rows
    assert packed.rows.tolist() == [[10, 11, 12, EOS], [13, 14, 15, 16], [EOS, 17, 18, EOS]]
    assert packed.doc_starts == [[0], [0], [1]]
    assert (packed.tokens, packed.tail_tokens_dropped, packed.pad_tokens) == (12, 0, 0)


def test_tail_drop_counts_the_dropped_tokens():
    packed = pack(_docs(5), EOS, PAD, PackConfig(seq_len=4, tail=TAIL_DROP))
    assert packed.rows.tolist() == [[10, 11, 12, 13]]
    assert packed.tail_tokens_dropped == 2


def test_tail_pad_fills_the_last_row():
    packed = pack(_docs(5), EOS, PAD, PackConfig(seq_len=4, tail=TAIL_PAD))
    assert packed.rows.tolist() == [[10, 11, 12, 13], [14, EOS, PAD, PAD]]
    assert (packed.pad_tokens, packed.tail_tokens_dropped) == (2, 0)


def test_no_documents():
    packed = pack([], EOS, PAD, PackConfig(seq_len=8))
    assert packed.rows.shape == (0, 8) and packed.doc_starts == []


def test_invalid_config():
    with pytest.raises(ValueError):
        PackConfig(seq_len=0)
    with pytest.raises(ValueError):
        PackConfig(tail="wrap")
