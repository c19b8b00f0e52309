#!/usr/bin/python3
"""Builds the tiny random-weight Argus package and its PyTorch reference outputs.

Writes test/fixtures/tiny-argus/ (the package) and test/fixtures/tiny-argus-reference/ (what the
TypeScript tests compare against): synthetic HU volumes with the tensors torch's preprocessing makes
from them, the prompt and its input_ids, the image embeddings, the first-step logits and the greedily
generated token ids. Everything derives from SEED, so a rerun on the same torch build rewrites the same
numbers. The tests never run this script; the generated files are committed.

Usage: /usr/bin/python3 tools/model/make_tiny_fixture.py
"""

from __future__ import annotations

import json
import math
import random
import shutil
import uuid
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from argus_model import ArgusConfig, ArgusModel, RMSNorm, TextConfig, VisionConfig
from bpe_tokenizer import ByteLevelBpe
from generation import GenerationSettings, generate
from package import device_uid, write_package
from phantom import Geometry, phantom_hu
from preprocess import preprocess

SEED = 20250612
ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "test" / "fixtures" / "tiny-argus"
REFERENCE_DIR = ROOT / "test" / "fixtures" / "tiny-argus-reference"
BROKEN_DIR = ROOT / "test" / "fixtures" / "tiny-argus-broken"
CORPUS = Path(__file__).resolve().parent / "tiny_corpus.txt"

# Enough merges to make whole words of the corpus single tokens while the vocabulary stays near 500.
NUM_MERGES = 200
MAX_NEW_TOKENS = 24
# Greedy token ids only reproduce across runtimes when no step is a near-tie. The TypeScript test
# allows 1e-4 of logit difference, so every step needs a top-1/top-2 gap far above that.
MIN_TOP2_GAP = 1e-2
# Beam search over 24 steps meets far more ranking cuts than greedy, and some land a few 1e-3 apart.
# torch and onnxruntime scores differ by about 1e-5 after 24 steps, so 1e-3 still leaves a factor of 100.
MIN_BEAM_MARGIN = 1e-3
# Decoding settings with a reference run each: greedy and beam search, with and without the repetition
# penalty and the n-gram ban. The tiny model never writes an end token, so every run uses the full budget.
DECODING_CASES = [
    {"name": "greedy", "num_beams": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "length_penalty": 1.0},
    {"name": "greedy-penalties", "num_beams": 1, "repetition_penalty": 1.3, "no_repeat_ngram_size": 2, "length_penalty": 1.0},
    {"name": "beam-3", "num_beams": 3, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "length_penalty": 1.0},
    {"name": "beam-4-penalties", "num_beams": 4, "repetition_penalty": 1.5, "no_repeat_ngram_size": 3, "length_penalty": 0.8},
    # Two frequent tokens of the runs above as extra end tokens, so that hypotheses finish early and
    # end-token candidates are skipped below the first num_beams ranks.
    {"name": "beam-3-frequent-ends", "num_beams": 3, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "length_penalty": 1.0,
     "extra_end_tokens": [131, 306]},
]

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>", "<image>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SYSTEM_PROMPT = "You are a radiology assistant. Your report is a draft for a radiologist to review."
USER_PROMPT = "<image>\nWrite the findings and impression for this CT volume."

PREPROCESSING = {
    "target_spacing": None,
    "orientation": "LPS",
    "resampling": "trilinear",
    "hu_window": [-1000, 1000],
    "scaling": {"kind": "window_linear", "output_range": [0, 1]},
    "pad_value_hu": -1024,
}


def render_prompt_reference(bos: str, system: str, user: str) -> str:
    """What CHAT_TEMPLATE renders for one system and one user message with add_generation_prompt."""
    return f"{bos}<|system|>\n{system}<|end|>\n<|user|>\n{user}<|end|>\n<|assistant|>\n"


def tiny_config(vocab_size: int) -> ArgusConfig:
    return ArgusConfig(
        input_size=(32, 64, 64),
        vision=VisionConfig(patch_size=(4, 8, 8), hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128),
        pixel_shuffle_factor=(2, 2, 2),
        text=TextConfig(
            vocab_size=vocab_size,
            hidden_size=64,
            num_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            intermediate_size=128,
            max_position_embeddings=512,
        ),
    )


def randomize(model: ArgusModel) -> None:
    """Fill the weights with seeded random values that give decisive greedy steps.

    Weights with std 1/sqrt(fan_in) keep activations of order 1 through the random stack. The LM head
    gets 3x that, so logits spread over several units and each step has a clear winner. Norm layers
    keep their identity initialisation.
    """
    with torch.no_grad():
        for module_name, module in model.named_modules():
            if isinstance(module, (nn.LayerNorm, RMSNorm)):
                continue
            for name, parameter in module.named_parameters(recurse=False):
                full_name = f"{module_name}.{name}"
                if full_name == "vision.vit.position_embedding":
                    parameter.normal_(0.0, 0.1)
                elif full_name == "embed_tokens.weight":
                    parameter.normal_(0.0, 1.0)
                elif parameter.dim() == 1:
                    parameter.normal_(0.0, 0.02)
                else:
                    scale = 3.0 if full_name == "decoder.lm_head.weight" else 1.0
                    parameter.normal_(0.0, scale / math.sqrt(parameter[0].numel()))


