"""Exports an ArgusModel to the three ONNX graphs of a model package.

Graph and tensor names follow the optimum / transformers.js split for vision-language models:
vision_encoder.onnx, embed_tokens.onnx and decoder_model_merged.onnx with past_key_values.{i}.key/value
inputs and present.{i}.key/value outputs. The decoder has a single branch: the first step passes
zero-length past tensors, so no use_cache_branch input is needed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from argus_model import ArgusModel

# torch 1.13 exports up to opset 17; opset 17 also has LayerNormalization as one node.
OPSET = 17
# A protobuf file cannot exceed 2 GiB, so larger graphs keep weights in <name>.onnx_data. The margin
# leaves room for the graph structure itself.
EXTERNAL_DATA_THRESHOLD_BYTES = 1_800_000_000

# Float32 initializers with fewer elements (norm weights, biases, scalars) stay float32 under --fp16:
# they add little to the file, and LayerNorm and RMSNorm weights are where half precision hurts most.
FP16_MIN_ELEMENTS = 1024


@dataclass
class ExportOptions:
    """Weight storage settings of the exported graphs.

    fp16 stores large weights as float16 behind a Cast to float32, so graph inputs, outputs and the
    arithmetic stay float32 and the package contract does not change. external_data is "auto" (only
    graphs over EXTERNAL_DATA_THRESHOLD_BYTES), "always" or "never".
    """

    fp16: bool = False
    external_data: str = "auto"


TENSOR_NAMES = {
    "pixel_values": "pixel_values",
    "image_embeds": "image_embeds",
    "input_ids": "input_ids",
    "inputs_embeds": "inputs_embeds",
    "attention_mask": "attention_mask",
    "position_ids": "position_ids",
    "logits": "logits",
    "past_key": "past_key_values.{layer}.key",
    "past_value": "past_key_values.{layer}.value",
    "present_key": "present.{layer}.key",
    "present_value": "present.{layer}.value",
}


def layer_name(template: str, layer: int) -> str:
    return template.replace("{layer}", str(layer))


class _EmbedTokens(nn.Module):
    def __init__(self, model: ArgusModel) -> None:
        super().__init__()
        self.embed = model.embed_tokens

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embed(input_ids)


class _DecoderStep(nn.Module):
    """Flattens the cache into positional tensors, as torch.onnx.export needs."""

    def __init__(self, model: ArgusModel) -> None:
        super().__init__()
        self.decoder = model.decoder

    def forward(self, inputs_embeds, attention_mask, position_ids, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(len(past_flat) // 2)]
        logits, present = self.decoder(inputs_embeds, attention_mask, position_ids, past)
        flat = [tensor for pair in present for tensor in pair]
        return (logits, *flat)


def export_vision(model: ArgusModel, path: Path, options: ExportOptions) -> None:
    d, h, w = model.config.input_size
    example = torch.zeros(1, 1, d, h, w)
    _export(
        model.vision,
        (example,),
        path,
        inputs=[TENSOR_NAMES["pixel_values"]],
        outputs=[TENSOR_NAMES["image_embeds"]],
        dynamic_axes={TENSOR_NAMES["pixel_values"]: {0: "batch"}, TENSOR_NAMES["image_embeds"]: {0: "batch"}},
        options=options,
    )
    # Shape inference loses the token count behind the pixel shuffle's reshapes. Writing it into the
    # output type lets a runtime check num_image_tokens against the graph.
    graph = onnx.load(str(path), load_external_data=False)
    output = next(o for o in graph.graph.output if o.name == TENSOR_NAMES["image_embeds"])
    output.type.tensor_type.shape.dim[1].dim_value = model.config.num_image_tokens
    # Without loading the external data, saving rewrites only the graph and keeps <name>.onnx_data as is.
    onnx.save_model(graph, str(path))


def export_embed_tokens(model: ArgusModel, path: Path, options: ExportOptions) -> None:
    example = torch.zeros(1, 3, dtype=torch.int64)
    axes = {0: "batch", 1: "sequence"}
    _export(
        _EmbedTokens(model),
        (example,),
        path,
        inputs=[TENSOR_NAMES["input_ids"]],
        outputs=[TENSOR_NAMES["inputs_embeds"]],
        dynamic_axes={TENSOR_NAMES["input_ids"]: axes, TENSOR_NAMES["inputs_embeds"]: axes},
        options=options,
    )


def export_decoder(model: ArgusModel, path: Path, options: ExportOptions) -> None:
    text = model.config.text
    # Non-zero example lengths, because the tracer would bake a zero-length past into the graph.
    past_len, seq = 2, 3
    embeds = torch.zeros(1, seq, text.hidden_size)
    mask = torch.ones(1, past_len + seq, dtype=torch.int64)
    positions = torch.arange(past_len, past_len + seq, dtype=torch.int64).unsqueeze(0)
    past_shape = (1, text.num_key_value_heads, past_len, text.head_dim)
    past = [torch.zeros(past_shape) for _ in range(2 * text.num_layers)]

    inputs = [TENSOR_NAMES["inputs_embeds"], TENSOR_NAMES["attention_mask"], TENSOR_NAMES["position_ids"]]
    outputs = [TENSOR_NAMES["logits"]]
    dynamic_axes = {
        TENSOR_NAMES["inputs_embeds"]: {0: "batch", 1: "sequence"},
        TENSOR_NAMES["attention_mask"]: {0: "batch", 1: "total_sequence"},
        TENSOR_NAMES["position_ids"]: {0: "batch", 1: "sequence"},
        TENSOR_NAMES["logits"]: {0: "batch", 1: "sequence"},
    }
    for layer in range(text.num_layers):
        for kind in ("key", "value"):
            past_name = layer_name(TENSOR_NAMES[f"past_{kind}"], layer)
            present_name = layer_name(TENSOR_NAMES[f"present_{kind}"], layer)
            inputs.append(past_name)
            outputs.append(present_name)
            dynamic_axes[past_name] = {0: "batch", 2: "past_sequence"}
            dynamic_axes[present_name] = {0: "batch", 2: "total_sequence"}
    _export(_DecoderStep(model), (embeds, mask, positions, *past), path, inputs, outputs, dynamic_axes, options)


def store_weights_as_fp16(graph: onnx.ModelProto) -> int:
    """Replace each large float32 initializer by a float16 one and a Cast back to float32; returns the count.

    onnxruntime folds the Casts when it loads the graph, so this halves the file but not the memory
    the weights take at run time.
    """
    converted = 0
    casts = []
    for initializer in list(graph.graph.initializer):
        if initializer.data_type != onnx.TensorProto.FLOAT or np.prod(initializer.dims) < FP16_MIN_ELEMENTS:
            continue
        half_name = f"{initializer.name}.fp16"
        half = numpy_helper.from_array(numpy_helper.to_array(initializer).astype(np.float16), half_name)
        graph.graph.initializer.remove(initializer)
        graph.graph.initializer.append(half)
        casts.append(onnx.helper.make_node("Cast", [half_name], [initializer.name], to=onnx.TensorProto.FLOAT, name=f"{half_name}.cast"))
        converted += 1
    # Nodes must be in topological order, so the Casts go first.
    nodes = casts + list(graph.graph.node)
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    return converted


def _initializer_bytes(graph: onnx.ModelProto) -> int:
    """Size of the weights, computed from shapes because serializing a graph over 2 GiB fails."""
    total = 0
    for initializer in graph.graph.initializer:
        # Debian's onnx 1.12 has no onnx.helper.tensor_dtype_to_np_dtype, so this uses the older table.
        itemsize = np.dtype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[initializer.data_type]).itemsize
        total += int(np.prod(initializer.dims, dtype=np.int64)) * itemsize
    return total


def _export(
    module: nn.Module,
    args: tuple,
    path: Path,
    inputs: list[str],
    outputs: list[str],
    dynamic_axes,
    options: ExportOptions,
) -> None:
    module.eval()
    with tempfile.TemporaryDirectory() as scratch:
        # torch writes graphs over 2 GiB as one file per weight; export to scratch and consolidate.
        scratch_path = os.path.join(scratch, path.name)
        with torch.no_grad():
            torch.onnx.export(
                module,
                args,
                scratch_path,
                input_names=inputs,
                output_names=outputs,
                dynamic_axes=dynamic_axes,
                opset_version=OPSET,
                do_constant_folding=True,
            )
        graph = onnx.load(scratch_path, load_external_data=True)
        if options.fp16:
            store_weights_as_fp16(graph)
        if options.external_data == "auto":
            external = _initializer_bytes(graph) > EXTERNAL_DATA_THRESHOLD_BYTES
        else:
            external = options.external_data == "always"
        data_name = path.name + "_data"
        if (path.parent / data_name).exists():
            (path.parent / data_name).unlink()
        onnx.save_model(graph, str(path), save_as_external_data=external, all_tensors_to_one_file=True, location=data_name)
    onnx.checker.check_model(str(path))


def export_graphs(model: ArgusModel, directory: Path, files: dict[str, str], options: ExportOptions | None = None) -> None:
    options = options or ExportOptions()
    if options.external_data not in ("auto", "always", "never"):
        raise ValueError(f"external_data must be auto, always or never, not {options.external_data!r}")
    export_vision(model, directory / files["vision_encoder"], options)
    export_embed_tokens(model, directory / files["embed_tokens"], options)
    export_decoder(model, directory / files["decoder"], options)
