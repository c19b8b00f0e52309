#!/usr/bin/python3
"""Converts a Hugging Face-style Llama decoder plus vision and projector weights into an Argus checkpoint.

Inputs:
  --llama-dir    a transformers LlamaForCausalLM folder: config.json and the weights as *.safetensors
                 or pytorch_model*.bin (sharded files are all read).
  --vision       a torch.save() or .safetensors file with the 3D ViT weights in this repository's names
                 (patch_embed.*, position_embedding, blocks.{i}.*, norm.*); --vision-prefix is stripped
                 from every key first, e.g. "vision_tower.".
  --projector    the connector weights: LLaVA's mm_projector names (0.weight, 0.bias, 2.weight, 2.bias,
                 or weight/bias for a linear connector) or this repository's (fc1.*, fc2.*), after
                 stripping --projector-prefix, e.g. "model.mm_projector.".
  --argus-config a JSON file with the sizes the Llama folder does not give: input_size, vision,
                 pixel_shuffle_factor, projector_hidden_size and projector_type (ArgusConfig's keys).
The output is a checkpoint for export_package.py: {"argus_config": ..., "state_dict": ...}.

transformers stores q_proj and k_proj of Llama in the rotate-half layout that llama_decoder.py uses, so
their weights copy as they are. Meta's original consolidated.*.pth files use the interleaved layout and
need transformers' convert_llama_weights_to_hf.py first.

Usage:
  /usr/bin/python3 tools/model/convert_hf.py --llama-dir llama/ --vision vit.pt --projector proj.pt \\
      --argus-config sizes.json --out ckpt.pt
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from argus_model import ArgusConfig, ArgusModel, TextConfig
from safetensors_io import read_safetensors

# transformers LlamaForCausalLM name -> ArgusModel name; {i} is the layer index.
LLAMA_KEYS = {
    "model.embed_tokens.weight": "embed_tokens.weight",
    "model.norm.weight": "decoder.norm.weight",
    "lm_head.weight": "decoder.lm_head.weight",
    "model.layers.{i}.self_attn.q_proj.weight": "decoder.layers.{i}.attn.q_proj.weight",
    "model.layers.{i}.self_attn.k_proj.weight": "decoder.layers.{i}.attn.k_proj.weight",
    "model.layers.{i}.self_attn.v_proj.weight": "decoder.layers.{i}.attn.v_proj.weight",
    "model.layers.{i}.self_attn.o_proj.weight": "decoder.layers.{i}.attn.o_proj.weight",
    "model.layers.{i}.mlp.gate_proj.weight": "decoder.layers.{i}.gate_proj.weight",
    "model.layers.{i}.mlp.up_proj.weight": "decoder.layers.{i}.up_proj.weight",
    "model.layers.{i}.mlp.down_proj.weight": "decoder.layers.{i}.down_proj.weight",
    "model.layers.{i}.input_layernorm.weight": "decoder.layers.{i}.input_norm.weight",
    "model.layers.{i}.post_attention_layernorm.weight": "decoder.layers.{i}.post_attention_norm.weight",
}
# Buffers that older transformers versions saved; the decoder recomputes them from rope_theta.
IGNORED_LLAMA_KEYS = re.compile(r"^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$")
# LLaVA's mm_projector is nn.Sequential(Linear, GELU, Linear), so its Linears are children 0 and 2.
LLAVA_PROJECTOR_KEYS = {"0.weight": "fc1.weight", "0.bias": "fc1.bias", "2.weight": "fc2.weight", "2.bias": "fc2.bias"}


def text_config_from_hf(hf: dict) -> TextConfig:
    """Map a transformers LlamaConfig dict to TextConfig; head_dim defaults to hidden_size / heads."""
    heads = hf["num_attention_heads"]
    return TextConfig(
        vocab_size=hf["vocab_size"],
        hidden_size=hf["hidden_size"],
        num_layers=hf["num_hidden_layers"],
        num_attention_heads=heads,
        num_key_value_heads=hf.get("num_key_value_heads") or heads,
        head_dim=hf.get("head_dim") or hf["hidden_size"] // heads,
        intermediate_size=hf["intermediate_size"],
        rope_theta=float(hf.get("rope_theta", 10000.0)),
        rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        max_position_embeddings=hf["max_position_embeddings"],
        rope_scaling=hf.get("rope_scaling"),
    )


def check_hf_config(hf: dict) -> None:
    """Raise ValueError for Llama variants whose weights or attention this decoder does not have."""
    if hf.get("attention_bias") or hf.get("mlp_bias"):
        raise ValueError("attention_bias and mlp_bias are not supported: the decoder's projections have no bias")
    if hf.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act {hf['hidden_act']!r} is not supported; the decoder's MLP uses SiLU")


def convert_llama_state_dict(hf_state: dict[str, torch.Tensor], text: TextConfig, tie_word_embeddings: bool) -> dict[str, torch.Tensor]:
    """Rename a LlamaForCausalLM state dict to ArgusModel's names; raises ValueError on a missing or unknown key."""
    converted: dict[str, torch.Tensor] = {}
    expected: dict[str, str] = {}
    for source, target in LLAMA_KEYS.items():
        layers = range(text.num_layers) if "{i}" in source else [None]
        for layer in layers:
            if layer is None:
                expected[source] = target
            else:
                expected[source.replace("{i}", str(layer))] = target.replace("{i}", str(layer))

    if tie_word_embeddings and "lm_head.weight" not in hf_state:
        hf_state = {**hf_state, "lm_head.weight": hf_state["model.embed_tokens.weight"]}
    missing = sorted(key for key in expected if key not in hf_state)
    unknown = sorted(key for key in hf_state if key not in expected and not IGNORED_LLAMA_KEYS.match(key))
    if missing or unknown:
        raise ValueError(
            f"the Llama weights do not match its config.json: {len(missing)} missing {missing[:5]}, "
            f"{len(unknown)} unexpected {unknown[:5]}; check num_hidden_layers and tie_word_embeddings"
        )
    for source, target in expected.items():
        converted[target] = hf_state[source].to(torch.float32)
    return converted


def strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keep the keys that start with prefix, without it; an empty prefix keeps everything."""
    return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}


def convert_projector_state_dict(state: dict[str, torch.Tensor], projector_type: str) -> dict[str, torch.Tensor]:
    """Rename LLaVA mm_projector keys to the connector's; keys already in this repository's names pass through."""
    if projector_type == "linear":
        return dict(state)
    return {LLAVA_PROJECTOR_KEYS.get(key, key): value for key, value in state.items()}


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    loaded = torch.load(path, map_location="cpu")
    return loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded


def load_llama_folder(directory: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """Read config.json and every weight file of a transformers folder."""
    hf_config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    files = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("pytorch_model*.bin"))
    if not files:
        raise FileNotFoundError(f"{directory} has no *.safetensors or pytorch_model*.bin files")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        state.update(load_weights(file))
    return hf_config, state


def build_model(
    hf_config: dict,
    llama_state: dict[str, torch.Tensor],
    vision_state: dict[str, torch.Tensor],
    projector_state: dict[str, torch.Tensor],
    sizes: dict,
) -> ArgusModel:
    """Assemble an ArgusModel from the three weight sets; load_state_dict(strict=True) checks every name and shape."""
    check_hf_config(hf_config)
    text = text_config_from_hf(hf_config)
    config = ArgusConfig.from_dict({**sizes, "text": text.__dict__})
    model = ArgusModel(config)

    state = convert_llama_state_dict(llama_state, text, bool(hf_config.get("tie_word_embeddings", False)))
    state.update({f"vision.vit.{key}": value.to(torch.float32) for key, value in vision_state.items()})
    projector = convert_projector_state_dict(projector_state, config.projector_type)
    state.update({f"vision.connector.{key}": value.to(torch.float32) for key, value in projector.items()})
    model.load_state_dict(state, strict=True)
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llama-dir", type=Path, required=True, help="transformers Llama folder (config.json and weights)")
    parser.add_argument("--vision", type=Path, required=True, help="3D ViT weights (.pt, .bin or .safetensors)")
    parser.add_argument("--vision-prefix", default="", help="prefix to strip from the vision keys")
    parser.add_argument("--projector", type=Path, required=True, help="connector weights (.pt, .bin or .safetensors)")
    parser.add_argument("--projector-prefix", default="", help="prefix to strip from the projector keys")
    parser.add_argument("--argus-config", type=Path, required=True, help="JSON with input_size, vision, pixel_shuffle_factor, projector_*")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint file to write")
    args = parser.parse_args()

    hf_config, llama_state = load_llama_folder(args.llama_dir)
    vision_state = strip_prefix(load_weights(args.vision), args.vision_prefix)
    projector_state = strip_prefix(load_weights(args.projector), args.projector_prefix)
    sizes = json.loads(args.argus_config.read_text(encoding="utf-8"))
    model = build_model(hf_config, llama_state, vision_state, projector_state, sizes)
    torch.save({"argus_config": model.config.to_dict(), "state_dict": model.state_dict()}, args.out)
    print(f"wrote {args.out}: {model.config.text.num_layers} decoder layers, vocab {model.config.text.vocab_size}")


if __name__ == "__main__":
    main()
