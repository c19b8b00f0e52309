/**
 * Opens the three onnxruntime sessions of a package and checks each against the package contract.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';

import { ExecutionProviderError, ModelInferenceError, ModelPackageError } from './errors.ts';
import type { PackageConfig } from './package-config.ts';
import { checkSession, decoderContract, embedTokensContract, visionContract, type GraphContract } from './session-contract.ts';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface SessionOptions {
  /** Threads onnxruntime uses inside one operator; undefined lets onnxruntime pick (one per core). */
  intraOpThreads?: number;
  executionProvider?: ExecutionProvider;
}

export interface PackageSessions {
  vision: InferenceSession;
  embedTokens: InferenceSession;
  decoder: InferenceSession;
}

/** Creates and checks the sessions; on any failure the sessions already open are released. */
export async function openSessions(packageDir: string, config: PackageConfig, options: SessionOptions): Promise<PackageSessions> {
  const opened: InferenceSession[] = [];
  try {
    const vision = await openSession(packageDir, visionContract(config), options);
    opened.push(vision);
    const embedTokens = await openSession(packageDir, embedTokensContract(config), options);
    opened.push(embedTokens);
    const decoder = await openSession(packageDir, decoderContract(config), options);
    opened.push(decoder);
    return { vision, embedTokens, decoder };
  } catch (error) {
    await Promise.allSettled(opened.map((session) => session.release()));
    throw error;
  }
}

async function openSession(packageDir: string, contract: GraphContract, options: SessionOptions): Promise<InferenceSession> {
  const file = path.join(packageDir, contract.file);
  try {
    await access(file);
  } catch (error) {
    throw new ModelPackageError(contract.file, 'file is missing', { cause: error });
  }

  const provider = options.executionProvider ?? 'cpu';
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, sessionOptions(provider, options));
  } catch (error) {
    throw await classifyCreateFailure(file, contract.file, provider, options, error);
  }

  try {
    checkSession(session, contract);
  } catch (error) {
    await session.release();
    throw error;
  }
  return session;
}

function sessionOptions(provider: ExecutionProvider, options: SessionOptions): InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    ...(options.intraOpThreads === undefined ? {} : { intraOpNumThreads: options.intraOpThreads }),
  };
}

/**
 * Tells a missing execution provider from a broken graph without reading the error text: if the graph
 * opens on the CPU, the provider was at fault.
 */
async function classifyCreateFailure(
  file: string,
  relativeFile: string,
  provider: ExecutionProvider,
  options: SessionOptions,
  error: unknown,
): Promise<Error> {
  if (provider !== 'cpu') {
    try {
      const probe = await ort.InferenceSession.create(file, sessionOptions('cpu', options));
      await probe.release();
      return new ExecutionProviderError(provider, error);
    } catch {
      // The graph fails on the CPU too, so the package is at fault.
    }
  }
  // onnxruntime's message names the actual problem, such as a missing <name>.onnx_data file.
  const reason = error instanceof Error ? `: ${error.message.split('\n')[0]}` : '';
  return new ModelPackageError(relativeFile, `onnxruntime cannot load the graph${reason}`, { cause: error });
}

/** Runs one graph; onnxruntime failures become ModelInferenceError naming the file. */
export async function runGraph(
  session: InferenceSession,
  file: string,
  feeds: InferenceSession.FeedsType,
): Promise<InferenceSession.ReturnType> {
  try {
    return await session.run(feeds);
  } catch (error) {
    throw new ModelInferenceError(file, error);
  }
}

/** Returns a float32 output's data, or throws ModelInferenceError if the graph did not produce it. */
export function float32Output(outputs: InferenceSession.ReturnType, name: string, file: string): { data: Float32Array; dims: readonly number[] } {
  const tensor = outputs[name];
  if (tensor === undefined || tensor.type !== 'float32' || !(tensor.data instanceof Float32Array)) {
    throw new ModelInferenceError(file, new Error(`output "${name}" is missing or not float32`));
  }
  return { data: tensor.data, dims: tensor.dims };
}

export const Tensor = ort.Tensor;
