/**
 * Runs a model package on HU volumes through the service's own model code (TypeScript preprocessing,
 * onnxruntime-node) and writes each generated report text. train_demo.py calls it to score the exported
 * demo package on held-out phantoms.
 *
 * Usage: node --import tsx tools/model/eval_demo.ts <package dir> <cases.json> <output.json>
 *
 * cases.json is a list of { name, file, dimensions, spacing, origin, direction }, where file contains
 * little-endian float32 HU values in CtVolume order (i fastest) next to cases.json. The output maps each
 * name to its report text.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { loadModel } from '../../src/model/index.ts';
import type { CtVolume, Vector3 } from '../../src/volume/ct-volume.ts';

interface EvalCase {
  name: string;
  file: string;
  dimensions: Vector3;
  spacing: Vector3;
  origin: Vector3;
  direction: [Vector3, Vector3, Vector3];
}

async function main(): Promise<void> {
  const [packageDir, casesFile, outputFile] = process.argv.slice(2);
  if (packageDir === undefined || casesFile === undefined || outputFile === undefined) {
    throw new Error('usage: eval_demo.ts <package dir> <cases.json> <output.json>');
  }
  const cases = JSON.parse(await readFile(casesFile, 'utf8')) as EvalCase[];
  const model = await loadModel(packageDir);
  const texts: Record<string, string> = {};
  try {
    for (const item of cases) {
      const bytes = await readFile(path.join(path.dirname(casesFile), item.file));
      const voxels = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      const volume: CtVolume = { voxels, dimensions: item.dimensions, spacing: item.spacing, origin: item.origin, direction: item.direction };
      texts[item.name] = (await model.generate(volume)).text;
    }
  } finally {
    await model.release();
  }
  await writeFile(outputFile, `${JSON.stringify(texts, null, 1)}\n`);
}

await main();
