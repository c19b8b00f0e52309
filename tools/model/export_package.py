#!/usr/bin/python3
"""Turns a trained Argus checkpoint into a model package.

The checkpoint is a torch.save() file containing {"argus_config": ArgusConfig.to_dict(), "state_dict": ...}.
The spec is a JSON file with the package-level settings: model identity, preprocessing (all keys but
input_size, which comes from the checkpoint), special tokens and end tokens by content, prompt and
generation settings. The tokenizer directory contains tokenizer.json and tokenizer_config.json.

Usage:
  /usr/bin/python3 tools/model/export_package.py --checkpoint ckpt.pt --spec spec.json \\
      --tokenizer-dir tok/ --out packages/my-model/ [--fp16] [--external-data auto|always|never]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from argus_model import ArgusConfig, ArgusModel
from export_onnx import ExportOptions
from package import write_package


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="torch.save() file with argus_config and state_dict")
    parser.add_argument("--spec", type=Path, required=True, help="package spec JSON")
    parser.add_argument("--tokenizer-dir", type=Path, required=True, help="folder with tokenizer.json and tokenizer_config.json")
    parser.add_argument("--out", type=Path, required=True, help="package folder to write (created if missing)")
    parser.add_argument("--fp16", action="store_true", help="store weights as float16; inputs, outputs and arithmetic stay float32")
    parser.add_argument(
        "--external-data",
        choices=("auto", "always", "never"),
        default="auto",
        help="keep weights in <graph>.onnx_data: auto does so for graphs over 1.8 GB, which a single protobuf file cannot hold",
    )
    args = parser.parse_args()

    checkpoint = torch.load(args.checkpoint, map_location="cpu")
    model = ArgusModel(ArgusConfig.from_dict(checkpoint["argus_config"]))
    model.load_state_dict(checkpoint["state_dict"])
    spec = json.loads(args.spec.read_text(encoding="utf-8"))
    options = ExportOptions(fp16=args.fp16, external_data=args.external_data)
    config = write_package(args.out, model, spec, args.tokenizer_dir, options)
    print(f"wrote {args.out} ({config['model']['name']} {config['model']['version']}, device UID {config['model']['device_uid']})")


if __name__ == "__main__":
    main()
