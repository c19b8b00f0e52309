/**
 * Decides when a study is complete. DICOM has no "study finished" message, so completeness is a state
 * machine in the database, driven by this check:
 * - a series is complete once no instance of it arrived for the series quiet period;
 * - a study is complete once all its series are complete, no instance of it arrived for the study quiet
 *   period, and each required-series rule is matched by one of its series;
 * - a study still receiving or still missing a required series at the force-complete deadline (counted
 *   from its first instance, or from its reopening) is made complete anyway;
 * - instances that arrive after a study was processed are handled by the late-arrival policy once the
 *   study is quiet again: ignored, or the study is processed again (amend or new job).
 * Every decision is stored on the study or series with its reason, in completeness_event, and audited
 * in the same transaction. Candidates are locked with SKIP LOCKED, so several processes can run the
 * check at once and each study completes exactly once.
 */
import { randomUUID } from 'node:crypto';

import type { EntityManager } from 'typeorm';

import type { Database } from '../db/database.ts';
import {
  clearLateInstances,
  completeQuietSeries,
  insertCompletenessEvent,
  listSeriesForRules,
  lockLateArrivalCandidates,
  lockStudyCandidates,
  markStudyComplete,
  setWaitingReason,
  type StudyCandidateRow,
} from '../db/queries/completeness.ts';
import { recordAudit } from '../audit/record-audit.ts';
import { decideLateArrival, decideStudy, type LateArrivalPolicy, type StudyDecision } from './decisions.ts';
import type { RequiredSeriesRule, SeriesForRules } from './required-series.ts';

export interface CompletenessSettings {
  studyQuietPeriodSeconds: number;
  seriesQuietPeriodSeconds: number;
  forceCompleteAfterSeconds: number;
  requiredSeries: readonly RequiredSeriesRule[];
  lateArrivalPolicy: LateArrivalPolicy;
  /** Start of the listener; time before it does not count as quiet (see DecisionSettings). */
  listeningSince?: Date;
  /** Runs in the transaction that makes a study complete, so the report job commits with the decision. */
  onStudyComplete?: (manager: EntityManager, studyId: string) => Promise<void>;
}

/** A decision taken by one run of the check. */
export interface CompletenessOutcome {
  studyId: string;
  studyInstanceUid: string;
  decision: StudyDecision['decision'];
  reason: string;
  instanceCount: number;
  /** The study was moved to complete, so the report worker has work. */
  completed: boolean;
}

/** Studies decided per transaction; a run repeats batches until the candidates are used up. */
const BATCH_SIZE = 100;

export async function runCompletenessCheck(database: Database, settings: CompletenessSettings, now: Date = new Date()): Promise<CompletenessOutcome[]> {
  // Series first, in their own transaction: the study step reads which series are complete, and a
  // transaction never locks series rows and then study rows, the reverse of the ingest statement's order.
  const seriesQuietSince = new Date(now.getTime() - settings.seriesQuietPeriodSeconds * 1000);
  if (!settings.listeningSince || settings.listeningSince <= seriesQuietSince) {
    await database.transaction((manager) => completeQuietSeries(manager, now, seriesQuietSince, settings.seriesQuietPeriodSeconds));
  }

  const outcomes: CompletenessOutcome[] = [];
  for (;;) {
    const batch = await database.transaction((manager) => decideStudies(manager, settings, now));
    outcomes.push(...batch.outcomes);
    if (batch.candidates < BATCH_SIZE) break;
  }
  for (;;) {
    const batch = await database.transaction((manager) => decideLateArrivals(manager, settings, now));
    outcomes.push(...batch.outcomes);
    if (batch.candidates < BATCH_SIZE) break;
  }
  return outcomes;
}

async function decideStudies(manager: EntityManager, settings: CompletenessSettings, now: Date): Promise<{ candidates: number; outcomes: CompletenessOutcome[] }> {
  const candidates = await lockStudyCandidates(manager, {
    quietSince: new Date(now.getTime() - settings.studyQuietPeriodSeconds * 1000),
    deadlineBefore: new Date(now.getTime() - settings.forceCompleteAfterSeconds * 1000),
    limit: BATCH_SIZE,
  });
  const seriesByStudy = settings.requiredSeries.length > 0 ? await seriesOf(manager, candidates) : new Map<string, SeriesForRules[]>();

  const outcomes: CompletenessOutcome[] = [];
  for (const candidate of candidates) {
    const decision = decideStudy(
      {
        state: candidate.state,
        runReason: candidate.run_reason,
        lastReceivedAt: new Date(candidate.last_received_at),
        receivingSince: new Date(candidate.receiving_since),
        openSeries: candidate.open_series,
        instanceCount: candidate.instance_count,
        lateInstanceCount: candidate.late_instance_count,
        series: seriesByStudy.get(candidate.id) ?? [],
      },
      settings,
      now,
    );
    if (!decision) continue;

    if (decision.decision === 'study_waiting') {
      // A waiting study is looked at on every run; only a change of what it waits for is a new decision.
      if (await setWaitingReason(manager, candidate.id, decision.reason, now)) {
        await recordEvent(manager, candidate.id, decision, now);
        outcomes.push(outcomeOf(candidate, decision, false));
      }
      continue;
    }

    const changed = await markStudyComplete(manager, { studyId: candidate.id, fromState: candidate.state, now, reason: decision.reason, runReason: decision.runReason });
    if (!changed) continue;
    await settings.onStudyComplete?.(manager, candidate.id);
    await recordEvent(manager, candidate.id, decision, now);
    await recordAudit(manager, {
      action: decision.decision === 'study_forced_complete' ? 'study_forced_complete' : 'study_complete',
      outcome: 'success',
      actorType: 'system',
      actor: 'scheduler',
      studyInstanceUid: candidate.study_instance_uid,
      details: { instanceCount: candidate.instance_count, runReason: decision.runReason, quietPeriodSeconds: settings.studyQuietPeriodSeconds },
    });
    outcomes.push(outcomeOf(candidate, decision, true));
  }
  return { candidates: candidates.length, outcomes };
}

