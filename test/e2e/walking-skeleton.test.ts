/**
 * A CT study's whole journey on real parts: DCMTK storescu as the sending PACS, the service as a child
 * process, a recording MLLP peer as the RIS and DCMTK storescp as the receiving PACS. It runs once on
 * the PostgreSQL test server and once on the embedded PGlite database.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { freePort, runTool, startStorescp, storescu, type Storescp } from '../helpers/dcmtk.ts';
import { MllpPeer } from '../helpers/mllp-peer.ts';
import { parseWithPythonHl7 } from '../helpers/python-hl7.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { REPOSITORY, runCli, ServiceProcess, waitFor } from '../helpers/service-process.ts';
import { sharedData } from '../helpers/shared-data.ts';

const run = promisify(execFile);

const STUDY_FOLDER = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570');
const STUDY_INSTANCE_UID = '1.3.46.670589.33.1.27492712521914879309.27169771283235650014';
const AXIAL_SERIES_UID = '1.3.46.670589.33.1.6002432791750815306.26862469513794233732';
const PATIENT_ID = 'PLASTIC';

interface ReportItem {
  id: string;
  studyInstanceUid: string;
  status: string;
  model: { name: string; version: string };
  supersedesReportId: string | null;
  text: string;
  findings: string;
  impression: string;
}

interface DeliveryItem {
  kind: string;
  destination: string;
  state: string;
  lastError: string | null;
}

for (const backend of ['postgres', 'pglite'] as const) {
  describe(`study journey on ${backend}`, () => {
    let workDirectory: string;
    let configPath: string;
    let testDatabase: TestDatabase | undefined;
    let service: ServiceProcess;
    let ris: MllpPeer;
    let pacs: Storescp;
    let dicomPort: number;
    let report: ReportItem;

    before(async () => {
      workDirectory = await mkdtemp(path.join(os.tmpdir(), `argus-e2e-${backend}-`));
      if (backend === 'postgres') testDatabase = await createTestDatabase('argus_e2e');
      ris = new MllpPeer();
      const { port: risPort } = await ris.start();
      pacs = await startStorescp('PACS');
      dicomPort = await freePort();

      configPath = path.join(workDirectory, 'argus-gateway.json');
      await writeFile(
        configPath,
        JSON.stringify({
          dataDirectory: path.join(workDirectory, 'data'),
          ...(testDatabase ? { database: { url: testDatabase.url } } : {}),
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
        }),
      );

      service = new ServiceProcess(configPath);
      await service.waitForLog('service started');
    });

    after(async () => {
      await service?.stop();
      await ris?.close();
      await pacs?.stop();
      await testDatabase?.drop();
      await rm(workDirectory, { recursive: true, force: true });
    });

    it('receives the study pushed by storescu', async () => {
      const result = await storescu({ port: dicomPort, calledAeTitle: 'ARGUS', paths: [STUDY_FOLDER] });
      // The Secondary Capture "Exam Summary" images are stored without processing, like the CT images.
      assert.equal(result.code, 0, result.stderr);
    });

    it('lists one preliminary report with reports list --json', async () => {
      report = await waitFor('a report', async () => {
        const listed = await runCli(configPath, ['reports', 'list', '--json']);
        assert.equal(listed.code, 0, listed.stderr);
        const reports = JSON.parse(listed.stdout) as ReportItem[];
        return reports.length > 0 ? reports : undefined;
      }).then((reports) => {
        assert.equal(reports.length, 1);
        return reports[0]!;
      });
      assert.equal(report.studyInstanceUid, STUDY_INSTANCE_UID);
      assert.equal(report.status, 'preliminary');
      assert.equal(report.supersedesReportId, null);
      assert.ok(report.model.name.length > 0);
      assert.ok(report.text.length > 0);
    });

    it('delivers the ORU^R01 and the SR', async () => {
      const deliveries = await waitFor('both deliveries delivered', async () => {
        const listed = await runCli(configPath, ['deliveries', 'list', '--json']);
        assert.equal(listed.code, 0, listed.stderr);
        const items = JSON.parse(listed.stdout) as DeliveryItem[];
        return items.length === 2 && items.every((item) => item.state === 'delivered') ? items : undefined;
      });
      assert.deepEqual(deliveries.map((item) => item.kind).sort(), ['dicom_sr', 'hl7_oru']);
    });

    it('sends an ORU^R01 that python3-hl7 parses', () => {
      assert.equal(ris.messages.length, 1);
      const { fields, observations } = parseWithPythonHl7(ris.messages[0]!);
      assert.equal(fields['MSH.F9.R1.C1'], 'ORU');
      assert.equal(fields['MSH.F9.R1.C2'], 'R01');
      assert.equal(fields['MSH.F12'], '2.5.1');
      assert.equal(fields['MSH.F18'], 'UNICODE UTF-8');
      assert.equal(fields['PID.F3.R1.C1'], PATIENT_ID);
      assert.equal(fields['PID.F5.R1.C1'], 'HEAD');
      assert.equal(fields['OBR.F25'], 'P');
      assert.ok(observations.length > 0);
      for (const observation of observations) assert.equal(observation.status, 'P');
      const findingsRows = observations.filter((observation) => observation.code === '59776-5').map((observation) => observation.value);
      assert.deepEqual(findingsRows, report.findings.split('\n'));
      const studyRow = observations.find((observation) => observation.code === '113014');
      assert.equal(studyRow?.value, STUDY_INSTANCE_UID);
    });

    it('sends an SR that dciodvfy accepts and dsrdump reads', async () => {
      const files = await waitFor('the SR at storescp', async () => {
        const received = await pacs.files();
        return received.length > 0 ? received : undefined;
      });
      assert.equal(files.length, 1);
      const srFile = files[0]!;

      const verification = await runTool('dciodvfy', [srFile]);
      const errors = `${verification.stdout}\n${verification.stderr}`.split('\n').filter((line) => line.startsWith('Error'));
      assert.deepEqual(errors, []);

      const dump = await run('dsrdump', [srFile]);
      assert.match(dump.stdout, /Basic Text SR Document/);
      assert.match(dump.stdout, /Findings/);
      assert.match(dump.stdout, /Impression/);
      const header = await run('dcmdump', ['+P', 'StudyInstanceUID', '+P', 'SpecificCharacterSet', '+P', 'VerificationFlag', srFile]);
      assert.match(header.stdout, new RegExp(STUDY_INSTANCE_UID.replaceAll('.', '\\.')));
      assert.match(header.stdout, /ISO_IR 192/);
      assert.match(header.stdout, /UNVERIFIED/);
    });

    it('keeps patient data and report text out of the logs', () => {
      assert.doesNotMatch(service.output, new RegExp(PATIENT_ID));
      assert.doesNotMatch(service.output, /"HEAD"|\^HEAD|HEAD\^/);
      for (const line of report.text.split('\n').filter((candidate) => candidate.trim().length > 8)) {
        assert.ok(!service.output.includes(line.trim()), 'a line of the report text appears in the log');
      }
    });

    it('keeps study, series and audit rows', async () => {
      assert.equal(await service.stop(), 0);
      const database =
        backend === 'postgres'
          ? await Database.open({ kind: 'postgres', url: testDatabase!.url })
          : await Database.open({ kind: 'pglite', directory: path.join(workDirectory, 'data', 'pglite') });
      try {
        const series = await database.run((manager) =>
          queryRows<{ series_instance_uid: string; instance_count: number; selection_decision: string | null }>(
            manager,
            `SELECT series_instance_uid, instance_count, selection_decision FROM series ORDER BY series_instance_uid`,
          ),
        );
        const axial = series.find((row) => row.series_instance_uid === AXIAL_SERIES_UID);
        assert.equal(axial?.instance_count, 28);
        assert.equal(axial?.selection_decision, 'selected');
        const counts = await database.run((manager) =>
          queryRows<{ studies: number; reports: number }>(manager, `SELECT (SELECT count(*)::int FROM study) AS studies, (SELECT count(*)::int FROM report) AS reports`),
        );
        assert.deepEqual(counts[0], { studies: 1, reports: 1 });
        const actions = await database.run((manager) => queryRows<{ action: string }>(manager, 'SELECT DISTINCT action FROM audit_event'));
        const recorded = new Set(actions.map((row) => row.action));
        for (const action of ['dicom_association_accepted', 'study_complete', 'report_generated', 'delivery_succeeded']) {
          assert.ok(recorded.has(action), `no audit row for ${action}`);
        }
      } finally {
        await database.close();
      }
    });
  });
}
