/**
 * The package's tokenizer and chat template: renders the prompt, turns it into input_ids and decodes
 * generated ids back into text.
 *
 * The template is rendered with @huggingface/jinja and tokenized with @huggingface/tokenizers, the same
 * pair transformers.js uses, so a package exported from a Hugging Face checkpoint behaves here as it
 * did in Python. The template is expected to emit BOS itself, so encoding adds no special tokens.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';

import { ModelPackageError } from './errors.ts';
import type { PackageConfig } from './package-config.ts';

export interface EncodedPrompt {
  text: string;
  inputIds: number[];
  /** Position of the single image token in inputIds. */
  imageTokenIndex: number;
}

export class PackageTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    private readonly template: Template,
    private readonly config: PackageConfig,
    private readonly vocabularySize: number,
  ) {}

  /** Loads tokenizer.json and tokenizer_config.json and checks them against config.json. */
  static async load(packageDir: string, config: PackageConfig): Promise<PackageTokenizer> {
    const tokenizerFile = config.files.tokenizer;
    const configFile = config.files.tokenizer_config;
    const tokenizerJson = await readJsonFile(packageDir, tokenizerFile);
    const tokenizerConfig = await readJsonFile(packageDir, configFile);

    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (error) {
      throw new ModelPackageError(tokenizerFile, 'not a tokenizer that @huggingface/tokenizers can load', { cause: error });
    }

    const chatTemplate = (tokenizerConfig as { chat_template?: unknown }).chat_template;
    if (typeof chatTemplate !== 'string') {
      throw new ModelPackageError(configFile, 'chat_template is missing or not a single template string');
    }
    let template: Template;
    try {
      template = new Template(chatTemplate);
    } catch (error) {
      throw new ModelPackageError(configFile, 'chat_template does not parse', { cause: error });
    }

    for (const [role, token] of Object.entries(config.special_tokens)) {
      const id = tokenizer.token_to_id(token.content);
      if (id !== token.id) {
        throw new ModelPackageError(
          tokenizerFile,
          `token "${token.content}" has id ${id ?? 'none'}, but config.json special_tokens.${role}.id is ${token.id}`,
        );
      }
    }
    let vocabularySize = 0;
    for (const id of tokenizer.get_vocab().values()) vocabularySize = Math.max(vocabularySize, id + 1);
    if (vocabularySize > config.text.vocab_size) {
      throw new ModelPackageError(tokenizerFile, `has ids up to ${vocabularySize - 1}, beyond config.json text.vocab_size=${config.text.vocab_size}`);
    }

    const loaded = new PackageTokenizer(tokenizer, template, config, vocabularySize);
    loaded.encodePrompt();
    return loaded;
  }

  /** Returns the id of a token given by its content, such as "<|end|>", or undefined when the vocabulary lacks it. */
  tokenId(content: string): number | undefined {
    return this.tokenizer.token_to_id(content) ?? undefined;
  }

  /** Renders config.json's prompt through the chat template and tokenizes it. */
  encodePrompt(): EncodedPrompt {
    const { prompt, special_tokens: special } = this.config;
    const messages = [
      ...(prompt.system === '' ? [] : [{ role: 'system', content: prompt.system }]),
      { role: 'user', content: prompt.user },
    ];
    let text: string;
    try {
      text = this.template.render({
        messages,
        add_generation_prompt: true,
        bos_token: special.bos.content,
        eos_token: special.eos.content,
        pad_token: special.pad.content,
      });
    } catch (error) {
      throw new ModelPackageError(this.config.files.tokenizer_config, 'chat_template failed to render the prompt', { cause: error });
    }

    const inputIds: number[] = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const imagePositions = inputIds.flatMap((id: number, index: number) => (id === special.image.id ? [index] : []));
    if (imagePositions.length !== 1) {
      throw new ModelPackageError(
        this.config.files.tokenizer_config,
        `the rendered prompt contains the image token ${special.image.id} ${imagePositions.length} times, expected once`,
      );
    }
    return { text, inputIds, imageTokenIndex: imagePositions[0]! };
  }

  /**
   * Decodes generated ids, leaving out end tokens and special tokens. Ids that the decoder's vocabulary
   * has but the tokenizer lacks (padding rows of a rounded-up vocab_size) have no text and are dropped.
   */
  decode(tokenIds: readonly number[]): string {
    const ends = new Set(this.config.end_token_ids);
    const ids = tokenIds.filter((id) => !ends.has(id) && id < this.vocabularySize);
    // The library rejects an empty list instead of returning "".
    if (ids.length === 0) return '';
    return this.tokenizer.decode(ids, { skip_special_tokens: true });
  }
}

async function readJsonFile(packageDir: string, file: string): Promise<object> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path.join(packageDir, file), 'utf8'));
  } catch (error) {
    throw new ModelPackageError(file, 'missing or not valid JSON', { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ModelPackageError(file, 'is not a JSON object');
  }
  return parsed;
}
