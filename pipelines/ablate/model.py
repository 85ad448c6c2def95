"""A small decoder-only transformer for corpus ablations (same model, different data)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a TinyGPT; `seq_len` is the context length (learned positions)."""

    vocab_size: int
    seq_len: int = 128
    layers: int = 2
    d_model: int = 128
    heads: int = 4
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "layers", "d_model", "heads", "mlp_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        if self.d_model % self.heads:
            raise ValueError(
                f"ModelConfig.heads ({self.heads}) must divide d_model ({self.d_model})"
            )

    def to_dict(self) -> dict:
        return asdict(self)


class _SelfAttention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.heads = config.heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.out = nn.Linear(config.d_model, config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        # [B, T, 3, H, D] -> three [B, H, T, D]
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(batch, length, width))


class _Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        hidden = config.mlp_ratio * config.d_model
        self.norm_attn = nn.LayerNorm(config.d_model)
        self.attn = _SelfAttention(config)
        self.norm_mlp = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, hidden), nn.GELU(), nn.Linear(hidden, config.d_model)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm_attn(x))
        return x + self.mlp(self.norm_mlp(x))


class TinyGPT(nn.Module):
    """Pre-LayerNorm decoder-only transformer: token + learned position embeddings, causal
    self-attention (torch.nn.functional.scaled_dot_product_attention with is_causal=True),
    GELU MLP, tied input/output embeddings."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.seq_len, config.d_model)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.layers))
        self.norm_out = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.token_embedding.weight  # tied
        self._init_weights()

    def _init_weights(self) -> None:
        # N(0, 0.02) everywhere; the projections that write into the residual stream are
        # scaled down by sqrt(2 * layers) so the stream's variance does not grow with depth.
        residual_std = 0.02 / math.sqrt(2 * self.config.layers)
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            nn.init.normal_(block.attn.out.weight, mean=0.0, std=residual_std)
            nn.init.normal_(block.mlp[2].weight, mean=0.0, std=residual_std)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """[B, T] int64 token ids (T <= seq_len) -> logits [B, T, vocab_size], float32."""
        if ids.dim() != 2:
            raise ValueError(f"ids must be [batch, length], got shape {tuple(ids.shape)}")
        length = ids.shape[1]
        if length > self.config.seq_len:
            raise ValueError(f"sequence of {length} tokens exceeds seq_len {self.config.seq_len}")
        positions = torch.arange(length, device=ids.device)
        x = self.token_embedding(ids) + self.position_embedding(positions)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm_out(x)).float()

    def parameter_count(self) -> int:
        """Number of distinct parameters (the tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters())
