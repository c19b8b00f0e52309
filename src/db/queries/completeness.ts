/**
 * SQL of the completeness state machine. Candidates are locked with FOR UPDATE SKIP LOCKED and every
 * state change repeats its precondition in its WHERE clause, so any number of processes can run the
 * check at once and each decision is taken exactly once.
 */
import type { EntityManager } from 'typeorm';

import { queryRows } from '../sql.ts';

export interface CompletedSeriesRow {
  series_id: string;
  study_id: string;
  series_instance_uid: string;
  instance_count: number;
}

/**
 * Marks every receiving series whose last instance arrived at or before `quietSince` as complete and
 * records a `series_complete` decision for each, in one statement.
 */
export async function completeQuietSeries(manager: EntityManager, now: Date, quietSince: Date, quietPeriodSeconds: number): Promise<CompletedSeriesRow[]> {
  return queryRows<CompletedSeriesRow>(
    manager,
    `WITH done AS (
       UPDATE series SET completed_at = $1
        WHERE completed_at IS NULL AND last_received_at <= $2
        RETURNING id, study_id, series_instance_uid, instance_count, last_received_at),
     events AS (
       INSERT INTO completeness_event (id, study_id, series_id, decision, reason, details, decided_at)
       SELECT gen_random_uuid(), study_id, id, 'series_complete',
              'no instance of the series received for ' || $3::text || ' s (series quiet period); last instance at '
                || to_char(last_received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
              jsonb_build_object('instanceCount', instance_count), $1
         FROM done)
     SELECT id AS series_id, study_id, series_instance_uid, instance_count FROM done`,
    [now, quietSince, String(quietPeriodSeconds)],
  );
}

export interface StudyCandidateRow {
  id: string;
  study_instance_uid: string;
  state: 'receiving' | 'failed';
  run_reason: string;
  instance_count: number;
  late_instance_count: number;
  last_received_at: Date;
  receiving_since: Date;
  state_reason: string | null;
  /** Series of the study not yet complete. */
  open_series: number;
}

/**
 * Locks the studies that may be decided now: receiving (or failed with instances that arrived while it
 * was processed) and either quiet since `quietSince` or receiving since before `deadlineBefore`. Rows
 * locked by another process are skipped.
 */
export async function lockStudyCandidates(
  manager: EntityManager,
  criteria: { quietSince: Date; deadlineBefore: Date; limit: number },
): Promise<StudyCandidateRow[]> {
  return queryRows<StudyCandidateRow>(
    manager,
    `SELECT s.id, s.study_instance_uid, s.state, s.run_reason, s.instance_count, s.late_instance_count, s.last_received_at,
            COALESCE(s.receiving_since, s.first_received_at) AS receiving_since, s.state_reason,
            (SELECT count(*)::int FROM series r WHERE r.study_id = s.id AND r.completed_at IS NULL) AS open_series
       FROM study s
      WHERE (s.state = 'receiving' OR (s.state = 'failed' AND s.late_instance_count > 0))
        AND (s.last_received_at <= $1 OR COALESCE(s.receiving_since, s.first_received_at) <= $2)
      ORDER BY s.last_received_at
      LIMIT $3
        FOR UPDATE OF s SKIP LOCKED`,
    [criteria.quietSince, criteria.deadlineBefore, criteria.limit],
  );
}

export interface LateArrivalCandidateRow {
  id: string;
  study_instance_uid: string;
  instance_count: number;
  late_instance_count: number;
  open_series: number;
  last_received_at: Date;
  receiving_since: Date;
}

/** Locks reported studies with late instances that are quiet since `quietSince` or late since before `deadlineBefore`. */
export async function lockLateArrivalCandidates(
  manager: EntityManager,
  criteria: { quietSince: Date; deadlineBefore: Date; limit: number },
): Promise<LateArrivalCandidateRow[]> {
  return queryRows<LateArrivalCandidateRow>(
    manager,
    `SELECT s.id, s.study_instance_uid, s.instance_count, s.late_instance_count, s.last_received_at,
            COALESCE(s.receiving_since, s.first_received_at) AS receiving_since,
            (SELECT count(*)::int FROM series r WHERE r.study_id = s.id AND r.completed_at IS NULL) AS open_series
       FROM study s
      WHERE s.state = 'reported' AND s.late_instance_count > 0
        AND (s.last_received_at <= $1 OR COALESCE(s.receiving_since, s.first_received_at) <= $2)
      ORDER BY s.last_received_at
      LIMIT $3
        FOR UPDATE OF s SKIP LOCKED`,
    [criteria.quietSince, criteria.deadlineBefore, criteria.limit],
  );
}

export interface SeriesSummaryRow {
  study_id: string;
  series_instance_uid: string;
  modality: string | null;
  series_description: string | null;
  /** Distinct ImageType values lists of the series' instances. */
  image_types: string[][] | null;
}

