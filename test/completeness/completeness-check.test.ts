import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { completeQuietStudies } from '../../src/completeness/completeness-check.ts';
import { Database } from '../../src/db/database.ts';
import { Study } from '../../src/db/entities/study.ts';
import { queryRows } from '../../src/db/sql.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

describe('completeness check', () => {
  let testDatabase: TestDatabase;
  let first: Database;
  let second: Database;

  before(async () => {
    testDatabase = await createTestDatabase('argus_completeness');
    first = await Database.open({ kind: 'postgres', url: testDatabase.url });
    second = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await first.migrate();
  });

  after(async () => {
    await first.close();
    await second.close();
    await testDatabase.drop();
  });

  async function insertStudy(lastReceivedAt: Date): Promise<string> {
    const id = randomUUID();
    await first.run((manager) =>
      manager.insert(Study, {
        id,
        studyInstanceUid: `2.25.${BigInt(`0x${randomUUID().replaceAll('-', '')}`)}`,
        state: 'receiving',
        instanceCount: 3,
        firstReceivedAt: lastReceivedAt,
        lastReceivedAt,
        updatedAt: lastReceivedAt,
      }),
    );
    return id;
  }

  it('completes a study only after the quiet period and stores the reason', async () => {
    const now = new Date('2026-01-01T12:00:00Z');
    const quiet = await insertStudy(new Date(now.getTime() - 31_000));
    const recent = await insertStudy(new Date(now.getTime() - 29_000));

    const completed = await completeQuietStudies(first, 30, now);

    assert.deepEqual(completed.map((study) => study.studyId), [quiet]);
    const rows = await first.run((manager) => manager.findBy(Study, {}));
    const byId = new Map(rows.map((row) => [row.id, row]));
    assert.equal(byId.get(quiet)!.state, 'complete');
    assert.equal(byId.get(quiet)!.completedAt!.toISOString(), now.toISOString());
    assert.match(byId.get(quiet)!.stateReason!, /no instance received for 30 s \(quiet period\); last instance at 2026-01-01T11:59:29\.000Z/);
    assert.equal(byId.get(recent)!.state, 'receiving');
  });

  it('writes one study_complete audit row per decision', async () => {
    const audit = await first.run((manager) => queryRows<{ count: number }>(manager, `SELECT count(*)::int AS count FROM audit_event WHERE action = 'study_complete'`));
    assert.equal(audit[0]!.count, 1);
  });

  it('completes each study once when two processes check at the same time', async () => {
    const now = new Date('2026-01-02T12:00:00Z');
    const ids = await Promise.all(Array.from({ length: 20 }, () => insertStudy(new Date(now.getTime() - 60_000))));

    const [fromFirst, fromSecond] = await Promise.all([completeQuietStudies(first, 30, now), completeQuietStudies(second, 30, now)]);

    const completedIds = [...fromFirst, ...fromSecond].map((study) => study.studyId).filter((id) => ids.includes(id));
    assert.equal(completedIds.length, 20);
    assert.equal(new Set(completedIds).size, 20);
  });
});
