/**
 * The housekeeping job, sent once a minute for the whole fleet. It repairs what the transactional
 * sends cannot cover, so that no study and no delivery waits for ever:
 * - a complete study without a waiting or running report job (completed before this version, or its
 *   job was removed) gets a new report run;
 * - a study left in `processing` by a report job that ended without recording an outcome (its last
 *   attempt was lost with its worker) becomes `failed`, with the job's last error as the reason;
 * - a destination with due deliveries but no delivery job (a sender that died mid-send, rows written
 *   before the queues existed) gets one.
 */
import type { EntityManager } from 'typeorm';

import type { AppConfig } from '../config/load.ts';
import type { Database } from '../db/database.ts';
import { destinationsWithDueDeliveries, lockStudiesWithoutLiveJob, type StudyWithoutLiveJob } from '../db/queries/queue.ts';
import { setStudyState } from '../db/queries/worker.ts';
import { recordAudit } from '../audit/record-audit.ts';
import { getLogger } from '../logging/logger.ts';
import type { JobScheduling } from './job-scheduling.ts';

const logger = getLogger('housekeeping');

/** Studies repaired per transaction; the next minute's run takes the rest. */
const BATCH_SIZE = 100;

export interface HousekeepingResult {
  reportJobsSent: number;
  studiesFailed: number;
  destinationsWoken: number;
}

export class HousekeepingJob {
  constructor(
    private readonly database: Database,
    private readonly config: AppConfig,
    private readonly scheduling: JobScheduling,
    /** The outbox lease of the delivery job: a row in `sending` longer than this belongs to a sender that died. */
    private readonly deliveryLeaseSeconds: number,
  ) {}

  async run(): Promise<HousekeepingResult> {
    const result = { reportJobsSent: 0, studiesFailed: 0, destinationsWoken: 0 };
    await this.database.transaction(async (manager) => {
      for (const study of await lockStudiesWithoutLiveJob(manager, BATCH_SIZE)) {
        if (study.state === 'complete') {
          const scheduled = await this.scheduling.scheduleReport(manager, study.id);
          logger.warn('report job sent for a complete study that had none', { studyId: study.id, jobId: scheduled.jobId, run: scheduled.run });
          result.reportJobsSent++;
        } else {
          await this.failAbandonedStudy(manager, study);
          result.studiesFailed++;
        }
      }
      const destinations = await destinationsWithDueDeliveries(manager, new Date(), this.deliveryLeaseSeconds);
      await this.scheduling.wakeDestinations(manager, destinations);
      result.destinationsWoken = destinations.length;
    });
    return result;
  }

  private async failAbandonedStudy(manager: EntityManager, study: StudyWithoutLiveJob): Promise<void> {
    const error = jobError(study.jobOutput);
    const reason = `Report generation failed: the report job ended (${study.jobState ?? 'removed'}) without a report${error ? `: ${error.message}` : ''}`;
    await setStudyState(manager, study.id, 'failed', reason, new Date());
    await recordAudit(manager, {
      action: 'report_failed',
      outcome: 'failure',
      actorType: 'system',
      actor: 'scheduler',
      studyInstanceUid: study.studyInstanceUid,
      details: { code: error?.code ?? 'report_job_ended', jobId: study.jobId, maxAttempts: this.config.queues.report.maxAttempts },
    });
    logger.error('study failed: its report job ended without a report', { studyId: study.id, jobId: study.jobId ?? undefined, state: study.jobState ?? 'removed' });
  }
}

/** pg-boss stores a failure as the object passed to fail(), or as { value: { message } } for its own timeouts. */
function jobError(output: unknown): { code?: string; message: string } | undefined {
  if (typeof output !== 'object' || output === null) return undefined;
  const record = output as { code?: unknown; message?: unknown; value?: { message?: unknown } };
  const message = typeof record.message === 'string' ? record.message : typeof record.value?.message === 'string' ? record.value.message : undefined;
  if (message === undefined) return undefined;
  return { ...(typeof record.code === 'string' ? { code: record.code } : {}), message };
}
