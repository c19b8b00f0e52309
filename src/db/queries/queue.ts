/**
 * SQL on pg-boss's job table that its API does not offer: extending the lease of an active job (the
 * heartbeat), handing an active job back without counting an attempt (a graceful stop), and listing
 * jobs with their errors. It depends on the table layout of pg-boss 10 (package.json pins the exact
 * version); test/worker/job-runner.test.ts runs each statement against it.
 *
 * pg-boss fails an active job once started_on + expire_in has passed, so a lease is extended by
 * moving expire_in, and a job whose worker stopped sending heartbeats is retried by another worker.
 */
import type { EntityManager } from 'typeorm';

import { QUEUE_SCHEMA } from '../../queue/queue-names.ts';
import { queryRows } from '../sql.ts';

/** Moves an active job's expiry to `leaseSeconds` from now; false when the job is no longer active (its lease was lost). */
export async function extendJobLease(manager: EntityManager, queue: string, jobId: string, leaseSeconds: number): Promise<boolean> {
  const rows = await queryRows(
    manager,
    `UPDATE ${QUEUE_SCHEMA}.job SET expire_in = (now() - started_on) + make_interval(secs => $3)
      WHERE name = $1 AND id = $2 AND state = 'active'
      RETURNING id`,
    [queue, jobId, leaseSeconds],
  );
  return rows.length === 1;
}

/**
 * Puts an active job back in the queue to start now, as if it had not been fetched: started_on is
 * cleared, so the next fetch does not count a retry. Returns false when the job is no longer active.
 */
export async function releaseJob(manager: EntityManager, queue: string, jobId: string): Promise<boolean> {
  const rows = await queryRows(
    manager,
    `UPDATE ${QUEUE_SCHEMA}.job SET state = 'created', started_on = NULL, start_after = now()
      WHERE name = $1 AND id = $2 AND state = 'active'
      RETURNING id`,
    [queue, jobId],
  );
  return rows.length === 1;
}

export interface JobListItem {
  id: string;
  queue: string;
  state: string;
  priority: number;
  /** Attempts started, the current one included. */
  attempts: number;
  maxAttempts: number;
  data: Record<string, unknown>;
  /** The error of the last failed attempt, or the job's result. */
  output: unknown;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
  archived: boolean;
}

/** Jobs in the given states, newest first, from the job table and from the archive that keeps finished ones. */
export async function listJobs(manager: EntityManager, states: string[], limit: number): Promise<JobListItem[]> {
  const columns = `id, name, state::text AS state, priority, retry_count, retry_limit, started_on, data, output, created_on, completed_on`;
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT * FROM (
       SELECT ${columns}, false AS archived FROM ${QUEUE_SCHEMA}.job WHERE state::text = ANY($1::text[]) AND name NOT LIKE '\\_\\_pgboss%'
       UNION ALL
       SELECT ${columns}, true AS archived FROM ${QUEUE_SCHEMA}.archive WHERE state::text = ANY($1::text[]) AND name NOT LIKE '\\_\\_pgboss%'
     ) jobs
     ORDER BY created_on DESC
     LIMIT $2`,
    [states, limit],
  );
  return rows.map((row) => ({
    id: row.id as string,
    queue: row.name as string,
    state: row.state as string,
    priority: Number(row.priority),
    attempts: Number(row.retry_count) + (row.started_on ? 1 : 0),
    maxAttempts: Number(row.retry_limit) + 1,
    data: (row.data ?? {}) as Record<string, unknown>,
    output: row.output ?? null,
    createdAt: new Date(row.created_on as string).toISOString(),
    startedAt: row.started_on ? new Date(row.started_on as string).toISOString() : null,
    completedAt: row.completed_on ? new Date(row.completed_on as string).toISOString() : null,
    archived: row.archived === true,
  }));
}

/** Jobs waiting (created or retry) and running (active) per queue. */
export async function countJobsByQueue(manager: EntityManager): Promise<{ queue: string; state: string; count: number }[]> {
  const rows = await queryRows<{ name: string; state: string; count: string | number }>(
    manager,
    `SELECT name, state::text AS state, count(*) AS count FROM ${QUEUE_SCHEMA}.job
      WHERE state IN ('created', 'retry', 'active') AND name NOT LIKE '\\_\\_pgboss%'
      GROUP BY name, state`,
  );
  return rows.map((row) => ({ queue: row.name, state: row.state, count: Number(row.count) }));
}

/** Returns the earliest next attempt of a destination's pending or failed deliveries, if it has any. */
export async function nextDeliveryAttempt(manager: EntityManager, destination: string): Promise<Date | undefined> {
  const rows = await queryRows<{ next: Date | null }>(
    manager,
    `SELECT min(next_attempt_at) AS next FROM delivery WHERE destination = $1 AND state IN ('pending', 'failed')`,
    [destination],
  );
  const next = rows[0]?.next;
  return next ? new Date(next) : undefined;
}

/** Destinations with a delivery due now: pending or failed and due, or left in `sending` past the outbox lease. */
export async function destinationsWithDueDeliveries(manager: EntityManager, now: Date, leaseSeconds: number): Promise<string[]> {
  const rows = await queryRows<{ destination: string }>(
    manager,
    `SELECT DISTINCT destination FROM delivery
      WHERE (state IN ('pending', 'failed') AND next_attempt_at <= $1)
         OR (state = 'sending' AND updated_at < $1 - make_interval(secs => $2))`,
    [now, leaseSeconds],
  );
  return rows.map((row) => row.destination);
}

export interface StudyWithoutLiveJob {
  id: string;
  studyInstanceUid: string;
  state: 'complete' | 'processing';
  jobId: string | null;
  /** State of the study's report job in pg-boss's tables; null when there is none. */
  jobState: string | null;
  jobOutput: unknown;
}

/**
 * Studies that wait for a report but whose report job can no longer produce one: complete without a
 * waiting or running job (completed before the queue existed, or the job was removed), or processing
 * under a job that ended (dead after its last attempt, with no worker left to record the failure).
 * Locked with SKIP LOCKED, so two sweeps never act on the same study.
 */
export async function lockStudiesWithoutLiveJob(manager: EntityManager, limit: number): Promise<StudyWithoutLiveJob[]> {
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT s.id, s.study_instance_uid, s.state, s.report_job_id,
            COALESCE(j.state::text, a.state::text) AS job_state, COALESCE(j.output, a.output) AS job_output
       FROM study s
       LEFT JOIN ${QUEUE_SCHEMA}.job j ON j.name = 'report' AND j.id = s.report_job_id
       LEFT JOIN ${QUEUE_SCHEMA}.archive a ON a.name = 'report' AND a.id = s.report_job_id
      WHERE (s.state = 'complete' AND (j.id IS NULL OR j.state NOT IN ('created', 'retry', 'active')))
         OR (s.state = 'processing' AND s.report_job_id IS NOT NULL AND (j.id IS NULL OR j.state NOT IN ('created', 'retry', 'active')))
      ORDER BY s.updated_at
      LIMIT $1
        FOR UPDATE OF s SKIP LOCKED`,
    [limit],
  );
  return rows.map((row) => ({
    id: row.id as string,
    studyInstanceUid: row.study_instance_uid as string,
    state: row.state as 'complete' | 'processing',
    jobId: (row.report_job_id as string | null) ?? null,
    jobState: (row.job_state as string | null) ?? null,
    jobOutput: row.job_output ?? null,
  }));
}

