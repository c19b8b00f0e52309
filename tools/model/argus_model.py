"""The Argus architecture in PyTorch, with every size configurable.

Argus (Liu et al., "Argus: Benchmarking and Enhancing Vision-Language Models for 3D Radiology Report
Generation", ACL Findings 2025) reads a CT volume with a 3D ViT, merges neighbouring visual tokens
with a 3D pixel shuffle, projects them to the decoder width with an MLP connector and writes the
report with a Llama-style decoder. This module builds that stack from an ArgusConfig, so the same code
serves the tiny random-weight fixture, the demo model and a real checkpoint. The forward functions use
only operations that torch 1.13 exports to ONNX opset 17.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

Triple = tuple[int, int, int]


@dataclass
class VisionConfig:
    """Sizes of the 3D ViT. patch_size is in voxels along (D, H, W)."""

    patch_size: Triple
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    layer_norm_eps: float = 1e-6


@dataclass
class TextConfig:
    """Sizes of the Llama-style decoder."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 4096


@dataclass
class ArgusConfig:
    """The whole model: input grid, ViT, pixel shuffle factor, connector width and decoder."""

    input_size: Triple
    vision: VisionConfig
    pixel_shuffle_factor: Triple
    text: TextConfig
    projector_hidden_size: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.projector_hidden_size == 0:
            self.projector_hidden_size = self.text.hidden_size
        for axis in range(3):
            patches = self.input_size[axis] // self.vision.patch_size[axis]
            if self.input_size[axis] % self.vision.patch_size[axis] != 0:
                raise ValueError(f"input_size[{axis}]={self.input_size[axis]} is not a multiple of patch_size")
            if patches % self.pixel_shuffle_factor[axis] != 0:
                raise ValueError(f"patch grid {patches} on axis {axis} is not a multiple of the pixel shuffle factor")
        if self.text.num_attention_heads % self.text.num_key_value_heads != 0:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")

    @property
    def patch_grid(self) -> Triple:
        return tuple(self.input_size[a] // self.vision.patch_size[a] for a in range(3))  # type: ignore[return-value]

    @property
    def num_image_tokens(self) -> int:
        grid = self.patch_grid
        return math.prod(grid[a] // self.pixel_shuffle_factor[a] for a in range(3))

    @property
    def projector_input_size(self) -> int:
        return self.vision.hidden_size * math.prod(self.pixel_shuffle_factor)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> "ArgusConfig":
        return ArgusConfig(
            input_size=tuple(data["input_size"]),
            vision=VisionConfig(**{**data["vision"], "patch_size": tuple(data["vision"]["patch_size"])}),
            pixel_shuffle_factor=tuple(data["pixel_shuffle_factor"]),
            text=TextConfig(**data["text"]),
            projector_hidden_size=data.get("projector_hidden_size", 0),
            extra=data.get("extra", {}),
        )


# ---------------------------------------------------------------------------------------------------
# Vision: 3D ViT, pixel shuffle, connector


class VisionAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, hidden = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        out = torch.matmul(scores.softmax(dim=-1), v)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, hidden))


