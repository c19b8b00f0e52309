"""The vision side of Argus: 3D ViT, 3D pixel shuffle and MLP connector.

VisionEncoder is exported as vision_encoder.onnx: pixel_values [batch, 1, D, H, W] in,
image_embeds [batch, num_image_tokens, text hidden] out.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from argus_config import ArgusConfig, Triple, VisionConfig


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
        if config.projector_type == "linear":
            self.connector = nn.Linear(config.projector_input_size, config.text.hidden_size)
        else:
            self.connector = Connector(config.projector_input_size, config.projector_hidden_size, config.text.hidden_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.connector(self.shuffle(self.vit(pixel_values)))
