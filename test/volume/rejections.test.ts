/**
 * Series that must not become a volume: each is rejected with a stable VolumeError code and a message
 * that names the slices and sizes involved. Broken series are made from real files by leaving files
 * out, mixing series or editing single attributes with dcmodify (DCMTK).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import {
  assembleVolume,
  readCtSlice,
  VolumeError,
  type CtSlice,
  type VolumeErrorCode,
} from '../../src/volume/index.ts';
import { SHARED_DATA } from '../helpers/shared-data.ts';

const run = promisify(execFile);

const DATA = SHARED_DATA;
const PHILIPS_DIR = `${DATA}/dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010`;
const TILT_MINUS_DIR = `${DATA}/dcm_qa_ct/Philips_Ingenuity_study_S21610/S2010`;
const TILT_PLUS_DIR = `${DATA}/dcm_qa_ct/Philips_Ingenuity_study_S21610/S3010`;
const GE_DIR = `${DATA}/dcm_qa_ct/GE_HiSpeedDual_tilt_irregular`;
const DICOM2NIFTI_DIR = `${DATA}/dicom2nifti_testdata/failing`;
const OPTIONS = { minSlices: 3, orientationTolerance: 1, spacingTolerance: 0.1 };
/** Six neighbouring Philips slices (InstanceNumber 1 to 6), 5 mm apart. */
const PHILIPS_FIRST_SIX = ['I10', 'I20', 'I30', 'I40', 'I50', 'I60'].map((name) => path.join(PHILIPS_DIR, name));

async function filesIn(directory: string): Promise<string[]> {
  return (await readdir(directory)).sort().map((name) => path.join(directory, name));
}

async function readAll(files: string[]): Promise<CtSlice[]> {
  return Promise.all(files.map(readCtSlice));
}

/** Runs `action`, asserts it throws a VolumeError with `code` and returns the error. */
async function expectVolumeError(code: VolumeErrorCode, action: () => unknown): Promise<VolumeError> {
  try {
    await action();
  } catch (error) {
    assert.ok(error instanceof VolumeError, `expected a VolumeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected VolumeError ${code}, but nothing was thrown`);
}

/** Reads ImagePositionPatient with dcmdump, independently of the reader under test. */
async function positionOf(file: string): Promise<number[]> {
  const { stdout } = await run('dcmdump', ['+P', '0020,0032', file]);
  const match = /\[([^\]]+)\]/.exec(stdout);
  assert.ok(match, `no ImagePositionPatient in ${stdout}`);
  return match[1]!.split('\\').map(Number);
}

