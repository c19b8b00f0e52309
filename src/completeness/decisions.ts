/**
 * The completeness decisions as pure functions of a study's state, the settings and the time, with the
 * reason that is stored for each. completeness-check.ts applies them to the database.
 */
import { describeRule, unmatchedRules, type RequiredSeriesRule, type SeriesForRules } from './required-series.ts';

export type LateArrivalPolicy = 'ignore' | 'amend' | 'new_job';

/** Reason a study was last moved to complete, read by the report job. */
export type RunReason = 'initial' | 'reopened' | 'amend' | 'new_job';

export interface StudyDecision {
  decision: 'study_complete' | 'study_forced_complete' | 'study_waiting' | 'late_arrival_ignored' | 'late_arrival_amend' | 'late_arrival_new_job';
  reason: string;
  runReason: RunReason;
  details: Record<string, string | number | boolean | string[]>;
}

export interface DecisionSettings {
  studyQuietPeriodSeconds: number;
  seriesQuietPeriodSeconds: number;
  forceCompleteAfterSeconds: number;
  requiredSeries: readonly RequiredSeriesRule[];
  lateArrivalPolicy: LateArrivalPolicy;
  /**
   * Start of the listener that receives for this check. Time before it does not count as quiet, because
   * a sender resends after an outage what it could not deliver.
   */
  listeningSince?: Date;
}

/** Whether `periodSeconds` have passed since `lastReceivedAt` and since the listener started. */
export function quietFor(periodSeconds: number, lastReceivedAt: Date, now: Date, listeningSince?: Date): boolean {
  const since = listeningSince && listeningSince > lastReceivedAt ? listeningSince : lastReceivedAt;
  return now.getTime() - since.getTime() >= periodSeconds * 1000;
}

export interface ReceivingStudy {
  /** `failed` with late instances: instances arrived while the failed run was in progress. */
  state: 'receiving' | 'failed';
  runReason: string;
  lastReceivedAt: Date;
  /** Start of this receiving episode: the first instance, or the reopening. */
  receivingSince: Date;
  /** Series not yet complete. */
  openSeries: number;
  instanceCount: number;
  lateInstanceCount: number;
  series: readonly SeriesForRules[];
}

/** Decides a receiving study; undefined when nothing is decided yet. */
export function decideStudy(study: ReceivingStudy, settings: DecisionSettings, now: Date): StudyDecision | undefined {
  const quiet = quietFor(settings.studyQuietPeriodSeconds, study.lastReceivedAt, now, settings.listeningSince) && study.openSeries === 0;
  const missing = unmatchedRules(settings.requiredSeries, study.series);
  const deadline = new Date(study.receivingSince.getTime() + settings.forceCompleteAfterSeconds * 1000);
  const runReason: RunReason = study.state === 'failed' ? 'reopened' : toRunReason(study.runReason);
  const details = { instanceCount: study.instanceCount, lastReceivedAt: study.lastReceivedAt.toISOString(), runReason };

  if (quiet && missing.length === 0) {
    const parts = [
      `no instance received for ${settings.studyQuietPeriodSeconds} s (study quiet period) and every series complete ` +
        `(series quiet period ${settings.seriesQuietPeriodSeconds} s); last instance at ${study.lastReceivedAt.toISOString()}`,
    ];
    if (settings.requiredSeries.length > 0) parts.push(`required series present: ${settings.requiredSeries.map(describeRule).join('; ')}`);
    if (study.state === 'failed') parts.push(`processed again: ${study.lateInstanceCount} instance(s) arrived while the failed run was in progress`);
    return { decision: 'study_complete', reason: parts.join('; '), runReason, details };
  }

  if (now >= deadline) {
    const still: string[] = [];
    if (now.getTime() - study.lastReceivedAt.getTime() < settings.studyQuietPeriodSeconds * 1000) {
      still.push(`instances still arriving (last at ${study.lastReceivedAt.toISOString()})`);
    }
    if (study.openSeries > 0) still.push(`${study.openSeries} series still receiving`);
    if (missing.length > 0) still.push(`required series missing: ${missing.map(describeRule).join('; ')}`);
    return {
      decision: 'study_forced_complete',
      reason: `forced complete at the deadline, ${settings.forceCompleteAfterSeconds} s after receiving began at ${study.receivingSince.toISOString()}: ${still.join('; ')}`,
      runReason,
      details: { ...details, missingRules: missing.map(describeRule) },
    };
  }

  if (quiet) {
    return {
      decision: 'study_waiting',
      reason: `quiet, but waiting for required series: ${missing.map(describeRule).join('; ')}; forced complete at ${deadline.toISOString()} at the latest`,
      runReason,
      details: { ...details, missingRules: missing.map(describeRule) },
    };
  }
  return undefined;
}

export interface LateArrivals {
  lateInstanceCount: number;
  lastReceivedAt: Date;
  /** When the first late instance arrived. */
  receivingSince: Date;
  openSeries: number;
}

/** Applies the late-arrival policy to a reported study with late instances; undefined while they still arrive. */
export function decideLateArrival(late: LateArrivals, settings: DecisionSettings, now: Date): StudyDecision | undefined {
  const quiet = quietFor(settings.studyQuietPeriodSeconds, late.lastReceivedAt, now, settings.listeningSince) && late.openSeries === 0;
  const pastDeadline = now.getTime() >= late.receivingSince.getTime() + settings.forceCompleteAfterSeconds * 1000;
  if (!quiet && !pastDeadline) return undefined;

  const arrived = `${late.lateInstanceCount} instance(s) of a processed SOP class arrived after the study was processed`;
  const when = quiet
    ? `; none for ${settings.studyQuietPeriodSeconds} s since ${late.lastReceivedAt.toISOString()}`
    : `; still arriving at the deadline, ${settings.forceCompleteAfterSeconds} s after the first of them`;
  const details = { lateInstanceCount: late.lateInstanceCount, policy: settings.lateArrivalPolicy, forced: !quiet };
  switch (settings.lateArrivalPolicy) {
    case 'ignore':
      return { decision: 'late_arrival_ignored', reason: `${arrived}${when}; stored without a new run (late-arrival policy ignore)`, runReason: 'initial', details };
    case 'amend':
      return {
        decision: 'late_arrival_amend',
        reason: `${arrived}${when}; processing again, the new report replaces the last one (late-arrival policy amend)`,
        runReason: 'amend',
        details,
      };
    case 'new_job':
      return {
        decision: 'late_arrival_new_job',
        reason: `${arrived}${when}; processing again as a new job whose report replaces none (late-arrival policy new_job)`,
        runReason: 'new_job',
        details,
      };
  }
}

function toRunReason(value: string): RunReason {
  return value === 'reopened' || value === 'amend' || value === 'new_job' ? value : 'initial';
}
