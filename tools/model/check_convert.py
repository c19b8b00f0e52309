#!/usr/bin/python3
"""Checks convert_hf.py on the tiny fixture's weights written out in Hugging Face and LLaVA names.

test/model/python-tools.test.ts runs this script. It writes the tiny model as a transformers Llama
folder (safetensors, float32 and bfloat16), a vision file with a "vision_tower." prefix and a LLaVA
mm_projector file, converts them back and compares weights and generated tokens. It also checks the
tied-embedding path, the error for a missing weight and the Llama 3.1 rope scaling. It prints the
results as one JSON line, and the test asserts them.

Usage: /usr/bin/python3 tools/model/check_convert.py --scratch /tmp/argus-convert
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from argus_model import ArgusModel
from check_export import REFERENCE_DIR, load_checkpoint
from convert_hf import build_model, load_llama_folder, load_weights, strip_prefix, text_config_from_hf
from generation import GenerationSettings, generate
from llama_decoder import RotaryEmbedding
from safetensors_io import write_safetensors


def hf_llama_weights(model: ArgusModel) -> dict[str, torch.Tensor]:
    """Return the decoder's weights under transformers' LlamaForCausalLM names, written out one by one."""
    weights = {
        "model.embed_tokens.weight": model.embed_tokens.weight,
        "model.norm.weight": model.decoder.norm.weight,
        "lm_head.weight": model.decoder.lm_head.weight,
    }
    for index, layer in enumerate(model.decoder.layers):
        prefix = f"model.layers.{index}"
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            weights[f"{prefix}.self_attn.{name}.weight"] = getattr(layer.attn, name).weight
        for name in ("gate_proj", "up_proj", "down_proj"):
            weights[f"{prefix}.mlp.{name}.weight"] = getattr(layer, name).weight
        weights[f"{prefix}.input_layernorm.weight"] = layer.input_norm.weight
        weights[f"{prefix}.post_attention_layernorm.weight"] = layer.post_attention_norm.weight
    return {name: tensor.detach().clone() for name, tensor in weights.items()}


def hf_config(model: ArgusModel, tie: bool) -> dict:
    text = model.config.text
    return {
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": text.vocab_size,
        "hidden_size": text.hidden_size,
        "num_hidden_layers": text.num_layers,
        "num_attention_heads": text.num_attention_heads,
        "num_key_value_heads": text.num_key_value_heads,
        "intermediate_size": text.intermediate_size,
        "rope_theta": text.rope_theta,
        "rms_norm_eps": text.rms_norm_eps,
        "max_position_embeddings": text.max_position_embeddings,
        "hidden_act": "silu",
        "tie_word_embeddings": tie,
    }


def sizes_of(model: ArgusModel) -> dict:
    data = model.config.to_dict()
    return {key: data[key] for key in ("input_size", "vision", "pixel_shuffle_factor", "projector_hidden_size", "projector_type")}


def write_inputs(model: ArgusModel, folder: Path, bf16: bool, tie: bool) -> tuple[Path, Path, Path]:
    llama_dir = folder / "llama"
    llama_dir.mkdir(parents=True, exist_ok=True)
    weights = hf_llama_weights(model)
    if tie:
        del weights["lm_head.weight"]
    (llama_dir / "config.json").write_text(json.dumps(hf_config(model, tie)), encoding="utf-8")
    write_safetensors(llama_dir / "model.safetensors", weights, bf16=bf16)

    vision_file = folder / "vision.pt"
    torch.save({f"vision_tower.{key}": value for key, value in model.vision.vit.state_dict().items()}, vision_file)
    connector = model.vision.connector
    projector = {
        "model.mm_projector.0.weight": connector.fc1.weight,
        "model.mm_projector.0.bias": connector.fc1.bias,
        "model.mm_projector.2.weight": connector.fc2.weight,
        "model.mm_projector.2.bias": connector.fc2.bias,
    }
    projector_file = folder / "projector.pt"
    torch.save({key: value.detach().clone() for key, value in projector.items()}, projector_file)
    return llama_dir, vision_file, projector_file


def convert(model: ArgusModel, folder: Path, bf16: bool = False, tie: bool = False) -> ArgusModel:
    llama_dir, vision_file, projector_file = write_inputs(model, folder, bf16, tie)
    config, llama_state = load_llama_folder(llama_dir)
    vision_state = strip_prefix(load_weights(vision_file), "vision_tower.")
    projector_state = strip_prefix(load_weights(projector_file), "model.mm_projector.")
    return build_model(config, llama_state, vision_state, projector_state, sizes_of(model))


def max_weight_difference(first: ArgusModel, second: ArgusModel) -> float:
    other = second.state_dict()
    return max(float((value - other[name]).abs().max()) for name, value in first.state_dict().items())


def generated_tokens(model: ArgusModel) -> list[int]:
    torch.manual_seed(0)
    pixel_values = torch.rand(1, 1, *model.config.input_size)
    with torch.no_grad():
        embeds = torch.cat((model.embed_tokens(torch.tensor([[1, 2, 3]])), model.vision(pixel_values)), dim=1)
    return generate(model, embeds, GenerationSettings(max_new_tokens=12, end_token_ids=[])).token_ids


def llama3_rope_frequencies() -> list[float]:
    """inv_freq for head_dim 16, theta 10000 under Llama 3.1's scaling with factor 8 and context 8192."""
    scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    text = text_config_from_hf(
        {"vocab_size": 8, "hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 8,
         "max_position_embeddings": 65536, "rope_scaling": scaling}
    )
    return RotaryEmbedding(text.head_dim, text.rope_theta, text.rope_scaling).inv_freq.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scratch", type=Path, required=True, help="folder for the converter's input files")
    args = parser.parse_args()

    model = load_checkpoint(REFERENCE_DIR / "checkpoint.pt")
    results: dict[str, object] = {}

    converted = convert(model, args.scratch / "float32")
    results["float32_max_weight_difference"] = max_weight_difference(model, converted)
    results["float32_tokens_equal"] = generated_tokens(converted) == generated_tokens(model)

    truncated = load_checkpoint(REFERENCE_DIR / "checkpoint.pt")
    with torch.no_grad():
        for name, parameter in truncated.named_parameters():
            if name == "embed_tokens.weight" or name.startswith("decoder."):
                parameter.copy_((parameter.view(torch.int32) & -65536).view(torch.float32))
    results["bf16_max_weight_difference"] = max_weight_difference(truncated, convert(model, args.scratch / "bf16", bf16=True))

    tied = convert(model, args.scratch / "tied", tie=True)
    results["tied_lm_head_equals_embedding"] = bool(torch.equal(tied.decoder.lm_head.weight, tied.embed_tokens.weight))

    broken_dir = args.scratch / "missing"
    convert(model, broken_dir)
    weights = hf_llama_weights(model)
    del weights["model.layers.1.mlp.up_proj.weight"]
    write_safetensors(broken_dir / "llama" / "model.safetensors", weights)
    try:
        config, state = load_llama_folder(broken_dir / "llama")
        build_model(config, state, {}, {}, sizes_of(model))
        results["missing_weight_error"] = None
    except ValueError as error:
        results["missing_weight_error"] = str(error)

    frequencies = llama3_rope_frequencies()
    results["rope_llama3_inv_freq"] = frequencies
    # Expected by hand: 10000 ** (-2k/16). k=0 (wavelength 6.3) is kept, k=7 (wavelength 19869 > 8192)
    # is divided by 8, and k=6 (wavelength 6283, between 2048 and 8192) is blended with weight
    # (8192 / 6283.19 - 1) / 3 = 0.10127 on the unscaled value: 0.89873 * 1e-3 / 8 + 0.10127 * 1e-3.
    expected = {0: 1.0, 6: 0.89873 * 1e-3 / 8 + 0.10127 * 1e-3, 7: 10000 ** (-14 / 16) / 8}
    results["rope_llama3_matches_hand_values"] = all(math.isclose(frequencies[k], value, rel_tol=1e-4) for k, value in expected.items())

    print(json.dumps(results))


if __name__ == "__main__":
    main()