def write_f32(path: Path, tensor: torch.Tensor | np.ndarray) -> None:
    array = tensor.detach().numpy() if isinstance(tensor, torch.Tensor) else tensor
    path.write_bytes(np.ascontiguousarray(array, dtype="<f4").tobytes())


def preprocessing_cases(package_preprocessing: dict) -> list[dict]:
    """Three volumes that together exercise permutation, flips, obliquity, crop, pad and both scalings."""
    rotation = math.radians(5)
    cos, sin = math.cos(rotation), math.sin(rotation)
    return [
        {
            # Coronal acquisition: i toward L, j toward I, slices toward A. LPS needs a permute and two flips.
            "name": "coronal-lps",
            "geometry": Geometry((48, 40, 36), (7.0, 7.5, 6.5), ((1, 0, 0), (0, 0, -1), (0, -1, 0))),
            "preprocessing": package_preprocessing,
        },
        {
            # Axial, rotated 5 degrees in plane, slices head to feet; RAS flips all three axes.
            "name": "oblique-ras-spacing",
            "geometry": Geometry((40, 36, 24), (8.0, 8.0, 10.0), ((cos, sin, 0), (-sin, cos, 0), (0, 0, -1))),
            "preprocessing": {
                "input_size": [16, 16, 24],
                "target_spacing": [20.0, 16.0, 16.0],
                "orientation": "RAS",
                "resampling": "trilinear",
                "hu_window": [-1200, 400],
                "scaling": {"kind": "window_linear", "output_range": [-1, 1]},
                "pad_value_hu": -1024,
            },
        },
        {
            "name": "axial-native-standardize",
            "geometry": Geometry((30, 26, 12), (11.0, 11.0, 25.0), ((1, 0, 0), (0, 1, 0), (0, 0, 1))),
            "preprocessing": {
                "input_size": [10, 20, 24],
                "target_spacing": None,
                "orientation": "native",
                "resampling": "trilinear",
                "hu_window": [-1000, 1000],
                "scaling": {"kind": "standardize", "mean": -300.0, "std": 500.0},
                "pad_value_hu": -1024,
            },
        },
    ]


def write_preprocessing_reference(package_preprocessing: dict, rng: np.random.Generator) -> torch.Tensor:
    cases = []
    model_input = None
    for case in preprocessing_cases(package_preprocessing):
        geometry: Geometry = case["geometry"]
        voxels = phantom_hu(geometry, rng)
        pixel_values = preprocess(voxels, geometry.dimensions, geometry.spacing, [list(d) for d in geometry.direction], case["preprocessing"])
        write_f32(REFERENCE_DIR / f"{case['name']}.hu.f32", voxels)
        write_f32(REFERENCE_DIR / f"{case['name']}.pixel_values.f32", pixel_values)
        cases.append(
            {
                "name": case["name"],
                "volume": {"file": f"{case['name']}.hu.f32", **geometry.to_json()},
                "preprocessing": case["preprocessing"],
                "pixel_values": {"file": f"{case['name']}.pixel_values.f32", "shape": list(pixel_values.shape)},
            }
        )
        if model_input is None:
            model_input = pixel_values
    (REFERENCE_DIR / "preprocessing.json").write_text(json.dumps({"cases": cases}, indent=2) + "\n")
    assert model_input is not None
    return model_input


def check_cache_consistency(model: ArgusModel, embeds: torch.Tensor, generated: list[int]) -> None:
    """Recomputes every step without the cache; the argmax must agree with the cached run."""
    sequence = embeds
    for step, token in enumerate(generated):
        logits = model.full_sequence_logits(sequence)
        if int(logits[0, -1].argmax()) != token:
            raise AssertionError(f"cached and uncached decoding differ at step {step}")
        sequence = torch.cat((sequence, model.embed_tokens(torch.tensor([[token]]))), dim=1)


def top2_gaps(model: ArgusModel, embeds: torch.Tensor, generated: list[int]) -> list[float]:
    gaps = []
    sequence = embeds
    for token in generated:
        top = model.full_sequence_logits(sequence)[0, -1].topk(2).values
        gaps.append(float(top[0] - top[1]))
        sequence = torch.cat((sequence, model.embed_tokens(torch.tensor([[token]]))), dim=1)
    return gaps


