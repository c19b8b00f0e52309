"""Writes a model package: the three ONNX graphs, the tokenizer files and config.json.

config.json is built from the model's ArgusConfig (sizes), a package spec (identity, preprocessing,
prompt, generation, special tokens by content) and the tokenizer, which supplies the token ids. The
keys are documented in docs/model-packages.md; src/model/package-config.ts validates them.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from argus_model import ArgusModel
from export_onnx import TENSOR_NAMES, ExportOptions, export_graphs

FORMAT = "argus-model-package"
FORMAT_VERSION = 1
FILES = {
    "vision_encoder": "vision_encoder.onnx",
    "embed_tokens": "embed_tokens.onnx",
    "decoder": "decoder_model_merged.onnx",
    "tokenizer": "tokenizer.json",
    "tokenizer_config": "tokenizer_config.json",
}
SPECIAL_TOKEN_ROLES = ("image", "bos", "eos", "pad")
# Decoding settings a spec may leave out; max_new_tokens has no default. generation.py defines them.
GENERATION_DEFAULTS = {"num_beams": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "length_penalty": 1.0}


def device_uid(value: uuid.UUID | None = None) -> str:
    """Return a DICOM UID under the 2.25 root, which PS3.5 B.2 reserves for UIDs derived from a UUID."""
    return f"2.25.{(value or uuid.uuid4()).int}"


def token_ids_by_content(tokenizer_json: dict) -> dict[str, int]:
    ids = dict(tokenizer_json["model"]["vocab"])
    ids.update({token["content"]: token["id"] for token in tokenizer_json["added_tokens"]})
    return ids


def build_config(model: ArgusModel, spec: dict, tokenizer_json: dict) -> dict:
    config = model.config
    ids = token_ids_by_content(tokenizer_json)

    def token(content: str) -> dict:
        if content not in ids:
            raise ValueError(f"token {content!r} is not in the tokenizer")
        return {"content": content, "id": ids[content]}

    if "max_new_tokens" not in spec["generation"]:
        raise ValueError("the spec's generation settings need max_new_tokens")
    special_tokens = {role: token(spec["special_tokens"][role]) for role in SPECIAL_TOKEN_ROLES}
    if spec["prompt"]["user"].count(special_tokens["image"]["content"]) != 1:
        raise ValueError("the user prompt must contain the image token exactly once")
    if max(ids.values()) >= config.text.vocab_size:
        raise ValueError("the tokenizer has ids beyond the decoder's vocab_size")

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": {
            "name": spec["model"]["name"],
            "version": spec["model"]["version"],
            "device_uid": spec["model"].get("device_uid") or device_uid(),
            "description": spec["model"].get("description", ""),
        },
        "files": FILES,
        "tensors": TENSOR_NAMES,
        "preprocessing": {"input_size": list(config.input_size), **spec["preprocessing"]},
        "vision": {
            "patch_size": list(config.vision.patch_size),
            "hidden_size": config.vision.hidden_size,
            "num_layers": config.vision.num_layers,
            "num_heads": config.vision.num_heads,
            "intermediate_size": config.vision.intermediate_size,
            "layer_norm_eps": config.vision.layer_norm_eps,
        },
        "pixel_shuffle": {"factor": list(config.pixel_shuffle_factor)},
        "projector": {
            "type": config.projector_type,
            "input_size": config.projector_input_size,
            "hidden_size": config.projector_hidden_size,
            "output_size": config.text.hidden_size,
        },
        "text": {
            "vocab_size": config.text.vocab_size,
            "hidden_size": config.text.hidden_size,
            "num_layers": config.text.num_layers,
            "num_attention_heads": config.text.num_attention_heads,
            "num_key_value_heads": config.text.num_key_value_heads,
            "head_dim": config.text.head_dim,
            "intermediate_size": config.text.intermediate_size,
            "rope_theta": config.text.rope_theta,
            "rms_norm_eps": config.text.rms_norm_eps,
            "max_position_embeddings": config.text.max_position_embeddings,
            "rope_scaling": config.text.rope_scaling,
        },
        "num_image_tokens": config.num_image_tokens,
        "special_tokens": special_tokens,
        "end_token_ids": [token(content)["id"] for content in spec["end_tokens"]],
        "prompt": {"system": spec["prompt"]["system"], "user": spec["prompt"]["user"]},
        "generation": {**GENERATION_DEFAULTS, **spec["generation"]},
    }


def write_package(directory: Path, model: ArgusModel, spec: dict, tokenizer_dir: Path, options: ExportOptions | None = None) -> dict:
    """Exports the graphs into `directory`, copies the tokenizer files and writes config.json."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer_json = json.loads((tokenizer_dir / FILES["tokenizer"]).read_text(encoding="utf-8"))
    config = build_config(model, spec, tokenizer_json)

    for key in ("tokenizer", "tokenizer_config"):
        source = tokenizer_dir / FILES[key]
        if source.resolve() != (directory / FILES[key]).resolve():
            shutil.copyfile(source, directory / FILES[key])
    model.eval()
    export_graphs(model, directory, FILES, options)
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return config


def spec_from_config(config: dict, tokenizer_json: dict) -> dict:
    """Rebuild the package spec that build_config() turned into this config.json, for a re-export."""
    preprocessing = {key: value for key, value in config["preprocessing"].items() if key != "input_size"}
    ids_to_content = {token_id: content for content, token_id in token_ids_by_content(tokenizer_json).items()}
    return {
        "model": {key: config["model"][key] for key in ("name", "version", "device_uid", "description")},
        "preprocessing": preprocessing,
        "special_tokens": {role: token["content"] for role, token in config["special_tokens"].items()},
        "end_tokens": [ids_to_content[token_id] for token_id in config["end_token_ids"]],
        "prompt": config["prompt"],
        "generation": config["generation"],
    }
