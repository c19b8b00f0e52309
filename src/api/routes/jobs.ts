/** Jobs of the queues: the list, and retrying a job that used up its attempts. */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';

import { findJobState, listJobs, queueInstalled, reopenStudyForRetriedJob, retryFailedJob } from '../../db/queries/queue.ts';
import { QUEUE_NAMES } from '../../queue/queue-names.ts';
import { ApiError } from '../api-errors.ts';
import { requestToken } from '../authentication.ts';
import { auditTokenRequest, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE, parseParameters, uuidParameter, type ApiContext } from './route-context.ts';

/** pg-boss 10 job states. */
const JOB_STATES = ['created', 'retry', 'active', 'completed', 'cancelled', 'failed'] as const;

const jobListQuery = z
  .object({
    state: z
      .string()
      .default('failed')
      .transform((value) => value.split(',').map((item) => item.trim()))
      .pipe(z.array(z.enum(JOB_STATES)).min(1)),
    limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  })
  .strict();

export function jobRoutes(context: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/jobs', { config: { permission: 'read' } }, async (request) => {
      const query = parseParameters(jobListQuery, request.query);
      const jobs = await context.database.run(async (manager) => ((await queueInstalled(manager)) ? listJobs(manager, query.state, query.limit) : []));
      return { limit: query.limit, jobs };
    });

    app.post('/jobs/:jobId/retry', { config: { permission: 'act' } }, async (request) => {
      const { jobId } = parseParameters(z.object({ jobId: uuidParameter }), request.params);
      return context.database.transaction(async (manager) => {
        const retried = await retryFailedJob(manager, jobId);
        if (!retried) {
          const existing = await findJobState(manager, jobId);
          if (!existing) throw new ApiError('not_found', `no job has the id ${jobId}`);
          if (existing.archived) throw new ApiError('conflict', `job ${jobId} is ${existing.state} and archived; an archived job cannot be retried`);
          throw new ApiError('conflict', `job ${jobId} is ${existing.state}; only a failed job can be retried`);
        }

        // A report job only claims a complete study, so the study it failed goes back to complete.
        let studyInstanceUid: string | undefined;
        const studyId = retried.data.studyId;
        if (retried.queue === QUEUE_NAMES.report && typeof studyId === 'string') {
          const reason = `report job ${jobId} retried by API token ${requestToken(request).name}`;
          studyInstanceUid = await reopenStudyForRetriedJob(manager, studyId, jobId, reason, new Date());
        }
        await auditTokenRequest(manager, request, {
          action: 'job_retried',
          outcome: 'success',
          studyInstanceUid,
          details: { jobId, queue: retried.queue },
        });
        return { id: retried.id, queue: retried.queue, state: 'retry', studyInstanceUid: studyInstanceUid ?? null };
      });
    });
  };
}
