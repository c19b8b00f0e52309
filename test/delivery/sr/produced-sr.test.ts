/**
 * Every kind of SR the delivery path produces, checked with the reference tools: first report, report
 * with a RIS order and the source modules, corrected report, and long accented and CJK text. dciodvfy
 * finds no error, dsrdump and pydicom read them, and storescp stores them, also when it accepts only
 * Implicit VR Little Endian with a 4 KB maximum PDU.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { loadConfig, type AppConfig } from '../../../src/config/load.ts';
import type { Study } from '../../../src/db/entities/study.ts';
import type { OrderRow } from '../../../src/db/queries/orders.ts';
import { readPart10 } from '../../../src/delivery/sr/dcmjs-part10.ts';
import { sendCStore } from '../../../src/delivery/sr/c-store-scu.ts';
import { readSourceAttributes } from '../../../src/delivery/sr/source-modules.ts';
import { configureLogging } from '../../../src/logging/logger.ts';
import { buildDeliveries, buildDeliveryMessages, type MessageContext, type PredecessorSr } from '../../../src/worker/build-deliveries.ts';
import { sharedData } from '../../helpers/shared-data.ts';
import { findFreePort, readWithPydicom, runTool, startScp, type JsonDataset, type RunningPeer } from './peers.ts';

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const SOURCE_FILE = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010/I10');
const STUDY_INSTANCE_UID = '1.2.826.0.1.3680043.8.498.3001';
/** Longer than one 4 KB PDU many times over, with text in three scripts. */
const LONG_TEXT = Array.from({ length: 120 }, (_, line) => `Zeile ${line}: épanchement, złamanie żebra, 左肺下叶结节 ${line} mm.`).join('\n');

const study = {
  id: 'study-1',
  studyInstanceUid: STUDY_INSTANCE_UID,
  patientId: 'PAT-3001',
  issuerOfPatientId: 'HOSP',
  patientName: 'Żółkiewska^Anna',
  patientBirthDate: '19800101',
  patientSex: 'F',
  accessionNumber: 'ACC-3001',
  studyId: 'S1',
  studyDate: '20240506',
  studyTime: '101500',
  studyDescription: 'CT CHEST',
  referringPhysicianName: 'Nowak^Jan',
} as Study;

const order: OrderRow = {
  id: 'order-1',
  placerOrderNumber: 'PL-3001',
  placerOrderNamespace: 'HIS',
  fillerOrderNumber: 'FI-3001',
  fillerOrderNamespace: 'RIS',
  accessionNumber: 'ACC-3001',
  requestedProcedureId: 'RP-3001',
  studyInstanceUid: null,
  patientId: 'PAT-3001',
  patientIdIssuer: 'HOSP',
  patientFamilyName: 'Żółkiewska',
  patientGivenName: 'Anna',
  patientBirthDate: '19800101',
  patientSex: 'F',
  procedureCode: 'CTCH',
  procedureText: 'CT chest without contrast',
  procedureCodingSystem: 'L',
  status: 'active',
  updatedAt: new Date(),
};

function config(): AppConfig {
  const base = loadConfig(undefined, {});
  return {
    ...base,
    dicom: {
      ...base.dicom,
      destinations: [{ name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port: 104, warningPolicy: 'delivered', requireApproval: false, blockOnDead: false }],
    },
  };
}

/** Builds the SR the way the report worker does and returns its Part 10 bytes. */
function produceSr(context: MessageContext, findings = 'Nodule 8 mm in the left lower lobe.\n\nNo effusion.'): Buffer {
  const plan = buildDeliveries(config(), {
    study,
    seriesInstanceUid: `${STUDY_INSTANCE_UID}.2`,
    instances: [1, 2, 3].map((index) => ({ sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid: `${STUDY_INSTANCE_UID}.2.${index}` })),
    findings,
    impression: 'Solitary nodule; follow-up CT advised.',
    model: { name: 'argus-demo', version: '0.1.0', deviceUid: '2.25.987654321' },
    createdAt: new Date('2024-05-06T11:00:00Z'),
  });
  const [delivery] = buildDeliveryMessages(plan, context);
  assert.equal(delivery?.kind, 'dicom_sr');
  assert.equal(delivery?.state, 'pending', delivery?.buildError?.message);
  return delivery!.payload;
}

function predecessorOf(part10: Buffer): PredecessorSr {
  const { dataset } = readPart10(part10);
  return {
    studyInstanceUid: String(dataset.StudyInstanceUID),
    seriesInstanceUid: String(dataset.SeriesInstanceUID),
    sopClassUid: String(dataset.SOPClassUID),
    sopInstanceUid: String(dataset.SOPInstanceUID),
    seriesNumber: Number(dataset.SeriesNumber),
    instanceNumber: Number(dataset.InstanceNumber),
  };
}

function value(dataset: JsonDataset, tag: string): unknown {
  return dataset[tag]?.Value?.[0];
}

function item(dataset: JsonDataset, tag: string): JsonDataset {
  return dataset[tag]?.Value?.[0] as JsonDataset;
}

