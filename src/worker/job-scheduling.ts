/**
 * Sends the jobs that follow from a change, in the transaction of that change: a report job when a
 * study becomes complete, and a delivery job when a destination gets a delivery or a retry.
 *
 * A report job is urgent when the study's order carries one of the configured priorities (TQ1-9,
 * ORC-7.6 or OBR-27.6, matched on the accession number) or when its StudyDescription matches the
 * configured pattern; otherwise it is routine. Workers take urgent jobs first.
 */
import { randomUUID } from 'node:crypto';

import type { EntityManager } from 'typeorm';

import type { AppConfig } from '../config/load.ts';
import { startReportRun } from '../db/queries/worker.ts';
import type { JobQueue } from '../queue/job-queue.ts';
import { JOB_PRIORITY, QUEUE_NAMES, type DeliveryJobData, type JobPriorityName, type ReportJobData } from '../queue/queue-names.ts';

export interface PriorityRule {
  urgentOrderPriorities: readonly string[];
  urgentStudyDescriptionPattern?: string;
}

export function jobPriority(rule: PriorityRule, study: { orderPriorities: readonly string[]; studyDescription: string | null }): JobPriorityName {
  const urgent = new Set(rule.urgentOrderPriorities.map((value) => value.toUpperCase()));
  if (study.orderPriorities.some((value) => urgent.has(value.toUpperCase()))) return 'urgent';
  if (rule.urgentStudyDescriptionPattern && study.studyDescription && new RegExp(rule.urgentStudyDescriptionPattern, 'i').test(study.studyDescription)) {
    return 'urgent';
  }
  return 'routine';
}

export interface ScheduledReport {
  jobId: string;
  run: number;
  priority: JobPriorityName;
  /** Seconds from the study's last instance to its completion. */
  completionSeconds: number;
}

export class JobScheduling {
  constructor(
    private readonly queue: JobQueue,
    private readonly config: AppConfig,
  ) {}

  /** Starts the study's next report run and sends its job; call in the transaction that completes the study. */
  async scheduleReport(manager: EntityManager, studyId: string): Promise<ScheduledReport> {
    const jobId = randomUUID();
    const run = await startReportRun(manager, studyId, jobId);
    const priority = jobPriority(this.config.queues.priority, run);
    const data: ReportJobData = { studyId, run: run.run };
    await this.queue.send(manager, QUEUE_NAMES.report, data, { id: jobId, priority: JOB_PRIORITY[priority] });
    return { jobId, run: run.run, priority, completionSeconds: Math.max(0, (run.completedAt.getTime() - run.lastReceivedAt.getTime()) / 1000) };
  }

  /**
   * Wakes the senders of the destinations. The delivery queue keeps at most one waiting job per
   * destination, so a wake-up for a destination that already has one adds nothing.
   */
  async wakeDestinations(manager: EntityManager, destinations: readonly string[], startAfter?: Date): Promise<void> {
    for (const destination of destinations) {
      const data: DeliveryJobData = { destination };
      await this.queue.send(manager, QUEUE_NAMES.delivery, data, { singletonKey: destination, ...(startAfter ? { startAfter } : {}) });
    }
  }
}