describe('series rejections', () => {
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-reject-'));
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  async function copySeries(name: string, files: string[]): Promise<string[]> {
    const directory = await mkdtemp(path.join(workDir, `${name}-`));
    return Promise.all(
      files.map(async (file) => {
        const target = path.join(directory, path.basename(file));
        await copyFile(file, target);
        return target;
      }),
    );
  }

  it('missing middle slice reports gap position and size', async () => {
    const files = await filesIn(PHILIPS_DIR);
    const positions = await Promise.all(files.map(async (file) => [file, (await positionOf(file))[2]!] as const));
    const zByFile = new Map(positions);
    const byZ = [...files].sort((a, b) => zByFile.get(a)! - zByFile.get(b)!);
    const dropped = byZ[14]!;
    const below = zByFile.get(byZ[13]!)!;
    const above = zByFile.get(byZ[15]!)!;

    const error = await expectVolumeError('non_uniform_spacing', async () =>
      assembleVolume(await readAll(files.filter((file) => file !== dropped)), OPTIONS),
    );
    // The series is untilted axial, so the position along the normal is the z of ImagePositionPatient.
    assert.match(error.message, new RegExp(`${(above - below).toFixed(2)} mm between`));
    assert.ok(error.message.includes(`at ${below.toFixed(2)} mm`), error.message);
    assert.ok(error.message.includes(`at ${above.toFixed(2)} mm`), error.message);
    assert.match(error.message, /one slice missing/);
    const failed = error.checks.at(-1)!;
    assert.equal(failed.name, 'slice_spacing');
    assert.equal(failed.passed, false);
    assert.ok(Math.abs(failed.measured! - 5) < 0.01, `gap deviation ${failed.measured}`);
  });

  it('missing slice with contiguous InstanceNumbers', async () => {
    const error = await expectVolumeError('non_uniform_spacing', async () =>
      assembleVolume(await readAll(await filesIn(`${DICOM2NIFTI_DIR}/sliceincrement/001`)), OPTIONS),
    );
    assert.match(error.message, /10\.00 mm between InstanceNumber 9 at 28\.11 mm and InstanceNumber 10 at 38\.11 mm/);
  });

  it('GE irregular spacing lists the gaps', async () => {
    const error = await expectVolumeError('non_uniform_spacing', async () =>
      assembleVolume(await readAll(await filesIn(GE_DIR)), OPTIONS),
    );
    assert.match(error.message, /median gap is 4\.00 mm/);
    assert.match(error.message, /1\.08 mm between/);
    assert.match(error.message, /7\.00 mm between/);
    assert.ok(
      error.checks.filter((check) => check.name === 'orientation').every((check) => check.passed),
      'the tilted GE slices share one orientation',
    );
  });

  it('mixed gantry tilts are mixed orientation', async () => {
    const minus = (await filesIn(TILT_MINUS_DIR)).slice(0, 10);
    const plus = (await filesIn(TILT_PLUS_DIR)).slice(20, 25);
    const error = await expectVolumeError('mixed_orientation', async () =>
      assembleVolume(await readAll([...minus, ...plus]), OPTIONS),
    );
    assert.match(error.message, /10 slice\(s\) with ImageOrientationPatient .* \(plane 18\.5° from axial\)/);
    assert.match(error.message, /5 slice\(s\) with ImageOrientationPatient .* \(plane 16\.5° from axial\)/);
    const failed = error.checks.at(-1)!;
    assert.equal(failed.name, 'orientation');
    assert.ok(Math.abs(failed.measured! - 35) < 0.1, `orientation difference ${failed.measured}`);
  });

  it('too few slices', async () => {
    const files = await filesIn(PHILIPS_DIR);
    const twoSlices = await expectVolumeError('too_few_slices', async () =>
      assembleVolume(await readAll(files.slice(0, 2)), OPTIONS),
    );
    assert.match(twoSlices.message, /has 2 slice\(s\), but at least 3/);
    const oneSlice = await expectVolumeError('too_few_slices', async () =>
      assembleVolume(await readAll(files.slice(0, 1)), { ...OPTIONS, minSlices: 1 }),
    );
    assert.match(oneSlice.message, /at least 2/);
  });

  it('two images at one position', async () => {
    const error = await expectVolumeError('duplicate_position', async () =>
      assembleVolume(await readAll(await filesIn(`${DICOM2NIFTI_DIR}/notavolume/001`)), OPTIONS),
    );
    assert.match(error.message, /same position \(61\.50 mm along the slice normal\)/);
  });

  it('resent instance is counted once', async () => {
    const files = await filesIn(PHILIPS_DIR);
    const { volume, checks } = assembleVolume(await readAll([...files, files[3]!]), OPTIONS);
    assert.equal(volume.dimensions[2], files.length);
    const repeated = checks.find((check) => check.name === 'duplicate_instances');
    assert.equal(repeated?.measured, 1);
  });

  it('pixel spacing differing in one slice', async () => {
    const files = await copySeries('spacing', PHILIPS_FIRST_SIX);
    // 0.5 mm against 0.451171875 mm: a 0.05 mm difference that moves column 511 by about 25 mm.
    await run('dcmodify', ['-nb', '-m', '(0028,0030)=0.5\\0.5', '-m', '(0020,0013)=77', files[2]!]);
    const error = await expectVolumeError('inconsistent_pixel_spacing', async () =>
      assembleVolume(await readAll(files), OPTIONS),
    );
    assert.match(error.message, /1 slice\(s\) with PixelSpacing 0\.5\\0\.5 \(InstanceNumber 77\)/);
    assert.match(error.message, /moves the image edge by 24\.9\d mm/);
  });

  it('slice shifted off the stack line', async () => {
    const files = await copySeries('shift', PHILIPS_FIRST_SIX);
    const [x, y, z] = await positionOf(files[3]!);
    await run('dcmodify', ['-nb', '-m', `(0020,0032)=${x! + 3}\\${y}\\${z}`, files[3]!]);
    const error = await expectVolumeError('positions_not_collinear', async () =>
      assembleVolume(await readAll(files), OPTIONS),
    );
    assert.match(error.message, /InstanceNumber 4 is 3\.00 mm away from the line/);
  });

  it('orientation tilt alone assembles with shear', async () => {
    const slices = await readAll(await filesIn(`${DICOM2NIFTI_DIR}/gantrytilting/001`));
    const { volume, checks } = assembleVolume(slices, OPTIONS);
    const tilt = checks.find((check) => check.name === 'gantry_tilt');
    assert.ok(tilt !== undefined, 'no gantry_tilt check');
    // The column direction (0, 0.970, -0.242) is 14° out of the coronal plane.
    assert.ok(Math.abs(tilt.measured! - 14) < 0.1, `gantry tilt ${tilt.measured}`);
    assert.deepEqual(volume.direction[2], [0, 0, 1]);
  });
});

