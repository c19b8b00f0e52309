/**
 * The dataset scanner against real files, with pydicom (Debian's python3-pydicom) as the reference
 * reader. Every supported file of the shared test data scans without error, the header attributes it
 * keeps match pydicom's, and a cut in the middle of an element is found.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

import { datasetEncoding } from '../../src/dicom/conformance.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { scanDataset, scanFile } from './scan-file.ts';

const run = promisify(execFile);

const FOLDERS = ['cornerstone_wado_testimages', 'wg04_compression_samples', 'pydicom_testfiles/ct', 'pydicom_testfiles/sr', 'pydicom_testfiles/ts_variants', 'orthanc_tests_db', 'dcmqi_testdata/ct-3slice'];

/** Attributes compared with pydicom: keyword and whether it is a Person Name. */
const COMPARED = ['SOPClassUID', 'SOPInstanceUID', 'StudyInstanceUID', 'SeriesInstanceUID', 'Modality', 'PatientID', 'PatientName', 'StudyDescription', 'SeriesDescription', 'ImageType', 'ImagePositionPatient', 'InstanceNumber', 'Rows'];

const PYDICOM_HEADERS = `
import json, sys, pydicom
out = {}
for name in sys.argv[1:]:
    ds = pydicom.dcmread(name, stop_before_pixels=True)
    values = {}
    for keyword in ${JSON.stringify(COMPARED)}:
        value = ds.get(keyword)
        if value is None or value == '':
            continue
        if keyword == 'PatientName':
            values[keyword] = value.alphabetic if hasattr(value, 'alphabetic') else str(value)
        elif isinstance(value, pydicom.multival.MultiValue):
            values[keyword] = '\\\\'.join(str(item) for item in value)
        else:
            values[keyword] = str(value)
    out[name] = values
print(json.dumps(out))
`;

async function dicomFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const folder of FOLDERS) {
    for (const name of await readdir(sharedData(folder))) {
      if (/\.(md|txt)$/i.test(name) || name.startsWith('LICENSE')) continue;
      files.push(sharedData(folder, name));
    }
  }
  return files;
}

describe('dataset scanner', () => {
  it('scans every supported file and matches pydicom headers', async () => {
    const files = await dicomFiles();
    const { stdout } = await run('/usr/bin/python3', ['-c', PYDICOM_HEADERS, ...files], { maxBuffer: 16 * 1024 * 1024 });
    const reference = JSON.parse(stdout) as Record<string, Record<string, string>>;

    let scanned = 0;
    let compared = 0;
    for (const file of files) {
      const result = await scanFile(file).catch((error: unknown) => error as Error);
      if (result instanceof Error) {
        // JPEG processes 6/8 and 10/12 are retired and not accepted by the listener.
        assert.match(result.message, /1\.2\.840\.10008\.1\.2\.4\.5[35] is not supported/, `${file}: ${result.message}`);
        continue;
      }
      assert.ok(result.ok, `${path.basename(file)}: ${result.ok ? '' : result.error.message}`);
      scanned += 1;
      for (const keyword of COMPARED) {
        const expected = reference[file]![keyword];
        const actual: unknown = result.attributes[keyword];
        if (expected === undefined) continue;
        const normalize = (value: unknown) => String(value).split('\\').map((item) => item.trim()).join('\\');
        assert.equal(normalize(actual), normalize(expected), `${path.basename(file)} ${keyword}`);
        compared += 1;
      }
    }
    assert.ok(scanned >= 50, `only ${scanned} files were scanned`);
    assert.ok(compared >= 10 * scanned, `only ${compared} attribute values were compared`);
  });

  it('decodes a Latin-2 person name', async () => {
    const result = await scanFile(sharedData('orthanc_tests_db/SR_BasicText_MarekLatin2.dcm'));
    assert.ok(result.ok);
    assert.match(String(result.attributes.SpecificCharacterSet), /ISO_IR 101/);
    // pydicom decodes it to the same text; the check here is that no byte is left as Latin-1.
    assert.doesNotMatch(String(result.attributes.PatientName ?? ''), /[\u0080-\u00ff]/);
  });

  for (const [name, cut] of [
    ['inside Pixel Data', 1000],
    ['inside an element header', undefined],
  ] as const) {
    it(`finds a dataset cut ${name}`, async () => {
      const file = await scanFile(sharedData('wg04_compression_samples/CT1_UNC.dcm'));
      const { dataset, transferSyntaxUid } = file.part10;
      // An element header starts 8 bytes before the Pixel Data value; cutting 4 bytes into it leaves half a header.
      const pixelDataOffset = dataset.lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
      const length = cut === undefined ? pixelDataOffset + 4 : dataset.length - cut;
      const result = await scanDataset(dataset.subarray(0, length), transferSyntaxUid);
      assert.equal(result.ok, false);
      if (!result.ok) assert.match(result.error.message, cut === undefined ? /inside an element header/ : /inside the value of \(7FE0,0010\): \d+ bytes missing/);
    });
  }

  it('finds a cut inside encapsulated Pixel Data', async () => {
    const file = await scanFile(sharedData('wg04_compression_samples/CT1_JLSL.dcm'));
    const { dataset, transferSyntaxUid } = file.part10;
    // Without the sequence delimiter item the fragments never end.
    const result = await scanDataset(dataset.subarray(0, dataset.length - 8), transferSyntaxUid);
    assert.equal(result.ok, false);
  });

  it('finds a broken deflate stream', async () => {
    const file = await scanFile(sharedData('cornerstone_wado_testimages/CTImage.dcm_DeflatedExplicitVRLittleEndianTransferSyntax_1.2.840.10008.1.2.1.99.dcm'));
    assert.ok(datasetEncoding(file.part10.transferSyntaxUid)?.deflated);
    assert.ok(file.ok);
    const result = await scanDataset(file.part10.dataset.subarray(0, file.part10.dataset.length / 2), file.part10.transferSyntaxUid);
    assert.equal(result.ok, false);
  });
});
