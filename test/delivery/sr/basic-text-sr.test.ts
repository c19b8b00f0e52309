import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { buildBasicTextSr, NOT_FOR_CLINICAL_USE_SERIES_DESCRIPTION, SERIES_DESCRIPTION, type SrInput } from '../../../src/delivery/sr/basic-text-sr.ts';
import { SrInputError } from '../../../src/delivery/sr/sr-input.ts';
import { isValidUid } from '../../../src/dicom/uid.ts';
import { readWithPydicom, runTool, type JsonDataset } from './peers.ts';

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

function sampleInput(overrides: Partial<SrInput> = {}): SrInput {
  return {
    study: {
      studyInstanceUid: '1.2.826.0.1.3680043.8.498.1001',
      studyId: 'S42',
      studyDate: '20240506',
      studyTime: '101500',
      accessionNumber: 'ACC-7781',
      referringPhysicianName: 'Nowak^Anna',
      patientName: 'Żółkiewski^Stanisław',
      patientId: 'PID-0042',
      patientBirthDate: '19700102',
      patientSex: 'M',
      issuerOfPatientId: 'HOSPITAL-A',
    },
    evidence: {
      seriesInstanceUid: '1.2.826.0.1.3680043.8.498.1001.2',
      instances: [
        { sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: '1.2.826.0.1.3680043.8.498.1001.2.1' },
        { sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: '1.2.826.0.1.3680043.8.498.1001.2.2' },
        { sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: '1.2.826.0.1.3680043.8.498.1001.2.3' },
      ],
    },
    report: {
      findings: 'A 12 mm nodule in the left lower lobe (é, ł, 中).\n\nNo pleural effusion.\nHeart size normal.',
      impression: 'Solitary pulmonary nodule, left lower lobe; wykonać kontrolę.',
    },
    // Declared for clinical use, so that the SR carries no not-for-clinical-use labels.
    model: { name: 'Argus CT demo', version: '0.3.1', deviceUid: '2.25.1234567890123', manufacturer: 'argus-gateway', clinicalUse: true },
    createdAt: new Date('2024-05-06T11:22:33.456Z'),
    ...overrides,
  };
}

function stringValue(dataset: JsonDataset, tag: string): unknown {
  return dataset[tag]?.Value?.[0];
}