class VisionBlock(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attn = VisionAttention(config.hidden_size, config.num_heads)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class VisionTransformer3D(nn.Module):
    """3D ViT: Conv3d patch embedding, learned position embeddings, pre-norm blocks, final LayerNorm.

    Tokens come out in (d, h, w) row-major order of the patch grid, which the pixel shuffle relies on.
    """

    def __init__(self, config: ArgusConfig) -> None:
        super().__init__()
        vision = config.vision
        self.patch_embed = nn.Conv3d(1, vision.hidden_size, kernel_size=vision.patch_size, stride=vision.patch_size)
        num_patches = math.prod(config.patch_grid)
        self.position_embedding = nn.Parameter(torch.zeros(1, num_patches, vision.hidden_size))
        self.blocks = nn.ModuleList(VisionBlock(vision) for _ in range(vision.num_layers))
        self.norm = nn.LayerNorm(vision.hidden_size, eps=vision.layer_norm_eps)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(pixel_values).flatten(2).transpose(1, 2)
        x = x + self.position_embedding
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class PixelShuffle3D(nn.Module):
    """Merges each fd x fh x fw neighbourhood of visual tokens into one token fd*fh*fw times wider.

    The merged token concatenates its neighbours' features in (d, h, w) order inside the
    neighbourhood, so a checkpoint trained with another order needs its connector weights permuted.
    """

    def __init__(self, grid: Triple, factor: Triple) -> None:
        super().__init__()
        self.grid = grid
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, channels = x.shape
        (gd, gh, gw), (fd, fh, fw) = self.grid, self.factor
        x = x.reshape(batch, gd // fd, fd, gh // fh, fh, gw // fw, fw, channels)
        x = x.permute(0, 1, 3, 5, 2, 4, 6, 7)
        return x.reshape(batch, (gd // fd) * (gh // fh) * (gw // fw), fd * fh * fw * channels)


class Connector(nn.Module):
    """Two-layer MLP from the shuffled visual width to the decoder width (as in LLaVA-1.5)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class VisionEncoder(nn.Module):
    """pixel_values [batch, 1, D, H, W] -> image_embeds [batch, num_image_tokens, text hidden]."""

    def __init__(self, config: ArgusConfig) -> None:
        super().__init__()
        self.vit = VisionTransformer3D(config)
        self.shuffle = PixelShuffle3D(config.patch_grid, config.pixel_shuffle_factor)
        self.connector = Connector(config.projector_input_size, config.projector_hidden_size, config.text.hidden_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.connector(self.shuffle(self.vit(pixel_values)))


# ---------------------------------------------------------------------------------------------------
# Text: Llama-style decoder with a KV cache


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


class RotaryEmbedding(nn.Module):
    """cos/sin tables for rotary position embeddings in the Llama layout (halves, not interleaved)."""

    def __init__(self, head_dim: int, theta: float) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = position_ids.to(torch.float32).unsqueeze(-1) * self.inv_freq
        angles = torch.cat((freqs, freqs), dim=-1)
        # [batch, 1, seq, head_dim] broadcasts over the heads.
        return angles.cos().unsqueeze(1), angles.sin().unsqueeze(1)


class DecoderAttention(nn.Module):
    """Grouped-query attention: num_key_value_heads key/value heads shared by groups of query heads."""

    def __init__(self, config: TextConfig) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.q_proj = nn.Linear(config.hidden_size, self.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, config.hidden_size, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        allowed: torch.Tensor,
        past_key: torch.Tensor,
        past_value: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, seq, _ = x.shape
        q = self.q_proj(x).reshape(batch, seq, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).reshape(batch, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).reshape(batch, seq, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin

        # The cache stores keys after rotation, so a cached key never needs its position again.
        key = torch.cat((past_key, k), dim=2)
        value = torch.cat((past_value, v), dim=2)

        groups = self.heads // self.kv_heads
        key_all = key.unsqueeze(2).expand(-1, -1, groups, -1, -1).flatten(1, 2)
        value_all = value.unsqueeze(2).expand(-1, -1, groups, -1, -1).flatten(1, 2)
        scores = torch.matmul(q, key_all.transpose(-1, -2)) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        out = torch.matmul(scores.softmax(dim=-1), value_all)
        out = out.transpose(1, 2).reshape(batch, seq, self.heads * self.head_dim)
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
        self.rotary = RotaryEmbedding(config.head_dim, config.rope_theta)
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
        allowed = attention_allowed(attention_mask, inputs_embeds.shape[1])
        x = inputs_embeds
        present = []
        for layer, (past_key, past_value) in zip(self.layers, past):
            x, key, value = layer(x, cos, sin, allowed, past_key, past_value)
            present.append((key, value))
        return self.lm_head(self.norm(x)), present

    def empty_cache(self, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        shape = (batch, self.config.num_key_value_heads, 0, self.config.head_dim)
        return [(torch.zeros(shape), torch.zeros(shape)) for _ in range(self.config.num_layers)]


class ArgusModel(nn.Module):
    def __init__(self, config: ArgusConfig) -> None:
        super().__init__()
        self.config = config
        self.vision = VisionEncoder(config)
        self.embed_tokens = nn.Embedding(config.text.vocab_size, config.text.hidden_size)
        self.decoder = LlamaDecoder(config.text)

    def splice_image(self, input_ids: torch.Tensor, image_embeds: torch.Tensor, image_token_id: int) -> torch.Tensor:
        """Embeds a one-sequence prompt and replaces its single image token by the image_embeds rows."""
        ids = input_ids[0].tolist()
        if ids.count(image_token_id) != 1:
            raise ValueError(f"the prompt must contain the image token {image_token_id} exactly once")
        at = ids.index(image_token_id)
        embeds = self.embed_tokens(input_ids)
        return torch.cat((embeds[:, :at], image_embeds, embeds[:, at + 1 :]), dim=1)

    @torch.no_grad()
    def generate_greedy(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        image_token_id: int,
        end_token_ids: list[int],
        max_new_tokens: int,
    ) -> tuple[list[int], torch.Tensor]:
        """Greedy decoding with the KV cache; returns the new token ids and the first-step logits.

        The end token that stops generation is included in the returned ids.
        """
        embeds = self.splice_image(input_ids, self.vision(pixel_values), image_token_id)
        batch, seq, _ = embeds.shape
        mask = torch.ones(batch, seq, dtype=torch.int64)
        positions = torch.arange(seq, dtype=torch.int64).unsqueeze(0)
        logits, cache = self.decoder(embeds, mask, positions, self.decoder.empty_cache(batch))
        first_logits = logits[0, -1].clone()

        generated: list[int] = []
        while True:
            token = int(logits[0, -1].argmax())
            generated.append(token)
            if token in end_token_ids or len(generated) >= max_new_tokens:
                return generated, first_logits
            past_len = cache[0][0].shape[2]
            mask = torch.ones(batch, past_len + 1, dtype=torch.int64)
            positions = torch.tensor([[past_len]], dtype=torch.int64)
            step_embeds = self.embed_tokens(torch.tensor([[token]], dtype=torch.int64))
            logits, cache = self.decoder(step_embeds, mask, positions, cache)

    @torch.no_grad()
    def full_sequence_logits(self, embeds: torch.Tensor) -> torch.Tensor:
        """Logits of a whole sequence without a cache; used to cross-check the cached path."""
        batch, seq, _ = embeds.shape
        mask = torch.ones(batch, seq, dtype=torch.int64)
        positions = torch.arange(seq, dtype=torch.int64).unsqueeze(0)
        logits, _ = self.decoder(embeds, mask, positions, self.decoder.empty_cache(batch))
        return logits
