#!/usr/bin/python3
"""Runs a checkpoint in PyTorch and its package in the service's onnxruntime path on the same input.

The onnxruntime side is src/model itself, started through tools/model/run_package.ts with Node, so the
check covers the tokenizer, the prompt splice and the decoding loop that the service runs. Both sides
get the same pixel_values (a .f32 file of the package's input size, or uniform noise from --seed) and
the same prompt ids. The report gives the largest logit difference over all steps and whether the tokens
agree. Greedy logits are compared along the onnxruntime tokens, so a late divergence still gets a
logit comparison for every step. The exit status is 0 when the tokens agree and the difference is
within --tolerance, 1 otherwise.

Usage:
  /usr/bin/python3 tools/model/verify.py --checkpoint ckpt.pt --package packages/my-model/ \\
      [--pixel-values input.f32 | --seed 0] [--num-beams 4] [--max-new-tokens 64] [--fp16-weights]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from argus_model import ArgusModel
from check_export import load_checkpoint, round_large_weights_to_fp16
from generation import GenerationSettings, generate

ROOT = Path(__file__).resolve().parents[2]


def run_onnx_side(package: Path, pixel_file: Path, args: argparse.Namespace) -> dict:
    """Runs run_package.ts under Node and returns its JSON output."""
    flags = []
    for name in ("num_beams", "max_new_tokens", "repetition_penalty", "no_repeat_ngram_size", "length_penalty"):
        value = getattr(args, name)
        if value is not None:
            flags += [f"--{name.replace('_', '-')}", str(value)]
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "onnx.json"
        command = ["node", "--import", "tsx", str(ROOT / "tools/model/run_package.ts"), "--package", str(package)]
        command += ["--pixel-values", str(pixel_file), "--out", str(out), *flags]
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text(encoding="utf-8"))


def teacher_forced_logits(model: ArgusModel, embeds: torch.Tensor, tokens: list[int]) -> list[torch.Tensor]:
    """Return the logits torch gives at each step when fed `tokens`, one step at a time with the KV cache."""
    with torch.no_grad():
        seq = embeds.shape[1]
        mask = torch.ones(1, seq, dtype=torch.int64)
        positions = torch.arange(seq, dtype=torch.int64).unsqueeze(0)
        logits, cache = model.decoder(embeds, mask, positions, model.decoder.empty_cache(1))
        steps = [logits[0, -1]]
        for token in tokens[:-1]:
            mask = torch.ones(1, seq + 1, dtype=torch.int64)
            positions = torch.tensor([[seq]], dtype=torch.int64)
            logits, cache = model.decoder(model.embed_tokens(torch.tensor([[token]])), mask, positions, cache)
            steps.append(logits[0, -1])
            seq += 1
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="torch.save() file with argus_config and state_dict")
    parser.add_argument("--package", type=Path, required=True, help="package folder exported from the checkpoint")
    parser.add_argument("--pixel-values", type=Path, help="raw little-endian float32 model input [1, 1, D, H, W]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the uniform [0, 1) input when --pixel-values is absent")
    parser.add_argument("--num-beams", type=int, help="beam width; default: the package's")
    parser.add_argument("--max-new-tokens", type=int, help="token budget; default: the package's")
    parser.add_argument("--repetition-penalty", type=float, help="default: the package's")
    parser.add_argument("--no-repeat-ngram-size", type=int, help="default: the package's")
    parser.add_argument("--length-penalty", type=float, help="default: the package's")
    parser.add_argument("--fp16-weights", action="store_true", help="round torch weights as export_package.py --fp16 stores them")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest logit (or beam score) difference that passes")
    args = parser.parse_args()

    model = load_checkpoint(args.checkpoint)
    if args.fp16_weights:
        round_large_weights_to_fp16(model)
    config = json.loads((args.package / "config.json").read_text(encoding="utf-8"))
    shape = (1, 1, *config["preprocessing"]["input_size"])
    if list(shape[2:]) != list(model.config.input_size):
        sys.exit(f"the package's input_size {shape[2:]} differs from the checkpoint's {list(model.config.input_size)}")

    with tempfile.TemporaryDirectory() as scratch:
        pixel_file = args.pixel_values
        if pixel_file is None:
            pixel_file = Path(scratch) / "pixel_values.f32"
            generator = torch.Generator().manual_seed(args.seed)
            torch.rand(shape, generator=generator).numpy().astype("<f4").tofile(pixel_file)
        pixel_values = torch.from_numpy(np.fromfile(pixel_file, dtype="<f4").reshape(shape))
        onnx_side = run_onnx_side(args.package, pixel_file, args)

    settings = onnx_side["settings"]
    generation = GenerationSettings(
        max_new_tokens=settings["maxNewTokens"],
        end_token_ids=settings["endTokenIds"],
        num_beams=settings["numBeams"],
        repetition_penalty=settings["repetitionPenalty"],
        no_repeat_ngram_size=settings["noRepeatNgramSize"],
        length_penalty=settings["lengthPenalty"],
    )
    image_token_id = config["special_tokens"]["image"]["id"]
    with torch.no_grad():
        embeds = model.splice_image(torch.tensor([onnx_side["input_ids"]]), model.vision(pixel_values), image_token_id)
    torch_side = generate(model, embeds, generation)

    tokens_agree = torch_side.token_ids == onnx_side["token_ids"]
    print(f"prompt: {len(onnx_side['input_ids'])} ids, image at index {onnx_side['image_token_index']}")
    print(f"decoding: num_beams={generation.num_beams}, max_new_tokens={generation.max_new_tokens}, "
          f"repetition_penalty={generation.repetition_penalty}, no_repeat_ngram_size={generation.no_repeat_ngram_size}")
    print(f"pytorch tokens:     {torch_side.token_ids}")
    print(f"onnxruntime tokens: {onnx_side['token_ids']}")
    if not tokens_agree:
        first = next((i for i, (a, b) in enumerate(zip(torch_side.token_ids, onnx_side["token_ids"])) if a != b), None)
        print(f"tokens agree: no (first difference at step {first if first is not None else 'end'})")
    else:
        print("tokens agree: yes")

    if generation.num_beams > 1:
        difference = abs(torch_side.score - onnx_side["score"])
        print(f"beam score: pytorch {torch_side.score:.6f}, onnxruntime {onnx_side['score']:.6f}, difference {difference:.3e}")
    else:
        expected = teacher_forced_logits(model, embeds, onnx_side["token_ids"])
        difference = max(float((torch.tensor(actual) - wanted).abs().max()) for actual, wanted in zip(onnx_side["step_logits"], expected))
        print(f"max |logit difference|: {difference:.3e} over {len(expected)} steps")
    print(f"closest call in pytorch: {min(torch_side.margins, default=float('inf')):.3e} (a tie below the tolerance can flip a token)")
    sys.exit(0 if tokens_agree and difference <= args.tolerance else 1)


if __name__ == "__main__":
    main()
