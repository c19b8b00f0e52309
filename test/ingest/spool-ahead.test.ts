/**
 * The instance store opens each spool file one C-STORE ahead: createSpool() returns the file opened at
 * the previous call, and close() removes the one still waiting.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { InstanceStore } from '../../src/ingest/instance-store.ts';
import { waitFor } from '../helpers/service-process.ts';

describe('spool files opened ahead', () => {
  let workDirectory: string;
  let store: InstanceStore;

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-spool-ahead-'));
    store = new InstanceStore(path.join(workDirectory, 'store'), path.join(workDirectory, 'store', '.spool'));
    await store.prepare();
  });

  after(async () => {
    store.close();
    await rm(workDirectory, { recursive: true, force: true });
  });

  it('hands out the file opened before', async () => {
    const first = store.createSpool();
    const ahead = store.spareSpoolPath;
    assert.ok(ahead, 'no spool file was opened ahead');
    assert.notEqual(first.path, ahead);

    const second = store.createSpool();
    assert.equal(second.path, ahead);
    assert.notEqual(store.spareSpoolPath, ahead);

    await first.discard();
    await second.discard();
  });

  it('removes the file opened ahead at close', async () => {
    store.createSpool();
    const ahead = store.spareSpoolPath!;
    await waitFor('the spool file opened ahead', async () => (await readdir(store.spoolDirectory)).includes(path.basename(ahead)) || undefined, 5000, 20);

    store.close();

    assert.equal(store.spareSpoolPath, undefined);
    await waitFor('the spool file removed', async () => !(await readdir(store.spoolDirectory)).includes(path.basename(ahead)) || undefined, 5000, 20);
    const afterClose = store.createSpool();
    assert.notEqual(afterClose.path, ahead);
    assert.equal(store.spareSpoolPath, undefined, 'a closed store opened another file ahead');
    await afterClose.discard();
  });
});