/** True once a process has started the job queue on this database (pg-boss creates its schema then). */
export async function queueInstalled(manager: EntityManager): Promise<boolean> {
  const rows = await queryRows<{ installed: boolean }>(manager, `SELECT to_regclass($1) IS NOT NULL AS installed`, [`${QUEUE_SCHEMA}.job`]);
  return rows[0]?.installed === true;
}

export interface RetriedJob {
  id: string;
  queue: string;
  data: Record<string, unknown>;
}

/**
 * Gives a failed job one more attempt: the statement of pg-boss 10's retry() (state `retry`, one more
 * allowed retry), looked up by id alone because the API names jobs by id. Returns undefined when no
 * failed job has this id in the job table; failed jobs moved to the archive cannot be retried.
 */
export async function retryFailedJob(manager: EntityManager, jobId: string): Promise<RetriedJob | undefined> {
  const rows = await queryRows<{ id: string; name: string; data: Record<string, unknown> | null }>(
    manager,
    `UPDATE ${QUEUE_SCHEMA}.job SET state = 'retry', retry_limit = retry_limit + 1
      WHERE id = $1 AND state = 'failed' AND name NOT LIKE '\\_\\_pgboss%'
      RETURNING id, name, data`,
    [jobId],
  );
  const row = rows[0];
  return row ? { id: row.id, queue: row.name, data: row.data ?? {} } : undefined;
}

/** Returns the state of a job in the job table or the archive, or undefined when neither has it. */
export async function findJobState(manager: EntityManager, jobId: string): Promise<{ state: string; archived: boolean } | undefined> {
  const rows = await queryRows<{ state: string; archived: boolean }>(
    manager,
    `SELECT state::text AS state, false AS archived FROM ${QUEUE_SCHEMA}.job WHERE id = $1
     UNION ALL
     SELECT state::text AS state, true AS archived FROM ${QUEUE_SCHEMA}.archive WHERE id = $1`,
    [jobId],
  );
  return rows[0];
}

/**
 * Moves a study that failed under this report job back to `complete`, so the retried job can claim it
 * again (a report job only claims a complete study whose report_job_id is its own). Returns the
 * StudyInstanceUID, or undefined when the study is not failed under this job.
 */
export async function reopenStudyForRetriedJob(manager: EntityManager, studyId: string, jobId: string, reason: string, now: Date): Promise<string | undefined> {
  const rows = await queryRows<{ study_instance_uid: string }>(
    manager,
    `UPDATE study SET state = 'complete', state_reason = $3, updated_at = $4, processing_token = NULL
      WHERE id = $1 AND report_job_id = $2 AND state = 'failed'
      RETURNING study_instance_uid`,
    [studyId, jobId, reason, now],
  );
  return rows[0]?.study_instance_uid;
}
