/**
 * After a whole run on real parts, the service's own output must not contain the patient's name, ID,
 * birth date or accession number, nor the report text. The study is a real CT series from the shared
 * data whose copy gets distinctive identifying values (the original's "HEAD"/"PLASTIC" are too common
 * to search for). The test reads the values back from the files it sends, from the HL7 order and from
 * the database, and checks that they did reach the RIS, so the absence from the log means something.
 * The service also exports its audit trail to a syslog receiver started here, which is where patient
 * identifiers may go.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { ormO01 } from '../delivery/orders/order-fixtures.ts';
import { sendWithPythonHl7 } from '../delivery/orders/python-mllp-sender.ts';
import { freePort, runTool, startStorescp, storescu, type Storescp } from '../helpers/dcmtk.ts';
import { MllpPeer } from '../helpers/mllp-peer.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { REPOSITORY, runCli, ServiceProcess, waitFor } from '../helpers/service-process.ts';
import { sharedData } from '../helpers/shared-data.ts';

const SERIES_FOLDER = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010');

/** Reads one attribute of a file with DCMTK's dcmdump; returns '' when it is empty or absent. */
async function readAttribute(file: string, keyword: string): Promise<string> {
  const dump = await runTool('dcmdump', ['+P', keyword, file]);
  assert.equal(dump.code, 0, dump.stderr);
  return /\[(.*)\]/.exec(dump.stdout)?.[1] ?? '';
}

describe('patient data in the service output', () => {
  let workDirectory: string;
  let testDatabase: TestDatabase;
  let service: ServiceProcess;
  let ris: MllpPeer;
  let pacs: Storescp;
  let syslogMessages: string[];
  let syslogServer: net.Server;
  let dicomPort: number;
  let orderPort: number;
  let files: string[];
  const unique = randomBytes(4).toString('hex').toUpperCase();

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-phi-'));
    testDatabase = await createTestDatabase('argus_phi');

    const studyFolder = path.join(workDirectory, 'study');
    await cp(SERIES_FOLDER, studyFolder, { recursive: true });
    files = (await readdir(studyFolder)).map((name) => path.join(studyFolder, name));
    const modified = await runTool('dcmodify', [
      '-nb',
      '-i', `(0010,0010)=Quillfeather${unique}^Imogen`,
      '-i', `(0010,0020)=PID${unique}`,
      '-i', `(0010,0030)=19610203`,
      '-i', `(0008,0050)=ACC${unique}`,
      ...files,
    ]);
    assert.equal(modified.code, 0, modified.stderr);

    ris = new MllpPeer();
    const { port: risPort } = await ris.start();
    pacs = await startStorescp('PACS');
    dicomPort = await freePort();
    orderPort = await freePort();
    syslogMessages = [];
    syslogServer = net.createServer((socket) => socket.on('data', (chunk: Buffer) => syslogMessages.push(chunk.toString('utf8'))));
    await new Promise<void>((resolve) => syslogServer.listen(0, '127.0.0.1', resolve));

    const configPath = path.join(workDirectory, 'argus-gateway.json');
    await writeFile(
      configPath,
      JSON.stringify({
        dataDirectory: path.join(workDirectory, 'data'),
        // Debug level, so that the check covers every log line the service can write.
        logLevel: 'debug',
        database: { url: testDatabase.url },
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
            },
          ],
        },
        audit: { syslog: { host: '127.0.0.1', port: (syslogServer.address() as net.AddressInfo).port, transport: 'tcp', pollIntervalSeconds: 0.5 } },
      }),
    );
    service = new ServiceProcess(configPath);
    await service.waitForLog('service started');

    const [ack] = await sendWithPythonHl7(orderPort, [
      ormO01({
        messageControlId: `ORM-${unique}`,
        accessionNumber: `ACC${unique}`,
        pid: `PID|1||PID${unique}^^^HOSP^MR||Quillfeather${unique}^Imogen||19610203|F`,
      }),
    ]);
    assert.equal(ack?.ackCode, 'AA', ack?.raw);
    const sent = await storescu({ port: dicomPort, calledAeTitle: 'ARGUS', paths: files });
    assert.equal(sent.code, 0, sent.stderr);

    const configArgs = configPath;
    await waitFor('both deliveries delivered', async () => {
      const listed = await runCli(configArgs, ['deliveries', 'list', '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      const items = JSON.parse(listed.stdout) as { state: string }[];
      return items.length === 2 && items.every((item) => item.state === 'delivered') ? items : undefined;
    });
    await waitFor('the delivery audit rows at the syslog receiver', async () =>
      syslogMessages.join('').match(/csd-code="110106"/g)?.length === 2 ? true : undefined,
    );
    assert.equal(await service.stop(), 0);
  });

  after(async () => {
    await service?.stop();
    await ris?.close();
    await pacs?.stop();
    await new Promise((resolve) => syslogServer?.close(resolve));
    await testDatabase?.drop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  it('writes none of the identifying values of the sent files', async () => {
    const values = new Set<string>();
    for (const keyword of ['PatientName', 'PatientID', 'PatientBirthDate', 'AccessionNumber']) {
      for (const file of files) values.add(await readAttribute(file, keyword));
    }
    const searched = [...values].flatMap((value) => [value, ...value.split('^')]).filter((value) => value.length >= 4);
    assert.ok(searched.length >= 6, `too few values to search for: ${searched.join(', ')}`);

    // The values did pass through the service: the RIS got each of them (names as components) in the ORU^R01.
    const oru = ris.messages.join('\n');
    for (const value of searched.filter((candidate) => !candidate.includes('^'))) assert.ok(oru.includes(value), `the ORU^R01 does not carry ${value}`);
    for (const value of searched) assert.ok(!service.output.includes(value), `the service output contains ${value}`);
  });

  it('writes none of the values stored in the database', async () => {
    const database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    try {
      const [study] = await database.run((manager) =>
        queryRows<{ patient_name: string; patient_id: string; accession_number: string }>(manager, `SELECT patient_name, patient_id, accession_number FROM study`),
      );
      const reports = await database.run((manager) => queryRows<{ text: string; findings: string; impression: string }>(manager, `SELECT text, findings, impression FROM report`));
      assert.ok(study, 'no study row');
      assert.equal(reports.length, 1);

      for (const value of [study.patient_name, study.patient_id, study.accession_number]) {
        assert.ok(value, 'a study value is empty');
        assert.ok(value.length >= 4, `study value ${value} is too short to search for`);
        assert.ok(!service.output.includes(value), `the service output contains ${value}`);
      }
      const reportLines = reports[0]!.text
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line.length > 12 && !/^(FINDINGS|IMPRESSION):?$/i.test(line));
      assert.ok(reportLines.length > 0, 'the report has no line to search for');
      for (const line of reportLines) assert.ok(!service.output.includes(line), `the service output contains the report line "${line}"`);
    } finally {
      await database.close();
    }
  });

  it('sends the identifiers to the audit repository instead', () => {
    const exported = syslogMessages.join('');
    assert.match(exported, /csd-code="110104"/);
    assert.ok(exported.includes(`ParticipantObjectID="PID${unique}"`));
    assert.ok(exported.includes(`<Accession Number="ACC${unique}"/>`));
  });
});
