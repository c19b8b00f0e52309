/**
 * Series and files that must not become a volume: each is rejected with a stable VolumeError code and a
 * message that names the slices and sizes involved. Broken series are made from real files by mixing
 * series or editing single attributes with dcmodify (DCMTK) or pydicom. Spacing and gaps are tested in
 * spacing.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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

  it('four images at one position', async () => {
    const error = await expectVolumeError('duplicate_position', async () =>
      assembleVolume(await readAll(await filesIn(`${DICOM2NIFTI_DIR}/notavolume/001`)), OPTIONS),
    );
    assert.match(error.message, /InstanceNumber 23 and InstanceNumber 24 and InstanceNumber 25 and InstanceNumber 26 at 61\.50 mm/);
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

});

describe('readCtSlice rejections', () => {
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'argus-volume-syntax-'));
  });

  after(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  /**
   * Copies a file with another TransferSyntaxUID in its File Meta Information, keeping the dataset bytes.
   * pydicom 2.3 and DCMTK refuse to write a syntax they do not know, so the meta elements are rebuilt here.
   */
  async function withTransferSyntax(source: string, uid: string): Promise<string> {
    const bytes = await readFile(source);
    const elements: Buffer[] = [];
    let offset = 132;
    while (bytes.readUInt16LE(offset) === 0x0002) {
      const element = bytes.readUInt16LE(offset + 2);
      const vr = bytes.toString('latin1', offset + 4, offset + 6);
      const long = ['OB', 'OW', 'UN', 'UT', 'SQ'].includes(vr);
      const length = long ? bytes.readUInt32LE(offset + 8) : bytes.readUInt16LE(offset + 6);
      const end = offset + (long ? 12 : 8) + length;
      if (element === 0x0010) {
        const value = Buffer.from(uid.length % 2 === 0 ? uid : `${uid}\0`, 'latin1');
        const header = Buffer.from([0x02, 0x00, 0x10, 0x00, 0x55, 0x49, value.length & 0xff, value.length >> 8]);
        elements.push(Buffer.concat([header, value]));
      } else if (element !== 0x0000) {
        elements.push(bytes.subarray(offset, end));
      }
      offset = end;
    }
    const body = Buffer.concat(elements);
    const groupLength = Buffer.from([0x02, 0x00, 0x00, 0x00, 0x55, 0x4c, 0x04, 0x00, 0, 0, 0, 0]);
    groupLength.writeUInt32LE(body.length, 8);
    const target = path.join(workDir, `${uid}.dcm`);
    await writeFile(target, Buffer.concat([bytes.subarray(0, 132), groupLength, body, bytes.subarray(offset)]));
    return target;
  }

  const unknown: [string, RegExp][] = [
    ['1.2.840.10008.1.2.4.201', /High-Throughput JPEG 2000 Image Compression \(Lossless Only\) \(1\.2\.840\.10008\.1\.2\.4\.201\), which cannot be decoded here/],
    ['1.2.826.0.1.3680043.9.9999.1', /1\.2\.826\.0\.1\.3680043\.9\.9999\.1, which is private or unknown/],
  ];
  for (const [uid, message] of unknown) {
    it(`unsupported_transfer_syntax for ${uid}`, async () => {
      const file = await withTransferSyntax(`${DATA}/wg04_compression_samples/CT1_J2KR.dcm`, uid);
      const error = await expectVolumeError('unsupported_transfer_syntax', () => readCtSlice(file));
      assert.match(error.message, message);
      assert.equal(error.filePath, file);
    });
  }

  it('private_compression for Elscint PMSCT_RLE1', async () => {
    const file = `${DATA}/orthanc_tests_db/2020-09-12-ELSCINT1-PMSCT_RLE1.dcm`;
    const error = await expectVolumeError('private_compression', () => readCtSlice(file));
    assert.match(error.message, /private method PMSCT_RLE1/);
  });

  it('uncompressed twin of a compressed file reads', async () => {
    const slice = await readCtSlice(`${DATA}/wg04_compression_samples/CT1_UNC.dcm`);
    assert.equal(slice.transferSyntaxUid, '1.2.840.10008.1.2.1');
  });

  const others: [string, VolumeErrorCode][] = [
    [`${DATA}/dcm_qa_ct/Philips_Ingenuity_study_S21570/S4010/I10`, 'unsupported_sop_class'],
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
