/**
 * The report job: the only place that sequences the pipeline for one complete study. It selects the
 * series, assembles the volume, runs the model, and stores the report together with its deliveries and
 * audit rows in one transaction. Every outcome, including a rejection, is stored with its reason.
 *
 * A queue job owns its study through a token written at the claim. The transaction that stores the
 * report checks that the token is still there, so an attempt whose lease ran out and was taken over
 * cannot store a second report. A rejection (no readable series, a volume that cannot be assembled)
 * ends the job at once; other errors are retried by the queue, and the last attempt's error fails the
 * study.
 *
 * The database is touched only between stages and never while the model runs, because on the embedded
 * database every unit of work takes the one session.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import type { EntityManager } from 'typeorm';

import type { AppConfig } from '../config/load.ts';
import type { Database } from '../db/database.ts';
import { Study } from '../db/entities/study.ts';
import {
  claimCompleteStudy,
  claimStudyForJob,
  detachNewJobReport,
  listStudyInstances,
  lockOwnedStudy,
  recordSeriesDecision,
  recordVolumeChecks,
  setOwnedStudyState,
  type ClaimedStudy,
  type InstanceRow,
} from '../db/queries/worker.ts';
import { isUniqueViolation } from '../db/sql.ts';
import { recordAudit } from '../audit/record-audit.ts';
import { recordPreviewDirectory } from '../db/queries/volume.ts';
import type { InstanceStore } from '../ingest/instance-store.ts';
import { getLogger } from '../logging/logger.ts';
import type { ArgusModel } from '../model/index.ts';
import { JobAbortedError } from '../queue/job-runner.ts';
import type { ReportJobData } from '../queue/queue-names.ts';
import { selectSeries } from '../selection/index.ts';
import { toFloat32Volume, VolumeError, type CtVolume, type VoxelArray } from '../volume/index.ts';
import { buildDeliveries } from './build-deliveries.ts';
import { assemblyOptions, previewRoot, readAndAssemble, selectionRules, summarizeSeries, writePreviews } from './series-volume.ts';
import { insertReportWithDeliveries } from './store-report.ts';

const logger = getLogger('report-worker');

/** A study that cannot be reported, with a stable code and an English reason. */
export class StudyRejected extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly seriesInstanceUid?: string,
  ) {
    super(message);
    this.name = 'StudyRejected';
  }
}

/** Stages of a study's journey whose duration the worker reports (see src/metrics). */
export type WorkerStage = 'selected' | 'assembled' | 'inferred';

export interface ReportJobHooks {
  /** Seconds a study took to reach `stage` from the stage before it. */
  observeStage?(stage: WorkerStage, seconds: number): void;
  /** Generated tokens per second of decoding. */
  observeTokensPerSecond?(value: number): void;
  /** Runs in the transaction that stores the report, with the destinations that got a delivery. */
  afterStore?(manager: EntityManager, stored: { reportId: string; destinations: string[] }): Promise<void>;
}

/** One attempt at a claimed study. */
interface Attempt {
  /** Written to study.processing_token at the claim; the report is stored only while it is still there. */
  token: string;
  signal?: AbortSignal;
  /** A failure of the last attempt ends the study as failed; earlier ones leave it for the retry. */
  lastAttempt: boolean;
  jobId?: string;
  /** Completes the queue job in the transaction that stores the report. */
  complete?(manager: EntityManager, output: object): Promise<void>;
}

export type ReportJobOutcome =
  | { outcome: 'reported'; reportId: string }
  | { outcome: 'rejected'; code: string }
  | { outcome: 'skipped'; reason: 'not_current' | 'already_reported' };

export class ReportJob {
  constructor(
    private readonly database: Database,
    private readonly config: AppConfig,
    private readonly store: InstanceStore,
    private readonly model: ArgusModel,
    private readonly hooks: ReportJobHooks = {},
  ) {}

  /**
   * Claims and processes one complete study without the job queue; returns false when none was waiting.
   * A failure is recorded on the study at once (there is no retry).
   */
  async runOnce(): Promise<boolean> {
    const token = randomUUID();
    const claimed = await this.database.transaction((manager) => claimCompleteStudy(manager, new Date(), token));
    if (!claimed) return false;
    await this.processClaimed(claimed, { token, lastAttempt: true }).catch(() => undefined);
    return true;
  }

  /**
   * Runs one attempt of a report job. A job that is no longer the study's current one (a newer run
   * replaced it, or the report is stored) ends without doing anything. The report, the job's completion
   * and the wake-up of the senders commit in one transaction.
   */
  async runJob(
    job: { id: string; data: ReportJobData; signal: AbortSignal; lastAttempt: boolean; attempt: number },
    complete: Attempt['complete'],
  ): Promise<ReportJobOutcome> {
    const token = randomUUID();
    const claimed = await this.database.transaction((manager) => claimStudyForJob(manager, job.data.studyId, job.id, token, new Date()));
    if (!claimed) {
      logger.info('report job skipped: the study has moved on', { jobId: job.id, studyId: job.data.studyId });
      return { outcome: 'skipped', reason: 'not_current' };
    }
    return this.processClaimed(claimed, { token, signal: job.signal, lastAttempt: job.lastAttempt, jobId: job.id, complete });
  }

