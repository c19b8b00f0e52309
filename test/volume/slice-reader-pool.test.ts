/**
 * The slice reader pool decodes on worker threads exactly what readCtSlices decodes on the calling
 * thread, and reports errors with the same VolumeError codes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { readCtSlices, readSeriesSlices, SliceReaderPool, VolumeError } from '../../src/volume/index.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { filesIn } from './synthetic-series.ts';

const run = promisify(execFile);
const REPOSITORY = fileURLToPath(new URL('../..', import.meta.url));

const J2K_COPY = sharedData('converted/dcm_qa_ct_GE_tilt_j2kr');
const LCE = sharedData('converted/pixelmed_LCE_CT_from_dcm_qa_ct/GE_tilt_LCE_stack1_14frames_JPEGLS.dcm');

describe('slice reader pool', () => {
  let pool: SliceReaderPool;

  before(() => {
    pool = new SliceReaderPool(2);
  });

  after(async () => {
    await pool.close();
  });

  it('decodes a JPEG 2000 series like the calling thread', async () => {
    const files = await filesIn(J2K_COPY);
    const [pooled, local] = await Promise.all([readSeriesSlices(files, pool), readSeriesSlices(files)]);
    assert.equal(pooled.slices.length, 28);
    pooled.slices.forEach((slice, index) => {
      const reference = local.slices[index]!;
      assert.equal(slice.sopInstanceUid, reference.sopInstanceUid);
      assert.deepEqual(slice.imagePositionPatient, reference.imagePositionPatient);
      assert.equal(slice.storedValues.constructor, reference.storedValues.constructor);
      assert.ok(Buffer.from(slice.storedValues.buffer, slice.storedValues.byteOffset, slice.storedValues.byteLength).equals(
        Buffer.from(reference.storedValues.buffer, reference.storedValues.byteOffset, reference.storedValues.byteLength),
      ), `slice ${index} differs`);
    });
  });

  it('returns every frame of a multi-frame file', async () => {
    const [pooled, local] = await Promise.all([pool.read(LCE), readCtSlices(LCE)]);
    assert.equal(pooled.length, 14);
    assert.deepEqual(pooled.map((slice) => slice.frameNumber), local.map((slice) => slice.frameNumber));
    assert.deepEqual([...pooled[13]!.storedValues], [...local[13]!.storedValues]);
  });

  it('idle threads let the process exit', async () => {
    // A child process reads one file through a pool it never closes; it must still exit by itself.
    const directory = await mkdtemp(path.join(tmpdir(), 'argus-volume-pool-'));
    try {
      const script = path.join(directory, 'read-one.mts');
      await writeFile(
        script,
        `import { SliceReaderPool } from ${JSON.stringify(new URL('../../src/volume/index.ts', import.meta.url).href)};\n` +
          `const slices = await new SliceReaderPool(2).read(${JSON.stringify(path.join(J2K_COPY, '01.dcm'))});\n` +
          'console.log(slices.length);\n',
      );
      // 30 s is far above the few seconds the threads need to start under load; a leaked handle never exits.
      const { stdout } = await run(process.execPath, ['--import', 'tsx', script], { timeout: 30_000, cwd: REPOSITORY });
      assert.equal(stdout.trim(), '1');
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('reports VolumeError codes from the threads', async () => {
    await assert.rejects(pool.read(path.join(J2K_COPY, 'missing.dcm')), (error: unknown) => {
      assert.ok(error instanceof VolumeError);
      assert.equal(error.code, 'file_read_failed');
      assert.equal(error.retryable, false);
      return true;
    });
    await assert.rejects(pool.read(sharedData('dcm_qa_ct/LICENSE.txt')), (error: unknown) => error instanceof VolumeError && error.code === 'not_part10_file');
  });
});
