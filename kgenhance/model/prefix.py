"""Prefix tuning (Li & Liang, 2021): trainable key/value prefixes in every attention layer of a frozen encoder."""

from __future__ import annotations

import inspect

import torch
from torch import Tensor, nn

# encoders whose self-attention reads prefixes from a `cache` and whose positions we can pin
PREFIX_BACKBONES = frozenset({"bert", "roberta"})


class PrefixEncoder(nn.Module):
    """`length` virtual tokens → a key and a value per layer and head, through a small MLP.

    The MLP reparametrisation (embedding → tanh → all layers' keys and values) is the
    paper's: it trains more stably than free key/value tensors.
    Shapes: returns keys and values, each (num_layers, batch, heads, length, head_dim).
    """

    def __init__(self, length: int, num_layers: int, hidden_size: int, num_heads: int, projection: int = 128):
        super().__init__()
        if length < 1 or hidden_size % num_heads:
            raise ValueError("prefix length must be ≥ 1 and the hidden size divisible by the heads")
        self.length, self.num_layers, self.num_heads = length, num_layers, num_heads
        self.head_dim = hidden_size // num_heads
        self.embedding = nn.Embedding(length, hidden_size)
        self.transform = nn.Sequential(
            nn.Linear(hidden_size, projection), nn.Tanh(), nn.Linear(projection, num_layers * 2 * hidden_size)
        )

    def forward(self, batch_size: int) -> tuple[Tensor, Tensor]:
        kv = self.transform(self.embedding.weight)  # (P, L·2·H)
        kv = kv.view(self.length, self.num_layers * 2, self.num_heads, self.head_dim).permute(1, 2, 0, 3)
        kv = kv.unsqueeze(1).expand(-1, batch_size, -1, -1, -1)  # (2L, B, heads, P, head_dim)
        return kv[0::2], kv[1::2]

    def cache(self, batch_size: int, config) -> "object":
        """A transformers `DynamicCache` holding the prefixes, for the encoder's `cache=` argument."""
        from transformers import DynamicCache

        keys, values = self(batch_size)
        cache = DynamicCache(config=config)
        for layer in range(self.num_layers):
            cache.update(keys[layer], values[layer], layer)
        return cache


def cache_argument(encoder: nn.Module) -> str:
    """The name of the encoder's key/value cache argument.

    `cache` in recent transformers 5 releases, `past_key_values` in older ones (5.17).
    """
    params = inspect.signature(encoder.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def text_positions(input_ids: Tensor, config) -> Tensor:
    """Position ids of the text alone, as the encoder computes them without a prefix (B, T)."""
    if config.model_type == "roberta":  # RoBERTa counts from padding_idx + 1 over non-padding tokens
        pad = config.pad_token_id
        real = input_ids.ne(pad).long()
        return torch.cumsum(real, dim=1) * real + pad
    return torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0).expand(input_ids.shape[0], -1)
