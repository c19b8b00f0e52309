/**
 * The work of a slice reader thread: reads and decodes one file per request and sends the slices back,
 * moving (not copying) the buffers that hold their stored values.
 */
import { parentPort } from 'node:worker_threads';

import { readCtSlices } from './ct-slice.ts';
import { VolumeError } from './volume-error.ts';

export interface ReadRequest {
  id: number;
  filePath: string;
}

export type ReadResponse =
  | { id: number; slices: Awaited<ReturnType<typeof readCtSlices>> }
  | { id: number; error: { volumeError: boolean; code: string; message: string; filePath?: string; retryable: boolean } };

parentPort!.on('message', async ({ id, filePath }: ReadRequest) => {
  try {
    const slices = await readCtSlices(filePath);
    const buffers = [...new Set(slices.map((slice) => slice.storedValues.buffer as ArrayBuffer))];
    parentPort!.postMessage({ id, slices } satisfies ReadResponse, buffers);
  } catch (error) {
    const volumeError = error instanceof VolumeError;
    parentPort!.postMessage({
      id,
      error: {
        volumeError,
        code: volumeError ? error.code : 'internal_error',
        message: error instanceof Error ? error.message : String(error),
        filePath: volumeError ? error.filePath : filePath,
        retryable: volumeError ? error.retryable : false,
      },
    } satisfies ReadResponse);
  }
});
