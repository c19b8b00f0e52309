/**
 * The job runner on pg-boss, on the PostgreSQL test server and on the embedded PGlite: a heartbeat
 * keeps a long job's lease, a job whose worker stopped beating is taken over once its lease has run out,
 * a job past its timeout is aborted and retried, and a stopping runner hands its job back without
 * spending an attempt. The handlers stand in for the report job; the queue and its SQL are real.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import { Database } from '../../src/db/database.ts';
import { listJobs } from '../../src/db/queries/queue.ts';
import { queryRows } from '../../src/db/sql.ts';
import { configureLogging, getLogger } from '../../src/logging/logger.ts';
import { JobQueue } from '../../src/queue/job-queue.ts';
import { JobRunner, type JobHandler } from '../../src/queue/job-runner.ts';
import { QUEUE_NAMES, QUEUE_SCHEMA } from '../../src/queue/queue-names.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/service-process.ts';

/** Short enough to expire a few times within a test, long enough for a beat on a loaded machine. */
const LEASE_SECONDS = 2;

interface TestJobData {
  label: string;
}

interface JobRow {
  state: string;
  retry_count: number;
  output: { code?: string; message?: string } | null;
}

for (const backend of ['postgres', 'pglite'] as const) {
  describe(`job runner on ${backend}`, () => {
    let testDatabase: TestDatabase | undefined;
    let workDirectory: string;
    let database: Database;
    let queue: JobQueue;
    let config: AppConfig;
    const runners: JobRunner<TestJobData>[] = [];

    before(async () => {
      configureLogging('silent');
      workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-job-runner-'));
      if (backend === 'postgres') {
        testDatabase = await createTestDatabase('argus_job_runner');
        database = await Database.open({ kind: 'postgres', url: testDatabase.url });
      } else {
        database = await Database.open({ kind: 'pglite', directory: path.join(workDirectory, 'pglite') });
      }
      await database.migrate();
      const defaults = loadConfig(undefined, {});
      config = {
        ...defaults,
        queues: {
          ...defaults.queues,
          maintenanceIntervalSeconds: 1,
          report: { leaseSeconds: LEASE_SECONDS, timeoutSeconds: 60, maxAttempts: 3, retryDelaySeconds: 1 },
        },
      };
      queue = await JobQueue.start(database, config, { schedule: false });
    });

    after(async () => {
      await Promise.all(runners.map((runner) => runner.stop(0)));
      await queue.stop();
      await database.close();
      await testDatabase?.drop();
      await rm(workDirectory, { recursive: true, force: true });
    });

    async function send(label: string): Promise<string> {
      const id = await database.transaction((manager) => queue.send(manager, QUEUE_NAMES.report, { label }));
      assert.ok(id);
      return id;
    }

    async function jobRow(id: string): Promise<JobRow> {
      const rows = await database.run((manager) =>
        queryRows<JobRow>(manager, `SELECT state::text AS state, retry_count, output FROM ${QUEUE_SCHEMA}.job WHERE id = $1`, [id]),
      );
      assert.equal(rows.length, 1);
      return rows[0]!;
    }

    function runner(handler: JobHandler<TestJobData>, settings: { timeoutSeconds?: number } = {}): JobRunner<TestJobData> {
      const created = new JobRunner<TestJobData>(
        queue,
        QUEUE_NAMES.report,
        { concurrency: 1, pollIntervalSeconds: 0.5, leaseSeconds: LEASE_SECONDS, timeoutSeconds: settings.timeoutSeconds ?? 60 },
        handler,
        getLogger('test-runner'),
      );
      runners.push(created);
      created.start();
      return created;
    }

    it('keeps a job that runs three leases long with its heartbeat', async () => {
      const runs: string[] = [];
      const first = runner(async (job) => {
        runs.push(`first:${job.data.label}:${job.attempt}`);
        await new Promise((resolve) => setTimeout(resolve, LEASE_SECONDS * 3 * 1000));
        return { done: true };
      });
      const id = await send('long');
      await waitFor('the first runner to start the job', async () => (runs.length > 0 ? true : undefined), 10_000, 100);
      // A second worker polls the whole time; it must not get the job while the heartbeat runs.
      const second = runner(async (job) => {
        runs.push(`second:${job.data.label}:${job.attempt}`);
      });
      const row = await waitFor('the job to complete', async () => {
        const current = await jobRow(id);
        return current.state === 'completed' ? current : undefined;
      }, 20_000, 200);
      assert.deepEqual(runs, ['first:long:1']);
      assert.equal(row.retry_count, 0);
      await Promise.all([first.stop(0), second.stop(0)]);
    });

    it('takes over a job without heartbeats after its lease', async () => {
      const id = await send('orphan');
      // A worker that fetched the job and died: no heartbeat, no outcome.
      const [orphaned] = await queue.fetch<TestJobData>(QUEUE_NAMES.report, 1);
      assert.equal(orphaned?.id, id);
      const started = Date.now();
      const attempts: number[] = [];
      const taker = runner(async (job) => {
        attempts.push(job.attempt);
      });
      const row = await waitFor('the job to be taken over', async () => {
        const current = await jobRow(id);
        return current.state === 'completed' ? current : undefined;
      }, 30_000, 200);
      assert.deepEqual(attempts, [2]);
      assert.equal(row.retry_count, 1);
      assert.ok(Date.now() - started >= LEASE_SECONDS * 1000 - 500, 'taken over before the lease ran out');
      await taker.stop(0);
    });

    it('aborts a job at its timeout and retries it', async () => {
      const seen: { attempt: number; reason: string }[] = [];
      const id = await send('stuck');
      const stuck = runner(
        (job) =>
          new Promise((_, reject) => {
            // The handler stops only on its signal, like a decoder that checks the signal between tokens.
            job.signal.addEventListener('abort', () => {
              seen.push({ attempt: job.attempt, reason: (job.signal.reason as { code: string }).code });
              reject(job.signal.reason as Error);
            });
          }),
        { timeoutSeconds: 1 },
      );
      await waitFor('two timed-out attempts', async () => (seen.length >= 2 ? true : undefined), 30_000, 100);
      await stuck.stop(0);
      assert.deepEqual(seen.slice(0, 2), [
        { attempt: 1, reason: 'job_timeout' },
        { attempt: 2, reason: 'job_timeout' },
      ]);
      const row = await jobRow(id);
      assert.equal(row.output?.code, 'job_timeout');
    });

    it('puts a running job back without spending an attempt when the runner stops', async () => {
      let aborted = '';
      const id = await send('interrupted');
      const stopping = runner(
        (job) =>
          new Promise((_, reject) => {
            job.signal.addEventListener('abort', () => {
              aborted = (job.signal.reason as { code: string }).code;
              reject(job.signal.reason as Error);
            });
          }),
      );
      await waitFor('the job to start', async () => ((await jobRow(id)).state === 'active' ? true : undefined), 10_000, 100);
      await stopping.stop(0);
      assert.equal(aborted, 'worker_stopping');
      const row = await jobRow(id);
      assert.equal(row.state, 'created');
      assert.equal(row.retry_count, 0);

      const attempts: number[] = [];
      const next = runner(async (job) => {
        attempts.push(job.attempt);
      });
      await waitFor('the job to run again', async () => ((await jobRow(id)).state === 'completed' ? true : undefined), 10_000, 100);
      assert.deepEqual(attempts, [1]);
      await next.stop(0);
    });

    it('lists a job that used up its attempts with its error', async () => {
      const id = await send('broken');
      const failing = runner(async () => {
        throw Object.assign(new Error('the instance file is missing'), { code: 'instance_file_missing' });
      });
      const row = await waitFor('the job to be dead', async () => {
        const current = await jobRow(id);
        return current.state === 'failed' ? current : undefined;
      }, 30_000, 200);
      await failing.stop(0);
      assert.equal(row.retry_count, config.queues.report.maxAttempts - 1);
      const listed = await database.run((manager) => listJobs(manager, ['failed'], 10));
      const job = listed.find((item) => item.id === id);
      assert.equal(job?.attempts, config.queues.report.maxAttempts);
      assert.deepEqual(job?.output, { code: 'instance_file_missing', message: 'the instance file is missing' });
    });
  });
}
