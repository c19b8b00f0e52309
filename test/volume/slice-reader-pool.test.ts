/**
 * The slice reader pool decodes on worker threads exactly what readCtSlices decodes on the calling
 * thread, and reports errors with the same VolumeError codes.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { readCtSlices, readSeriesSlices, SliceReaderPool, VolumeError } from '../../src/volume/index.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { filesIn } from './synthetic-series.ts';

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
