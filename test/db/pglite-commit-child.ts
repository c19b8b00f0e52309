/**
 * Child process of pglite-durability.test.ts, run under strace. It opens an embedded database in the
 * folder given as the first argument, commits one row, optionally calls flushCommits(), and closes.
 * It prints a marker line before each step so that the test can tell which system calls belong to it.
 */
import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';

const [directory, mode] = process.argv.slice(2);
if (!directory || (mode !== 'flush' && mode !== 'no-flush')) throw new Error('usage: pglite-commit-child.ts <directory> flush|no-flush');

const database = await Database.open({ kind: 'pglite', directory });
await database.run((manager) => queryRows(manager, 'CREATE TABLE IF NOT EXISTS probe (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())'));
// Markers go to stderr through write(2), which strace records in order with the sync calls.
process.stderr.write('MARK commit\n');
await database.run((manager) => queryRows(manager, 'INSERT INTO probe DEFAULT VALUES'));
process.stderr.write('MARK flush\n');
if (mode === 'flush') await database.flushCommits();
process.stderr.write('MARK close\n');
await database.close();
process.stderr.write('MARK end\n');