describe('Basic Text SR', () => {
  let directory: string;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'argus-sr-'));
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  async function writeSr(name: string, input: SrInput): Promise<{ path: string; sr: ReturnType<typeof buildBasicTextSr> }> {
    const sr = buildBasicTextSr(input);
    const path = join(directory, name);
    await writeFile(path, sr.part10);
    return { path, sr };
  }

  it('passes dciodvfy without errors', async () => {
    const { path } = await writeSr('full.dcm', sampleInput());
    const { stdout, stderr } = await runTool('dciodvfy', [path]);
    const output = `${stdout}\n${stderr}`;

    assert.match(output, /BasicTextSR/, 'dciodvfy did not recognise the IOD');
    assert.deepEqual(output.split('\n').filter((line) => line.startsWith('Error')), []);
  });

  it('passes dciodvfy with only the study UID known', async () => {
    const input = sampleInput({ study: { studyInstanceUid: '1.2.826.0.1.3680043.8.498.1002' } });
    const { path } = await writeSr('minimal.dcm', input);
    const { stdout, stderr } = await runTool('dciodvfy', [path]);

    assert.deepEqual(`${stdout}\n${stderr}`.split('\n').filter((line) => line.startsWith('Error')), []);
  });

  it('reads in dsrdump with Findings and Impressions text', async () => {
    const { path } = await writeSr('dsrdump.dcm', sampleInput());
    const { exitCode, stdout } = await runTool('dsrdump', ['+Pl', path]);

    assert.equal(exitCode, 0);
    assert.match(stdout, /^Basic Text SR Document$/m);
    assert.match(stdout, /<CONTAINER:\(,,"Diagnostic Imaging Report"\)=SEPARATE>/);
    assert.match(stdout, /<contains CONTAINER:\(,,"Findings"\)=SEPARATE>/);
    assert.match(stdout, /<contains CONTAINER:\(,,"Impressions"\)=SEPARATE>/);
    assert.ok(stdout.includes('<contains TEXT:(,,"Finding")="A 12 mm nodule in the left lower lobe (é, ł, 中).">'));
    assert.ok(stdout.includes('<contains TEXT:(,,"Finding")="No pleural effusion.\\r\\nHeart size normal.">'));
    assert.ok(
      stdout.includes('<contains TEXT:(,,"Impression")="Solitary pulmonary nodule, left lower lobe; wykonać kontrolę.">'),
    );
    assert.match(stdout, /<has concept mod CODE:\(,,"Language of Content Item and Descendants"\)=\(en,RFC5646,"English"\)>/);
    assert.match(stdout, /<has obs context CODE:\(,,"Observer Type"\)=\(121007,DCM,"Device"\)>/);
    assert.match(stdout, /<has obs context UIDREF:\(,,"Device Observer UID"\)="2\.25\.1234567890123">/);
    assert.match(stdout, /Verification Flag\s+: UNVERIFIED/);
    assert.match(stdout, /Completion Flag\s+: COMPLETE/);
  });

  it('keeps non-ASCII text as UTF-8', async () => {
    const { path } = await writeSr('utf8.dcm', sampleInput());
    const { stdout } = await runTool('dcmdump', ['+L', path]);

    assert.match(stdout, /\(0008,0005\) CS \[ISO_IR 192\]/);
    assert.ok(stdout.includes('PN [Żółkiewski^Stanisław]'));
    assert.ok(stdout.includes('UT [A 12 mm nodule in the left lower lobe (é, ł, 中).]'));
    assert.ok(stdout.includes('UT [Solitary pulmonary nodule, left lower lobe; wykonać kontrolę.]'));
  });

  it('lists exactly the given instances as evidence', async () => {
    const input = sampleInput();
    const { path } = await writeSr('evidence.dcm', input);
    const dataset = await readWithPydicom(path);

    const studies = dataset['0040A375']?.Value as JsonDataset[];
    assert.equal(studies.length, 1);
    assert.equal(stringValue(studies[0]!, '0020000D'), input.study.studyInstanceUid);
    const series = studies[0]!['00081115']?.Value as JsonDataset[];
    assert.equal(series.length, 1);
    assert.equal(stringValue(series[0]!, '0020000E'), input.evidence.seriesInstanceUid);
    const references = (series[0]!['00081199']?.Value as JsonDataset[]).map((item) => ({
      sopClassUid: stringValue(item, '00081150'),
      sopInstanceUid: stringValue(item, '00081155'),
    }));
    assert.deepEqual(references, input.evidence.instances);
  });

  it('lists a repeated instance once', async () => {
    const base = sampleInput();
    const first = base.evidence.instances[0]!;
    const input = sampleInput({
      evidence: { ...base.evidence, instances: [first, ...base.evidence.instances, { ...first }] },
    });
    const { path } = await writeSr('repeated.dcm', input);
    const dataset = await readWithPydicom(path);

    const series = (dataset['0040A375']?.Value as JsonDataset[])[0]!['00081115']?.Value as JsonDataset[];
    const instanceUids = (series[0]!['00081199']?.Value as JsonDataset[]).map((item) => stringValue(item, '00081155'));
    assert.deepEqual(instanceUids, base.evidence.instances.map((instance) => instance.sopInstanceUid));
  });

  it('copies the study and patient attributes', async () => {
    const input = sampleInput();
    const { path } = await writeSr('patient.dcm', input);
    const dataset = await readWithPydicom(path);

    assert.equal(stringValue(dataset, '0020000D'), input.study.studyInstanceUid);
    assert.deepEqual(stringValue(dataset, '00100010'), { Alphabetic: input.study.patientName });
    assert.equal(stringValue(dataset, '00100020'), input.study.patientId);
    assert.equal(stringValue(dataset, '00100021'), input.study.issuerOfPatientId);
    assert.equal(stringValue(dataset, '00100030'), input.study.patientBirthDate);
    assert.equal(stringValue(dataset, '00100040'), input.study.patientSex);
    assert.equal(stringValue(dataset, '00080020'), input.study.studyDate);
    assert.equal(stringValue(dataset, '00080030'), input.study.studyTime);
    assert.equal(stringValue(dataset, '00080050'), input.study.accessionNumber);
    assert.deepEqual(stringValue(dataset, '00080090'), { Alphabetic: input.study.referringPhysicianName });
    assert.equal(stringValue(dataset, '00200010'), input.study.studyId);
  });

  it('writes absent Type 2 attributes empty', async () => {
    const { path } = await writeSr('type2.dcm', sampleInput({ study: { studyInstanceUid: '1.2.826.0.1.3680043.8.498.1003' } }));
    const dataset = await readWithPydicom(path);

    const type2Tags = ['00100010', '00100020', '00100030', '00100040', '00080020', '00080030', '00080050', '00080090', '00200010'];
    for (const tag of type2Tags) {
      assert.ok(tag in dataset, `${tag} is missing`);
      assert.equal(dataset[tag]?.Value, undefined, `${tag} has a value`);
    }
    assert.equal('00100021' in dataset, false, 'IssuerOfPatientID (Type 3) was written without a value');
  });

  it('creates a new series and instance', async () => {
    const input = sampleInput();
    const first = await writeSr('new-series-1.dcm', input);
    const second = await writeSr('new-series-2.dcm', input);
    const dataset = await readWithPydicom(first.path);

    assert.equal(stringValue(dataset, '0020000E'), first.sr.seriesInstanceUid);
    assert.equal(stringValue(dataset, '00080018'), first.sr.sopInstanceUid);
    assert.ok(isValidUid(first.sr.seriesInstanceUid));
    assert.ok(isValidUid(first.sr.sopInstanceUid));
    assert.notEqual(first.sr.seriesInstanceUid, input.evidence.seriesInstanceUid);
    assert.notEqual(first.sr.seriesInstanceUid, first.sr.sopInstanceUid);
    assert.notEqual(second.sr.seriesInstanceUid, first.sr.seriesInstanceUid);
    assert.notEqual(second.sr.sopInstanceUid, first.sr.sopInstanceUid);
    assert.equal(stringValue(dataset, '00080060'), 'SR');
  });

  it('generates UIDs under a configured root', () => {
    const { seriesInstanceUid, sopInstanceUid } = buildBasicTextSr(sampleInput({ uidRoot: '1.2.826.0.1.3680043.8.498' }));

    assert.ok(seriesInstanceUid.startsWith('1.2.826.0.1.3680043.8.498.'));
    assert.ok(sopInstanceUid.startsWith('1.2.826.0.1.3680043.8.498.'));
    assert.ok(isValidUid(seriesInstanceUid));
    assert.ok(isValidUid(sopInstanceUid));
  });

  it('names the model as equipment and flags the draft', async () => {
    const input = sampleInput();
    const { path } = await writeSr('equipment.dcm', input);
    const dataset = await readWithPydicom(path);

    assert.equal(stringValue(dataset, '0008103E'), SERIES_DESCRIPTION);
    assert.match(SERIES_DESCRIPTION, /AI-generated/);
    assert.equal(stringValue(dataset, '00080005'), 'ISO_IR 192');
    assert.equal(stringValue(dataset, '00080070'), input.model.manufacturer);
    assert.equal(stringValue(dataset, '00081090'), input.model.name);
    assert.equal(stringValue(dataset, '00181020'), input.model.version);
    assert.equal(stringValue(dataset, '0040A493'), 'UNVERIFIED');
    assert.equal(stringValue(dataset, '0040A496'), 'PRELIMINARY');
    assert.equal(stringValue(dataset, '0040A491'), 'COMPLETE');

    const equipment = dataset['0018A001']?.Value as JsonDataset[];
    assert.equal(equipment.length, 1);
    assert.equal(stringValue(equipment[0]!, '00080070'), input.model.manufacturer);
    assert.equal(stringValue(equipment[0]!, '00081090'), input.model.name);
    assert.equal(stringValue(equipment[0]!, '00181020'), input.model.version);
    assert.equal(stringValue(equipment[0]!, '00181002'), input.model.deviceUid);
  });

  it('labels a model not for clinical use', async () => {
    const { clinicalUse: _clinicalUse, ...undeclared } = sampleInput().model;
    for (const [name, model] of [
      ['declared.dcm', { ...undeclared, clinicalUse: false }],
      ['undeclared.dcm', undeclared],
    ] as const) {
      const { path } = await writeSr(name, sampleInput({ model }));
      const dataset = await readWithPydicom(path);
      const { stdout } = await runTool('dsrdump', ['+Pl', path]);
      const { stdout: verifyOut, stderr: verifyErr } = await runTool('dciodvfy', [path]);

      assert.equal(stringValue(dataset, '0008103E'), NOT_FOR_CLINICAL_USE_SERIES_DESCRIPTION);
      assert.ok(NOT_FOR_CLINICAL_USE_SERIES_DESCRIPTION.length <= 64, 'SeriesDescription is an LO value');
      const equipment = dataset['0018A001']?.Value as JsonDataset[];
      assert.match(String(stringValue(equipment[0]!, '0018A003')), /NOT FOR CLINICAL USE/);
      assert.equal(stringValue(equipment[0]!, '00081090'), model.name);
      assert.match(stdout, /Device Observer Name.*Argus CT demo 0\.3\.1 \(NOT FOR CLINICAL USE\)/);
      assert.deepEqual(`${verifyOut}\n${verifyErr}`.split('\n').filter((line) => line.startsWith('Error')), []);
    }
  });

  it('marks a report without impression PARTIAL', async () => {
    const input = sampleInput({ report: { findings: 'No acute findings.', impression: ' \n ' } });
    const { path } = await writeSr('partial.dcm', input);
    const dataset = await readWithPydicom(path);
    const { stdout } = await runTool('dsrdump', [path]);
    const { stdout: verifyOut, stderr: verifyErr } = await runTool('dciodvfy', [path]);

    assert.equal(stringValue(dataset, '0040A491'), 'PARTIAL');
    assert.match(String(stringValue(dataset, '0040A492')), /Impressions/);
    assert.match(stdout, /"Findings"/);
    assert.doesNotMatch(stdout, /"Impressions"/);
    assert.deepEqual(`${verifyOut}\n${verifyErr}`.split('\n').filter((line) => line.startsWith('Error')), []);
  });

  it('removes control characters from the text', async () => {
    const input = sampleInput({ report: { findings: 'Left\u001b[31m lung\u0000 clear.', impression: 'Normal.\u0007' } });
    const { path } = await writeSr('control.dcm', input);
    const { stdout } = await runTool('dsrdump', ['+Pl', path]);

    assert.ok(stdout.includes('<contains TEXT:(,,"Finding")="Left[31m lung clear.">'));
    assert.ok(stdout.includes('<contains TEXT:(,,"Impression")="Normal.">'));
  });

  describe('input checks', () => {
    const cases: { name: string; input: SrInput; field: string }[] = [
      {
        name: 'empty evidence',
        input: sampleInput({ evidence: { seriesInstanceUid: '1.2.3', instances: [] } }),
        field: 'evidence.instances',
      },
      {
        name: 'one instance with two SOP classes',
        input: sampleInput({
          evidence: {
            seriesInstanceUid: '1.2.3',
            instances: [
              { sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: '1.2.3.4' },
              { sopClassUid: '1.2.840.10008.5.1.4.1.1.4', sopInstanceUid: '1.2.3.4' },
            ],
          },
        }),
        field: 'evidence.instances[1]',
      },
      {
        name: 'invalid study UID',
        input: sampleInput({ study: { studyInstanceUid: '1.2.03' } }),
        field: 'study.studyInstanceUid',
      },
      {
        name: 'model name over 64 characters',
        input: sampleInput({ model: { ...sampleInput().model, name: 'x'.repeat(65) } }),
        field: 'model.name',
      },
      {
        name: 'empty model version',
        input: sampleInput({ model: { ...sampleInput().model, version: ' ' } }),
        field: 'model.version',
      },
      {
        name: 'backslash in model version',
        input: sampleInput({ model: { ...sampleInput().model, version: '1.0\\beta' } }),
        field: 'model.version',
      },
      { name: 'series number 0', input: sampleInput({ seriesNumber: 0 }), field: 'seriesNumber' },
      { name: 'invalid creation time', input: sampleInput({ createdAt: new Date('not a date') }), field: 'createdAt' },
    ];

    for (const { name, input, field } of cases) {
      it(`rejects ${name}`, () => {
        assert.throws(
          () => buildBasicTextSr(input),
          (error: unknown) => error instanceof SrInputError && error.code === 'sr_invalid_input' && error.field === field,
        );
      });
    }
  });
});
