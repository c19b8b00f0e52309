/**
 * The HTTP endpoints that every process serves, on a process with only the api role on the embedded
 * PGlite database (the `npm start` database, where pg-boss runs through the one serialized session),
 * and the check of `serve --roles`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { loadConfig } from '../../src/config/load.ts';
import { configureLogging } from '../../src/logging/logger.ts';
import { startService, type RunningService } from '../../src/service.ts';
import { runCli } from '../helpers/service-process.ts';

describe('health, readiness and metrics endpoints', () => {
  let workDirectory: string;
  let service: RunningService;
  let base: string;
  let configPath: string;
  let metricsToken: string;

  before(async () => {
    configureLogging('silent');
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-http-'));
    configPath = path.join(workDirectory, 'argus-gateway.json');
    await writeFile(configPath, JSON.stringify({ dataDirectory: path.join(workDirectory, 'data'), api: { host: '127.0.0.1', port: 0 } }));
    service = await startService(loadConfig(configPath, {}), { roles: ['api'] });
    base = `http://127.0.0.1:${service.apiPort}`;
    // The embedded database is held by the service, so the command goes through its control socket.
    const created = await runCli(configPath, ['token', 'create', '--role', 'viewer', '--name', 'prometheus']);
    assert.equal(created.code, 0, created.stderr);
    metricsToken = created.stdout.trim();
  });

  after(async () => {
    await service?.stop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  it('answers /health/live with 200', async () => {
    const response = await fetch(`${base}/health/live`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'live' });
  });

  it('reports ready with the database and queue checks', async () => {
    const response = await fetch(`${base}/health/ready`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ready', checks: { database: 'ok', queue: 'ok' } });
  });

  it('rejects a metrics scrape without a token', async () => {
    const response = await fetch(`${base}/metrics`);
    assert.equal(response.status, 401);
  });

  it('serves the Prometheus text format with every stage and the queue depth', async () => {
    const response = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    for (const stage of ['complete', 'selected', 'assembled', 'inferred', 'delivered', 'acknowledged']) {
      assert.ok(text.includes(`argus_stage_duration_seconds_count{stage="${stage}"} 0`), `no ${stage} series`);
    }
    assert.match(text, /# TYPE argus_queue_depth gauge/);
    assert.match(text, /# TYPE argus_job_failures_total counter/);
    assert.match(text, /# TYPE argus_model_tokens_per_second histogram/);
    assert.match(text, /argus_open_associations 0/);
  });

  it('answers an unknown path with 404', async () => {
    const response = await fetch(`${base}/reports`);
    assert.equal(response.status, 404);
  });

  it('rejects an unknown role in serve --roles', async () => {
    const result = await runCli(configPath, ['serve', '--roles', 'listener,gpu']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--roles takes a comma-separated list of listener, scheduler, worker, sender, api; got "listener,gpu"/);
  });
});
