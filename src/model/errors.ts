/**
 * Errors of the model stage. Callers branch on `code`: a broken package will not fix itself, so the
 * worker fails the job at once, while an inference failure may succeed on another worker.
 */

export type ModelErrorCode =
  | 'model_package_invalid'
  | 'volume_not_supported'
  | 'model_inference_failed'
  | 'model_released'
  | 'generation_aborted'
  | 'execution_provider_unavailable';

export abstract class ModelError extends Error {
  abstract readonly code: ModelErrorCode;
  abstract readonly retryable: boolean;
}

/** A package file is missing, unreadable or disagrees with config.json. `file` and `tensor` locate it. */
export class ModelPackageError extends ModelError {
  override readonly name = 'ModelPackageError';
  readonly code = 'model_package_invalid';
  readonly retryable = false;
  readonly file: string;
  readonly tensor: string | undefined;

  constructor(file: string, message: string, options: { tensor?: string; cause?: unknown } = {}) {
    const where = options.tensor === undefined ? file : `${file}, tensor "${options.tensor}"`;
    super(`${where}: ${message}`, { cause: options.cause });
    this.file = file;
    this.tensor = options.tensor;
  }
}

/** The volume cannot be mapped onto the package's input grid, e.g. its axes are too oblique. */
export class VolumeNotSupportedError extends ModelError {
  override readonly name = 'VolumeNotSupportedError';
  readonly code = 'volume_not_supported';
  readonly retryable = false;
}

/** onnxruntime failed while running a graph. */
export class ModelInferenceError extends ModelError {
  override readonly name = 'ModelInferenceError';
  readonly code = 'model_inference_failed';
  readonly retryable = true;
  readonly file: string;

  constructor(file: string, cause: unknown) {
    super(`${file}: inference failed`, { cause });
    this.file = file;
  }
}

/** generate() was called after release(). */
export class ModelReleasedError extends ModelError {
  override readonly name = 'ModelReleasedError';
  readonly code = 'model_released';
  readonly retryable = false;

  constructor() {
    super('the model has been released; load it again');
  }
}

/** The caller's AbortSignal fired. `tokensGenerated` is the number of tokens generated before it did. */
export class GenerationAbortedError extends ModelError {
  override readonly name = 'GenerationAbortedError';
  readonly code = 'generation_aborted';
  readonly retryable = true;
  readonly tokensGenerated: number;

  constructor(tokensGenerated: number, cause: unknown) {
    super(`generation aborted after ${tokensGenerated} tokens`, { cause });
    this.tokensGenerated = tokensGenerated;
  }
}

/**
 * Installation hints for each execution provider other than the CPU. onnxruntime-node downloads its CUDA
 * provider only when installed with --onnxruntime-node-install=cuda12 (see its script/install.js), and
 * onnxruntime's CUDA 12 builds need the CUDA 12 and cuDNN 9 libraries (onnxruntime.ai, CUDA Execution
 * Provider requirements).
 */
const PROVIDER_REQUIREMENTS: Record<string, string> = {
  cuda:
    'onnxruntime-node could not load its CUDA provider. Install the provider with ' +
    '"npm ci --onnxruntime-node-install=cuda12" (without the onnxruntime-node-install-cuda=skip line of .npmrc), ' +
    'on a host with an NVIDIA driver and the CUDA 12 and cuDNN 9 libraries on the library path',
};

/** The requested execution provider (e.g. CUDA) is not available in this onnxruntime build or host. */
export class ExecutionProviderError extends ModelError {
  override readonly name = 'ExecutionProviderError';
  readonly code = 'execution_provider_unavailable';
  readonly retryable = false;
  readonly provider: string;

  constructor(provider: string, cause: unknown) {
    const requirement = PROVIDER_REQUIREMENTS[provider] ?? 'onnxruntime-node has no such provider in this build';
    super(`execution provider "${provider}" is not available: ${requirement}. Or select the "cpu" provider.`, { cause });
    this.provider = provider;
  }
}
