/**
 * Runs vision_encoder.onnx: pixel_values [1, 1, D, H, W] -> image_embeds [1, num_image_tokens, hidden].
 */
import type { InferenceSession } from 'onnxruntime-node';

import { ModelPackageError } from './errors.ts';
import type { PackageConfig } from './package-config.ts';
import type { PixelValues } from './preprocess.ts';
import { float32Output, runGraph, Tensor } from './sessions.ts';

/** Returns the image embeddings as num_image_tokens rows of text.hidden_size values. */
export async function runVision(session: InferenceSession, config: PackageConfig, pixelValues: PixelValues): Promise<Float32Array> {
  const expectedShape = [1, 1, ...config.preprocessing.input_size];
  if (pixelValues.shape.join() !== expectedShape.join()) {
    throw new RangeError(`pixel_values shape ${pixelValues.shape.join('x')} differs from ${expectedShape.join('x')}`);
  }

  const file = config.files.vision_encoder;
  const outputs = await runGraph(session, file, {
    [config.tensors.pixel_values]: new Tensor('float32', pixelValues.data, pixelValues.shape),
  });
  const { data } = float32Output(outputs, config.tensors.image_embeds, file);
  if (data.length !== config.num_image_tokens * config.text.hidden_size) {
    throw new ModelPackageError(file, `returned ${data.length} values, expected num_image_tokens x text.hidden_size`, {
      tensor: config.tensors.image_embeds,
    });
  }
  return data;
}
