"""Reads and writes .safetensors files with numpy, because the safetensors package is not installed here.

The format is an 8-byte little-endian header length, a JSON header that maps each tensor name to its
dtype, shape and [begin, end) byte offsets into the data that follows, and the raw little-endian data.
BF16 has no numpy dtype, so it is widened to float32 by putting its 16 bits in the high half.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import torch

_NUMPY_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Return every tensor of the file; BF16 tensors come back as float32, the others in their dtype."""
    data = path.read_bytes()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_size])
    body = memoryview(data)[8 + header_size :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = body[begin:end]
        if entry["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif entry["dtype"] in _NUMPY_DTYPES:
            array = np.frombuffer(raw, dtype=_NUMPY_DTYPES[entry["dtype"]])
        else:
            raise ValueError(f"{path}: tensor {name} has dtype {entry['dtype']}, which this reader does not support")
        tensors[name] = torch.from_numpy(array.copy().reshape(entry["shape"]))
    return tensors


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], bf16: bool = False) -> None:
    """Write float tensors as F32, or as BF16 (truncated, not rounded) when bf16 is set."""
    header = {}
    chunks = []
    offset = 0
    for name, tensor in tensors.items():
        array = tensor.detach().to(torch.float32).contiguous().numpy()
        if bf16:
            raw = (array.view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            raw = array.astype("<f4").tobytes()
        header[name] = {"dtype": "BF16" if bf16 else "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode("utf-8")
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))
