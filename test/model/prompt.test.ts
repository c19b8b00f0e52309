/**
 * The prompt as the runtime builds it (chat template through @huggingface/jinja, @huggingface/tokenizers)
 * against the Python reference, which formats the same text in plain code and encodes it with the BPE
 * encoder of tools/model/bpe_tokenizer.py.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { readPackageConfig } from '../../src/model/package-config.ts';
import { PackageTokenizer } from '../../src/model/tokenizer.ts';
import { generationReference, TINY_PACKAGE_DIR } from './fixtures.ts';

describe('prompt encoding', () => {
  const reference = generationReference();

  it('renders the chat template as the reference', async () => {
    const config = await readPackageConfig(TINY_PACKAGE_DIR);
    const tokenizer = await PackageTokenizer.load(TINY_PACKAGE_DIR, config);
    assert.equal(tokenizer.encodePrompt().text, reference.prompt_text);
  });

  it('input_ids equal the Python reference', async () => {
    const config = await readPackageConfig(TINY_PACKAGE_DIR);
    const tokenizer = await PackageTokenizer.load(TINY_PACKAGE_DIR, config);
    assert.deepEqual(tokenizer.encodePrompt().inputIds, reference.input_ids);
  });

  it('locates the single image token', async () => {
    const config = await readPackageConfig(TINY_PACKAGE_DIR);
    const tokenizer = await PackageTokenizer.load(TINY_PACKAGE_DIR, config);
    const prompt = tokenizer.encodePrompt();
    assert.equal(prompt.inputIds[prompt.imageTokenIndex], config.special_tokens.image.id);
    assert.equal(prompt.inputIds.filter((id) => id === config.special_tokens.image.id).length, 1);
  });

  it('decodes text without special and end tokens', async () => {
    const config = await readPackageConfig(TINY_PACKAGE_DIR);
    const tokenizer = await PackageTokenizer.load(TINY_PACKAGE_DIR, config);
    const prompt = tokenizer.encodePrompt();
    const userStart = prompt.inputIds.indexOf(config.special_tokens.image.id) + 1;
    const userEnd = prompt.inputIds.indexOf(config.end_token_ids[0]!, userStart);
    const ids = [...prompt.inputIds.slice(userStart, userEnd), config.end_token_ids[0]!];
    const image = config.special_tokens.image.content;
    const userTextAfterImage = config.prompt.user.slice(config.prompt.user.indexOf(image) + image.length);
    assert.equal(tokenizer.decode(ids), userTextAfterImage);
    assert.equal(tokenizer.decode([config.end_token_ids[0]!]), '');
  });
});