describe('every produced SR', () => {
  let directory: string;
  const peers: RunningPeer[] = [];
  const produced = new Map<string, { part10: Buffer; path: string }>();

  before(async () => {
    configureLogging('silent');
    directory = await mkdtemp(join(tmpdir(), 'argus-produced-sr-'));
    const sourceAttributes = await readSourceAttributes(SOURCE_FILE);

    const first = produceSr({ correction: false });
    const withOrder = produceSr({ correction: false, order, sourceAttributes });
    const corrected = produceSr({ correction: true, order, sourceAttributes, predecessorSr: predecessorOf(withOrder) });
    const longText = produceSr({ correction: false, order }, LONG_TEXT);
    for (const [name, part10] of Object.entries({ first, withOrder, corrected, longText })) {
      const path = join(directory, `${name}.dcm`);
      await writeFile(path, part10);
      produced.set(name, { part10, path });
    }
  });

  after(async () => {
    await Promise.all(peers.map((peer) => peer.stop()));
    await rm(directory, { recursive: true, force: true });
  });

  async function storescp(name: string, extraArgs: string[]): Promise<{ port: number; outputDirectory: string }> {
    const outputDirectory = join(directory, `received-${name}`);
    await mkdir(outputDirectory);
    const port = await findFreePort();
    peers.push(await startScp('storescp', ['--aetitle', 'PACS', '-od', outputDirectory, ...extraArgs, String(port)], port));
    return { port, outputDirectory };
  }

  it('passes dciodvfy without errors', async () => {
    for (const [name, { path }] of produced) {
      const { stdout, stderr } = await runTool('dciodvfy', [path]);
      const output = `${stdout}\n${stderr}`;
      assert.match(output, /BasicTextSR/, name);
      assert.deepEqual(output.split('\n').filter((line) => line.startsWith('Error')), [], name);
    }
  });

  it('is read by dsrdump', async () => {
    for (const [name, { path }] of produced) {
      const { exitCode, stdout, stderr } = await runTool('dsrdump', ['+U8', path]);
      assert.equal(exitCode, 0, `${name}: ${stderr}`);
      assert.match(stdout, /Basic Text SR Document/, name);
      assert.match(stdout, /"Findings"/, name);
      assert.match(stdout, /"Impressions"/, name);
    }
  });

  it('keeps accented and CJK text', async () => {
    const dataset = await readWithPydicom(produced.get('longText')!.path);
    const findings = (dataset['0040A730']!.Value as JsonDataset[]).find((entry) => value(item(entry, '0040A043'), '00080104') === 'Findings')!;
    const paragraphs = (findings['0040A730']!.Value as JsonDataset[]).map((entry) => value(entry, '0040A160'));
    assert.equal(paragraphs.join('\n').replaceAll('\r\n', '\n'), LONG_TEXT);
    assert.equal((value(dataset, '00100010') as { Alphabetic: string }).Alphabetic, 'Żółkiewska^Anna');
  });

  it('references the request and copies the source modules', async () => {
    const dataset = await readWithPydicom(produced.get('withOrder')!.path);
    const request = item(dataset, '0040A370');
    assert.equal(value(request, '0020000D'), STUDY_INSTANCE_UID);
    assert.equal(value(request, '00080050'), 'ACC-3001');
    assert.equal(value(request, '00401001'), 'RP-3001');
    assert.equal(value(request, '00321060'), 'CT chest without contrast');
    assert.equal(value(item(request, '00321064'), '00080100'), 'CTCH');
    // StudyDescription and PatientName come from the Philips source instance, not from the study row.
    assert.equal(value(dataset, '00081030'), '1A TRAUMA/PLAIN HEAD DM');
    assert.equal((value(dataset, '00100010') as { Alphabetic: string }).Alphabetic, 'HEAD');
    const equipment = item(dataset, '0018A001');
    assert.equal(value(item(equipment, '0040A170'), '00080104'), 'Processing Algorithm');

    // The study's accession number alone already makes the request known.
    const first = await readWithPydicom(produced.get('first')!.path);
    assert.equal(value(item(first, '0040A370'), '00080050'), 'ACC-3001');
  });

  it('makes a correction a new instance that names its predecessor', async () => {
    const original = await readWithPydicom(produced.get('withOrder')!.path);
    const corrected = await readWithPydicom(produced.get('corrected')!.path);
    const predecessor = item(corrected, '0040A360');
    const reference = item(item(predecessor, '00081115'), '00081199');

    assert.notEqual(value(corrected, '00080018'), value(original, '00080018'));
    assert.equal(value(corrected, '0020000E'), value(original, '0020000E'));
    assert.equal(value(corrected, '00200013'), Number(value(original, '00200013')) + 1);
    assert.equal(value(predecessor, '0020000D'), STUDY_INSTANCE_UID);
    assert.equal(value(reference, '00081155'), value(original, '00080018'));
    assert.equal(value(reference, '00081150'), value(original, '00080016'));
  });

  for (const [peerName, args] of [
    ['storescp', []],
    ['storescp with Implicit VR only and a 4 KB PDU', ['+xi', '-pdu', '4096']],
  ] as const) {
    it(`is stored by ${peerName}`, async () => {
      const { port, outputDirectory } = await storescp(peerName.replaceAll(' ', '-'), [...args]);
      for (const [name, { part10 }] of produced) {
        const result = await sendCStore({ aeTitle: 'PACS', host: '127.0.0.1', port }, 'ARGUS', part10, { timeoutMs: 20_000 });
        assert.equal(result.status, 0x0000, name);
      }
      const received = await readdir(outputDirectory);
      assert.equal(received.length, produced.size);
      for (const file of received) {
        const { exitCode, stdout } = await runTool('dsrdump', ['+U8', join(outputDirectory, file)]);
        assert.equal(exitCode, 0, file);
        assert.match(stdout, /Impressions/);
        if (args.length > 0) {
          assert.match((await runTool('dcmdump', ['+P', '0002,0010', join(outputDirectory, file)])).stdout, /LittleEndianImplicit/);
        }
      }
    });
  }
});
