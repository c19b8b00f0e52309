#!/usr/bin/python3
"""PyTorch eager side of bench/model.ts: greedy decoding of a checkpoint with the KV cache.

It decodes the prompt ids and pixel_values that the benchmark passes in, with the same budget and end
tokens, so both sides generate the same tokens. The loop is plain greedy decoding (embedding, decoder
step, argmax), without the bookkeeping of generation.py. The time covers embedding the prompt, the
image splice, the prompt's decoder step and the loop, like the TypeScript side, while the vision
encoder runs before the clock starts. Prints one JSON line with the median tokens/s and the tokens.

Usage: /usr/bin/python3 tools/model/bench_torch.py --checkpoint ckpt.pt --pixel-values in.f32 \\
           --input-ids ids.json --image-token-id N --end-token-ids 1,2 --max-new-tokens N \\
           [--runs 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from argus_model import ArgusModel
from check_export import load_checkpoint


@torch.no_grad()
def decode_greedy(model: ArgusModel, embeds: torch.Tensor, end_token_ids: set[int], max_new_tokens: int) -> list[int]:
    seq = embeds.shape[1]
    budget = min(max_new_tokens, model.config.text.max_position_embeddings - seq)
    mask = torch.ones(1, seq, dtype=torch.int64)
    positions = torch.arange(seq, dtype=torch.int64).unsqueeze(0)
    logits, cache = model.decoder(embeds, mask, positions, model.decoder.empty_cache(1))
    tokens: list[int] = []
    while True:
        token = int(logits[0, -1].argmax())
        tokens.append(token)
        if token in end_token_ids or len(tokens) >= budget:
            return tokens
        mask = torch.ones(1, seq + 1, dtype=torch.int64)
        positions = torch.tensor([[seq]], dtype=torch.int64)
        logits, cache = model.decoder(model.embed_tokens(torch.tensor([[token]])), mask, positions, cache)
        seq += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--pixel-values", type=Path, required=True, help="raw little-endian float32 [1, 1, D, H, W]")
    parser.add_argument("--input-ids", type=Path, required=True, help="JSON list of the prompt's token ids")
    parser.add_argument("--image-token-id", type=int, required=True)
    parser.add_argument("--end-token-ids", required=True, help="comma-separated ids that stop decoding")
    parser.add_argument("--max-new-tokens", type=int, required=True)
    parser.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up run")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model = load_checkpoint(args.checkpoint)
    shape = (1, 1, *model.config.input_size)
    pixel_values = torch.from_numpy(np.fromfile(args.pixel_values, dtype="<f4").reshape(shape))
    input_ids = torch.tensor([json.loads(args.input_ids.read_text(encoding="utf-8"))])
    end_token_ids = {int(value) for value in args.end_token_ids.split(",") if value}

    with torch.no_grad():
        image_embeds = model.vision(pixel_values)
    rates = []
    tokens: list[int] = []
    for run in range(args.runs + 1):
        started = time.perf_counter()
        with torch.no_grad():
            embeds = model.splice_image(input_ids, image_embeds, args.image_token_id)
        tokens = decode_greedy(model, embeds, end_token_ids, args.max_new_tokens)
        elapsed = time.perf_counter() - started
        if run > 0:
            rates.append(len(tokens) / elapsed)
    print(json.dumps({"tokens_per_second": statistics.median(rates), "tokens": tokens}))


if __name__ == "__main__":
    main()
