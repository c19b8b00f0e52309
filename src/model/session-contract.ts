/**
 * The tensors each graph of a package must have, derived from config.json, and the check of a loaded
 * onnxruntime session against them.
 *
 * A package whose config.json disagrees with its graphs would otherwise fail on the first report with
 * an onnxruntime shape error deep inside a run, or worse, run with a wrong hidden size. Checking names,
 * element types and every fixed dimension at load turns that into one error that names the file, the
 * tensor and the config key.
 */
import type { InferenceSession } from 'onnxruntime-node';

import { ModelPackageError } from './errors.ts';
import { layerTensorName, type PackageConfig } from './package-config.ts';

/** One dimension: a fixed size and where it comes from, or null where any size (or a symbol) is fine. */
interface ExpectedDimension {
  size: number | null;
  source?: string;
}

interface ExpectedTensor {
  name: string;
  /** The config.json key that names the tensor, quoted in errors. */
  nameKey: string;
  type: 'float32' | 'int64';
  dims: ExpectedDimension[];
}

export interface GraphContract {
  file: string;
  inputs: ExpectedTensor[];
  outputs: ExpectedTensor[];
}

/** The parts of an InferenceSession that the check reads. */
export type SessionSignature = Pick<InferenceSession, 'inputNames' | 'outputNames' | 'inputMetadata' | 'outputMetadata'>;

const ANY: ExpectedDimension = { size: null };
const fixed = (size: number, key: string): ExpectedDimension => ({ size, source: `config.json ${key}` });
const ONE_CHANNEL: ExpectedDimension = { size: 1, source: 'the package contract (one channel)' };

export function visionContract(config: PackageConfig): GraphContract {
  const [depth, height, width] = config.preprocessing.input_size;
  return {
    file: config.files.vision_encoder,
    inputs: [
      {
        name: config.tensors.pixel_values,
        nameKey: 'tensors.pixel_values',
        type: 'float32',
        dims: [ANY, ONE_CHANNEL, fixed(depth, 'preprocessing.input_size[0]'), fixed(height, 'preprocessing.input_size[1]'), fixed(width, 'preprocessing.input_size[2]')],
      },
    ],
    outputs: [
      {
        name: config.tensors.image_embeds,
        nameKey: 'tensors.image_embeds',
        type: 'float32',
        dims: [ANY, fixed(config.num_image_tokens, 'num_image_tokens'), fixed(config.text.hidden_size, 'text.hidden_size')],
      },
    ],
  };
}

export function embedTokensContract(config: PackageConfig): GraphContract {
  return {
    file: config.files.embed_tokens,
    inputs: [{ name: config.tensors.input_ids, nameKey: 'tensors.input_ids', type: 'int64', dims: [ANY, ANY] }],
    outputs: [
      {
        name: config.tensors.inputs_embeds,
        nameKey: 'tensors.inputs_embeds',
        type: 'float32',
        dims: [ANY, ANY, fixed(config.text.hidden_size, 'text.hidden_size')],
      },
    ],
  };
}

export function decoderContract(config: PackageConfig): GraphContract {
  const { text, tensors } = config;
  const cacheDims = [ANY, fixed(text.num_key_value_heads, 'text.num_key_value_heads'), ANY, fixed(text.head_dim, 'text.head_dim')];
  const inputs: ExpectedTensor[] = [
    { name: tensors.inputs_embeds, nameKey: 'tensors.inputs_embeds', type: 'float32', dims: [ANY, ANY, fixed(text.hidden_size, 'text.hidden_size')] },
    { name: tensors.attention_mask, nameKey: 'tensors.attention_mask', type: 'int64', dims: [ANY, ANY] },
    { name: tensors.position_ids, nameKey: 'tensors.position_ids', type: 'int64', dims: [ANY, ANY] },
  ];
  const outputs: ExpectedTensor[] = [
    { name: tensors.logits, nameKey: 'tensors.logits', type: 'float32', dims: [ANY, ANY, fixed(text.vocab_size, 'text.vocab_size')] },
  ];
  for (let layer = 0; layer < text.num_layers; layer++) {
    for (const kind of ['key', 'value'] as const) {
      inputs.push({ name: layerTensorName(tensors[`past_${kind}`], layer), nameKey: `tensors.past_${kind}`, type: 'float32', dims: cacheDims });
      outputs.push({ name: layerTensorName(tensors[`present_${kind}`], layer), nameKey: `tensors.present_${kind}`, type: 'float32', dims: cacheDims });
    }
  }
  return { file: config.files.decoder, inputs, outputs };
}

/**
 * Throws ModelPackageError unless the session has every expected input and output with the expected
 * element type and fixed dimensions, and no input that the runtime would not feed.
 */
export function checkSession(session: SessionSignature, contract: GraphContract): void {
  const inputs = new Map(session.inputMetadata.map((meta) => [meta.name, meta]));
  const outputs = new Map(session.outputMetadata.map((meta) => [meta.name, meta]));

  for (const [kind, expectedList, actual, names] of [
    ['input', contract.inputs, inputs, session.inputNames],
    ['output', contract.outputs, outputs, session.outputNames],
  ] as const) {
    for (const expected of expectedList) {
      const meta = actual.get(expected.name);
      if (meta === undefined) {
        throw new ModelPackageError(
          contract.file,
          `${kind} named by config.json ${expected.nameKey} is not in the graph (graph ${kind}s: ${names.join(', ')})`,
          { tensor: expected.name },
        );
      }
      checkMetadata(contract.file, kind, meta, expected);
    }
  }

  const fed = new Set(contract.inputs.map((input) => input.name));
  for (const name of session.inputNames) {
    if (!fed.has(name)) {
      throw new ModelPackageError(contract.file, 'graph input is not part of the package contract, so the runtime cannot feed it', { tensor: name });
    }
  }
}

function checkMetadata(file: string, kind: string, meta: InferenceSession.ValueMetadata, expected: ExpectedTensor): void {
  if (!meta.isTensor) {
    throw new ModelPackageError(file, `${kind} is not a tensor`, { tensor: expected.name });
  }
  if (meta.type !== expected.type) {
    throw new ModelPackageError(file, `${kind} has element type ${meta.type}, expected ${expected.type}`, { tensor: expected.name });
  }
  // An empty shape means the graph does not declare one; onnxruntime then checks shapes at run time.
  if (meta.shape.length === 0) return;
  if (meta.shape.length !== expected.dims.length) {
    throw new ModelPackageError(file, `${kind} has rank ${meta.shape.length}, expected ${expected.dims.length}`, { tensor: expected.name });
  }
  expected.dims.forEach((dim, axis) => {
    const actual = meta.shape[axis];
    if (dim.size !== null && typeof actual === 'number' && actual !== dim.size) {
      throw new ModelPackageError(
        file,
        `${kind} dimension ${axis} is ${actual} in the graph, but ${dim.source} gives ${dim.size}`,
        { tensor: expected.name },
      );
    }
  });
}
