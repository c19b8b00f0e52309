/**
 * Reads of the audit log by an operating-system user: the search and the chain check behind
 * `argus-gateway audit` and `audit verify`. Both record themselves as audit_log_viewed. The command
 * line runs them on its own database connection, or through the running service's control socket
 * when the service has the embedded database open.
 */
import type { Database } from '../db/database.ts';
import { queryAuditEvents, type AuditEventFilter, type AuditEventRow } from '../db/queries/audit.ts';
import { recordAudit } from './record-audit.ts';
import { verifyAuditChain, type ChainVerification } from './verify-chain.ts';

/** Searches the audit log and records the search in the same transaction. */
export function searchAuditLog(database: Database, filter: AuditEventFilter, actor: string): Promise<{ total: number; events: AuditEventRow[] }> {
  return database.transaction(async (manager) => {
    const result = await queryAuditEvents(manager, filter);
    await recordAudit(manager, {
      action: 'audit_log_viewed',
      outcome: 'success',
      actorType: 'user',
      actor,
      studyInstanceUid: filter.studyInstanceUid,
      accessionNumber: filter.accessionNumber,
      patientId: filter.patientId,
      details: {
        command: 'audit',
        since: filter.since?.toISOString() ?? null,
        until: filter.until?.toISOString() ?? null,
        action: filter.action ?? null,
        outcome: filter.outcome ?? null,
        actor: filter.actor ?? null,
        limit: filter.limit,
        offset: filter.offset,
        total: result.total,
        returned: result.events.length,
      },
    });
    return result;
  });
}

/** Verifies the whole hash chain, then records the check. */
export async function verifyAuditLog(database: Database, actor: string): Promise<ChainVerification> {
  const result = await verifyAuditChain(database);
  // Recorded after the walk, so the new row is not part of what was verified.
  await database.transaction((manager) =>
    recordAudit(manager, {
      action: 'audit_log_viewed',
      outcome: 'success',
      actorType: 'user',
      actor,
      details: { command: 'audit verify', valid: result.valid, rowsVerified: result.rowsVerified, brokenSeq: result.valid ? null : result.break.seq },
    }),
  );
  return result;
}

/** The JSON form of an AuditEventFilter in a control request: times as ISO 8601 strings. */
export interface AuditFilterMessage extends Omit<AuditEventFilter, 'since' | 'until'> {
  since?: string;
  until?: string;
}

export function auditFilterToMessage(filter: AuditEventFilter): AuditFilterMessage {
  const { since, until, ...rest } = filter;
  return { ...rest, ...(since ? { since: since.toISOString() } : {}), ...(until ? { until: until.toISOString() } : {}) };
}

/** Rebuilds a filter from a control request, rejecting fields of the wrong type. */
export function auditFilterFromMessage(message: unknown): AuditEventFilter {
  if (typeof message !== 'object' || message === null) throw Object.assign(new Error('audit.search needs auditFilter'), { code: 'invalid_request' });
  const fields = message as Record<string, unknown>;
  const invalid = (name: string) => Object.assign(new Error(`auditFilter.${name} is invalid`), { code: 'invalid_request' });
  const integer = (name: string): number => {
    const value = fields[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw invalid(name);
    return value;
  };
  const filter: AuditEventFilter = { limit: integer('limit'), offset: integer('offset') };
  for (const name of ['since', 'until'] as const) {
    const value = fields[name];
    if (value === undefined) continue;
    const time = typeof value === 'string' ? new Date(value) : undefined;
    if (time === undefined || Number.isNaN(time.getTime())) throw invalid(name);
    filter[name] = time;
  }
  for (const name of ['actor', 'action', 'studyInstanceUid', 'accessionNumber', 'patientId', 'outcome'] as const) {
    const value = fields[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw invalid(name);
    filter[name] = value;
  }
  return filter;
}
