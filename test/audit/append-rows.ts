/**
 * Child process of the fleet writer test: appends `count` audit rows, each in its own transaction, to
 * the PostgreSQL database at `url`. Usage: append-rows.ts <url> <actor> <count>
 */
import { recordAudit } from '../../src/audit/record-audit.ts';
import { Database } from '../../src/db/database.ts';

const [url, actor, count] = process.argv.slice(2);
if (!url || !actor || !count) throw new Error('usage: append-rows.ts <url> <actor> <count>');

const database = await Database.open({ kind: 'postgres', url });
try {
  const lanes = Array.from({ length: 3 }, async (_, lane) => {
    for (let index = 0; index < Number(count) / 3; index += 1) {
      await database.transaction((manager) =>
        recordAudit(manager, { action: 'dicom_instances_transferred', outcome: 'success', actorType: 'peer', actor, details: { lane, index } }),
      );
    }
  });
  await Promise.all(lanes);
} finally {
  await database.close();
}
