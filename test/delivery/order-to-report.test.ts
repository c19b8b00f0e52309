/**
 * Order intake through the whole service on the embedded database. python3-hl7 sends an ORM^O01 to the
 * order listener, and storescu pushes a CT study with the order's accession number. The report reaches
 * the RIS as an ORU^R01 with the order's numbers and patient once an administrator approves it with the
 * command line, through the service's control socket. A replay then sends it again with a new MSH-10.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { freePort, runTool, startStorescp, storescu, type Storescp } from '../helpers/dcmtk.ts';
import { MllpPeer } from '../helpers/mllp-peer.ts';
import { parseWithPythonHl7 } from '../helpers/python-hl7.ts';
import { REPOSITORY, runCli, ServiceProcess, waitFor } from '../helpers/service-process.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { ormO01 } from './orders/order-fixtures.ts';
import { sendWithPythonHl7 } from './orders/python-mllp-sender.ts';

const SERIES_FOLDER = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010');
/** The Philips study has no accession number; the test gives its copy one, as a RIS-driven modality would. */
const ACCESSION_NUMBER = 'ACC-E2E-0001';
const PATIENT_ID = 'PLASTIC';

interface DeliveryItem {
  id: string;
  kind: string;
  state: string;
  controlId: string;
}

describe('order to report', () => {
  let workDirectory: string;
  let configPath: string;
  let service: ServiceProcess;
  let ris: MllpPeer;
  let pacs: Storescp;
  let dicomPort: number;
  let orderPort: number;
  let studyFolder: string;

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-order-e2e-'));
    studyFolder = path.join(workDirectory, 'study');
    await cp(SERIES_FOLDER, studyFolder, { recursive: true });
    const files = (await readdir(studyFolder)).map((name) => path.join(studyFolder, name));
    const modified = await runTool('dcmodify', ['-nb', '-i', `(0008,0050)=${ACCESSION_NUMBER}`, ...files]);
    assert.equal(modified.code, 0, modified.stderr);

    ris = new MllpPeer();
    const { port: risPort } = await ris.start();
    pacs = await startStorescp('PACS');
    dicomPort = await freePort();
    orderPort = await freePort();

    configPath = path.join(workDirectory, 'argus-gateway.json');
    await writeFile(
      configPath,
      JSON.stringify({
        dataDirectory: path.join(workDirectory, 'data'),
        dicom: {
          listener: { host: '127.0.0.1', port: dicomPort, aeTitle: 'ARGUS' },
          peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }],
          destinations: [{ name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port: pacs.port }],
          timeoutSeconds: 20,
        },
        completeness: { studyQuietPeriodSeconds: 2, checkIntervalSeconds: 0.5 },
        worker: { pollIntervalSeconds: 0.5 },
        delivery: { pollIntervalSeconds: 0.5, retryBaseSeconds: 1 },
        model: { packagePath: path.join(REPOSITORY, 'test/fixtures/tiny-argus') },
        hl7: {
          orderListener: { host: '127.0.0.1', port: orderPort, allowedAddresses: ['127.0.0.1'] },
          destinations: [
            {
              name: 'ris',
              host: '127.0.0.1',
              port: risPort,
              sendingApplication: 'ARGUS',
              sendingFacility: 'RADIOLOGY',
              receivingApplication: 'RIS',
              receivingFacility: 'HOSPITAL',
              ackTimeoutSeconds: 10,
              requireApproval: true,
            },
          ],
        },
      }),
    );

    service = new ServiceProcess(configPath);
    await service.waitForLog('service started');
  });

  after(async () => {
    await service?.stop();
    await ris?.close();
    await pacs?.stop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  async function listDeliveries(): Promise<DeliveryItem[]> {
    const listed = await runCli(configPath, ['deliveries', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    return JSON.parse(listed.stdout) as DeliveryItem[];
  }

  it('stores the ORM^O01 and returns AA', async () => {
    const [ack] = await sendWithPythonHl7(orderPort, [
      ormO01({ messageControlId: 'E2E-ORM-1', patientId: PATIENT_ID, accessionNumber: ACCESSION_NUMBER }),
    ]);
    assert.equal(ack?.ackCode, 'AA');
    assert.equal(ack?.acknowledgedId, 'E2E-ORM-1');
  });

  it('holds the ORU^R01 of the next study with that accession number', async () => {
    const result = await storescu({ port: dicomPort, calledAeTitle: 'ARGUS', paths: [studyFolder] });
    assert.equal(result.code, 0, result.stderr);

    const deliveries = await waitFor('an SR delivered and an ORU held', async () => {
      const items = await listDeliveries();
      const sr = items.find((item) => item.kind === 'dicom_sr');
      const oru = items.find((item) => item.kind === 'hl7_oru');
      return sr?.state === 'delivered' && oru?.state === 'held' ? items : undefined;
    });
    assert.equal(deliveries.length, 2);
    assert.equal(ris.messages.length, 0);
  });

  it('sends the approved ORU^R01 with the order numbers and the order patient', async () => {
    const oru = (await listDeliveries()).find((item) => item.kind === 'hl7_oru')!;
    const approved = await runCli(configPath, ['deliveries', 'approve', oru.id]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, /approved/);

    const [message] = await ris.waitForMessages(1, 30_000);
    const parsed = parseWithPythonHl7(message!);
    const orc = message!.split('\r').find((segment) => segment.startsWith('ORC|'))!.split('|');
    const obr = message!.split('\r').find((segment) => segment.startsWith('OBR|'))!.split('|');
    assert.equal(orc[2], 'PL-100^HIS');
    assert.equal(orc[3], 'FI-200^RIS');
    assert.equal(parsed.fields['OBR.F18'], ACCESSION_NUMBER);
    assert.equal(obr[19], 'RP-100');
    assert.equal(obr[4], 'CTCHEST^CT chest without contrast^L');
    assert.equal(parsed.fields['PID.F3.R1.C1'], PATIENT_ID);
    assert.equal(parsed.fields['PID.F5.R1.C1'], 'Nowak');
    assert.equal(parsed.fields['OBR.F25'], 'P');
    assert.equal(parsed.fields['MSH.F10'], oru.controlId);
  });

  it('references the request in the SR', async () => {
    const [srFile] = await pacs.files();
    const dump = await runTool('dcmdump', ['+P', '0040,a370', '+P', '0008,0050', '+P', '0040,1001', srFile!]);
    assert.match(dump.stdout, new RegExp(`\\[${ACCESSION_NUMBER}\\]`));
    assert.match(dump.stdout, /\[RP-100\]/);
  });

  it('replays the ORU^R01 with a new MSH-10', async () => {
    const oru = await waitFor('the ORU delivered', async () => {
      const item = (await listDeliveries()).find((candidate) => candidate.kind === 'hl7_oru');
      return item?.state === 'delivered' ? item : undefined;
    });
    const replayed = await runCli(configPath, ['deliveries', 'replay', oru.id]);
    assert.equal(replayed.code, 0, replayed.stderr);

    const messages = await ris.waitForMessages(2, 30_000);
    const second = parseWithPythonHl7(messages[1]!);
    assert.notEqual(second.fields['MSH.F10'], oru.controlId);
    assert.match(replayed.stdout, new RegExp(`as MSH-10 ${second.fields['MSH.F10']}`));

    const again = await runCli(configPath, ['deliveries', 'approve', oru.id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /only a held delivery can be approved/);
  });

  it('keeps order and patient data out of the logs', () => {
    for (const secret of [PATIENT_ID, 'Nowak', ACCESSION_NUMBER, 'PL-100', 'MSH|']) {
      assert.ok(!service.output.includes(secret), `the log contains ${secret}`);
    }
  });
});
