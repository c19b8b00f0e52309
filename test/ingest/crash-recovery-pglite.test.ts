/**
 * Durability across a crash on the embedded database, the default configuration: the service is killed
 * with SIGKILL while storescu sends a study. PGlite then recovers from its WAL when the test opens the
 * database: every instance acknowledged before the kill has its row and a readable file. After a
 * restart, a resend of the whole study is acknowledged and leaves one row per instance.
 * (crash-recovery.test.ts covers the same on PostgreSQL, with the completeness check.)
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { freePort } from '../helpers/dcmtk.ts';
import { REPOSITORY, waitFor } from '../helpers/service-process.ts';
import { sharedData } from '../helpers/shared-data.ts';
import { assertAcknowledgedStored, GatewayProcess, runStorescu } from './gateway-process.ts';
import { buildSyntheticStudy, type SyntheticStudy } from './synthetic-study.ts';

const KILL_AFTER_ACKNOWLEDGED = 20;

describe('crash recovery on the embedded database', () => {
  let workDirectory: string;
  let configPath: string;
  let study: SyntheticStudy;
  let dicomPort: number;
  let service: GatewayProcess | undefined;

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-crash-pglite-'));
    study = await buildSyntheticStudy({
      sourceFile: sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570/S2010/I10'),
      directory: path.join(workDirectory, 'study'),
      instanceCount: 60,
    });
    dicomPort = await freePort();
    configPath = path.join(workDirectory, 'argus-gateway.json');
    await writeFile(
      configPath,
      JSON.stringify({
        dataDirectory: path.join(workDirectory, 'data'),
        dicom: { listener: { host: '127.0.0.1', port: dicomPort, aeTitle: 'ARGUS' }, peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }] },
        // Long quiet periods: this test is about the rows, not about completing the study.
        completeness: { seriesQuietPeriodSeconds: 600, studyQuietPeriodSeconds: 900 },
        model: { packagePath: path.join(REPOSITORY, 'test/fixtures/tiny-argus') },
      }),
    );
  });

  after(async () => {
    await service?.kill('SIGTERM');
    await rm(workDirectory, { recursive: true, force: true });
  });

  /** Opens the embedded database while the service is down and maps each SOPInstanceUID to its file's path. */
  async function storedFiles(): Promise<Map<string, string>> {
    const database = await Database.open({ kind: 'pglite', directory: path.join(workDirectory, 'data', 'pglite') });
    try {
      const rows = await database.run((manager) => queryRows<{ sop_instance_uid: string; file_path: string }>(manager, 'SELECT sop_instance_uid, file_path FROM instance'));
      const stored = new Map(rows.map((row) => [row.sop_instance_uid, path.join(workDirectory, 'data', 'instances', row.file_path)]));
      assert.equal(stored.size, rows.length, 'a SOPInstanceUID has two rows');
      return stored;
    } finally {
      await database.close();
    }
  }

  it('keeps every acknowledged instance through SIGKILL', async () => {
    service = new GatewayProcess(configPath);
    await service.waitForLog('service started');

    const sending = runStorescu(dicomPort, [study.directory]);
    await waitFor('instances to be acknowledged', async () => (sending.acknowledged().length >= KILL_AFTER_ACKNOWLEDGED ? true : undefined), 60_000, 20);
    await service.kill('SIGKILL');
    await sending.finished;
    const acknowledged = sending.acknowledged();
    assert.ok(acknowledged.length < study.files.length, 'the kill came after the last instance');

    const stored = await storedFiles();
    await assertAcknowledgedStored(study, acknowledged, stored);
  });

  it('takes the resent study after a restart', async () => {
    service = new GatewayProcess(configPath);
    await service.waitForLog('service started');
    const resend = runStorescu(dicomPort, [study.directory]);
    const { code, output } = await resend.finished;
    assert.equal(code, 0, output);
    assert.equal(resend.acknowledged().length, study.files.length);
    await service.kill('SIGTERM');

    const stored = await storedFiles();
    assert.equal(stored.size, study.files.length);
    for (const file of study.files) assert.ok(stored.has(file.sopInstanceUid), `${path.basename(file.path)} is missing`);
  });
});