describe('readCtSlice rejections', () => {
  const unsupported = [
    `${DATA}/wg04_compression_samples/CT1_JPLL.dcm`,
    `${DATA}/wg04_compression_samples/CT1_JLSL.dcm`,
    `${DATA}/wg04_compression_samples/CT1_J2KR.dcm`,
    `${DATA}/wg04_compression_samples/CT1_RLE.dcm`,
    `${DATA}/cornerstone_wado_testimages/CTImage.dcm_BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2.dcm`,
    `${DATA}/cornerstone_wado_testimages/` +
      'CTImage.dcm_DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99.dcm',
  ];
  for (const file of unsupported) {
    it(`unsupported_transfer_syntax for ${path.basename(file)}`, async () => {
      const { stdout } = await run('dcmdump', ['-M', '+P', '0002,0010', '-Un', file]);
      const uid = /\[([\d.]+)\]/.exec(stdout)?.[1];
      assert.ok(uid !== undefined, stdout);
      const error = await expectVolumeError('unsupported_transfer_syntax', () => readCtSlice(file));
      assert.ok(error.message.includes(`(${uid})`), error.message);
      assert.equal(error.filePath, file);
    });
  }

  it('uncompressed twin of a compressed file reads', async () => {
    const slice = await readCtSlice(`${DATA}/wg04_compression_samples/CT1_UNC.dcm`);
    assert.equal(slice.transferSyntaxUid, '1.2.840.10008.1.2.1');
  });

  const others: [string, VolumeErrorCode][] = [
    [`${DATA}/pydicom_testfiles/ct/eCT_Supplemental.dcm`, 'unsupported_sop_class'],
    [`${DATA}/cornerstone_wado_testimages/no-pixel-data.dcm`, 'unsupported_sop_class'],
    [`${DATA}/dcm_qa_ct/LICENSE.txt`, 'not_part10_file'],
    [`${DATA}/does-not-exist.dcm`, 'file_read_failed'],
  ];
  for (const [file, code] of others) {
    it(`${code} for ${path.basename(file)}`, async () => {
      const error = await expectVolumeError(code, () => readCtSlice(file));
      assert.equal(error.retryable, false);
    });
  }
});
