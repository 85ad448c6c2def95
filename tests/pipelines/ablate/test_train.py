"""The ablation model and training core: windows, TinyGPT, the schedule, and short CPU runs."""

import json
import math

import numpy as np
import pytest
import torch

from pipelines.ablate.model import ModelConfig, TinyGPT
from pipelines.ablate.train import (
    EvalSet,
    TrainConfig,
    _window_order,
    evaluate,
    learning_rate_at,
    train,
    windows,
)

VOCAB = 64
MODEL = ModelConfig(vocab_size=VOCAB, seq_len=32, layers=1, d_model=32, heads=2)
CONFIG = TrainConfig(train_tokens=20_000, batch_size=8, evaluations=3)


def pattern_stream(length: int, seed: int, noise: float = 0.1) -> np.ndarray:
    """A period-16 pattern over the vocabulary with `noise` of the tokens replaced at random."""
    rng = np.random.default_rng(seed)
    base = (np.arange(length) % 16) * 3 % VOCAB
    return np.where(rng.random(length) < noise, rng.integers(0, VOCAB, length), base).astype(
        np.uint16
    )


TRAIN = pattern_stream(8_000, seed=1)
EVAL = {"held_out": EvalSet(pattern_stream(2_000, seed=2), text_bytes=5_000)}


@pytest.fixture(scope="module")
def run():
    return train(MODEL, CONFIG, TRAIN, EVAL)


def test_windows_stride_shape_and_remainder():
    got = windows(np.arange(10, dtype=np.uint16), 3)
    assert got.dtype == np.int64 and got.shape == (3, 4)
    assert got.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    assert windows(np.arange(12), 3).shape == (3, 4)  # 10 and 11 dropped
    assert windows(np.arange(13), 3)[-1].tolist() == [9, 10, 11, 12]
    assert windows(np.arange(3), 3).shape == (0, 4)
    with pytest.raises(ValueError, match="seq_len"):
        windows(np.arange(10), 0)


def test_tiny_gpt_shape_causality_and_tied_weights():
    torch.manual_seed(0)
    model = TinyGPT(ModelConfig(vocab_size=50, seq_len=16, layers=2, d_model=24, heads=3)).eval()
    ids = torch.randint(0, 50, (2, 16))
    logits = model(ids)
    assert logits.shape == (2, 16, 50) and logits.dtype == torch.float32
    changed = ids.clone()
    changed[:, 9] = (changed[:, 9] + 1) % 50
    with torch.no_grad():
        before, after = model(ids), model(changed)
    assert torch.equal(before[:, :9], after[:, :9])
    assert not torch.allclose(before[:, 9:], after[:, 9:])
    assert model(ids[:, :5]).shape == (2, 5, 50)  # shorter than seq_len is fine

    assert model.head.weight is model.token_embedding.weight
    unique = {id(p): p.numel() for _, p in model.named_parameters(remove_duplicate=False)}
    assert model.parameter_count() == sum(unique.values())
    d, v, t, hidden = 24, 50, 16, 96
    per_layer = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * (d * hidden) + hidden + d
    assert model.parameter_count() == v * d + t * d + 2 * per_layer + 2 * d
    with pytest.raises(ValueError, match="seq_len"):
        model(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize(
    "kwargs", [{"heads": 5}, {"vocab_size": 0}, {"d_model": -8}, {"layers": 0}]
)
def test_model_config_rejects_bad_shapes(kwargs):
    with pytest.raises(ValueError):
        ModelConfig(**{"vocab_size": 64, "d_model": 32, "heads": 4, **kwargs})


def test_learning_rate_schedule():
    config = TrainConfig(train_tokens=1, learning_rate=1.0, warmup_fraction=0.1,
                         min_learning_rate_ratio=0.2)  # fmt: skip
    lrs = [learning_rate_at(step, 100, config) for step in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # 10 warm-up steps
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10], strict=True))
    assert all(a > b for a, b in zip(lrs[9:-1], lrs[10:], strict=True))
    assert lrs[-1] == pytest.approx(0.2)
    # Cosine: halfway through the decay (steps 9 .. 99) the rate is halfway to the floor.
    assert learning_rate_at(54, 100, config) == pytest.approx(0.6)
    no_warmup = TrainConfig(train_tokens=1, learning_rate=2.0, warmup_fraction=0.0)
    assert learning_rate_at(0, 10, no_warmup) == 2.0
    assert learning_rate_at(0, 1, config) == 1.0


class _Uniform(torch.nn.Module):
    """Zero logits: every token costs log(vocab) nats."""

    def forward(self, ids):
        self.saw_training = self.training
        return torch.zeros(*ids.shape, VOCAB)