def write_decoding_reference(model: ArgusModel, embeds: torch.Tensor, end_token_ids: list[int]) -> list[dict]:
    """Runs every DECODING_CASES entry; writes the greedy cases' per-step logits as <name>.step_logits.f32."""
    cases = []
    for case in DECODING_CASES:
        settings = GenerationSettings(
            max_new_tokens=MAX_NEW_TOKENS,
            end_token_ids=end_token_ids + case.get("extra_end_tokens", []),
            num_beams=case["num_beams"],
            repetition_penalty=case["repetition_penalty"],
            no_repeat_ngram_size=case["no_repeat_ngram_size"],
            length_penalty=case["length_penalty"],
        )
        result = generate(model, embeds, settings)
        if min(result.margins) < (MIN_TOP2_GAP if case["num_beams"] == 1 else MIN_BEAM_MARGIN):
            raise AssertionError(f"decoding case {case['name']} comes within {min(result.margins):.2e} of a tie; choose another SEED")
        entry = {**case, "max_new_tokens": MAX_NEW_TOKENS, "generated_ids": result.token_ids, "min_margin": min(result.margins)}
        if result.score is not None:
            entry["score"] = result.score
        if result.step_logits:
            file = f"{case['name']}.step_logits.f32"
            write_f32(REFERENCE_DIR / file, torch.stack(result.step_logits))
            entry["step_logits"] = {"file": file, "shape": [len(result.step_logits), model.config.text.vocab_size]}
        cases.append(entry)
    return cases


def write_broken_graphs(package_dir: Path) -> None:
    """Writes graphs that onnxruntime opens but that break the package contract, for the load-time checks.

    embed_tokens.int32-input-ids.onnx takes int32 input_ids where the contract requires int64. Gather accepts
    both index types, so the graph itself stays valid.
    """
    graph = onnx.load(str(package_dir / "embed_tokens.onnx"))
    graph.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.INT32
    onnx.checker.check_model(graph)
    onnx.save_model(graph, str(BROKEN_DIR / "embed_tokens.int32-input-ids.onnx"))


def main() -> None:
    random.seed(SEED)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    for directory in (PACKAGE_DIR, REFERENCE_DIR, BROKEN_DIR):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)

    corpus = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]
    tokenizer = ByteLevelBpe.train(corpus, NUM_MERGES, SPECIAL_TOKENS)
    tokenizer.write(
        PACKAGE_DIR,
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<|begin_of_text|>",
            "eos_token": "<|end_of_text|>",
            "pad_token": "<|pad|>",
            "unk_token": None,
            "clean_up_tokenization_spaces": False,
            "model_max_length": 512,
            "chat_template": CHAT_TEMPLATE,
        },
    )

    model = ArgusModel(tiny_config(tokenizer.size))
    randomize(model)
    model.eval()
    spec = {
        "model": {
            "name": "argus-tiny-random",
            "version": "0.1.0",
            "device_uid": device_uid(uuid.UUID(int=random.getrandbits(128), version=4)),
            "description": "Random weights for tests. Writes nonsense; not a clinical model.",
        },
        "preprocessing": PREPROCESSING,
        "special_tokens": {"image": "<image>", "bos": "<|begin_of_text|>", "eos": "<|end_of_text|>", "pad": "<|pad|>"},
        "end_tokens": ["<|end|>", "<|end_of_text|>"],
        "prompt": {"system": SYSTEM_PROMPT, "user": USER_PROMPT},
        "generation": {"max_new_tokens": MAX_NEW_TOKENS},
    }
    config = write_package(PACKAGE_DIR, model, spec, PACKAGE_DIR)
    write_broken_graphs(PACKAGE_DIR)

    pixel_values = write_preprocessing_reference(config["preprocessing"], rng)
    prompt = render_prompt_reference("<|begin_of_text|>", SYSTEM_PROMPT, USER_PROMPT)
    input_ids = tokenizer.encode(prompt)
    image_token_id = config["special_tokens"]["image"]["id"]
    with torch.no_grad():
        image_embeds = model.vision(pixel_values)
        generated, first_logits = model.generate_greedy(
            pixel_values, torch.tensor([input_ids]), image_token_id, config["end_token_ids"], MAX_NEW_TOKENS
        )
        embeds = model.splice_image(torch.tensor([input_ids]), image_embeds, image_token_id)
        check_cache_consistency(model, embeds, generated)
        gaps = top2_gaps(model, embeds, generated)
    if min(gaps) < MIN_TOP2_GAP:
        raise AssertionError(f"a greedy step has a top-2 logit gap of {min(gaps):.2e}; choose another SEED")

    decoding = write_decoding_reference(model, embeds, config["end_token_ids"])
    torch.save({"argus_config": model.config.to_dict(), "state_dict": model.state_dict()}, REFERENCE_DIR / "checkpoint.pt")

    write_f32(REFERENCE_DIR / "image_embeds.f32", image_embeds)
    reference = {
        "pixel_values": {"file": "coronal-lps.pixel_values.f32", "shape": list(pixel_values.shape)},
        "prompt_text": prompt,
        "input_ids": input_ids,
        "image_embeds": {"file": "image_embeds.f32", "shape": list(image_embeds.shape)},
        "max_new_tokens": MAX_NEW_TOKENS,
        "generated_ids": generated,
        "first_step_logits": [float(x) for x in first_logits],
        "min_top2_gap": min(gaps),
        "decoding_cases": decoding,
    }
    (REFERENCE_DIR / "generation.json").write_text(json.dumps(reference, indent=1) + "\n")
    total = sum(path.stat().st_size for path in PACKAGE_DIR.iterdir())
    print(f"package {PACKAGE_DIR} ({total / 1e6:.2f} MB), {len(generated)} tokens, min top-2 gap {min(gaps):.3f}")


if __name__ == "__main__":
    main()
