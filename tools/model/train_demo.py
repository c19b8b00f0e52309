#!/usr/bin/python3
"""Trains the demo Argus model on synthetic chest phantoms and writes models/argus-demo/.

The model has the Argus architecture at a small size. Training volumes pass through the same
reorientation, resampling and HU scaling as the service (preprocess.py, which the TypeScript
preprocessing matches), so what the model learns about the patient's left and right holds for DICOM
series that the service assembles. Training has two phases:

1. The vision encoder, pixel shuffle and connector learn with auxiliary linear heads on the image
   tokens (see AuxiliaryHeads). A decoder trained on text alone tends to learn the report
   prior and ignore the image, so the image tokens first have to carry the finding.
2. The whole model learns the templated reports by next-token loss, with the auxiliary loss kept at a
   lower weight. The auxiliary heads are not part of the exported package.

The script then exports the package to a scratch folder and runs it on held-out phantoms of both
sides through onnxruntime-node (tools/model/eval_demo.ts, the service's own model code). It copies the
package to models/argus-demo/ only when the side is right in at least MIN_SIDE_ACCURACY of the cases.
Everything derives from SEED, and torch runs with deterministic algorithms on CPU.

Usage: /usr/bin/python3 tools/model/train_demo.py [--threads 1] [--skip-training]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from argus_model import ArgusConfig, ArgusModel, TextConfig, VisionConfig
from bpe_tokenizer import ByteLevelBpe
from demo_phantom import FINDINGS, LESION_SIZES_MM, LOBES, SIDES, random_anatomy, random_finding, random_geometry, render_hu
from demo_reports import corpus, parse_report, report_text
from package import device_uid, write_package
from preprocess import preprocess

SEED = 20261205
ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "models" / "argus-demo"
EVAL_SCRIPT = Path(__file__).resolve().parent / "eval_demo.ts"

TRAIN_CASES = 2400
EVAL_CASES_PER_SIDE = 40
BATCH_SIZE = 32
VISION_STEPS = 600
FULL_STEPS = 500
VISION_LEARNING_RATE = 2e-3
FULL_LEARNING_RATE = 1e-3
# Weight of the auxiliary classification loss while the whole model learns the text.
AUX_WEIGHT_FULL = 0.3
MIN_SIDE_ACCURACY = 0.95
# Enough merges to make every word of the templates a single token.
NUM_MERGES = 300
MAX_NEW_TOKENS = 48

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>", "<image>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SYSTEM_PROMPT = "Write a draft chest CT report."
USER_PROMPT = "<image>\nReport this CT."

PREPROCESSING = {
    # 16 x 32 x 32 voxels of 20 x 13 x 13 mm: 320 mm head to feet and 416 mm across, enough for the
    # phantom chest with its position jitter. The coarse grid keeps the model small enough to train on a CPU.
    "target_spacing": [20.0, 13.0, 13.0],
    "orientation": "LPS",
    "resampling": "trilinear",
    "hu_window": [-1000, 500],
    # Centred input: with [0, 1] scaling the patch embedding's shared offset swamped small lesions and
    # the encoder did not learn to find them.
    "scaling": {"kind": "standardize", "mean": -500.0, "std": 500.0},
    "pad_value_hu": -1024,
}
INPUT_SIZE = (16, 32, 32)
MODEL_SPEC = {
    "name": "argus-demo",
    "version": "1.0.0",
    "description": "Demo model trained on synthetic phantoms with templated reports. Not for clinical use.",
}


def demo_config(vocab_size: int) -> ArgusConfig:
    return ArgusConfig(
        input_size=INPUT_SIZE,
        vision=VisionConfig(patch_size=(4, 8, 8), hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128),
        pixel_shuffle_factor=(2, 2, 2),
        text=TextConfig(
            vocab_size=vocab_size,
            hidden_size=128,
            num_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=32,
            intermediate_size=256,
            max_position_embeddings=256,
        ),
        projector_hidden_size=128,
    )


class AuxiliaryHeads(nn.Module):
    """Linear classifiers on the image tokens; used in training only.

    The 8 image tokens are the octants of the volume in (D, H, W) order: inferior or superior, anterior
    or posterior, patient's right or left. Four heads read the concatenated tokens (finding, side,
    lobe, size class). One more head reads each token on its own and predicts whether the finding lies in
    that token's half of the chest (its side, and for a lesion its lobe). That dense target teaches the
    encoder to find lesions far sooner than the four whole-volume labels alone.
    """

    def __init__(self, num_tokens: int, width: int) -> None:
        super().__init__()
        if num_tokens != 8:
            raise ValueError("the location head expects a 2 x 2 x 2 grid of image tokens")
        features = num_tokens * width
        self.kind = nn.Linear(features, len(FINDINGS))
        self.side = nn.Linear(features, len(SIDES))
        self.lobe = nn.Linear(features, len(LOBES))
        self.size = nn.Linear(features, len(LESION_SIZES_MM))
        self.location = nn.Linear(width, 1)

    @staticmethod
    def location_targets(labels: torch.Tensor) -> torch.Tensor:
        """1 for the image tokens in the finding's side (W) and, for a lesion, lobe (D) half; else 0."""
        targets = torch.zeros(labels.shape[0], 2, 2, 2)
        for n, (kind, side, lobe, _) in enumerate(labels.tolist()):
            if FINDINGS[kind] == "normal":
                continue
            # W increases toward the patient's left and D toward superior in LPS.
            w = 1 if SIDES[side] == "left" else 0
            if FINDINGS[kind] == "lesion":
                d = 1 if LOBES[lobe] == "upper" else 0
                targets[n, d, :, w] = 1
            else:
                targets[n, :, :, w] = 1
        return targets.reshape(labels.shape[0], 8)

    def logits(self, image_embeds: torch.Tensor) -> list[torch.Tensor]:
        features = image_embeds.flatten(1)
        return [head(features) for head in (self.kind, self.side, self.lobe, self.size)]

    def loss(self, image_embeds: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        classes = sum(F.cross_entropy(logits, labels[:, n], ignore_index=-100) for n, logits in enumerate(self.logits(image_embeds)))
        location = F.binary_cross_entropy_with_logits(self.location(image_embeds).squeeze(-1), self.location_targets(labels))
        return classes + location


def linear_as_convolution(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear computed as a 1x1 convolution, which runs on oneDNN.

    Debian's torch 1.13 does float32 matrix products with the reference BLAS. For an 8192 x 96 input and a
    96 x 288 weight, forward and backward took 0.30 s that way and 0.01 s as a convolution (one run here). Training swaps this in for F.linear and swaps it back
    before export, so the exported graphs use plain MatMul/Gemm.
    """
    shape = x.shape
    y = F.conv1d(x.reshape(-1, shape[-1]).t().unsqueeze(0), weight.unsqueeze(-1), bias)
    return y[0].t().reshape(*shape[:-1], weight.shape[0])


PLAIN_LINEAR = F.linear


def labels_of(finding) -> list[int]:
    """Class indices for the auxiliary heads; -100 marks a head that does not apply."""
    kind = FINDINGS.index(finding.kind)
    side = SIDES.index(finding.side) if finding.kind != "normal" else -100
    lobe = LOBES.index(finding.lobe) if finding.kind == "lesion" else -100
    size = finding.size_class if finding.kind == "lesion" else -100
    return [kind, side, lobe, size]


def make_case(rng: np.random.Generator, kind: str | None = None, side: str | None = None):
    geometry = random_geometry(rng)
    anatomy = random_anatomy(rng)
    finding = random_finding(anatomy, rng, kind, side)
    hu = render_hu(geometry, anatomy, finding, float(rng.uniform(5, 20)), rng)
    return geometry, finding, hu


def make_training_set(rng: np.random.Generator, tokenizer: ByteLevelBpe, end_id: int, pad_id: int):
    pixels = torch.empty(TRAIN_CASES, 1, *INPUT_SIZE, dtype=torch.float16)
    labels = torch.empty(TRAIN_CASES, 4, dtype=torch.int64)
    reports: list[list[int]] = []
    for n in range(TRAIN_CASES):
        geometry, finding, hu = make_case(rng)
        direction = [list(vector) for vector in geometry.direction]
        pixels[n] = preprocess(hu, geometry.dimensions, geometry.spacing, direction, {"input_size": INPUT_SIZE, **PREPROCESSING})[0].half()
        labels[n] = torch.tensor(labels_of(finding))
        reports.append(tokenizer.encode(report_text(finding)) + [end_id])
    longest = max(len(ids) for ids in reports)
    report_ids = torch.full((TRAIN_CASES, longest), pad_id, dtype=torch.int64)
    for n, ids in enumerate(reports):
        report_ids[n, : len(ids)] = torch.tensor(ids)
    return pixels, labels, report_ids


def text_loss(model: ArgusModel, image_embeds: torch.Tensor, prompt_ids: torch.Tensor, image_at: int, report_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Next-token loss on the report tokens after the spliced prompt; padding is ignored."""
    batch = image_embeds.shape[0]
    prompt = model.embed_tokens(prompt_ids).expand(batch, -1, -1)
    embeds = torch.cat((prompt[:, :image_at], image_embeds, prompt[:, image_at + 1 :], model.embed_tokens(report_ids[:, :-1])), dim=1)
    seq = embeds.shape[1]
    mask = torch.ones(batch, seq, dtype=torch.int64)
    positions = torch.arange(seq, dtype=torch.int64).unsqueeze(0).expand(batch, -1)
    logits, _ = model.decoder(embeds, mask, positions, model.decoder.empty_cache(batch))
    prompt_len = seq - (report_ids.shape[1] - 1)
    predicted = logits[:, prompt_len - 1 :]
    targets = report_ids.masked_fill(report_ids == pad_id, -100)
    return F.cross_entropy(predicted.reshape(-1, predicted.shape[-1]), targets.reshape(-1), ignore_index=-100)


def cosine_rate(step: int, steps: int, peak: float) -> float:
    warmup = 30
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))