def test_evaluate_bits_per_byte_by_hand():
    stream = np.arange(103) % VOCAB  # 3 windows of 33 tokens at seq_len 32: 96 predicted
    model = _Uniform().train()
    got = evaluate(model, EvalSet(stream, text_bytes=412), seq_len=32, batch_size=2, device="cpu")
    assert got["tokens"] == 96
    assert got["loss"] == pytest.approx(math.log(VOCAB))
    assert got["bits_per_token"] == pytest.approx(6.0)
    # 96 of 103 tokens predicted: they stand for 412 * 96 / 103 = 384 bytes; 96 * 6 bits.
    assert got["bits_per_byte"] == pytest.approx(96 * 6 / 384)
    assert model.saw_training is False and model.training  # eval inside, mode restored
    with pytest.raises(ValueError, match="33 tokens"):
        evaluate(model, EvalSet(stream[:32], 100), seq_len=32, batch_size=2, device="cpu")


def test_evaluate_matches_a_forward_over_all_windows():
    torch.manual_seed(3)
    model = TinyGPT(MODEL)
    eval_set = EVAL["held_out"]
    got = evaluate(model, eval_set, seq_len=32, batch_size=5, device="cpu")
    batch = torch.from_numpy(windows(eval_set.stream, 32))
    with torch.no_grad():
        logits = model.eval()(batch[:, :-1])
    nats = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), batch[:, 1:].flatten(), reduction="sum"
    ).item()
    assert got["tokens"] == batch.shape[0] * 32
    assert got["loss"] == pytest.approx(nats / got["tokens"], rel=1e-5)
    covered = eval_set.text_bytes * got["tokens"] / len(eval_set.stream)
    assert got["bits_per_byte"] == pytest.approx(nats / math.log(2) / covered, rel=1e-5)


def test_training_lowers_the_loss_and_reports_everything(run):
    steps = math.ceil(20_000 / (8 * 32))
    assert run.steps == steps == 79
    assert [point["step"] for point in run.curve] == [0, 20, 40, 59, 79]
    assert [point["tokens"] for point in run.curve] == [s * 8 * 32 for s in (0, 20, 40, 59, 79)]
    assert run.curve[0]["train_loss"] is None
    assert all(point["train_loss"] > 0 for point in run.curve[1:])
    assert run.curve[-1]["learning_rate"] == pytest.approx(3e-4)
    assert run.final == run.curve[-1]["eval"]
    start, end = run.curve[0]["eval"]["held_out"], run.final["held_out"]
    assert start["loss"] == pytest.approx(math.log(VOCAB), abs=0.1)
    assert end["loss"] < 0.5 * math.log(VOCAB) and end["loss"] < start["loss"] - 2
    losses = [point["eval"]["held_out"]["loss"] for point in run.curve]
    assert losses == sorted(losses, reverse=True)
    assert run.curve[-1]["train_loss"] < run.curve[1]["train_loss"]
    for point in run.curve:
        scores = point["eval"]["held_out"]
        assert scores["bits_per_token"] == pytest.approx(scores["loss"] / math.log(2))
        covered = 5_000 * scores["tokens"] / 2_000
        assert scores["bits_per_byte"] == pytest.approx(
            scores["bits_per_token"] * scores["tokens"] / covered
        )
    assert run.parameters == TinyGPT(MODEL).parameter_count()
    assert run.epochs == pytest.approx(79 * 8 / ((8_000 - 1) // 32))
    assert run.seconds > 0 and run.tokens_per_second > 0
    assert set(json.loads(json.dumps(run.to_dict()))) == {
        "curve", "final", "parameters", "steps", "epochs", "seconds", "tokens_per_second"
    }  # fmt: skip


def test_same_seed_same_curve_other_seed_other_curve(run):
    rng_state = torch.random.get_rng_state()
    calls = []
    again = train(MODEL, CONFIG, TRAIN, EVAL, progress=lambda step, steps: calls.append(step))
    assert again.curve == run.curve
    assert calls == list(range(1, 80))
    assert torch.equal(torch.random.get_rng_state(), rng_state)  # global RNG untouched
    assert not torch.are_deterministic_algorithms_enabled()  # setting restored
    other = train(MODEL, TrainConfig(train_tokens=20_000, batch_size=8, evaluations=3, seed=1),
                  TRAIN, EVAL)  # fmt: skip
    assert other.curve != run.curve


def test_epochs_repeat_with_fresh_permutations():
    order = _window_order(5, np.random.default_rng(0))
    first, second = [next(order) for _ in range(5)], [next(order) for _ in range(5)]
    assert sorted(first) == sorted(second) == [0, 1, 2, 3, 4]
    assert first != second


def test_train_rejects_bad_input():
    with pytest.raises(ValueError, match="too short"):
        train(MODEL, CONFIG, TRAIN[:32], EVAL)
    with pytest.raises(ValueError, match="too short"):
        train(MODEL, CONFIG, TRAIN, {"tiny": EvalSet(TRAIN[:10], 10)})
    with pytest.raises(ValueError, match="vocab_size"):
        train(MODEL, CONFIG, TRAIN + VOCAB, EVAL)
    with pytest.raises(ValueError, match="train_tokens"):
        TrainConfig(train_tokens=0)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(train_tokens=10, batch_size=0)
