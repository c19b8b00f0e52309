"""The Argus architecture in PyTorch, with every size configurable.

Argus (Liu et al., "Argus: Benchmarking and Enhancing Vision-Language Models for 3D Radiology Report
Generation", ACL Findings 2025) reads a CT volume with a 3D ViT. A 3D pixel shuffle merges neighbouring
visual tokens, an MLP connector projects them to the decoder width, and a Llama-style decoder writes
the report. This module builds that stack from an ArgusConfig, so the same code serves the tiny
random-weight fixture, the demo model and a real checkpoint. The forward functions use only operations
that torch 1.13 exports to ONNX opset 17.
"""

from __future__ import annotations

import torch
from torch import nn

from argus_config import ArgusConfig, TextConfig, VisionConfig
from llama_decoder import LlamaDecoder, RMSNorm
from vision_encoder import VisionEncoder

__all__ = ["ArgusConfig", "ArgusModel", "RMSNorm", "TextConfig", "VisionConfig"]


class ArgusModel(nn.Module):
    """Vision encoder, token embedding and decoder, with the image splice and greedy generation."""

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