  private async processClaimed(claimed: ClaimedStudy, attempt: Attempt): Promise<ReportJobOutcome> {
    const started = performance.now();
    const studyLogger = logger.child({ studyId: claimed.id, ...(attempt.jobId ? { jobId: attempt.jobId } : {}) });
    studyLogger.info('report job started', { run: claimed.run });
    try {
      const reportId = await this.process(claimed, attempt);
      studyLogger.info('report generated', { reportId, durationMs: Math.round(performance.now() - started) });
      return { outcome: 'reported', reportId };
    } catch (error) {
      if (isUniqueViolation(error)) {
        // Another attempt stored this run's report first; the database refused a second one.
        studyLogger.warn('report job skipped: the run already has its report', { run: claimed.run });
        return { outcome: 'skipped', reason: 'already_reported' };
      }
      if (error instanceof StudyRejected || attempt.lastAttempt) await this.recordFailure(claimed, attempt.token, error);
      if (error instanceof StudyRejected) {
        studyLogger.warn('report job failed', { err: error, code: error.code });
        return { outcome: 'rejected', code: error.code };
      }
      throw error;
    }
  }

  private async process(claimed: ClaimedStudy, attempt: Attempt): Promise<string> {
    const studyId = claimed.id;
    const timings: Record<string, number> = { queueWaitMs: Date.now() - claimed.completedAt.getTime() };
    const { signal } = attempt;

    let mark = performance.now();
    const instances = await this.database.run((manager) => listStudyInstances(manager, studyId));
    const selected = await this.selectAndRecord(instances);
    timings.selectionMs = elapsedSince(mark);
    this.hooks.observeStage?.('selected', (Date.now() - claimed.completedAt.getTime()) / 1000);
    signal?.throwIfAborted();

    mark = performance.now();
    const { volume, instanceUids } = await this.assembleAndRecord(selected);
    timings.volumeMs = elapsedSince(mark);
    this.hooks.observeStage?.('assembled', timings.volumeMs / 1000);
    signal?.throwIfAborted();

    mark = performance.now();
    const generated = await this.model.generate(toFloat32Volume(volume), {
      ...(this.config.model.maxNewTokens === undefined ? {} : { maxNewTokens: this.config.model.maxNewTokens }),
      ...(signal ? { signal } : {}),
    });
    timings.inferenceMs = elapsedSince(mark);
    timings.preprocessMs = Math.round(generated.timings.preprocessMs);
    timings.visionMs = Math.round(generated.timings.visionMs);
    timings.decodeMs = Math.round(generated.timings.decodeMs);
    this.hooks.observeStage?.('inferred', timings.inferenceMs / 1000);
    if (generated.timings.decodeMs > 0) this.hooks.observeTokensPerSecond?.(generated.tokenIds.length / (generated.timings.decodeMs / 1000));
    signal?.throwIfAborted();

    const study = await this.database.run((manager) => manager.findOneByOrFail(Study, { id: studyId }));
    const seriesRow = selected[0]!;
    const reportId = randomUUID();
    const now = new Date();
    const usedInstances = instanceUids.map((sopInstanceUid) => ({ sopClassUid: sopClassOf(selected, sopInstanceUid), sopInstanceUid }));
    const deliveries = buildDeliveries(this.config, {
      study,
      seriesInstanceUid: seriesRow.seriesInstanceUid,
      instances: usedInstances,
      findings: generated.findings,
      impression: generated.impression,
      model: this.model.identity,
      createdAt: now,
    });

    await this.database.transaction(async (manager) => {
      if (!(await lockOwnedStudy(manager, studyId, attempt.token))) {
        throw new JobAbortedError('lease_lost', 'another attempt of the report job took the study over');
      }
      const destinations = await insertReportWithDeliveries(manager, {
        report: {
          id: reportId,
          studyId,
          seriesId: seriesRow.seriesId,
          text: generated.text,
          findings: generated.findings,
          impression: generated.impression,
          model: this.model.identity,
          instanceUids,
          timings,
          createdAt: now,
          studyRun: claimed.run,
          ...(attempt.jobId ? { jobId: attempt.jobId } : {}),
        },
        deliveries,
        studyInstanceUid: study.studyInstanceUid,
        seriesInstanceUid: seriesRow.seriesInstanceUid,
      });
      // The late-arrival policy new_job asks for a new report, not one that replaces the last.
      await detachNewJobReport(manager, studyId, reportId);
      await this.hooks.afterStore?.(manager, { reportId, destinations });
      await attempt.complete?.(manager, { outcome: 'reported', reportId });
    });
    return reportId;
  }