/** Returns the series of the given studies with what the required-series rules match on. */
export async function listSeriesForRules(manager: EntityManager, studyIds: string[]): Promise<SeriesSummaryRow[]> {
  return queryRows<SeriesSummaryRow>(
    manager,
    `SELECT r.study_id, r.series_instance_uid, r.modality, r.series_description,
            (SELECT jsonb_agg(DISTINCT i.image_type) FROM instance i WHERE i.series_id = r.id AND i.image_type IS NOT NULL) AS image_types
       FROM series r
      WHERE r.study_id = ANY($1::uuid[])`,
    [studyIds],
  );
}

/** Moves a locked study to complete; returns false when it is no longer in `fromState`. */
export async function markStudyComplete(
  manager: EntityManager,
  change: { studyId: string; fromState: string; now: Date; reason: string; runReason: string },
): Promise<boolean> {
  const rows = await queryRows<{ id: string }>(
    manager,
    `UPDATE study SET state = 'complete', completed_at = $3, updated_at = $3, state_reason = $4, run_reason = $5,
            late_instance_count = 0, receiving_since = NULL
      WHERE id = $1 AND state = $2
      RETURNING id`,
    [change.studyId, change.fromState, change.now, change.reason, change.runReason],
  );
  return rows.length === 1;
}

/** Clears the late instances of a reported study that the policy ignores; returns false when the study changed. */
export async function clearLateInstances(manager: EntityManager, studyId: string, now: Date, reason: string): Promise<boolean> {
  const rows = await queryRows<{ id: string }>(
    manager,
    `UPDATE study SET late_instance_count = 0, receiving_since = NULL, updated_at = $2, state_reason = $3
      WHERE id = $1 AND state = 'reported' AND late_instance_count > 0
      RETURNING id`,
    [studyId, now, reason],
  );
  return rows.length === 1;
}

/** Stores why a quiet study still waits; returns true when the reason changed (a new decision). */
export async function setWaitingReason(manager: EntityManager, studyId: string, reason: string, now: Date): Promise<boolean> {
  const rows = await queryRows<{ id: string }>(
    manager,
    `UPDATE study SET state_reason = $2, updated_at = $3 WHERE id = $1 AND state_reason IS DISTINCT FROM $2 RETURNING id`,
    [studyId, reason, now],
  );
  return rows.length === 1;
}

export async function insertCompletenessEvent(
  manager: EntityManager,
  event: { id: string; studyId: string; decision: string; reason: string; details: Record<string, unknown>; decidedAt: Date },
): Promise<void> {
  await queryRows(
    manager,
    `INSERT INTO completeness_event (id, study_id, series_id, decision, reason, details, decided_at) VALUES ($1, $2, NULL, $3, $4, $5, $6)`,
    [event.id, event.studyId, event.decision, event.reason, JSON.stringify(event.details), event.decidedAt],
  );
}

export interface CompletenessEventItem {
  decision: string;
  reason: string;
  seriesInstanceUid: string | null;
  details: Record<string, unknown> | null;
  decidedAt: string;
}

/** Returns a study's completeness decisions, oldest first. */
export async function listCompletenessEvents(manager: EntityManager, studyInstanceUid: string): Promise<CompletenessEventItem[]> {
  const rows = await queryRows<{ decision: string; reason: string; series_instance_uid: string | null; details: Record<string, unknown> | null; decided_at: Date }>(
    manager,
    `SELECT e.decision, e.reason, r.series_instance_uid, e.details, e.decided_at
       FROM completeness_event e JOIN study s ON s.id = e.study_id LEFT JOIN series r ON r.id = e.series_id
      WHERE s.study_instance_uid = $1
      ORDER BY e.decided_at, e.decision`,
    [studyInstanceUid],
  );
  return rows.map((row) => ({
    decision: row.decision,
    reason: row.reason,
    seriesInstanceUid: row.series_instance_uid,
    details: row.details,
    decidedAt: new Date(row.decided_at).toISOString(),
  }));
}

export interface StudyListItem {
  studyInstanceUid: string;
  state: string;
  stateReason: string | null;
  runReason: string;
  instanceCount: number;
  lateInstanceCount: number;
  lastReceivedAt: string;
  completedAt: string | null;
}

/** Returns the studies that received an instance last first, with their state and its reason. */
export async function listStudies(manager: EntityManager, limit: number): Promise<StudyListItem[]> {
  const rows = await queryRows<Record<string, unknown>>(
    manager,
    `SELECT study_instance_uid, state, state_reason, run_reason, instance_count, late_instance_count, last_received_at, completed_at
       FROM study ORDER BY last_received_at DESC LIMIT $1`,
    [limit],
  );
  return rows.map((row) => ({
    studyInstanceUid: row.study_instance_uid as string,
    state: row.state as string,
    stateReason: row.state_reason as string | null,
    runReason: row.run_reason as string,
    instanceCount: Number(row.instance_count),
    lateInstanceCount: Number(row.late_instance_count),
    lastReceivedAt: new Date(row.last_received_at as string).toISOString(),
    completedAt: row.completed_at ? new Date(row.completed_at as string).toISOString() : null,
  }));
}
