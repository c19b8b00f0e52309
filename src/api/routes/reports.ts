/** Reports: a list without the text, and one report with its text, audited as report_viewed. */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';

import { findReport, searchReports } from '../../db/queries/report-views.ts';
import { ApiError } from '../api-errors.ts';
import { auditTokenRequest, pagingFields, parseParameters, uidParameter, uuidParameter, type ApiContext } from './route-context.ts';

const reportListQuery = z.object({ studyInstanceUid: uidParameter.optional(), ...pagingFields }).strict();

export function reportRoutes(context: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/reports', { config: { permission: 'read' } }, async (request) => {
      const query = parseParameters(reportListQuery, request.query);
      const page = await context.database.run((manager) => searchReports(manager, query));
      return { total: page.total, limit: query.limit, offset: query.offset, reports: page.reports };
    });

    app.get('/reports/:reportId', { config: { permission: 'read' } }, async (request) => {
      const { reportId } = parseParameters(z.object({ reportId: uuidParameter }), request.params);
      const report = await context.database.transaction(async (manager) => {
        const found = await findReport(manager, reportId);
        if (found) {
          await auditTokenRequest(manager, request, {
            action: 'report_viewed',
            outcome: 'success',
            studyInstanceUid: found.studyInstanceUid,
            accessionNumber: found.accessionNumber ?? undefined,
            patientId: found.patientId ?? undefined,
            reportId,
          });
        }
        return found;
      });
      if (!report) throw new ApiError('not_found', `no report has the id ${reportId}`);
      return report;
    });
  };
}
