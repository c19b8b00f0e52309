import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import pg from 'pg';

import { recordAudit, type AuditEntry } from '../../src/audit/record-audit.ts';
import { Database } from '../../src/db/database.ts';
import type { AuditEventRow } from '../../src/db/queries/audit.ts';
import { queryRows } from '../../src/db/sql.ts';
import { loadConfig } from '../../src/config/load.ts';
import { configureLogging } from '../../src/logging/logger.ts';
import { startService } from '../../src/service.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { runCli } from '../helpers/service-process.ts';

const STUDY_A = '1.2.826.0.1.3680043.8.498.100';
const STUDY_B = '1.2.826.0.1.3680043.8.498.200';

const ENTRIES: AuditEntry[] = [
  { action: 'dicom_association_accepted', outcome: 'success', actorType: 'peer', actor: 'STORESCU', sourceAddress: '127.0.0.1' },
  { action: 'dicom_instances_transferred', outcome: 'success', actorType: 'peer', actor: 'STORESCU', studyInstanceUid: STUDY_A, accessionNumber: 'ACC-A', patientId: 'PAT-A' },
  { action: 'dicom_instances_transferred', outcome: 'success', actorType: 'peer', actor: 'MODALITY', studyInstanceUid: STUDY_B, accessionNumber: 'ACC-B', patientId: 'PAT-B' },
  { action: 'report_generated', outcome: 'success', actorType: 'system', actor: 'worker', studyInstanceUid: STUDY_A, accessionNumber: 'ACC-A', patientId: 'PAT-A' },
  { action: 'delivery_failed', outcome: 'failure', actorType: 'system', actor: 'sender', studyInstanceUid: STUDY_A, details: { code: 'mllp_timeout' } },
];

