/**
 * config.json of a model package: the zod schema and the checks that tie its numbers together.
 *
 * Keys keep the file's snake_case so that an error names the key exactly as it is spelled in the file.
 * Everything the runtime needs (sizes, special token ids, tensor names, prompt) comes from here, never
 * from code. docs/model-packages.md describes each key.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

import { ModelPackageError } from './errors.ts';

export const CONFIG_FILE = 'config.json';
export const PACKAGE_FORMAT = 'argus-model-package';
export const SUPPORTED_FORMAT_VERSION = 1;

const positiveInt = z.number().int().positive();
const tokenId = z.number().int().nonnegative();
const triple = <T extends z.ZodType>(item: T) => z.tuple([item, item, item]);
// One letter from each of the pairs L/R, P/A and S/I, in any order (nibabel's axis codes).
const orientationCode = z
  .string()
  .regex(/^[LRPASI]{3}$/)
  .refine((code) => ['LR', 'PA', 'SI'].every((pair) => [...code].filter((c) => pair.includes(c)).length === 1), {
    message: 'must name each patient axis once, e.g. "LPS" or "RAS"',
  });

const scalingSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('window_linear'), output_range: z.tuple([z.number(), z.number()]) }),
  z.object({ kind: z.literal('standardize'), mean: z.number(), std: z.number().positive() }),
]);

export const preprocessingSchema = z.object({
  /** Model input grid [D, H, W] in voxels. */
  input_size: triple(positiveInt),
  /** Voxel spacing in mm [D, H, W] to resample to before a centred crop/pad; null resamples straight to input_size. */
  target_spacing: triple(z.number().positive()).nullable(),
  /** "native" keeps the volume's (i, j, k) as (W, H, D); a code such as "LPS" reorients to it. */
  orientation: z.union([z.literal('native'), orientationCode]),
  /** Only trilinear, as torch's F.interpolate(mode="trilinear", align_corners=False). */
  resampling: z.literal('trilinear'),
  /** HU range [low, high] kept; values outside are clamped. */
  hu_window: z.tuple([z.number(), z.number()]).refine(([low, high]) => low < high, { message: 'low must be below high' }),
  scaling: scalingSchema,
  /** HU written where the resampled volume does not cover the input grid. */
  pad_value_hu: z.number(),
});

const specialToken = z.object({ content: z.string().min(1), id: tokenId });

/** Decoding defaults of the package; decode.ts describes each rule. The service configuration may override them. */
export const generationSchema = z.object({
  max_new_tokens: positiveInt,
  /** Beam width. 1 decodes greedily, and more runs beam search with that many beams. */
  num_beams: positiveInt.max(64).default(1),
  /** Repetition penalty. 1 turns it off, and above 1 it discourages tokens already generated. */
  repetition_penalty: z.number().positive().default(1),
  /** No-repeat n-gram size. 0 turns it off, and n bans any n-gram of generated tokens from occurring twice. */
  no_repeat_ngram_size: z.number().int().nonnegative().default(0),
  /** Exponent of the length that divides a finished beam's score. 0 ranks by the plain sum of log-probabilities. */
  length_penalty: z.number().default(1),
});

export const packageConfigSchema = z.object({
  format: z.literal(PACKAGE_FORMAT),
  format_version: z.literal(SUPPORTED_FORMAT_VERSION),
  model: z.object({
    name: z.string().min(1),
    version: z.string().min(1),
    /** DICOM UID of the model as a device: digits and dots, at most 64 characters (PS3.5 9.1). */
    device_uid: z
      .string()
      .max(64)
      .regex(/^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$/),
    description: z.string().default(''),
    /**
     * True only for a model validated for clinical use. Otherwise (the default) every report, SR and
     * ORU^R01 that the service sends is labelled as not for clinical use.
     */
    clinical_use: z.boolean().default(false),
  }),
  files: z.object({
    vision_encoder: z.string().min(1),
    embed_tokens: z.string().min(1),
    decoder: z.string().min(1),
    tokenizer: z.string().min(1),
    tokenizer_config: z.string().min(1),
  }),
  /** Graph tensor names; per-layer names contain "{layer}". */
  tensors: z.object({
    pixel_values: z.string().min(1),
    image_embeds: z.string().min(1),
    input_ids: z.string().min(1),
    inputs_embeds: z.string().min(1),
    attention_mask: z.string().min(1),
    position_ids: z.string().min(1),
    logits: z.string().min(1),
    past_key: z.string().includes('{layer}'),
    past_value: z.string().includes('{layer}'),
    present_key: z.string().includes('{layer}'),
    present_value: z.string().includes('{layer}'),
  }),
  preprocessing: preprocessingSchema,
  vision: z.object({
    patch_size: triple(positiveInt),
    hidden_size: positiveInt,
    num_layers: positiveInt,
    num_heads: positiveInt,
    intermediate_size: positiveInt,
    layer_norm_eps: z.number().positive(),
  }),
  pixel_shuffle: z.object({ factor: triple(positiveInt) }),
  projector: z.object({
    /** Informational: the connector is inside vision_encoder.onnx. Packages written before this key were all "mlp2x_gelu". */
    type: z.enum(['mlp2x_gelu', 'linear']).default('mlp2x_gelu'),
    input_size: positiveInt,
    hidden_size: positiveInt,
    output_size: positiveInt,
  }),
  text: z.object({
    vocab_size: positiveInt,
    hidden_size: positiveInt,
    num_layers: positiveInt,
    num_attention_heads: positiveInt,
    num_key_value_heads: positiveInt,
    head_dim: positiveInt,
    intermediate_size: positiveInt,
    rope_theta: z.number().positive(),
    rms_norm_eps: z.number().positive(),
    max_position_embeddings: positiveInt,
    /** Informational: Hugging Face's rope_scaling dict, already applied inside decoder_model_merged.onnx. */
    rope_scaling: z.record(z.string(), z.unknown()).nullable().default(null),
  }),
  num_image_tokens: positiveInt,
  special_tokens: z.object({ image: specialToken, bos: specialToken, eos: specialToken, pad: specialToken }),
  end_token_ids: z.array(tokenId).min(1),
  prompt: z.object({ system: z.string(), user: z.string().min(1) }),
  generation: generationSchema,
});

