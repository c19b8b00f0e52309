import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import pg from 'pg';
import { DataSource } from 'typeorm';

import { AuditTransactionRequiredError, recordAudit, type AuditEntry } from '../../src/audit/record-audit.ts';
import { verifyAuditChain } from '../../src/audit/verify-chain.ts';
import { Database, MIGRATIONS } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

const ENTRY: AuditEntry = {
  action: 'dicom_instances_transferred',
  outcome: 'success',
  actorType: 'peer',
  actor: 'STORESCU',
  sourceAddress: '127.0.0.1',
  studyInstanceUid: '1.2.826.0.1.3680043.8.498.1',
  accessionNumber: 'ACC-TEST-1',
  patientId: 'PID-TEST-1',
  correlationId: 'association-1',
  details: { instancesStored: 3, bytesReceived: 1024, zeta: 'last', alpha: null },
};

/** Runs `sql` as the superuser with triggers off, which is how someone with full access would tamper. */
async function tamper(url: string, sql: string, parameters: unknown[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`SET session_replication_role = replica`);
    await client.query(sql, parameters);
  } finally {
    await client.end();
  }
}

async function appendRows(database: Database, count: number, actor: string): Promise<void> {
  for (let index = 0; index < count; index += 1) {
    await database.transaction((manager) => recordAudit(manager, { ...ENTRY, actor, details: { index } }));
  }
}

describe('audit hash chain on PostgreSQL', () => {
  let testDatabase: TestDatabase;
  let database: Database;

  before(async () => {
    testDatabase = await createTestDatabase('argus_audit_chain');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
  });

  after(async () => {
    await database.close();
    await testDatabase.drop();
  });

  it('verifies an untouched chain', async () => {
    await appendRows(database, 5, 'STORESCU');
    const result = await verifyAuditChain(database);

    assert.equal(result.valid, true);
    assert.equal(result.rowsVerified, 5);
  });

  it('stores the accession number and patient ID', async () => {
    const rows = await database.run((manager) =>
      queryRows<{ accession_number: string; patient_id: string; seq: string }>(manager, `SELECT accession_number, patient_id, seq FROM audit_event ORDER BY seq LIMIT 1`),
    );
    assert.equal(rows[0]?.accession_number, 'ACC-TEST-1');
    assert.equal(rows[0]?.patient_id, 'PID-TEST-1');
    assert.equal(Number(rows[0]?.seq), 1);
  });

  it('rejects UPDATE, DELETE and TRUNCATE on the service connection', async () => {
    const statements = [`UPDATE audit_event SET actor = 'MALLORY'`, `DELETE FROM audit_event`, `TRUNCATE audit_event`];
    for (const sql of statements) {
      await assert.rejects(
        database.transaction((manager) => queryRows(manager, sql)),
        /audit_event is append-only/,
        sql,
      );
    }
    const [count] = await database.run((manager) => queryRows<{ n: string }>(manager, `SELECT count(*) AS n FROM audit_event`));
    assert.equal(Number(count?.n), 5);
  });

  it('rejects changes by a non-owner role', async () => {
    // A service role that was granted every table privilege but does not own audit_event, as when an
    // owner role applies the migrations. The role is cluster-wide, so it gets a unique name and is dropped.
    const role = `argus_app_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const admin = new pg.Client({ connectionString: testDatabase.url });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON audit_event TO ${role}`);
      const url = new URL(testDatabase.url);
      url.username = role;
      const application = new pg.Client({ connectionString: url.toString() });
      await application.connect();
      try {
        await assert.rejects(application.query(`UPDATE audit_event SET actor = 'MALLORY'`), /audit_event is append-only: UPDATE is not allowed/);
        await assert.rejects(application.query(`DELETE FROM audit_event`), /audit_event is append-only: DELETE is not allowed/);
        await assert.rejects(application.query(`ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only`), /must be owner of table audit_event/);
        await assert.rejects(application.query(`SET session_replication_role = replica`), /permission denied/);
      } finally {
        await application.end();
      }
    } finally {
      await admin.query(`DROP OWNED BY ${role}`);
      await admin.query(`DROP ROLE ${role}`);
      await admin.end();
    }
  });

  it('rejects a manager outside a transaction', async () => {
    await assert.rejects(
      database.run((manager) => recordAudit(manager, ENTRY)),
      AuditTransactionRequiredError,
    );
  });

  it('keeps one chain under concurrent writers', async () => {
    const second = await Database.open({ kind: 'postgres', url: testDatabase.url });
    const third = await Database.open({ kind: 'postgres', url: testDatabase.url });
    try {
      const writers = [database, second, third].flatMap((writer, index) =>
        Array.from({ length: 4 }, (_, lane) => appendRows(writer, 10, `WRITER${index}-${lane}`)),
      );
      await Promise.all(writers);
    } finally {
      await second.close();
      await third.close();
    }

    const result = await verifyAuditChain(database);
    assert.equal(result.valid, true, JSON.stringify(result));
    assert.equal(result.rowsVerified, 5 + 3 * 4 * 10);
    const [bounds] = await database.run((manager) =>
      queryRows<{ low: string; high: string; n: string }>(manager, `SELECT min(seq) AS low, max(seq) AS high, count(DISTINCT seq) AS n FROM audit_event`),
    );
    assert.equal(Number(bounds?.low), 1);
    assert.equal(Number(bounds?.high), 125);
    assert.equal(Number(bounds?.n), 125);
  });

  it('finds a row changed behind the trigger', async () => {
    await tamper(testDatabase.url, `UPDATE audit_event SET details = '{"index": 99}' WHERE seq = 7`, []);
    const [changed] = await database.run((manager) => queryRows<{ id: string }>(manager, `SELECT id FROM audit_event WHERE seq = 7`));
    const result = await verifyAuditChain(database);

    assert.equal(result.valid, false);
    assert.ok(!result.valid);
    assert.equal(result.break.seq, 7);
    assert.equal(result.break.id, changed?.id);
    assert.equal(result.break.problem, 'row_hash_mismatch');
    assert.equal(result.rowsVerified, 6);
  });
});

