/**
 * The job queues and what their jobs carry. Payloads hold ids only, never patient data: a job row is
 * read by every process of the fleet and kept after it ends, and the rows it names hold the rest.
 */

/** PostgreSQL schema of pg-boss's tables. */
export const QUEUE_SCHEMA = 'pgboss';

export const QUEUE_NAMES = {
  /** A complete study waits for its report: selection, volume, model, report and deliveries. */
  report: 'report',
  /** A destination has deliveries that are due; one job at a time per destination keeps their order. */
  delivery: 'delivery',
  /** Fleet-wide upkeep, once a minute: jobs for rows that have none, studies whose job is dead. */
  housekeeping: 'housekeeping',
} as const;

export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

export interface ReportJobData {
  studyId: string;
  /** The study's report run (study.report_run) that this job produces the report of. */
  run: number;
}

export interface DeliveryJobData {
  /** Destination name from the configuration. */
  destination: string;
}

export type HousekeepingJobData = Record<string, never>;

/** pg-boss takes the job with the highest priority first. */
export const JOB_PRIORITY = { routine: 0, urgent: 10 } as const;

export type JobPriorityName = keyof typeof JOB_PRIORITY;