export type PackageConfig = z.infer<typeof packageConfigSchema>;
export type PreprocessingConfig = z.infer<typeof preprocessingSchema>;
export type GenerationConfig = z.infer<typeof generationSchema>;

/** Substitutes the layer index into a per-layer tensor name such as "past_key_values.{layer}.key". */
export function layerTensorName(template: string, layer: number): string {
  return template.replaceAll('{layer}', String(layer));
}

/** Reads and validates config.json; one ModelPackageError lists every invalid key. */
export async function readPackageConfig(packageDir: string): Promise<PackageConfig> {
  const file = path.join(packageDir, CONFIG_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ModelPackageError(CONFIG_FILE, 'missing or not valid JSON', { cause: error });
  }

  const parsed = packageConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new ModelPackageError(CONFIG_FILE, `invalid keys: ${problems.join('; ')}`, { cause: parsed.error });
  }

  const inconsistencies = findInconsistencies(parsed.data);
  if (inconsistencies.length > 0) {
    throw new ModelPackageError(CONFIG_FILE, `inconsistent sizes: ${inconsistencies.join('; ')}`);
  }
  return parsed.data;
}

/** Cross-key checks that a schema cannot express. Returns one message per problem. */
export function findInconsistencies(config: PackageConfig): string[] {
  const problems: string[] = [];
  const { preprocessing, vision, pixel_shuffle: shuffle, projector, text } = config;

  let tokens = 1;
  for (let axis = 0; axis < 3; axis++) {
    const size = preprocessing.input_size[axis]!;
    const patch = vision.patch_size[axis]!;
    const factor = shuffle.factor[axis]!;
    if (size % patch !== 0) {
      problems.push(`preprocessing.input_size[${axis}]=${size} is not a multiple of vision.patch_size[${axis}]=${patch}`);
    } else if ((size / patch) % factor !== 0) {
      problems.push(`patch grid ${size / patch} on axis ${axis} is not a multiple of pixel_shuffle.factor[${axis}]=${factor}`);
    }
    tokens *= Math.floor(size / patch / factor);
  }
  if (tokens !== config.num_image_tokens) {
    problems.push(`num_image_tokens=${config.num_image_tokens} but input_size, patch_size and factor give ${tokens}`);
  }

  const shuffledWidth = vision.hidden_size * shuffle.factor[0] * shuffle.factor[1] * shuffle.factor[2];
  if (projector.input_size !== shuffledWidth) {
    problems.push(`projector.input_size=${projector.input_size} but vision.hidden_size x pixel_shuffle.factor gives ${shuffledWidth}`);
  }
  if (projector.output_size !== text.hidden_size) {
    problems.push(`projector.output_size=${projector.output_size} differs from text.hidden_size=${text.hidden_size}`);
  }
  if (text.num_attention_heads % text.num_key_value_heads !== 0) {
    problems.push(`text.num_attention_heads=${text.num_attention_heads} is not a multiple of num_key_value_heads=${text.num_key_value_heads}`);
  }

  for (const [role, token] of Object.entries(config.special_tokens)) {
    if (token.id >= text.vocab_size) problems.push(`special_tokens.${role}.id=${token.id} is not below text.vocab_size=${text.vocab_size}`);
  }
  for (const id of config.end_token_ids) {
    if (id >= text.vocab_size) problems.push(`end_token_ids contains ${id}, not below text.vocab_size=${text.vocab_size}`);
  }
  const placeholders = config.prompt.user.split(config.special_tokens.image.content).length - 1;
  if (placeholders !== 1) {
    problems.push(`prompt.user contains the image token "${config.special_tokens.image.content}" ${placeholders} times, expected once`);
  }
  return problems;
}