describe('audit hash chain with several processes', () => {
  let testDatabase: TestDatabase;

  before(async () => {
    testDatabase = await createTestDatabase('argus_audit_fleet');
    const database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    await database.close();
  });

  after(async () => {
    await testDatabase.drop();
  });

  it('keeps one chain across processes', async () => {
    const script = path.join(import.meta.dirname, 'append-rows.ts');
    const run = promisify(execFile);
    await Promise.all(['HOST-A', 'HOST-B', 'HOST-C'].map((actor) => run(process.execPath, ['--import', 'tsx', script, testDatabase.url, actor, '30'])));

    const database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    try {
      const result = await verifyAuditChain(database);
      assert.equal(result.valid, true, JSON.stringify(result));
      assert.equal(result.rowsVerified, 90);
      const actors = await database.run((manager) => queryRows<{ actor: string; n: string }>(manager, `SELECT actor, count(*) AS n FROM audit_event GROUP BY actor ORDER BY actor`));
      assert.deepEqual(actors.map((row) => [row.actor, Number(row.n)]), [['HOST-A', 30], ['HOST-B', 30], ['HOST-C', 30]]);
    } finally {
      await database.close();
    }
  });
});

describe('audit hash chain after tampering', () => {
  let testDatabase: TestDatabase;
  let database: Database;

  before(async () => {
    testDatabase = await createTestDatabase('argus_audit_tamper');
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    await appendRows(database, 6, 'STORESCU');
  });

  after(async () => {
    await database.close();
    await testDatabase.drop();
  });

  it('finds a deleted row as a seq gap', async () => {
    await tamper(testDatabase.url, `DELETE FROM audit_event WHERE seq = 3`, []);
    const result = await verifyAuditChain(database);

    assert.ok(!result.valid);
    assert.equal(result.break.seq, 4);
    assert.equal(result.break.problem, 'seq_gap');
  });

  it('finds a row rewritten with a fresh hash by its successor', async () => {
    // Someone who recomputes the changed row's hash still breaks the next row's prev_hash.
    await tamper(testDatabase.url, `UPDATE audit_event SET seq = 3 WHERE seq = 4`, []);
    await tamper(testDatabase.url, `UPDATE audit_event SET row_hash = repeat('a', 64) WHERE seq = 5`, []);
    const result = await verifyAuditChain(database);

    assert.ok(!result.valid);
    assert.equal(result.break.seq, 3);
    assert.equal(result.break.problem, 'prev_hash_mismatch');
  });
});

describe('audit hash chain migration', () => {
  let testDatabase: TestDatabase;

  before(async () => {
    testDatabase = await createTestDatabase('argus_audit_migration');
  });

  after(async () => {
    await testDatabase.drop();
  });

  it('chains rows written before the chain existed', async () => {
    const chainIndex = MIGRATIONS.findIndex((migration) => migration.name === 'AuditHashChain1765238400000');
    const earlier = new DataSource({ type: 'postgres', url: testDatabase.url, migrations: MIGRATIONS.slice(0, chainIndex), synchronize: false, logging: false });
    await earlier.initialize();
    await earlier.runMigrations({ transaction: 'each' });
    for (let index = 0; index < 4; index += 1) {
      await earlier.query(
        `INSERT INTO audit_event (id, occurred_at, actor_type, actor, action, outcome, details) VALUES ($1, $2, 'system', 'scheduler', 'study_complete', 'success', $3)`,
        [randomUUID(), new Date(Date.UTC(2025, 0, 1, 0, 0, index)), JSON.stringify({ instanceCount: index, b: true, a: 'x' })],
      );
    }
    await earlier.destroy();

    const database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    try {
      await database.migrate();
      await database.transaction((manager) => recordAudit(manager, ENTRY));
      const result = await verifyAuditChain(database);

      assert.equal(result.valid, true, JSON.stringify(result));
      assert.equal(result.rowsVerified, 5);
    } finally {
      await database.close();
    }
  });
});

describe('audit hash chain on PGlite', () => {
  let directory: string;
  let database: Database;

  before(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'argus-audit-pglite-'));
    database = await Database.open({ kind: 'pglite', directory });
    await database.migrate();
  });

  after(async () => {
    await database.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('appends, verifies and rejects changes', async () => {
    await appendRows(database, 4, 'STORESCU');
    const result = await verifyAuditChain(database);

    assert.equal(result.valid, true, JSON.stringify(result));
    assert.equal(result.rowsVerified, 4);
    await assert.rejects(database.transaction((manager) => queryRows(manager, `DELETE FROM audit_event`)), /audit_event is append-only/);
    await assert.rejects(database.transaction((manager) => queryRows(manager, `UPDATE audit_event SET outcome = 'failure'`)), /audit_event is append-only/);
  });
});