async function decideLateArrivals(manager: EntityManager, settings: CompletenessSettings, now: Date): Promise<{ candidates: number; outcomes: CompletenessOutcome[] }> {
  const candidates = await lockLateArrivalCandidates(manager, {
    quietSince: new Date(now.getTime() - settings.studyQuietPeriodSeconds * 1000),
    deadlineBefore: new Date(now.getTime() - settings.forceCompleteAfterSeconds * 1000),
    limit: BATCH_SIZE,
  });

  const outcomes: CompletenessOutcome[] = [];
  for (const candidate of candidates) {
    const decision = decideLateArrival(
      {
        lateInstanceCount: candidate.late_instance_count,
        lastReceivedAt: new Date(candidate.last_received_at),
        receivingSince: new Date(candidate.receiving_since),
        openSeries: candidate.open_series,
      },
      settings,
      now,
    );
    if (!decision) continue;

    const changed =
      decision.decision === 'late_arrival_ignored'
        ? await clearLateInstances(manager, candidate.id, now, decision.reason)
        : await markStudyComplete(manager, { studyId: candidate.id, fromState: 'reported', now, reason: decision.reason, runReason: decision.runReason });
    if (!changed) continue;
    if (decision.decision !== 'late_arrival_ignored') await settings.onStudyComplete?.(manager, candidate.id);
    await recordEvent(manager, candidate.id, decision, now);
    await recordAudit(manager, {
      action: 'late_arrival_decided',
      outcome: 'success',
      actorType: 'system',
      actor: 'scheduler',
      studyInstanceUid: candidate.study_instance_uid,
      details: { policy: settings.lateArrivalPolicy, lateInstanceCount: candidate.late_instance_count, decision: decision.decision },
    });
    outcomes.push({
      studyId: candidate.id,
      studyInstanceUid: candidate.study_instance_uid,
      decision: decision.decision,
      reason: decision.reason,
      instanceCount: candidate.instance_count,
      completed: decision.decision !== 'late_arrival_ignored',
    });
  }
  return { candidates: candidates.length, outcomes };
}

async function seriesOf(manager: EntityManager, candidates: StudyCandidateRow[]): Promise<Map<string, SeriesForRules[]>> {
  const bySeries = new Map<string, SeriesForRules[]>();
  if (candidates.length === 0) return bySeries;
  const rows = await listSeriesForRules(
    manager,
    candidates.map((candidate) => candidate.id),
  );
  for (const row of rows) {
    const list = bySeries.get(row.study_id) ?? [];
    list.push({ seriesInstanceUid: row.series_instance_uid, modality: row.modality, seriesDescription: row.series_description, imageTypes: row.image_types ?? [] });
    bySeries.set(row.study_id, list);
  }
  return bySeries;
}

async function recordEvent(manager: EntityManager, studyId: string, decision: StudyDecision, now: Date): Promise<void> {
  await insertCompletenessEvent(manager, { id: randomUUID(), studyId, decision: decision.decision, reason: decision.reason, details: decision.details, decidedAt: now });
}

function outcomeOf(candidate: StudyCandidateRow, decision: StudyDecision, completed: boolean): CompletenessOutcome {
  return {
    studyId: candidate.id,
    studyInstanceUid: candidate.study_instance_uid,
    decision: decision.decision,
    reason: decision.reason,
    instanceCount: candidate.instance_count,
    completed,
  };
}

export interface CompletedStudy {
  studyId: string;
  studyInstanceUid: string;
  instanceCount: number;
}

/**
 * Runs the check with one quiet period for series and studies, no required series and no deadline
 * within a week, and returns the studies it completed. For callers that need only the quiet period.
 */
export async function completeQuietStudies(database: Database, quietPeriodSeconds: number, now: Date = new Date()): Promise<CompletedStudy[]> {
  const outcomes = await runCompletenessCheck(
    database,
    { studyQuietPeriodSeconds: quietPeriodSeconds, seriesQuietPeriodSeconds: quietPeriodSeconds, forceCompleteAfterSeconds: 7 * 86400, requiredSeries: [], lateArrivalPolicy: 'ignore' },
    now,
  );
  return outcomes
    .filter((outcome) => outcome.completed && outcome.decision === 'study_complete')
    .map((outcome) => ({ studyId: outcome.studyId, studyInstanceUid: outcome.studyInstanceUid, instanceCount: outcome.instanceCount }));
}
