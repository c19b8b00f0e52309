#!/usr/bin/python3
"""Exports the tiny fixture again with float16 weights in external data files, plus a PyTorch reference.

It also writes the same export with the default external-data setting to <out>/auto, where the small
graphs must keep their weights inside.

test/model/python-tools.test.ts runs this and checks that the runtime loads the package and reproduces
the reference. The reference model has its weights rounded to float16 and back exactly where the
export stores float16, so both sides compute the same function in float32 and the tolerance of the
float32 fixture applies.

Usage: /usr/bin/python3 tools/model/check_export.py --out /tmp/argus-fp16
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from argus_model import ArgusConfig, ArgusModel
from export_onnx import FP16_MIN_ELEMENTS, ExportOptions
from generation import GenerationSettings, generate
from package import FILES, spec_from_config, write_package

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "test" / "fixtures" / "tiny-argus"
REFERENCE_DIR = ROOT / "test" / "fixtures" / "tiny-argus-reference"


def load_checkpoint(path: Path) -> ArgusModel:
    checkpoint = torch.load(path, map_location="cpu")
    model = ArgusModel(ArgusConfig.from_dict(checkpoint["argus_config"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


def round_large_weights_to_fp16(model: ArgusModel) -> None:
    """Round each parameter the export stores as float16 (FP16_MIN_ELEMENTS or more) to float16 and back."""
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.numel() >= FP16_MIN_ELEMENTS:
                parameter.copy_(parameter.half().float())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for the package and reference.json")
    args = parser.parse_args()

    model = load_checkpoint(REFERENCE_DIR / "checkpoint.pt")
    config = json.loads((PACKAGE_DIR / "config.json").read_text(encoding="utf-8"))
    tokenizer_json = json.loads((PACKAGE_DIR / FILES["tokenizer"]).read_text(encoding="utf-8"))
    spec = spec_from_config(config, tokenizer_json)
    write_package(args.out, model, spec, PACKAGE_DIR, ExportOptions(fp16=True, external_data="always"))
    # The default "auto" keeps a small model's weights inside the graphs.
    write_package(args.out / "auto", model, spec, PACKAGE_DIR, ExportOptions(fp16=True))

    round_large_weights_to_fp16(model)
    generation = json.loads((REFERENCE_DIR / "generation.json").read_text(encoding="utf-8"))
    shape = generation["pixel_values"]["shape"]
    pixel_values = torch.from_numpy(np.fromfile(REFERENCE_DIR / generation["pixel_values"]["file"], dtype="<f4").reshape(shape))
    image_token_id = config["special_tokens"]["image"]["id"]
    with torch.no_grad():
        embeds = model.splice_image(torch.tensor([generation["input_ids"]]), model.vision(pixel_values), image_token_id)
    settings = GenerationSettings(max_new_tokens=generation["max_new_tokens"], end_token_ids=config["end_token_ids"])
    result = generate(model, embeds, settings)
    reference = {
        "pixel_values": generation["pixel_values"],
        "generated_ids": result.token_ids,
        "step_logits": [[float(x) for x in logits] for logits in result.step_logits],
        "min_margin": min(result.margins),
    }
    (args.out / "reference.json").write_text(json.dumps(reference) + "\n", encoding="utf-8")
    sizes = {str(entry.relative_to(args.out)): entry.stat().st_size for entry in sorted(args.out.rglob("*")) if entry.is_file()}
    print(json.dumps(sizes))


if __name__ == "__main__":
    main()
