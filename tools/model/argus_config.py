"""Sizes of an Argus model: input grid, 3D ViT, pixel shuffle factor, connector width and decoder.

ArgusConfig checks that the sizes fit together and derives the patch grid, the number of image tokens
and the connector's input width from them. It round-trips through a plain dict for checkpoints.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

Triple = tuple[int, int, int]
PROJECTOR_TYPES = ("mlp2x_gelu", "linear")


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
    # Hugging Face's rope_scaling dict: None, {"rope_type": "linear", "factor": f} or the Llama 3.1 form
    # {"rope_type": "llama3", "factor", "low_freq_factor", "high_freq_factor",
    # "original_max_position_embeddings"}. Other types raise ValueError when the decoder is built.
    rope_scaling: dict | None = None


@dataclass
class ArgusConfig:
    """The whole model: input grid, ViT, pixel shuffle factor, connector width and decoder."""

    input_size: Triple
    vision: VisionConfig
    pixel_shuffle_factor: Triple
    text: TextConfig
    projector_hidden_size: int = 0
    # Connector between the shuffled visual tokens and the decoder: "mlp2x_gelu" (Linear, GELU, Linear,
    # as in LLaVA-1.5) or "linear" (one Linear; projector_hidden_size is then unused).
    projector_type: str = "mlp2x_gelu"
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
        if self.projector_type not in PROJECTOR_TYPES:
            raise ValueError(f"projector_type {self.projector_type!r} is not one of {', '.join(PROJECTOR_TYPES)}")
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
            projector_type=data.get("projector_type", "mlp2x_gelu"),
            extra=data.get("extra", {}),
        )
