/**
 * A loaded model package: CT volume in, draft report out.
 *
 * loadModel() validates the whole package before returning, so a worker learns about a broken package
 * when it starts rather than on its first study. The runtime reads only the package files it is given
 * and does no other I/O.
 */
import { performance } from 'node:perf_hooks';

import { getLogger } from '../logging/logger.ts';
import type { CtVolume } from '../volume/ct-volume.ts';
import { decode, splicedLength, type DecodeResult } from './decode.ts';
import { EmbeddingCache } from './decoder-steps.ts';
import { GenerationAbortedError, ModelPackageError, ModelReleasedError } from './errors.ts';
import { resolveGeneration, type DecodingSettings, type GenerationOverrides } from './generation-settings.ts';
import { CONFIG_FILE, readPackageConfig, type PackageConfig } from './package-config.ts';
import { preprocessVolume, type PixelValues } from './preprocess.ts';
import { cleanGeneratedText, labelReportText, splitReportSections } from './report-text.ts';
import { openSessions, type PackageSessions, type SessionOptions } from './sessions.ts';
import { PackageTokenizer, type EncodedPrompt } from './tokenizer.ts';
import { runVision } from './vision.ts';

const log = getLogger('model');

export interface ModelIdentity {
  name: string;
  version: string;
  deviceUid: string;
  /** config.json model.clinical_use; anything but true labels the output as not for clinical use. */
  clinicalUse?: boolean;
}

export interface GeneratedReport {
  text: string;
  findings: string;
  impression: string;
  /** Generated ids, including the end token when one stopped generation. */
  tokenIds: number[];
  /** decodeGraphMs, the part of decodeMs spent inside onnxruntime, is optional so that test doubles may leave it out. */
  timings: { preprocessMs: number; visionMs: number; decodeMs: number; decodeGraphMs?: number };
}

/** Per-call overrides of the decoding settings; see GenerationOverrides for each. */
export interface GenerateOptions extends GenerationOverrides {
  signal?: AbortSignal;
  /** Progress: called after each decoding step with the number of tokens generated so far. */
  onToken?: (count: number) => void;
}

export interface ArgusModel {
  readonly identity: ModelIdentity;
  generate(volume: CtVolume, options?: GenerateOptions): Promise<GeneratedReport>;
  release(): Promise<void>;
}

export interface LoadModelOptions extends SessionOptions {
  /** Decoding settings that replace the package's config.json generation settings for every call. */
  generation?: GenerationOverrides;
}

/** Loads and validates a package; see ArgusRuntime for the lower-level steps. */
export async function loadModel(packageDir: string, options: LoadModelOptions = {}): Promise<ArgusModel> {
  return ArgusRuntime.load(packageDir, options);
}

/**
 * ArgusModel plus the individual stages, which tests and tools call on their own inputs.
 *
 * One instance serves every job of a worker. generate() keeps no state between calls, and the runs of
 * concurrent calls interleave step by step on the same onnxruntime sessions.
 */
export class ArgusRuntime implements ArgusModel {
  readonly identity: ModelIdentity;
  private sessions: PackageSessions | undefined;
  private readonly running = new Set<Promise<unknown>>();
  private readonly embeddings: EmbeddingCache;

  private constructor(
    readonly config: PackageConfig,
    readonly tokenizer: PackageTokenizer,
    readonly prompt: EncodedPrompt,
    /** The package's generation settings with the load-time overrides applied. */
    readonly generation: DecodingSettings,
    sessions: PackageSessions,
  ) {
    this.sessions = sessions;
    this.embeddings = new EmbeddingCache(config.text.hidden_size);
    this.identity = {
      name: config.model.name,
      version: config.model.version,
      deviceUid: config.model.device_uid,
      clinicalUse: config.model.clinical_use,
    };
  }

