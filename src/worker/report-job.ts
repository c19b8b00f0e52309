/**
 * The report job: the only place that sequences the pipeline for one complete study. It selects the
 * series, assembles the volume, runs the model, and stores the report together with its deliveries and
 * audit rows in one transaction. Every outcome, including a rejection, is stored with its reason.
 *
 * The database is touched only between stages and never while the model runs, because on the embedded
 * database every unit of work takes the one session.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import type { AppConfig } from '../config/load.ts';
import type { Database } from '../db/database.ts';
import { Study } from '../db/entities/study.ts';
import {
  claimCompleteStudy,
  detachNewJobReport,
  listStudyInstances,
  recordSeriesDecision,
  recordVolumeChecks,
  setStudyState,
  type InstanceRow,
} from '../db/queries/worker.ts';
import { recordAudit } from '../audit/record-audit.ts';
import { recordPreviewDirectory } from '../db/queries/volume.ts';
import type { InstanceStore } from '../ingest/instance-store.ts';
import { getLogger } from '../logging/logger.ts';
import type { ArgusModel } from '../model/index.ts';
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

export class ReportJob {
  constructor(
    private readonly database: Database,
    private readonly config: AppConfig,
    private readonly store: InstanceStore,
    private readonly model: ArgusModel,
  ) {}

  /** Claims and processes one complete study; returns false when none was waiting. */
  async runOnce(): Promise<boolean> {
    const claimed = await this.database.transaction((manager) => claimCompleteStudy(manager, new Date()));
    if (!claimed) return false;

    const started = performance.now();
    const studyLogger = logger.child({ studyId: claimed.id });
    studyLogger.info('report job started');
    try {
      const reportId = await this.process(claimed.id, Date.now() - claimed.completedAt.getTime());
      studyLogger.info('report generated', { reportId, durationMs: Math.round(performance.now() - started) });
    } catch (error) {
      await this.recordFailure(claimed.id, claimed.studyInstanceUid, error);
      studyLogger.warn('report job failed', { err: error, code: (error as { code?: string }).code });
    }
    return true;
  }

  private async process(studyId: string, queueWaitMs: number): Promise<string> {
    const timings: Record<string, number> = { queueWaitMs };

    let mark = performance.now();
    const instances = await this.database.run((manager) => listStudyInstances(manager, studyId));
    const selected = await this.selectAndRecord(instances);
    timings.selectionMs = elapsedSince(mark);

    mark = performance.now();
    const { volume, instanceUids } = await this.assembleAndRecord(selected);
    timings.volumeMs = elapsedSince(mark);

    mark = performance.now();
    const generated = await this.model.generate(toFloat32Volume(volume), { maxNewTokens: this.config.model.maxNewTokens });
    timings.inferenceMs = elapsedSince(mark);
    timings.preprocessMs = Math.round(generated.timings.preprocessMs);
    timings.visionMs = Math.round(generated.timings.visionMs);
    timings.decodeMs = Math.round(generated.timings.decodeMs);

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
      await insertReportWithDeliveries(manager, {
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
        },
        deliveries,
        studyInstanceUid: study.studyInstanceUid,
        seriesInstanceUid: seriesRow.seriesInstanceUid,
      });
      // The late-arrival policy new_job asks for a new report, not one that replaces the last.
      await detachNewJobReport(manager, studyId, reportId);
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

  private async recordFailure(studyId: string, studyInstanceUid: string, error: unknown): Promise<void> {
    const code = error instanceof StudyRejected ? error.code : 'internal_error';
    const reason = error instanceof StudyRejected ? error.message : `Report generation failed: ${(error as Error).message ?? String(error)}`;
    await this.database.transaction(async (manager) => {
      await setStudyState(manager, studyId, 'failed', reason, new Date());
      await recordAudit(manager, {
        action: 'report_failed',
        outcome: 'failure',
        actorType: 'system',
        actor: 'worker',
        studyInstanceUid,
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
