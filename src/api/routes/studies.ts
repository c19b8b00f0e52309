/** Studies with their progress, a study's detail (audited as study_viewed) and the PNG previews of its volumes. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';

import { findSeriesPreviews, findStudyDetail, searchStudies, STUDY_STATES } from '../../db/queries/study-views.ts';
import { previewRoot } from '../../worker/series-volume.ts';
import { ApiError } from '../api-errors.ts';
import { auditTokenRequest, dateTimeParameter, pagingFields, parseParameters, uidParameter, type ApiContext } from './route-context.ts';

const studyListQuery = z
  .object({
    status: z.enum(STUDY_STATES).optional(),
    receivedFrom: dateTimeParameter.optional(),
    receivedTo: dateTimeParameter.optional(),
    q: z.string().trim().min(1).max(64).optional(),
    ...pagingFields,
  })
  .strict();

export const PREVIEW_PLANES = ['axial', 'coronal', 'sagittal'] as const;

export function studyRoutes(context: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/studies', { config: { permission: 'read' } }, async (request) => {
      const query = parseParameters(studyListQuery, request.query);
      const page = await context.database.run((manager) =>
        searchStudies(manager, {
          state: query.status,
          receivedFrom: query.receivedFrom,
          receivedTo: query.receivedTo,
          search: query.q,
          limit: query.limit,
          offset: query.offset,
        }),
      );
      return { total: page.total, limit: query.limit, offset: query.offset, studies: page.studies };
    });

    app.get('/studies/:studyInstanceUid', { config: { permission: 'read' } }, async (request) => {
      const { studyInstanceUid } = parseParameters(z.object({ studyInstanceUid: uidParameter }), request.params);
      const detail = await context.database.transaction(async (manager) => {
        const found = await findStudyDetail(manager, studyInstanceUid);
        if (found) {
          await auditTokenRequest(manager, request, {
            action: 'study_viewed',
            outcome: 'success',
            studyInstanceUid,
            accessionNumber: found.accessionNumber ?? undefined,
            patientId: found.patientId ?? undefined,
          });
        }
        return found;
      });
      if (!detail) throw new ApiError('not_found', `no study with StudyInstanceUID ${studyInstanceUid} was received`);
      return detail;
    });

    app.get('/series/:seriesInstanceUid/previews/:plane', { config: { permission: 'read' } }, async (request, reply) => {
      const { seriesInstanceUid, plane } = parseParameters(z.object({ seriesInstanceUid: uidParameter, plane: z.enum(PREVIEW_PLANES) }), request.params);
      const found = await context.database.run((manager) => findSeriesPreviews(manager, seriesInstanceUid));
      if (!found) throw new ApiError('not_found', `series ${seriesInstanceUid} has no previews: it was not assembled into a volume, or previews are off (volume.previews)`);

      const root = path.resolve(previewRoot(context.config));
      const file = path.resolve(root, found.previewDirectory, `${plane}.png`);
      // The folder comes from the database; a value that leads outside the preview root is not followed.
      if (!file.startsWith(`${root}${path.sep}`)) throw new ApiError('not_found', `the previews of series ${seriesInstanceUid} are outside the preview folder`);
      let png: Buffer;
      try {
        png = await readFile(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ApiError('not_found', `the ${plane} preview of series ${seriesInstanceUid} is missing from the preview folder`);
        throw error;
      }
      return reply.type('image/png').header('cache-control', 'private, max-age=300').send(png);
    });
  };
}
