/**
 * One study sent as three associations six seconds apart, to the service as a child process with a
 * five-second series quiet period and a twelve-second study quiet period. Each pause lets the series
 * go quiet, but never the study, so the study completes once and gets one report, not three.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { freePort } from '../helpers/dcmtk.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { REPOSITORY, runCli, waitFor } from '../helpers/service-process.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { GatewayProcess, runStorescu } from '../ingest/gateway-process.ts';
import { buildSyntheticStudy, type SyntheticStudy } from '../ingest/synthetic-study.ts';

const PAUSE_BETWEEN_ASSOCIATIONS_MS = 6000;
const SERIES_QUIET_SECONDS = 5;
const STUDY_QUIET_SECONDS = 12;

describe('study sent over three associations', () => {
  let workDirectory: string;
  let testDatabase: TestDatabase;
  let database: Database;
  let study: SyntheticStudy;
  let service: GatewayProcess;
  let dicomPort: number;
  let configPath: string;

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-three-'));
    testDatabase = await createTestDatabase('argus_three_associations');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    study = await buildSyntheticStudy({
      sourceFile: sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010/I10'),
      directory: path.join(workDirectory, 'study'),
      instanceCount: 30,
    });
    dicomPort = await freePort();
    configPath = path.join(workDirectory, 'argus-gateway.json');
    await writeFile(
      configPath,
      JSON.stringify({
        dataDirectory: path.join(workDirectory, 'data'),
        database: { url: testDatabase.url },
        dicom: { listener: { host: '127.0.0.1', port: dicomPort, aeTitle: 'ARGUS' }, peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }] },
        completeness: { seriesQuietPeriodSeconds: SERIES_QUIET_SECONDS, studyQuietPeriodSeconds: STUDY_QUIET_SECONDS, checkIntervalSeconds: 0.5 },
        worker: { pollIntervalSeconds: 0.5 },
        model: { packagePath: path.join(REPOSITORY, 'test/fixtures/tiny-argus') },
      }),
    );
    service = new GatewayProcess(configPath);
    await service.waitForLog('service started');
  });

  after(async () => {
    await service.kill('SIGTERM');
    await database.close();
    await testDatabase.drop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  it('produces one job, not three', async () => {
    const thirds = [study.files.slice(0, 10), study.files.slice(10, 20), study.files.slice(20)];
    let lastAssociationEnded = 0;
    for (const [index, files] of thirds.entries()) {
      if (index > 0) await new Promise((resolve) => setTimeout(resolve, PAUSE_BETWEEN_ASSOCIATIONS_MS));
      const sent = runStorescu(
        dicomPort,
        files.map((file) => file.path),
      );
      const { code, output } = await sent.finished;
      assert.equal(code, 0, output);
      lastAssociationEnded = Date.now();
    }

    const state = await waitFor('the report', async () => {
      const rows = await database.run((manager) => queryRows<{ state: string }>(manager, 'SELECT state FROM study WHERE study_instance_uid = $1', [study.studyInstanceUid]));
      return rows[0]?.state === 'reported' || rows[0]?.state === 'failed' ? rows[0].state : undefined;
    }, 120_000);
    assert.equal(state, 'reported');

    const events = await database.run((manager) =>
      queryRows<{ decision: string; decided_at: Date }>(
        manager,
        `SELECT e.decision, e.decided_at FROM completeness_event e JOIN study s ON s.id = e.study_id WHERE s.study_instance_uid = $1 ORDER BY e.decided_at`,
        [study.studyInstanceUid],
      ),
    );
    const completions = events.filter((event) => event.decision === 'study_complete');
    assert.equal(completions.length, 1);
    assert.ok(new Date(completions[0]!.decided_at).getTime() >= lastAssociationEnded + (STUDY_QUIET_SECONDS - 1) * 1000, 'the study completed before its quiet period after the last association');
    // The series went quiet during the pauses; a study quiet period longer than the pauses held the study.
    assert.ok(events.filter((event) => event.decision === 'series_complete').length >= 2);

    const reports = await database.run((manager) => queryRows<{ count: number }>(manager, 'SELECT count(*)::int AS count FROM report'));
    assert.equal(reports[0]!.count, 1);
    const instances = await database.run((manager) => queryRows<{ count: number }>(manager, 'SELECT instance_count AS count FROM study'));
    assert.equal(instances[0]!.count, study.files.length);
  });

  it('lists the study and the associations on the command line', async () => {
    const studies = await runCli(configPath, ['studies', 'list', '--json']);
    assert.equal(studies.code, 0, studies.stderr);
    const [listed] = JSON.parse(studies.stdout) as { studyInstanceUid: string; state: string; stateReason: string; instanceCount: number }[];
    assert.equal(listed!.studyInstanceUid, study.studyInstanceUid);
    assert.equal(listed!.state, 'reported');
    assert.equal(listed!.instanceCount, study.files.length);

    const associations = await runCli(configPath, ['associations', 'list', '--json']);
    assert.equal(associations.code, 0, associations.stderr);
    const logged = JSON.parse(associations.stdout) as { callingAeTitle: string; result: string; instancesStored: number }[];
    assert.deepEqual(
      logged.map((item) => [item.callingAeTitle, item.result, item.instancesStored]),
      [
        ['STORESCU', 'released', 10],
        ['STORESCU', 'released', 10],
        ['STORESCU', 'released', 10],
      ],
    );
  });
});