def train_phase(name, parameters, steps, peak_rate, loss_fn, generator: torch.Generator, cases: int) -> None:
    optimizer = torch.optim.AdamW(parameters, lr=peak_rate, weight_decay=0.01)
    started = time.perf_counter()
    running = 0.0
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_rate(step, steps, peak_rate)
        batch = torch.randint(0, cases, (BATCH_SIZE,), generator=generator)
        loss = loss_fn(batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        running += float(loss)
        if (step + 1) % 50 == 0:
            print(f"{name} step {step + 1}/{steps} loss {running / 50:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
            running = 0.0


def make_eval_set(rng: np.random.Generator, directory: Path) -> list[dict]:
    """Writes held-out phantoms, balanced over sides and findings, as HU files with their geometry."""
    cases = []
    for side in SIDES:
        for n in range(EVAL_CASES_PER_SIDE):
            kind = "effusion" if n % 4 == 3 else "lesion"
            geometry, finding, hu = make_case(rng, kind, side)
            name = f"{side}-{n:03d}"
            (directory / f"{name}.hu.f32").write_bytes(np.ascontiguousarray(hu, dtype="<f4").tobytes())
            cases.append(
                {
                    "name": name,
                    "file": f"{name}.hu.f32",
                    **geometry.to_json(),
                    "expected": {"kind": finding.kind, "side": finding.side, "lobe": finding.lobe, "size_class": finding.size_class},
                }
            )
    for n in range(EVAL_CASES_PER_SIDE // 2):
        geometry, finding, hu = make_case(rng, "normal")
        name = f"normal-{n:03d}"
        (directory / f"{name}.hu.f32").write_bytes(np.ascontiguousarray(hu, dtype="<f4").tobytes())
        cases.append({"name": name, "file": f"{name}.hu.f32", **geometry.to_json(), "expected": {"kind": "normal"}})
    (directory / "cases.json").write_text(json.dumps(cases, indent=1) + "\n", encoding="utf-8")
    return cases


def score(cases: list[dict], texts: dict[str, str], label: str) -> float:
    """Prints accuracy per class and returns the side accuracy over the cases that have a side."""
    from demo_phantom import LESION_SIZES_MM

    totals: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    for case in cases:
        expected = case["expected"]
        got = parse_report(texts[case["name"]])
        kind = expected["kind"]
        totals[f"finding {kind}"] += 1
        correct[f"finding {kind}"] += got["kind"] == kind
        if kind == "normal":
            continue
        totals[f"side {expected['side']}"] += 1
        correct[f"side {expected['side']}"] += got.get("side") == expected["side"]
        if kind == "lesion":
            totals["lobe"] += 1
            correct["lobe"] += got.get("lobe") == expected["lobe"]
            totals["size"] += 1
            correct["size"] += got.get("size_mm") == LESION_SIZES_MM[expected["size_class"]]
    print(f"{label}:")
    for key in sorted(totals):
        print(f"  {key:16s} {correct[key]:3d}/{totals[key]:3d} = {correct[key] / totals[key]:.1%}")
    sided = totals["side left"] + totals["side right"]
    return (correct["side left"] + correct["side right"]) / sided


def torch_texts(model: ArgusModel, tokenizer: ByteLevelBpe, cases, directory: Path, prompt_ids, image_id, end_ids, id_to_token) -> dict[str, str]:
    texts = {}
    for case in cases:
        hu = np.fromfile(directory / case["file"], dtype="<f4")
        pixel_values = preprocess(hu, tuple(case["dimensions"]), tuple(case["spacing"]), case["direction"], {"input_size": INPUT_SIZE, **PREPROCESSING})
        ids, _ = model.generate_greedy(pixel_values, prompt_ids, image_id, end_ids, MAX_NEW_TOKENS)
        texts[case["name"]] = decode(ids, id_to_token, end_ids)
    return texts


def decode(ids: list[int], id_to_token: dict[int, str], end_ids: list[int]) -> str:
    from bpe_tokenizer import BYTE_TO_CHAR

    char_to_byte = {char: byte for byte, char in BYTE_TO_CHAR.items()}
    pieces = "".join(id_to_token[i] for i in ids if i not in end_ids)
    return bytes(char_to_byte[c] for c in pieces).decode("utf-8", errors="replace")


def onnx_texts(package_dir: Path, cases_dir: Path) -> dict[str, str]:
    """Runs the exported package through the service's TypeScript model code and onnxruntime-node."""
    output = cases_dir / "generated.json"
    command = ["node", "--import", "tsx", str(EVAL_SCRIPT), str(package_dir), str(cases_dir / "cases.json"), str(output)]
    subprocess.run(command, cwd=ROOT, check=True)
    return json.loads(output.read_text(encoding="utf-8"))


@torch.no_grad()
def print_auxiliary_accuracy(model: ArgusModel, heads: AuxiliaryHeads, pixels: torch.Tensor, labels: torch.Tensor) -> None:
    """Prints the auxiliary heads' accuracy on the last 10 % of the training set, as a check of the image tokens."""
    model.eval()
    start = len(pixels) * 9 // 10
    logits = heads.logits(model.vision(pixels[start:].float()))
    names = ("finding", "side", "lobe", "size")
    parts = []
    for n, name in enumerate(names):
        targets = labels[start:, n]
        known = targets != -100
        accuracy = (logits[n].argmax(-1) == targets)[known].float().mean()
        parts.append(f"{name} {float(accuracy):.1%}")
    print("auxiliary heads on training phantoms: " + ", ".join(parts), flush=True)
    model.train()


def train(model: ArgusModel, rng, generator, tokenizer, prompt_ids, image_at: int, end_id: int, pad_id: int, started: float) -> None:
    pixels, labels, report_ids = make_training_set(rng, tokenizer, end_id, pad_id)
    print(f"training set: {TRAIN_CASES} phantoms, {Counter(FINDINGS[k] for k in labels[:, 0].tolist())} ({time.perf_counter() - started:.0f} s)", flush=True)

    with torch.no_grad():
        model.vision.vit.position_embedding.normal_(0.0, 0.02)
    heads = AuxiliaryHeads(model.config.num_image_tokens, model.config.text.hidden_size)
    model.train()
    F.linear = linear_as_convolution

    def vision_loss(batch: torch.Tensor) -> torch.Tensor:
        return heads.loss(model.vision(pixels[batch].float()), labels[batch])

    def full_loss(batch: torch.Tensor) -> torch.Tensor:
        image_embeds = model.vision(pixels[batch].float())
        text = text_loss(model, image_embeds, prompt_ids, image_at, report_ids[batch], pad_id)
        return text + AUX_WEIGHT_FULL * heads.loss(image_embeds, labels[batch])

    train_phase("vision", list(model.vision.parameters()) + list(heads.parameters()), VISION_STEPS, VISION_LEARNING_RATE, vision_loss, generator, TRAIN_CASES)
    print_auxiliary_accuracy(model, heads, pixels, labels)
    train_phase("full", list(model.parameters()) + list(heads.parameters()), FULL_STEPS, FULL_LEARNING_RATE, full_loss, generator, TRAIN_CASES)
    print_auxiliary_accuracy(model, heads, pixels, labels)
    F.linear = PLAIN_LINEAR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # One thread: on a shared, busy 2-core machine two OpenMP threads made a step take 3.1 s against 0.4 s.
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--checkpoint", type=Path, default=Path(tempfile.gettempdir()) / "argus-demo-checkpoint.pt", help="where to save the trained weights before export")
    parser.add_argument("--skip-training", action="store_true", help="load --checkpoint instead of training, to redo the export and evaluation")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    random.seed(SEED)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    generator = torch.Generator().manual_seed(SEED)
    started = time.perf_counter()

    tokenizer = ByteLevelBpe.train(corpus() + [SYSTEM_PROMPT, USER_PROMPT.replace("<image>", "")], NUM_MERGES, SPECIAL_TOKENS)
    image_id = tokenizer.special_tokens["<image>"]
    end_ids = [tokenizer.special_tokens["<|end|>"], tokenizer.special_tokens["<|end_of_text|>"]]
    pad_id = tokenizer.special_tokens["<|pad|>"]
    prompt_text = f"<|begin_of_text|><|system|>\n{SYSTEM_PROMPT}<|end|>\n<|user|>\n{USER_PROMPT}<|end|>\n<|assistant|>\n"
    prompt_ids = torch.tensor([tokenizer.encode(prompt_text)])
    image_at = prompt_ids[0].tolist().index(image_id)
    id_to_token = {i: t for t, i in {**tokenizer.vocab, **tokenizer.special_tokens}.items()}
    print(f"tokenizer: {tokenizer.size} tokens, prompt {prompt_ids.shape[1]} tokens", flush=True)

    model = ArgusModel(demo_config(tokenizer.size))
    if args.skip_training:
        model.load_state_dict(torch.load(args.checkpoint, map_location="cpu")["state_dict"])
    else:
        train(model, rng, generator, tokenizer, prompt_ids, image_at, end_ids[0], pad_id, started)
        torch.save({"argus_config": model.config.to_dict(), "state_dict": model.state_dict()}, args.checkpoint)
        print(f"saved {args.checkpoint}", flush=True)
    model.eval()

    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        cases_dir = scratch_dir / "cases"
        cases_dir.mkdir()
        # A stream of its own, so the held-out phantoms are the same with or without --skip-training.
        cases = make_eval_set(np.random.default_rng(SEED + 1), cases_dir)
        with torch.no_grad():
            score(cases, torch_texts(model, tokenizer, cases, cases_dir, prompt_ids, image_id, end_ids, id_to_token), "held-out phantoms, PyTorch")

        package_dir = scratch_dir / "argus-demo"
        package_dir.mkdir()
        tokenizer.write(
            package_dir,
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<|begin_of_text|>",
                "eos_token": "<|end_of_text|>",
                "pad_token": "<|pad|>",
                "unk_token": None,
                "clean_up_tokenization_spaces": False,
                "model_max_length": model.config.text.max_position_embeddings,
                "chat_template": CHAT_TEMPLATE,
            },
        )
        spec = {
            "model": {**MODEL_SPEC, "device_uid": device_uid(uuid.UUID(int=random.getrandbits(128), version=4))},
            "preprocessing": PREPROCESSING,
            "special_tokens": {"image": "<image>", "bos": "<|begin_of_text|>", "eos": "<|end_of_text|>", "pad": "<|pad|>"},
            "end_tokens": ["<|end|>", "<|end_of_text|>"],
            "prompt": {"system": SYSTEM_PROMPT, "user": USER_PROMPT},
            "generation": {"max_new_tokens": MAX_NEW_TOKENS},
        }
        write_package(package_dir, model, spec, package_dir)

        side_accuracy = score(cases, onnx_texts(package_dir, cases_dir), "held-out phantoms, exported package on onnxruntime-node")
        if side_accuracy < MIN_SIDE_ACCURACY:
            print(f"side accuracy {side_accuracy:.1%} is below {MIN_SIDE_ACCURACY:.0%}; {PACKAGE_DIR} left unchanged", file=sys.stderr)
            sys.exit(1)
        shutil.rmtree(PACKAGE_DIR, ignore_errors=True)
        PACKAGE_DIR.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(package_dir, PACKAGE_DIR)

    total = sum(path.stat().st_size for path in PACKAGE_DIR.iterdir())
    print(f"wrote {PACKAGE_DIR} ({total / 1e6:.2f} MB) in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
