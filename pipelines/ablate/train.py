"""Training and evaluation core for corpus ablations: no Beam, just torch and numpy."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pipelines.ablate.model import ModelConfig, TinyGPT


@dataclass(frozen=True)
class TrainConfig:
    """One training run. steps = ceil(train_tokens / (batch_size * seq_len)); AdamW with weight
    decay on the Linear weights only (not on biases, LayerNorms or the tied/position
    embeddings); `evaluations` points along the run plus step 0 and the last step."""

    train_tokens: int
    batch_size: int = 16
    learning_rate: float = 3e-3
    min_learning_rate_ratio: float = 0.1
    warmup_fraction: float = 0.05  # linear warm-up, then cosine decay to lr * min ratio
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # max global grad norm; <= 0 turns clipping off
    evaluations: int = 8
    seed: int = 0
    device: str | None = None  # None: "cuda" when available, else "cpu"

    def __post_init__(self) -> None:
        for name in ("train_tokens", "batch_size", "learning_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be positive, got {getattr(self, name)}")
        if not (0 <= self.min_learning_rate_ratio <= 1 and 0 <= self.warmup_fraction < 1):
            raise ValueError("min_learning_rate_ratio must be in [0, 1], warmup_fraction in [0, 1)")
        if self.weight_decay < 0 or self.evaluations < 0:
            raise ValueError("weight_decay and evaluations must not be negative")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EvalSet:
    """Held-out text as one token stream: every document's ids followed by end-of-text,
    concatenated; `text_bytes`: UTF-8 bytes of those documents' text (for bits per byte,
    which does not depend on the tokenizer)."""

    stream: np.ndarray
    text_bytes: int


@dataclass
class TrainResult:
    """curve: per evaluation point {"step", "tokens", "train_loss" (mean over the steps since
    the previous point; None at step 0), "learning_rate" (of the last step taken; at step 0 the
    first step's), "eval": {name: evaluate(...)}}; final: the last point's "eval". seconds:
    wall time of the whole run including evaluations; tokens_per_second: train tokens over
    the time spent in training steps only."""

    curve: list[dict]
    final: dict
    parameters: int
    steps: int
    epochs: float  # train tokens seen / tokens available in train windows
    seconds: float
    tokens_per_second: float

    def to_dict(self) -> dict:
        return asdict(self)


def _window_count(stream: np.ndarray, seq_len: int) -> int:
    return max(0, (len(stream) - 1) // seq_len)  # window i: tokens i*T .. i*T + T


def _gather(stream: np.ndarray, seq_len: int, indices: np.ndarray) -> np.ndarray:
    """Windows `indices` (stride seq_len, seq_len + 1 tokens each) as int64 [len(indices), T+1]."""
    starts = np.asarray(indices, dtype=np.int64)[:, None] * seq_len
    return np.asarray(stream[starts + np.arange(seq_len + 1)], dtype=np.int64)


def windows(stream: np.ndarray, seq_len: int) -> np.ndarray:
    """Non-overlapping windows of seq_len + 1 tokens (stride seq_len: inputs [:-1], targets
    [1:]), int64 array [n, seq_len + 1]; the remainder is dropped."""
    if seq_len <= 0:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    stream = np.asarray(stream)
    return _gather(stream, seq_len, np.arange(_window_count(stream, seq_len)))


def _autocast(device: torch.device):
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def evaluate(model, eval_set: EvalSet, seq_len: int, batch_size: int, device) -> dict:
    """Mean loss of `model` on the windows of `eval_set.stream` (no grad, eval mode).

    Returns {"loss": mean nats per predicted token, "bits_per_token", "bits_per_byte",
    "tokens": predicted tokens}. The windows predict tokens 1 .. n*seq_len of the stream's
    L tokens, so they cover the fraction n*seq_len / L of it; bits_per_byte is the total bits
    over those tokens divided by the same fraction of the text's bytes:
        bits_per_byte = sum(-log2 p) / (text_bytes * n * seq_len / L)
    End-of-text tokens are counted in L and their bits in the sum, as a byte-level model
    would pay for knowing where a document ends."""
    stream = np.asarray(eval_set.stream)
    count = _window_count(stream, seq_len)
    if count == 0 or eval_set.text_bytes <= 0 or batch_size <= 0:
        raise ValueError(
            f"evaluate needs a stream of at least {seq_len + 1} tokens (got {len(stream)}), "
            f"positive text_bytes ({eval_set.text_bytes}) and batch_size ({batch_size})"
        )
    device = torch.device(device)
    was_training, total = model.training, torch.zeros((), dtype=torch.float64, device=device)
    model.eval()
    try:
        with torch.no_grad(), _autocast(device):
            for first in range(0, count, batch_size):
                indices = np.arange(first, min(first + batch_size, count))
                batch = torch.from_numpy(_gather(stream, seq_len, indices)).to(device)
                logits = model(batch[:, :-1])
                total += F.cross_entropy(
                    logits.flatten(0, 1).float(), batch[:, 1:].flatten(), reduction="sum"
                ).double()
    finally:
        model.train(was_training)
    tokens = count * seq_len
    nats = total.item()
    bits, covered_bytes = nats / math.log(2), eval_set.text_bytes * tokens / len(stream)
    return dict(loss=nats / tokens, bits_per_token=bits / tokens,
                bits_per_byte=bits / covered_bytes, tokens=tokens)  # fmt: skip


def learning_rate_at(step: int, steps: int, config: TrainConfig) -> float:
    """Learning rate of optimizer step `step` (0-based) of `steps`: linear warm-up over
    w = ceil(warmup_fraction * steps) steps (peak/w, 2 peak/w, ..., peak at step w - 1), then
    cosine decay from there to learning_rate * min_learning_rate_ratio at the last step."""
    peak = config.learning_rate
    warmup = math.ceil(config.warmup_fraction * steps)
    if step < warmup:
        return peak * (step + 1) / warmup
    top = max(warmup - 1, 0)  # the step at the peak
    progress = min(1.0, (step - top) / (steps - 1 - top)) if steps - 1 > top else 1.0
    floor = config.min_learning_rate_ratio
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def _window_order(count: int, rng: np.random.Generator) -> Iterator[int]:
    while True:  # one fresh permutation per epoch
        yield from rng.permutation(count).tolist()


def _evaluation_steps(steps: int, evaluations: int) -> list[int]:
    inner = {round(i * steps / (evaluations + 1)) for i in range(1, evaluations + 1)}
    return sorted(inner | {0, steps})


def _optimizer(model: TinyGPT, config: TrainConfig):
    """AdamW, betas (0.9, 0.95); weight decay on Linear weights except the tied head."""
    tied = model.token_embedding.weight
    decay = [
        m.weight for m in model.modules() if isinstance(m, torch.nn.Linear) and m.weight is not tied
    ]
    rest = [p for p in model.parameters() if all(p is not q for q in decay)]
    groups = [dict(params=decay, weight_decay=config.weight_decay), dict(params=rest)]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.95), weight_decay=0)


@contextlib.contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic algorithms inside, the caller's settings restored after. On CUDA, kernels
    without a deterministic variant (or cuBLAS without CUBLAS_WORKSPACE_CONFIG) would raise, so
    there it is best effort (warn only). NaN-filling new tensors, a debugging aid of
    deterministic mode, is off: it costs ~10% on CPU."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)
        torch.utils.deterministic.fill_uninitialized_memory = previous_fill


def _check_stream(name: str, stream: np.ndarray, config: ModelConfig) -> None:
    if _window_count(stream, config.seq_len) == 0:
        need = config.seq_len + 1
        raise ValueError(f"{name} of {len(stream)} tokens is too short for one window of {need}")
    low, high = int(stream.min()), int(stream.max())
    if low < 0 or high >= config.vocab_size:
        raise ValueError(
            f"{name} has ids in [{low}, {high}], outside vocab_size {config.vocab_size}"
        )


def train(
    model_config: ModelConfig,
    config: TrainConfig,
    train_stream: np.ndarray,
    eval_sets: dict[str, EvalSet],
    progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train a fresh TinyGPT on windows of train_stream, in an order drawn from the seed
    (epochs repeat with a new permutation when train_tokens exceed the stream), evaluating
    every set along the way. progress(step, steps) is called after each step. Deterministic
    on CPU for a fixed seed; bf16 autocast on CUDA when supported, fp32 on CPU. Global RNG
    state and the deterministic-algorithms setting are restored afterwards."""
    started = time.perf_counter()
    train_stream = np.asarray(train_stream)
    _check_stream("train_stream", train_stream, model_config)
    for name, eval_set in eval_sets.items():
        _check_stream(f"eval set {name!r}", np.asarray(eval_set.stream), model_config)
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    seq_len, batch_size = model_config.seq_len, config.batch_size
    steps = math.ceil(config.train_tokens / (batch_size * seq_len))
    count = _window_count(train_stream, seq_len)

    with _deterministic(device):
        cuda = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):  # seeds the init, leaves global RNG alone
            torch.manual_seed(config.seed)
            model = TinyGPT(model_config).to(device)
        optimizer = _optimizer(model, config)
        order = _window_order(count, np.random.default_rng(config.seed))
        checkpoints = set(_evaluation_steps(steps, config.evaluations))

        def point(step: int, losses: list[torch.Tensor], lr: float) -> dict:
            train_loss = torch.stack(losses).mean().item() if losses else None
            scores = {
                name: evaluate(model, eval_set, seq_len, batch_size, device)
                for name, eval_set in eval_sets.items()
            }
            tokens = step * batch_size * seq_len
            return dict(step=step, tokens=tokens, train_loss=train_loss, learning_rate=lr,
                        eval=scores)  # fmt: skip

        curve = [point(0, [], learning_rate_at(0, steps, config))]
        losses: list[torch.Tensor] = []
        train_seconds = 0.0
        model.train()
        for step in range(steps):
            tick = time.perf_counter()
            lr = learning_rate_at(step, steps, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            indices = np.fromiter(order, dtype=np.int64, count=batch_size)
            batch = torch.from_numpy(_gather(train_stream, seq_len, indices)).to(device)
            with _autocast(device):
                logits = model(batch[:, :-1])
            loss = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            losses.append(loss.detach())
            train_seconds += time.perf_counter() - tick
            if step + 1 in checkpoints:
                curve.append(point(step + 1, losses, lr))
                losses = []
            if progress is not None:
                progress(step + 1, steps)

    trained = curve[-1]["tokens"]
    return TrainResult(
        curve=curve,
        final=curve[-1]["eval"],
        parameters=model.parameter_count(),
        steps=steps,
        epochs=steps * batch_size / count,
        seconds=time.perf_counter() - started,
        tokens_per_second=trained / train_seconds if train_seconds > 0 else 0.0,
    )