describe('audit command', () => {
  let testDatabase: TestDatabase;
  let database: Database;
  let directory: string;
  let configPath: string;

  const search = async (args: string[]) => {
    const result = await runCli(configPath, ['audit', '--json', ...args]);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as { total: number; events: AuditEventRow[] };
  };

  before(async () => {
    testDatabase = await createTestDatabase('argus_cli_audit');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    for (const entry of ENTRIES) await database.transaction((manager) => recordAudit(manager, entry));
    directory = await mkdtemp(path.join(os.tmpdir(), 'argus-cli-audit-'));
    configPath = path.join(directory, 'argus-gateway.json');
    await writeFile(configPath, JSON.stringify({ dataDirectory: path.join(directory, 'data'), database: { url: testDatabase.url } }));
  });

  after(async () => {
    await database.close();
    await testDatabase.drop();
    await rm(directory, { recursive: true, force: true });
  });

  it('filters by action and study', async () => {
    const byAction = await search(['--action', 'dicom_instances_transferred', '--since', '1h']);
    assert.equal(byAction.total, 2);
    assert.deepEqual(byAction.events.map((event) => event.actor).sort(), ['MODALITY', 'STORESCU']);

    const byStudy = await search(['--study', STUDY_A, '--action', 'report_generated']);
    assert.equal(byStudy.total, 1);
    assert.equal(byStudy.events[0]?.accessionNumber, 'ACC-A');
    assert.equal(byStudy.events[0]?.patientId, 'PAT-A');
  });

  it('filters by accession, patient ID, outcome and actor', async () => {
    assert.equal((await search(['--accession', 'ACC-B'])).total, 1);
    assert.equal((await search(['--patient-id', 'PAT-A', '--actor', 'worker'])).total, 1);
    const failures = await search(['--outcome', 'failure', '--until', '2999-01-01']);
    assert.equal(failures.total, 1);
    assert.equal(failures.events[0]?.action, 'delivery_failed');
    assert.deepEqual(failures.events[0]?.details, { code: 'mllp_timeout' });
  });

  it('records each search as audit_log_viewed', async () => {
    await search(['--patient-id', 'PAT-B']);
    const rows = await database.run((manager) =>
      queryRows<{ actor_type: string; actor: string; patient_id: string }>(
        manager,
        `SELECT actor_type, actor, patient_id FROM audit_event WHERE action = 'audit_log_viewed' ORDER BY seq DESC LIMIT 1`,
      ),
    );
    assert.deepEqual(rows, [{ actor_type: 'user', actor: os.userInfo().username, patient_id: 'PAT-B' }]);
  });

  it('prints a table', async () => {
    const result = await runCli(configPath, ['audit', '--study', STUDY_B]);

    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^seq\s+time\s+action\s+outcome\s+actor\s+study instance uid\s+accession\s+patient id$/);
    assert.match(lines[1]!, new RegExp(`dicom_instances_transferred\\s+success\\s+peer:MODALITY\\s+${STUDY_B.replaceAll('.', '\\.')}\\s+ACC-B\\s+PAT-B$`));
    assert.equal(lines.at(-1), '1 of 1 events');
  });

  it('rejects an unknown action and a bad time', async () => {
    const action = await runCli(configPath, ['audit', '--action', 'study_deleted']);
    assert.equal(action.code, 1);
    assert.match(action.stderr, /--action must be one of .*dicom_association_accepted.*; got "study_deleted"/);

    const since = await runCli(configPath, ['audit', '--since', 'yesterday']);
    assert.equal(since.code, 1);
    assert.match(since.stderr, /--since must be a duration such as 30m, 24h or 7d/);
  });

  it('verifies the chain and finds a changed row', async () => {
    const valid = await runCli(configPath, ['audit', 'verify']);
    assert.equal(valid.code, 0, valid.stderr);
    assert.match(valid.stdout, /^Audit chain valid: \d+ rows verified \(seq 1 to \d+\)\.\n$/);

    const client = new pg.Client({ connectionString: testDatabase.url });
    await client.connect();
    let changed: { id: string; seq: string };
    try {
      await client.query(`SET session_replication_role = replica`);
      const result = await client.query<{ id: string; seq: string }>(`UPDATE audit_event SET outcome = 'success' WHERE action = 'delivery_failed' RETURNING id, seq`);
      changed = result.rows[0]!;
    } finally {
      await client.end();
    }

    const broken = await runCli(configPath, ['audit', 'verify']);
    assert.equal(broken.code, 1, broken.stderr);
    assert.match(broken.stdout, new RegExp(`^Audit chain broken at seq ${changed.seq} \\(id ${changed.id}, row_hash_mismatch\\)`));
    assert.match(broken.stdout, new RegExp(`${Number(changed.seq) - 1} rows before it verified\\.\\n$`));
  });

  it('verifies an empty log on PGlite', async () => {
    const pgliteConfig = path.join(directory, 'pglite.json');
    await writeFile(pgliteConfig, JSON.stringify({ dataDirectory: path.join(directory, 'pglite-data') }));

    const empty = await runCli(pgliteConfig, ['audit', 'verify']);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, 'Audit chain valid: the audit log is empty.\n');

    // The first verify recorded itself as audit_log_viewed.
    const second = await runCli(pgliteConfig, ['audit', 'verify']);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, 'Audit chain valid: 1 row verified (seq 1 to 1).\n');
    const search = await runCli(pgliteConfig, ['audit', '--json', '--action', 'audit_log_viewed']);
    assert.equal(search.code, 0, search.stderr);
    assert.equal((JSON.parse(search.stdout) as { total: number }).total, 2);
  });

  it('searches and verifies through a service running on PGlite', async () => {
    configureLogging('silent');
    const runningConfig = path.join(directory, 'pglite-running.json');
    await writeFile(runningConfig, JSON.stringify({ dataDirectory: path.join(directory, 'pglite-running'), api: { host: '127.0.0.1', port: 0 } }));
    const service = await startService(loadConfig(runningConfig, {}), { roles: ['api'] });
    try {
      const verified = await runCli(runningConfig, ['audit', 'verify']);
      assert.equal(verified.code, 0, verified.stderr);
      assert.equal(verified.stdout, 'Audit chain valid: the audit log is empty.\n');

      const first = await runCli(runningConfig, ['audit', '--json', '--since', '1h', '--action', 'audit_log_viewed']);
      assert.equal(first.code, 0, first.stderr);
      assert.equal((JSON.parse(first.stdout) as { total: number }).total, 1);

      // The second search finds the verify and the first search, which recorded itself as it read.
      const second = await runCli(runningConfig, ['audit', '--json', '--since', '1h', '--action', 'audit_log_viewed']);
      assert.equal(second.code, 0, second.stderr);
      const result = JSON.parse(second.stdout) as { total: number; events: AuditEventRow[] };
      assert.equal(result.total, 2);
      assert.equal(result.events[0]!.details?.command, 'audit');
      assert.equal(result.events[1]!.details?.command, 'audit verify');

      const invalid = await runCli(runningConfig, ['audit', '--since', 'yesterday']);
      assert.equal(invalid.code, 1);
    } finally {
      await service.stop();
    }
  });
});
