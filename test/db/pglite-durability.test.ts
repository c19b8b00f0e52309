/**
 * The embedded database's commits reach the disk. PGlite itself never syncs a file, so
 * Database.flushCommits() syncs the WAL segment files and close() syncs every file after the shutdown
 * checkpoint. Checked by running a child process under strace, which prints each sync call with the
 * path of its file descriptor (-y).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

const CHILD = path.join(import.meta.dirname, 'pglite-commit-child.ts');
const MARKERS = ['commit', 'flush', 'close', 'end'] as const;
type Step = (typeof MARKERS)[number];

interface SyncCall {
  call: 'fsync' | 'fdatasync';
  path: string;
  /** The child's step during which the call started. */
  step: Step | 'open';
}

/** Runs the child under strace and returns its sync calls, each tagged with the step it belongs to. */
async function traceChild(directory: string, mode: 'flush' | 'no-flush'): Promise<SyncCall[]> {
  const { stderr } = await run(
    'strace',
    ['-f', '-y', '-qq', '-e', 'trace=fdatasync,fsync,write', '-e', 'signal=none', process.execPath, '--import', 'tsx', CHILD, directory, mode],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const calls: SyncCall[] = [];
  let step: SyncCall['step'] = 'open';
  for (const line of stderr.split('\n')) {
    const marker = /write\(2<[^>]*>, "MARK (\w+)\\n"/.exec(line);
    if (marker) {
      step = marker[1] as Step;
      continue;
    }
    const sync = /\b(fsync|fdatasync)\(\d+<([^>]+)>/.exec(line);
    if (sync) calls.push({ call: sync[1] as SyncCall['call'], path: sync[2]!, step });
  }
  assert.ok(MARKERS.every((marker) => stderr.includes(`MARK ${marker}`)), `the child did not run to its end:\n${stderr.slice(-2000)}`);
  return calls;
}

describe('embedded database durability', () => {
  let workDirectory: string;

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-pglite-sync-'));
  });

  after(async () => {
    await rm(workDirectory, { recursive: true, force: true });
  });

  it('PGlite commits without syncing', async () => {
    const directory = path.join(workDirectory, 'no-flush');
    const calls = await traceChild(directory, 'no-flush');
    const walSyncs = calls.filter((call) => call.step === 'commit' || call.step === 'flush').filter((call) => call.path.includes('/pg_wal'));
    // If a PGlite release starts to flush its WAL itself, flushCommits() and its documentation can change.
    assert.deepEqual(walSyncs, []);
  });

  it('flushCommits syncs the WAL segments', async () => {
    const directory = path.join(workDirectory, 'flush');
    const calls = await traceChild(directory, 'flush');
    const duringFlush = calls.filter((call) => call.step === 'flush');
    const segment = duringFlush.find((call) => call.call === 'fdatasync' && /\/pg_wal\/[0-9A-F]{24}$/.test(call.path));
    assert.ok(segment, `no fdatasync of a WAL segment: ${JSON.stringify(duringFlush)}`);
    assert.ok(segment.path.startsWith(directory), segment.path);
    assert.ok(
      duringFlush.some((call) => call.call === 'fsync' && call.path === path.join(directory, 'pg_wal')),
      'the pg_wal folder was not synced',
    );
  });

  it('close syncs the data files', async () => {
    const directory = path.join(workDirectory, 'close');
    const calls = await traceChild(directory, 'no-flush');
    const duringClose = calls.filter((call) => call.step === 'close');
    assert.ok(duringClose.some((call) => call.path.startsWith(path.join(directory, 'base') + path.sep)), 'no table file was synced');
    assert.ok(duringClose.some((call) => call.path === path.join(directory, 'global', 'pg_control')), 'pg_control was not synced');
    assert.ok(duringClose.some((call) => call.call === 'fsync' && call.path === directory), 'the data folder itself was not synced');
  });
});