  /** Runs series selection, stores every decision and returns the rows of the selected series' usable slices. */
  private async selectAndRecord(instances: InstanceRow[]): Promise<InstanceRow[]> {
    const bySeries = new Map<string, InstanceRow[]>();
    for (const row of instances) {
      const list = bySeries.get(row.seriesInstanceUid) ?? [];
      list.push(row);
      bySeries.set(row.seriesInstanceUid, list);
    }
    const summaries = await summarizeSeries(bySeries, (row) => this.store.absolutePath(row.filePath));
    const result = selectSeries(summaries, selectionRules(this.config));
    await this.database.transaction(async (manager) => {
      for (const decision of result.decisions) {
        const seriesId = bySeries.get(decision.seriesInstanceUid)![0]!.seriesId;
        await recordSeriesDecision(manager, seriesId, decision);
        await recordAudit(manager, {
          action: decision.selected ? 'series_selected' : 'series_rejected',
          outcome: 'success',
          actorType: 'system',
          actor: 'worker',
          seriesInstanceUid: decision.seriesInstanceUid,
          details: { reasonCode: decision.reasonCode, usableInstanceCount: decision.usableInstanceCount },
        });
      }
    });

    if (!result.selected) {
      const reasons = result.decisions.map((decision) => decision.reason).join(' ');
      throw new StudyRejected('no_series_selected', `No series of the study can be read by the model. ${reasons}`.trim());
    }
    const usable = new Set(result.usableInstances.get(result.selected) ?? []);
    return bySeries.get(result.selected)!.filter((row) => usable.has(row.sopInstanceUid));
  }

  /** Assembles the volume and records its checks and previews; returns it with the SOPInstanceUIDs used, in slice order. */
  private async assembleAndRecord(rows: InstanceRow[]): Promise<{ volume: CtVolume<VoxelArray>; instanceUids: string[] }> {
    const seriesRow = rows[0]!;
    try {
      const files = rows.map((row) => this.store.absolutePath(row.filePath));
      const assembled = await readAndAssemble(files, assemblyOptions(this.config), this.config.volume.decodeThreads);
      const checks = { passed: true, checks: assembled.checks, gaps: assembled.gaps, voxelType: assembled.voxelType };
      await this.database.run((manager) => recordVolumeChecks(manager, seriesRow.seriesId, checks));
      if (this.config.volume.previews) await this.recordPreviews(assembled.volume, seriesRow);
      // Frames of one multi-frame instance share its SOPInstanceUID; the report lists each instance once.
      return { volume: assembled.volume, instanceUids: [...new Set(assembled.slices.map((slice) => slice.sopInstanceUid))] };
    } catch (error) {
      if (!(error instanceof VolumeError)) throw error;
      await this.database.run((manager) =>
        recordVolumeChecks(manager, seriesRow.seriesId, { passed: false, code: error.code, reason: error.message, checks: error.checks }),
      );
      throw new StudyRejected(error.code, `The selected series cannot be made into a volume: ${error.message}`, seriesRow.seriesInstanceUid);
    }
  }

  /** Writes the previews; a failure is logged and does not stop the report, which does not depend on them. */
  private async recordPreviews(volume: CtVolume<VoxelArray>, seriesRow: InstanceRow): Promise<void> {
    try {
      const directory = await writePreviews(previewRoot(this.config), volume, seriesRow.seriesInstanceUid);
      await this.database.run((manager) => recordPreviewDirectory(manager, seriesRow.seriesId, directory));
    } catch (error) {
      logger.warn('volume previews not written', { err: error, seriesInstanceUid: seriesRow.seriesInstanceUid });
    }
  }

  /** Stores the failure on the study, if this attempt still owns it, with its audit row. */
  private async recordFailure(claimed: ClaimedStudy, token: string, error: unknown): Promise<void> {
    const code = error instanceof StudyRejected ? error.code : ((error as { code?: unknown }).code as string | undefined) ?? 'internal_error';
    const reason = error instanceof StudyRejected ? error.message : `Report generation failed: ${(error as Error).message ?? String(error)}`;
    await this.database.transaction(async (manager) => {
      if (!(await setOwnedStudyState(manager, claimed.id, token, 'failed', reason, new Date()))) return;
      await recordAudit(manager, {
        action: 'report_failed',
        outcome: 'failure',
        actorType: 'system',
        actor: 'worker',
        studyInstanceUid: claimed.studyInstanceUid,
        seriesInstanceUid: error instanceof StudyRejected ? error.seriesInstanceUid : undefined,
        details: { code },
      });
    });
  }
}

function elapsedSince(mark: number): number {
  return Math.round(performance.now() - mark);
}

function sopClassOf(rows: InstanceRow[], sopInstanceUid: string): string {
  return rows.find((row) => row.sopInstanceUid === sopInstanceUid)?.sopClassUid ?? '';
}
