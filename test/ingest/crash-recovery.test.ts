/**
 * Durability across a crash: the service is killed with SIGKILL while storescu sends a 100-instance
 * study. After a restart and a resend, every instance acknowledged before the kill is stored and
 * readable, the spool is empty, and the study completes exactly once. A file removed behind the
 * service's back is reported at the next start.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { freePort } from '../helpers/dcmtk.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { REPOSITORY, waitFor } from '../helpers/service-process.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { assertAcknowledgedStored, GatewayProcess, runStorescu } from './gateway-process.ts';
import { buildSyntheticStudy, type SyntheticStudy } from './synthetic-study.ts';

/** Acknowledged instances before the kill; enough to be mid-study, few enough to leave most unsent. */
const KILL_AFTER_ACKNOWLEDGED = 30;

const STUDY_QUIET_SECONDS = 6;
/** Time the service stays down, longer than the study quiet period. */
const OUTAGE_MS = (STUDY_QUIET_SECONDS + 1) * 1000;

describe('crash recovery', () => {
  let workDirectory: string;
  let configPath: string;
  let testDatabase: TestDatabase;
  let database: Database;
  let study: SyntheticStudy;
  let dicomPort: number;
  let service: GatewayProcess | undefined;
  let acknowledged: string[] = [];

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-crash-'));
    testDatabase = await createTestDatabase('argus_crash');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    study = await buildSyntheticStudy({
      sourceFile: sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010/I10'),
      directory: path.join(workDirectory, 'study'),
      instanceCount: 100,
    });
    dicomPort = await freePort();
    configPath = path.join(workDirectory, 'argus-gateway.json');
    await writeFile(
      configPath,
      JSON.stringify({
        dataDirectory: path.join(workDirectory, 'data'),
        database: { url: testDatabase.url },
        dicom: { listener: { host: '127.0.0.1', port: dicomPort, aeTitle: 'ARGUS' }, peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }] },
        completeness: { seriesQuietPeriodSeconds: 2, studyQuietPeriodSeconds: STUDY_QUIET_SECONDS, checkIntervalSeconds: 0.5 },
        worker: { pollIntervalSeconds: 0.5 },
        model: { packagePath: path.join(REPOSITORY, 'test/fixtures/tiny-argus') },
      }),
    );
  });

  after(async () => {
    await service?.kill('SIGTERM');
    await database.close();
    await testDatabase.drop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  function spoolFolder(): string {
    return path.join(workDirectory, 'data', 'instances', '.spool', `${os.hostname()}-${dicomPort}`);
  }

  async function storedFiles(): Promise<Map<string, string>> {
    const rows = await database.run((manager) => queryRows<{ sop_instance_uid: string; file_path: string }>(manager, 'SELECT sop_instance_uid, file_path FROM instance'));
    return new Map(rows.map((row) => [row.sop_instance_uid, path.join(workDirectory, 'data', 'instances', row.file_path)]));
  }

  it('keeps every acknowledged instance through SIGKILL', async () => {
    service = new GatewayProcess(configPath);
    await service.waitForLog('service started');

    const sending = runStorescu(dicomPort, [study.directory]);
    await waitFor('instances to be acknowledged', async () => (sending.acknowledged().length >= KILL_AFTER_ACKNOWLEDGED ? true : undefined), 60_000, 20);
    await service.kill('SIGKILL');
    const interrupted = await sending.finished;
    assert.notEqual(interrupted.code, 0, 'storescu should see the connection break');
    acknowledged = sending.acknowledged();
    assert.ok(acknowledged.length >= KILL_AFTER_ACKNOWLEDGED);
    assert.ok(acknowledged.length < study.files.length, 'the kill came after the last instance');

    const stored = await storedFiles();
    await assertAcknowledgedStored(study, acknowledged, stored);
  });

  it('cleans the spool at restart and completes the study once', async () => {
    // The outage outlasts the study quiet period: silence while the service was down must not complete
    // the partial study before the resend.
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    // The kill may have come between two datasets; a leftover of an interrupted one is made sure of.
    await writeFile(path.join(spoolFolder(), 'interrupted-transfer.part'), Buffer.alloc(4096));
    // Likewise an empty one, as the spare spool file opened for the next C-STORE leaves.
    await writeFile(path.join(spoolFolder(), 'spare.part'), Buffer.alloc(0));
    const leftovers = await Promise.all((await readdir(spoolFolder())).map((name) => stat(path.join(spoolFolder(), name))));
    const withData = leftovers.filter((info) => info.size > 0).length;
    const empty = leftovers.length - withData;

    service = new GatewayProcess(configPath);
    await service.waitForLog('service started');
    assert.deepEqual(await readdir(spoolFolder()), []);
    // Only files with data count as transfers that did not finish; the empty ones are reported apart.
    const cleaned = await service.waitForLog('removed spool files of transfers that did not finish');
    assert.equal(cleaned.count, withData);
    const emptyCleaned = await service.waitForLog('removed empty spool files');
    assert.equal(emptyCleaned.count, empty);

    const resend = runStorescu(dicomPort, [study.directory]);
    const { code, output } = await resend.finished;
    assert.equal(code, 0, output);
    assert.equal(resend.acknowledged().length, study.files.length);

    const stored = await storedFiles();
    assert.equal(stored.size, study.files.length);
    for (const file of study.files) assert.ok(stored.has(file.sopInstanceUid), `${path.basename(file.path)} is missing`);

    const state = await waitFor('the report', async () => {
      const rows = await database.run((manager) => queryRows<{ state: string }>(manager, 'SELECT state FROM study WHERE study_instance_uid = $1', [study.studyInstanceUid]));
      return rows[0]?.state === 'reported' || rows[0]?.state === 'failed' ? rows[0].state : undefined;
    }, 120_000);
    assert.equal(state, 'reported');
    // More than one quiet period more: a second completion would show up by now.
    await new Promise((resolve) => setTimeout(resolve, (STUDY_QUIET_SECONDS + 2) * 1000));
    const decisions = await database.run((manager) =>
      queryRows<{ decision: string; count: number }>(
        manager,
        `SELECT e.decision, count(*)::int AS count FROM completeness_event e JOIN study s ON s.id = e.study_id
          WHERE s.study_instance_uid = $1 GROUP BY e.decision`,
        [study.studyInstanceUid],
      ),
    );
    const counts = Object.fromEntries(decisions.map((row) => [row.decision, row.count]));
    assert.equal(counts.study_complete, 1);
    assert.equal(counts.study_forced_complete, undefined);
    const reports = await database.run((manager) => queryRows<{ count: number }>(manager, 'SELECT count(*)::int AS count FROM report'));
    assert.equal(reports[0]!.count, 1);
  });

  it('reports a row whose file is gone at the next start', async () => {
    await service!.kill('SIGTERM');
    const stored = await storedFiles();
    const [victimUid, victimPath] = [...stored][0]!;
    await rm(victimPath);

    service = new GatewayProcess(configPath);
    await service.waitForLog('service started');
    const line = await service.waitForLog('instance file missing or incomplete', 30_000);
    assert.equal(line.sopInstanceUid, victimUid);
    assert.equal(line.reason, 'missing');
    const summary = await service.waitForLog('instance rows without their file; a resend from the PACS repairs them', 30_000);
    assert.equal(summary.count, 1);
    const audit = await waitFor('the audit row', async () => {
      const rows = await database.run((manager) => queryRows<{ details: { missing: number } }>(manager, `SELECT details FROM audit_event WHERE action = 'instance_files_missing'`));
      return rows[0];
    }, 10_000, 200);
    assert.equal(audit.details.missing, 1);
  });
});
