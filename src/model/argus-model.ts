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
import { greedyDecode, splicedLength, type DecodeResult } from './decode.ts';
import { ModelPackageError, ModelReleasedError } from './errors.ts';
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
  timings: { preprocessMs: number; visionMs: number; decodeMs: number };
}

export interface GenerateOptions {
  /** Overrides config.json generation.max_new_tokens. */
  maxNewTokens?: number;
  signal?: AbortSignal;
  onToken?: (count: number) => void;
}

export interface ArgusModel {
  readonly identity: ModelIdentity;
  generate(volume: CtVolume, options?: GenerateOptions): Promise<GeneratedReport>;
  release(): Promise<void>;
}

export type LoadModelOptions = SessionOptions;

/** Loads and validates a package; see ArgusRuntime for the lower-level steps. */
export async function loadModel(packageDir: string, options: LoadModelOptions = {}): Promise<ArgusModel> {
  return ArgusRuntime.load(packageDir, options);
}

/** ArgusModel plus the individual stages, which tests and tools call on their own inputs. */
export class ArgusRuntime implements ArgusModel {
  readonly identity: ModelIdentity;
  private sessions: PackageSessions | undefined;

  private constructor(
    readonly config: PackageConfig,
    readonly tokenizer: PackageTokenizer,
    readonly prompt: EncodedPrompt,
    sessions: PackageSessions,
  ) {
    this.sessions = sessions;
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

    const sessions = await openSessions(packageDir, config, options);
    log.info('model package loaded', { model: config.model.name, version: config.model.version, durationMs: Math.round(performance.now() - started) });
    return new ArgusRuntime(config, tokenizer, prompt, sessions);
  }

  preprocess(volume: CtVolume): PixelValues {
    return preprocessVolume(volume, this.config.preprocessing);
  }

  /** image_embeds for pixel_values, as num_image_tokens rows of text.hidden_size values. */
  async runVision(pixelValues: PixelValues): Promise<Float32Array> {
    return runVision(this.requireSessions().vision, this.config, pixelValues);
  }

  /** Greedy decoding of the package prompt with the given image embeddings. */
  async decode(imageEmbeds: Float32Array, options: GenerateOptions = {}): Promise<DecodeResult> {
    return greedyDecode(this.requireSessions(), this.config, this.prompt, imageEmbeds, {
      maxNewTokens: options.maxNewTokens ?? this.config.generation.max_new_tokens,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onToken === undefined ? {} : { onToken: options.onToken }),
    });
  }

  async generate(volume: CtVolume, options: GenerateOptions = {}): Promise<GeneratedReport> {
    if (options.maxNewTokens !== undefined && !(Number.isInteger(options.maxNewTokens) && options.maxNewTokens > 0)) {
      throw new RangeError(`maxNewTokens must be a positive integer, got ${options.maxNewTokens}`);
    }
    this.requireSessions();

    const started = performance.now();
    const pixelValues = this.preprocess(volume);
    const preprocessed = performance.now();

    const imageEmbeds = await this.runVision(pixelValues);
    const encoded = performance.now();

    const { tokenIds } = await this.decode(imageEmbeds, options);
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
      timings: { preprocessMs: preprocessed - started, visionMs: encoded - preprocessed, decodeMs: decoded - encoded },
    };
  }

  /** Releases the onnxruntime sessions; later calls to generate() throw ModelReleasedError. */
  // NOTE: a generate() still running is not awaited. Its next graph run fails inside onnxruntime and
  // surfaces as ModelInferenceError, so callers should abort and await it before releasing.
  async release(): Promise<void> {
    const sessions = this.sessions;
    this.sessions = undefined;
    if (sessions === undefined) return;
    await Promise.all([sessions.vision.release(), sessions.embedTokens.release(), sessions.decoder.release()]);
  }

  private requireSessions(): PackageSessions {
    if (this.sessions === undefined) throw new ModelReleasedError();
    return this.sessions;
  }
}
