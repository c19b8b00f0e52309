/**
 * Pixel decoding is bit-exact. Every compressed or re-encoded file gives the stored values that DCMTK
 * (dcmdjpeg, dcmdjpls, dcmdrle, dcmconv) and GDCM (gdcmconv --raw) give after decoding it to Explicit VR
 * Little Endian. Every compressed copy of the GE tilt series gives the stored values of the
 * uncompressed original, slice by slice.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { readCtSlice, readSeriesSlices, type CtSlice } from '../../src/volume/index.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { filesIn } from './synthetic-series.ts';

const run = promisify(execFile);

const CORNERSTONE = sharedData('cornerstone_wado_testimages');
const WG04 = sharedData('wg04_compression_samples');
const GE_DIR = sharedData('dcm_qa_ct/GE_HiSpeedDual_tilt_irregular');
const CONVERTED = sharedData('converted');

type Decoder = 'dcmdjpeg' | 'dcmdjpls' | 'dcmdrle' | 'dcmconv' | 'gdcmconv';

/** The reference decoders for each transfer syntax. gdcmconv is left out of 12-bit lossy JPEG: GDCM 3.0.21 prints "Unsupported JPEG data precision 12" there. */
const DECODERS: Record<string, Decoder[]> = {
  '1.2.840.10008.1.2.1.99': ['dcmconv'],
  '1.2.840.10008.1.2.2': ['dcmconv', 'gdcmconv'],
  '1.2.840.10008.1.2.4.51': ['dcmdjpeg'],
  '1.2.840.10008.1.2.4.53': ['dcmdjpeg'],
  '1.2.840.10008.1.2.4.55': ['dcmdjpeg'],
  '1.2.840.10008.1.2.4.57': ['dcmdjpeg', 'gdcmconv'],
  '1.2.840.10008.1.2.4.70': ['dcmdjpeg', 'gdcmconv'],
  '1.2.840.10008.1.2.4.80': ['dcmdjpls', 'gdcmconv'],
  '1.2.840.10008.1.2.4.81': ['dcmdjpls', 'gdcmconv'],
  '1.2.840.10008.1.2.4.90': ['gdcmconv'],
  '1.2.840.10008.1.2.4.91': ['gdcmconv'],
  '1.2.840.10008.1.2.5': ['dcmdrle', 'gdcmconv'],
};

async function decodeWith(decoder: Decoder, source: string, target: string): Promise<void> {
  if (decoder === 'gdcmconv') await run('gdcmconv', ['--raw', '-i', source, '-o', target]);
  else if (decoder === 'dcmconv') await run('dcmconv', ['+te', source, target]);
  else await run(decoder, [source, target]);
}

/** Counts positions where two slices' stored values differ. */
function countDifferences(a: CtSlice, b: CtSlice): number {
  assert.equal(a.storedValues.length, b.storedValues.length);
  let differing = 0;
  for (let index = 0; index < a.storedValues.length; index++) if (a.storedValues[index] !== b.storedValues[index]) differing++;
  return differing;
}