  static async load(packageDir: string, options: LoadModelOptions = {}): Promise<ArgusRuntime> {
    const started = performance.now();
    const config = await readPackageConfig(packageDir);
    const tokenizer = await PackageTokenizer.load(packageDir, config);

    const prompt = tokenizer.encodePrompt();
    const length = splicedLength(prompt, config);
    if (length >= config.text.max_position_embeddings) {
      throw new ModelPackageError(
        CONFIG_FILE,
        `the prompt with its image takes ${length} positions, leaving none of text.max_position_embeddings=${config.text.max_position_embeddings}`,
      );
    }

    const generation = resolveGeneration(config, tokenizer, options.generation ?? {});

    const sessions = await openSessions(packageDir, config, options);
    log.info('model package loaded', { model: config.model.name, version: config.model.version, durationMs: Math.round(performance.now() - started) });
    return new ArgusRuntime(config, tokenizer, prompt, generation, sessions);
  }

  preprocess(volume: CtVolume): PixelValues {
    return preprocessVolume(volume, this.config.preprocessing);
  }

  /** image_embeds for pixel_values, as num_image_tokens rows of text.hidden_size values. */
  async runVision(pixelValues: PixelValues): Promise<Float32Array> {
    return runVision(this.requireSessions().vision, this.config, pixelValues);
  }

  /**
   * Decodes the package prompt with the given image embeddings: greedy or beam search, with the
   * runtime's settings overridden by `options`. keepStepLogits keeps each greedy step's logits.
   */
  async decode(imageEmbeds: Float32Array, options: GenerateOptions & { keepStepLogits?: boolean } = {}): Promise<DecodeResult> {
    return this.decodeWith(this.requireSessions(), imageEmbeds, options);
  }

  async generate(volume: CtVolume, options: GenerateOptions = {}): Promise<GeneratedReport> {
    const sessions = this.requireSessions();
    const run = this.generateWith(sessions, volume, options);
    this.running.add(run);
    try {
      return await run;
    } finally {
      this.running.delete(run);
    }
  }

  /** Waits for running generate() calls, then releases the sessions; later calls throw ModelReleasedError. */
  async release(): Promise<void> {
    const sessions = this.sessions;
    this.sessions = undefined;
    if (sessions === undefined) return;
    await Promise.allSettled([...this.running]);
    await Promise.all([sessions.vision.release(), sessions.embedTokens.release(), sessions.decoder.release()]);
  }

  private async generateWith(sessions: PackageSessions, volume: CtVolume, options: GenerateOptions): Promise<GeneratedReport> {
    if (options.signal?.aborted) throw new GenerationAbortedError(0, options.signal.reason);
    const started = performance.now();
    const pixelValues = this.preprocess(volume);
    const preprocessed = performance.now();

    const imageEmbeds = await runVision(sessions.vision, this.config, pixelValues);
    const encoded = performance.now();

    const { tokenIds, graphMs } = await this.decodeWith(sessions, imageEmbeds, options);
    const decoded = performance.now();

    const generatedText = cleanGeneratedText(this.tokenizer.decode(tokenIds)).trim();
    const { findings, impression } = splitReportSections(generatedText);
    const text = labelReportText(generatedText, this.identity);
    log.debug('report generated', { model: this.identity.name, count: tokenIds.length, durationMs: Math.round(decoded - started) });
    return {
      text,
      findings,
      impression,
      tokenIds,
      timings: { preprocessMs: preprocessed - started, visionMs: encoded - preprocessed, decodeMs: decoded - encoded, decodeGraphMs: graphMs },
    };
  }

  private async decodeWith(
    sessions: PackageSessions,
    imageEmbeds: Float32Array,
    options: GenerateOptions & { keepStepLogits?: boolean },
  ): Promise<DecodeResult> {
    const settings = resolveGeneration(this.config, this.tokenizer, options, this.generation);
    return decode(sessions, this.config, this.prompt, imageEmbeds, {
      ...settings,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onToken === undefined ? {} : { onToken: options.onToken }),
      ...(options.keepStepLogits === undefined ? {} : { keepStepLogits: options.keepStepLogits }),
    }, this.embeddings);
  }

  private requireSessions(): PackageSessions {
    if (this.sessions === undefined) throw new ModelReleasedError();
    return this.sessions;
  }
}
