/**
 * Broken packages must fail in loadModel() with a ModelPackageError that names the file and tensor,
 * not on the first report. Each case copies the tiny package to a temporary folder and breaks one thing.
 */
import assert from 'node:assert/strict';
import { copyFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { loadModel } from '../../src/model/argus-model.ts';
import { ExecutionProviderError, ModelPackageError } from '../../src/model/errors.ts';
import { BROKEN_GRAPHS_DIR, TINY_PACKAGE_DIR } from './fixtures.ts';

type Config = Record<string, any>;

let scratch: string;
before(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'argus-package-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Copies the tiny package, applies `breakIt` to the copy and returns the copy's folder. */
async function brokenPackage(name: string, breakIt: (dir: string) => Promise<void>): Promise<string> {
  const dir = path.join(scratch, name);
  await cp(TINY_PACKAGE_DIR, dir, { recursive: true });
  await breakIt(dir);
  return dir;
}

async function editConfig(dir: string, edit: (config: Config) => void): Promise<void> {
  const file = path.join(dir, 'config.json');
  const config = JSON.parse(await readFile(file, 'utf8')) as Config;
  edit(config);
  await writeFile(file, JSON.stringify(config));
}

async function loadError(dir: string): Promise<ModelPackageError> {
  try {
    const model = await loadModel(dir);
    await model.release();
  } catch (error) {
    assert.ok(error instanceof ModelPackageError, `expected ModelPackageError, got ${String(error)}`);
    assert.equal(error.code, 'model_package_invalid');
    return error;
  }
  assert.fail('loadModel accepted a broken package');
}

describe('model package validation', () => {
  it('loads the intact package', async () => {
    const model = await loadModel(TINY_PACKAGE_DIR);
    assert.equal(model.identity.name, 'argus-tiny-random');
    assert.match(model.identity.deviceUid, /^2\.25\.\d+$/);
    await model.release();
  });

  it('names a missing graph file', async () => {
    const dir = await brokenPackage('missing-decoder', (d) => rm(path.join(d, 'decoder_model_merged.onnx')));
    const error = await loadError(dir);
    assert.equal(error.file, 'decoder_model_merged.onnx');
    assert.match(error.message, /missing/);
  });

  it('names a missing tokenizer file', async () => {
    const dir = await brokenPackage('missing-tokenizer', (d) => rm(path.join(d, 'tokenizer.json')));
    const error = await loadError(dir);
    assert.equal(error.file, 'tokenizer.json');
  });

  it('names a tensor that the graph lacks', async () => {
    const dir = await brokenPackage('renamed-past', (d) =>
      editConfig(d, (config) => {
        config.tensors.past_key = 'past.{layer}.key';
      }),
    );
    const error = await loadError(dir);
    assert.equal(error.file, 'decoder_model_merged.onnx');
    assert.equal(error.tensor, 'past.0.key');
    assert.match(error.message, /tensors\.past_key/);
  });

  it('names the layer a deeper config expects', async () => {
    const dir = await brokenPackage('extra-layer', (d) =>
      editConfig(d, (config) => {
        config.text.num_layers = 3;
      }),
    );
    const error = await loadError(dir);
    assert.equal(error.file, 'decoder_model_merged.onnx');
    assert.equal(error.tensor, 'past_key_values.2.key');
  });

  it('rejects a wrong hidden size', async () => {
    const dir = await brokenPackage('wrong-hidden', (d) =>
      editConfig(d, (config) => {
        config.text.hidden_size = 96;
        config.projector.output_size = 96;
      }),
    );
    const error = await loadError(dir);
    assert.equal(error.file, 'vision_encoder.onnx');
    assert.equal(error.tensor, 'image_embeds');
    assert.match(error.message, /dimension 2 is 64 in the graph, but config\.json text\.hidden_size gives 96/);
  });

  it('rejects a wrong input size', async () => {
    const dir = await brokenPackage('wrong-input-size', (d) =>
      editConfig(d, (config) => {
        config.preprocessing.input_size = [32, 64, 128];
        config.vision.patch_size = [4, 8, 16];
      }),
    );
    const error = await loadError(dir);
    assert.equal(error.file, 'vision_encoder.onnx');
    assert.equal(error.tensor, 'pixel_values');
    assert.match(error.message, /preprocessing\.input_size\[2\]/);
  });

  it('lists every invalid key', async () => {
    const dir = await brokenPackage('invalid-keys', (d) =>
      editConfig(d, (config) => {
        config.preprocessing.orientation = 'LLS';
        config.model.device_uid = '2.25.01';
        delete config.generation;
      }),
    );
    const error = await loadError(dir);
    assert.equal(error.file, 'config.json');
    assert.match(error.message, /preprocessing\.orientation/);
    assert.match(error.message, /model\.device_uid/);
    assert.match(error.message, /generation/);
  });

  it('rejects inconsistent image token count', async () => {
    const dir = await brokenPackage('token-count', (d) =>
      editConfig(d, (config) => {
        config.num_image_tokens = 128;
      }),
    );
    const error = await loadError(dir);
    assert.equal(error.file, 'config.json');
    assert.match(error.message, /num_image_tokens=128/);
  });

  it('rejects a special token id the tokenizer disagrees with', async () => {
    const dir = await brokenPackage('image-token-id', (d) =>
      editConfig(d, (config) => {
        config.special_tokens.image.id = 3;
      }),
    );
    const error = await loadError(dir);
    assert.equal(error.file, 'tokenizer.json');
    assert.match(error.message, /special_tokens\.image\.id is 3/);
  });

  it('rejects a chat template without the image', async () => {
    const dir = await brokenPackage('template-drops-image', async (d) => {
      const file = path.join(d, 'tokenizer_config.json');
      const tokenizerConfig = JSON.parse(await readFile(file, 'utf8')) as Config;
      tokenizerConfig.chat_template = '{{ bos_token }}<|assistant|>\n';
      await writeFile(file, JSON.stringify(tokenizerConfig));
    });
    const error = await loadError(dir);
    assert.equal(error.file, 'tokenizer_config.json');
    assert.match(error.message, /image token \d+ 0 times/);
  });

  it('rejects a wrong input element type', async () => {
    const dir = await brokenPackage('int32-input-ids', (d) =>
      copyFile(path.join(BROKEN_GRAPHS_DIR, 'embed_tokens.int32-input-ids.onnx'), path.join(d, 'embed_tokens.onnx')),
    );
    const error = await loadError(dir);
    assert.equal(error.file, 'embed_tokens.onnx');
    assert.equal(error.tensor, 'input_ids');
    assert.match(error.message, /element type int32, expected int64/);
  });

  it('rejects a wrong vocabulary size', async () => {
    const dir = await brokenPackage('wrong-vocab', (d) =>
      editConfig(d, (config) => {
        config.text.vocab_size += 8;
      }),
    );
    const error = await loadError(dir);
    assert.equal(error.file, 'decoder_model_merged.onnx');
    assert.equal(error.tensor, 'logits');
    assert.match(error.message, /dimension 2 is \d+ in the graph, but config\.json text\.vocab_size gives \d+/);
  });

  it('rejects a wrong key/value head count', async () => {
    const dir = await brokenPackage('wrong-kv-heads', (d) =>
      editConfig(d, (config) => {
        config.text.num_key_value_heads = 4;
      }),
    );
    const error = await loadError(dir);
    assert.equal(error.file, 'decoder_model_merged.onnx');
    assert.equal(error.tensor, 'past_key_values.0.key');
    assert.match(error.message, /text\.num_key_value_heads gives 4/);
  });

  it('rejects a tokenizer the library cannot load', async () => {
    const dir = await brokenPackage('tokenizer-unknown-model', async (d) => {
      const file = path.join(d, 'tokenizer.json');
      const tokenizer = JSON.parse(await readFile(file, 'utf8')) as Config;
      tokenizer.model = { type: 'NoSuchModel' };
      await writeFile(file, JSON.stringify(tokenizer));
    });
    const error = await loadError(dir);
    assert.equal(error.file, 'tokenizer.json');
    assert.match(error.message, /@huggingface\/tokenizers/);
  });

  it('rejects a truncated tokenizer file', async () => {
    const dir = await brokenPackage('tokenizer-truncated', async (d) => {
      const file = path.join(d, 'tokenizer.json');
      const text = await readFile(file, 'utf8');
      await writeFile(file, text.slice(0, text.length / 2));
    });
    const error = await loadError(dir);
    assert.equal(error.file, 'tokenizer.json');
    assert.match(error.message, /not valid JSON/);
  });

  it('rejects a tokenizer without a special token', async () => {
    const dir = await brokenPackage('tokenizer-no-image-token', async (d) => {
      const file = path.join(d, 'tokenizer.json');
      const tokenizer = JSON.parse(await readFile(file, 'utf8')) as Config;
      tokenizer.added_tokens = tokenizer.added_tokens.filter((token: Config) => token.content !== '<image>');
      await writeFile(file, JSON.stringify(tokenizer));
    });
    const error = await loadError(dir);
    assert.equal(error.file, 'tokenizer.json');
    assert.match(error.message, /token "<image>" has id none/);
  });

  it('rejects invalid generation settings', async () => {
    const dir = await brokenPackage('generation-settings', (d) =>
      editConfig(d, (config) => {
        config.generation.num_beams = 0;
        config.generation.no_repeat_ngram_size = -1;
      }),
    );
    const error = await loadError(dir);
    assert.equal(error.file, 'config.json');
    assert.match(error.message, /generation\.num_beams/);
    assert.match(error.message, /generation\.no_repeat_ngram_size/);
  });

  it('rejects a graph that is not ONNX', async () => {
    const dir = await brokenPackage('garbage-graph', (d) => writeFile(path.join(d, 'embed_tokens.onnx'), 'not a model'));
    const error = await loadError(dir);
    assert.equal(error.file, 'embed_tokens.onnx');
  });
});

describe('execution provider', () => {
  // .npmrc skips onnxruntime-node's CUDA download, so this build has no CUDA provider on any host.
  it('reports CUDA as unavailable', async () => {
    await assert.rejects(loadModel(TINY_PACKAGE_DIR, { executionProvider: 'cuda' }), (error: unknown) => {
      assert.ok(error instanceof ExecutionProviderError, `got ${String(error)}`);
      assert.equal(error.code, 'execution_provider_unavailable');
      assert.equal(error.provider, 'cuda');
      assert.match(error.message, /--onnxruntime-node-install=cuda12/);
      assert.match(error.message, /cuDNN 9/);
      return true;
    });
  });
});