describe('single images against DCMTK and GDCM', () => {
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-decoding-'));
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  const files = [
    'CTImage.dcm_BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2.dcm',
    'CTImage.dcm_DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99.dcm',
    'CTImage.dcm_JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm',
    'CTImage.dcm_JPEG2000TransferSyntax_1.2.840.10008.1.2.4.91.dcm',
    'CTImage.dcm_JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm',
    'CTImage.dcm_JPEGLSLossyTransferSyntax_1.2.840.10008.1.2.4.81.dcm',
    'CTImage.dcm_JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55.dcm',
    'CTImage.dcm_JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm',
    'CTImage.dcm_JPEGProcess14TransferSyntax_1.2.840.10008.1.2.4.57.dcm',
    'CTImage.dcm_JPEGProcess2_4TransferSyntax_1.2.840.10008.1.2.4.51.dcm',
    'CTImage.dcm_JPEGProcess6_8TransferSyntax_1.2.840.10008.1.2.4.53.dcm',
    'CTImage.dcm_RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm',
  ]
    .map((name) => path.join(CORNERSTONE, name))
    .concat(
      ['CT1_J2KI', 'CT1_J2KR', 'CT1_JLSL', 'CT1_JLSN', 'CT1_JPLL', 'CT1_RLE', 'CT2_J2KI', 'CT2_J2KR', 'CT2_JLSL', 'CT2_JLSN', 'CT2_JPLL', 'CT2_RLE'].map(
        (name) => path.join(WG04, `${name}.dcm`),
      ),
    );

  for (const file of files) {
    it(`${path.basename(file)} decodes like the reference decoders`, async () => {
      const ours = await readCtSlice(file);
      const decoders = DECODERS[ours.transferSyntaxUid];
      assert.ok(decoders !== undefined, `no reference decoder for ${ours.transferSyntaxUid}`);
      for (const decoder of decoders) {
        const target = path.join(workDir, `${path.basename(file)}.${decoder}.dcm`);
        await decodeWith(decoder, file, target);
        const reference = await readCtSlice(target);
        assert.equal(reference.transferSyntaxUid, '1.2.840.10008.1.2.1', `${decoder} wrote Explicit VR Little Endian`);
        assert.equal(countDifferences(ours, reference), 0, `stored values differ from ${decoder}`);
      }
    });
  }

  it('lossy syntaxes are flagged, lossless are not', async () => {
    const lossy = await readCtSlice(path.join(WG04, 'CT1_J2KI.dcm'));
    const lossless = await readCtSlice(path.join(WG04, 'CT1_J2KR.dcm'));
    assert.equal(lossy.lossyCompression, true);
    assert.equal(lossless.lossyCompression, false);
  });
});

describe('compressed copies of the GE tilt series', () => {
  let original: Map<string, CtSlice>;
  const key = (slice: CtSlice) => slice.imagePositionPatient.join('\\');

  before(async () => {
    const { slices } = await readSeriesSlices(await filesIn(GE_DIR));
    original = new Map(slices.map((slice) => [key(slice), slice]));
  });

  for (const copy of ['dcm_qa_ct_GE_tilt_jpll', 'dcm_qa_ct_GE_tilt_rle', 'dcm_qa_ct_GE_tilt_j2kr']) {
    it(`${copy} decodes bit-exactly to the original`, async () => {
      const { slices } = await readSeriesSlices(await filesIn(path.join(CONVERTED, copy)));
      assert.equal(slices.length, 28);
      assert.ok(slices.every((slice) => slice.transferSyntaxUid !== '1.2.840.10008.1.2.1'), 'the copy is compressed');
      for (const slice of slices) {
        const source = original.get(key(slice));
        assert.ok(source !== undefined, `no original slice at ${key(slice)}`);
        assert.equal(countDifferences(slice, source), 0, `${path.basename(slice.filePath)} differs from ${path.basename(source.filePath)}`);
        assert.equal(slice.rescaleIntercept, source.rescaleIntercept);
        assert.equal(slice.pixelPaddingValue, source.pixelPaddingValue);
      }
    });
  }
});

describe('JPEG-LS series against dcmdjpls', () => {
  it('Philips 1 mm slices decode like dcmdjpls', async () => {
    const workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-jpegls-'));
    try {
      // Every 14th of the 140 slices: enough to cover the series without 140 dcmdjpls runs.
      const files = (await filesIn(path.join(CONVERTED, 'dcm_qa_ct_Philips_S21570_S2020_1mm_JPEGLS_lossless'))).filter((_, index) => index % 14 === 0);
      for (const file of files) {
        const target = path.join(workDir, path.basename(file));
        await run('dcmdjpls', [file, target]);
        assert.equal(countDifferences(await readCtSlice(file), await readCtSlice(target)), 0, path.basename(file));
      }
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  });
});
