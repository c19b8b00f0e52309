"""The Llama-style decoder of Argus: RMSNorm, rotary position embeddings, SwiGLU MLP, grouped-query
attention and a KV cache that stores keys after rotation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from argus_config import TextConfig


class RMSNorm(nn.Module):
    def __init__(self, hidden: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def scale_rope_frequencies(inv_freq: torch.Tensor, scaling: dict | None) -> torch.Tensor:
    """Apply a Hugging Face-style rope_scaling dict to the rotary inverse frequencies.

    "linear" divides every frequency by factor, which is the same as dividing positions by it. "llama3"
    (Llama 3.1) divides only the low frequencies, whose wavelength exceeds
    original_max_position_embeddings / low_freq_factor, keeps the high ones, whose wavelength is below
    original_max_position_embeddings / high_freq_factor, and blends linearly in between.
    """
    if scaling is None:
        return inv_freq
    kind = scaling.get("rope_type", scaling.get("type"))
    factor = float(scaling["factor"])
    if kind == "linear":
        return inv_freq / factor
    if kind == "llama3":
        low = float(scaling["low_freq_factor"])
        high = float(scaling["high_freq_factor"])
        context = float(scaling["original_max_position_embeddings"])
        wavelength = 2 * math.pi / inv_freq
        blend = ((context / wavelength - low) / (high - low)).clamp(0.0, 1.0)
        blended = (1 - blend) * inv_freq / factor + blend * inv_freq
        scaled = torch.where(wavelength > context / low, inv_freq / factor, blended)
        return torch.where(wavelength < context / high, inv_freq, scaled)
    raise ValueError(f"rope_scaling type {kind!r} is not supported; use linear or llama3")


class RotaryEmbedding(nn.Module):
    """cos/sin tables for rotary position embeddings in the Llama layout (halves, not interleaved)."""

    def __init__(self, head_dim: int, theta: float, scaling: dict | None = None) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", scale_rope_frequencies(inv_freq, scaling), persistent=False)

    def forward(self, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = position_ids.to(torch.float32).unsqueeze(-1) * self.inv_freq
        angles = torch.cat((freqs, freqs), dim=-1)
        # [batch, 1, seq, head_dim] broadcasts over the heads.
        return angles.cos().unsqueeze(1), angles.sin().unsqueeze(1)


class DecoderAttention(nn.Module):
    """Grouped-query attention: num_key_value_heads key/value heads shared by groups of query heads.

    `allowed` is the attention mask with its query rows repeated once per group member,
    [batch, 1, groups * seq, past + seq].
    """

    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.q_proj = nn.Linear(config.hidden_size, self.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, config.hidden_size, bias=False)
        # rotate_half as a matrix: x @ rotation == rotate_half(x) exactly, because each column has one
        # entry of +1 or -1. One MatMul exports to fewer ONNX nodes than two Slices, a Neg and a Concat.
        self.register_buffer("rotation", rotate_half(torch.eye(self.head_dim)), persistent=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        allowed: torch.Tensor,
        past_key: torch.Tensor,
        past_value: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch = x.shape[0]
        # -1 for the sequence axis keeps the exported graph free of one shape computation per reshape.
        q = self.q_proj(x).reshape(batch, -1, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).reshape(batch, -1, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).reshape(batch, -1, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + torch.matmul(q, self.rotation) * sin
        k = k * cos + torch.matmul(k, self.rotation) * sin

        # The cache stores keys after rotation, so a cached key never needs its position again.
        key = torch.cat((past_key, k), dim=2)
        value = torch.cat((past_value, v), dim=2)

        # The query heads that share a key/value head are adjacent, so [batch, heads, seq, head_dim]
        # reshapes to [batch, kv_heads, groups * seq, head_dim]. Each key/value head then serves its whole
        # group in one MatMul, and keys and values are not copied once per query head.
        grouped_q = q.reshape(batch, self.kv_heads, -1, self.head_dim)
        scores = torch.matmul(grouped_q, key.transpose(-1, -2)) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        out = torch.matmul(scores.softmax(dim=-1), value)
        out = out.reshape(batch, self.heads, -1, self.head_dim).transpose(1, 2).reshape(batch, -1, self.heads * self.head_dim)
        return self.o_proj(out), key, value


class DecoderLayer(nn.Module):
    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.input_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attn = DecoderAttention(config)
        self.post_attention_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x, cos, sin, allowed, past_key, past_value):
        attended, key, value = self.attn(self.input_norm(x), cos, sin, allowed, past_key, past_value)
        x = x + attended
        h = self.post_attention_norm(x)
        # SwiGLU: silu(gate) * up, then down.
        x = x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))
        return x, key, value


def attention_allowed(attention_mask: torch.Tensor, seq: int) -> torch.Tensor:
    """Returns bool [batch, 1, seq, past+seq]: query i may see key j if j is not later and is unmasked.

    Query i sits at cache index past+i, where past = attention_mask length - seq.
    """
    kv_len = attention_mask.shape[1]
    key_index = torch.arange(kv_len, device=attention_mask.device)
    query_index = key_index[kv_len - seq :]
    causal = key_index.unsqueeze(0) <= query_index.unsqueeze(1)
    unmasked = attention_mask.to(torch.bool)[:, None, None, :]
    return causal[None, None, :, :] & unmasked


class LlamaDecoder(nn.Module):
    """Decoder stack and LM head. Token embedding is separate so it can be its own ONNX graph."""

    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.config = config
        self.rotary = RotaryEmbedding(config.head_dim, config.rope_theta, config.rope_scaling)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        past: list[tuple[torch.Tensor, torch.Tensor]],
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        cos, sin = self.rotary(position_ids)
        # One mask row per (group member, query), in the order of DecoderAttention's grouped queries.
        groups = self.config.num_attention_heads // self.config.num_key_value_heads
        allowed = attention_allowed(attention_mask, inputs_embeds.shape[1]).repeat(1, 1, groups, 1)
        x = inputs_embeds
        present = []
        for layer, (past_key, past_value) in zip(self.layers, past):
            x, key, value = layer(x, cos, sin, allowed, past_key, past_value)
            present.append((key, value))
        return self.lm_head(self.norm(x)), present

    def empty_cache(self, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        shape = (batch, self.config.num_key_value_heads, 0, self.config.head_dim)
        return [(torch.zeros(shape), torch.zeros(shape)) for _ in range(self.config.num_layers)]
