/**
 * The audit log: filtered, paged, as JSON or as CSV (`Accept: text/csv` or `?format=csv`). Each query
 * writes its own audit row in the same transaction: audit_log_viewed, or audit_log_exported for CSV.
 * That row names which filters were used but not their values, because a patient ID is patient data.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';

import { AUDIT_ACTIONS } from '../../audit/record-audit.ts';
import { queryAuditEvents, type AuditEventRow } from '../../db/queries/audit.ts';
import { ApiError } from '../api-errors.ts';
import { auditTokenRequest, dateTimeParameter, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, pagingFields, parseParameters, uidParameter, type ApiContext } from './route-context.ts';

/** A CSV export returns at most this many rows per request; page with offset for more. */
const MAX_CSV_ROWS = 10_000;

const auditQuery = z
  .object({
    since: dateTimeParameter.optional(),
    until: dateTimeParameter.optional(),
    actor: z.string().min(1).max(128).optional(),
    action: z.enum(AUDIT_ACTIONS).optional(),
    studyInstanceUid: uidParameter.optional(),
    accessionNumber: z.string().min(1).max(16).optional(),
    patientId: z.string().min(1).max(64).optional(),
    outcome: z.enum(['success', 'failure']).optional(),
    format: z.enum(['json', 'csv']).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_CSV_ROWS).optional(),
    offset: pagingFields.offset,
  })
  .strict();

const CSV_COLUMNS: (keyof AuditEventRow)[] = [
  'occurredAt',
  'actorType',
  'actor',
  'action',
  'outcome',
  'sourceAddress',
  'studyInstanceUid',
  'seriesInstanceUid',
  'accessionNumber',
  'patientId',
  'reportId',
  'deliveryId',
  'correlationId',
  'details',
  'id',
  'seq',
  'prevHash',
  'rowHash',
];

export function auditLogRoutes(context: ApiContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/audit-events', { config: { permission: 'audit' } }, async (request, reply) => {
      const query = parseParameters(auditQuery, request.query);
      const csv = query.format === 'csv' || (query.format === undefined && prefersCsv(request));
      const limit = query.limit ?? (csv ? MAX_CSV_ROWS : DEFAULT_PAGE_SIZE);
      if (!csv && limit > MAX_PAGE_SIZE) {
        throw new ApiError('invalid_request', `invalid parameters: limit: a JSON page has at most ${MAX_PAGE_SIZE} rows; a CSV export up to ${MAX_CSV_ROWS}`);
      }
      const { format: _format, limit: _limit, offset, ...filters } = query;
      const usedFilters = Object.keys(filters).filter((key) => filters[key as keyof typeof filters] !== undefined);

      const page = await context.database.transaction(async (manager) => {
        const result = await queryAuditEvents(manager, { ...filters, limit, offset });
        await auditTokenRequest(manager, request, {
          action: csv ? 'audit_log_exported' : 'audit_log_viewed',
          outcome: 'success',
          studyInstanceUid: filters.studyInstanceUid,
          details: { filters: usedFilters.join(',') || null, rows: result.events.length, offset },
        });
        return result;
      });

      if (csv) {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', 'attachment; filename="audit-events.csv"')
          .header('x-total-count', String(page.total))
          .send(toCsv(page.events));
      }
      return { total: page.total, limit, offset, events: page.events };
    });
  };
}

/** True when the Accept header names text/csv and not application/json before it. */
function prefersCsv(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  const csvAt = accept.indexOf('text/csv');
  if (csvAt < 0) return false;
  const jsonAt = accept.indexOf('application/json');
  return jsonAt < 0 || csvAt < jsonAt;
}

/** RFC 4180 CSV with CRLF line ends. */
export function toCsv(events: AuditEventRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const event of events) {
    lines.push(CSV_COLUMNS.map((column) => csvCell(event[column])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  // A cell that starts with = + - @ is a formula to spreadsheet programs; the quote makes it text.
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
