/**
 * The audit hash chain. Each audit_event row carries a gapless sequence number `seq`, the `row_hash` of
 * the row before it (`prev_hash`) and its own `row_hash`: SHA-256, hex, over the canonical encoding of
 * every other column plus `prev_hash`. Changing, inserting or removing a row therefore breaks the link
 * to the next row, which `argus-gateway audit verify` finds.
 *
 * The canonical encoding is the JSON text of one array, in this order:
 *   ["argus-audit-v1", seq, id, occurred_at, actor_type, actor, action, outcome, source_address,
 *    study_instance_uid, series_instance_uid, accession_number, patient_id, report_id, delivery_id,
 *    correlation_id, details, prev_hash]
 * `seq` is a decimal string, `occurred_at` is ISO 8601 in UTC with milliseconds and absent values are
 * null. `details` is its JSON object with the keys of every object sorted, because jsonb does not keep
 * the key order it was given.
 */
import { createHash } from 'node:crypto';

/** prev_hash of the first row. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Key of the transaction-level advisory lock that serializes appends to the chain across processes
 * (the first 8 bytes of SHA-256("argus-gateway audit_event chain") as a signed 64-bit integer).
 */
export const CHAIN_LOCK_KEY = '3399828247440735846';

const ENCODING_VERSION = 'argus-audit-v1';

/** The columns that the row hash covers. */
export interface ChainedFields {
  seq: number;
  id: string;
  occurredAt: Date;
  actorType: string;
  actor: string;
  action: string;
  outcome: string;
  sourceAddress: string | null;
  studyInstanceUid: string | null;
  seriesInstanceUid: string | null;
  accessionNumber: string | null;
  patientId: string | null;
  reportId: string | null;
  deliveryId: string | null;
  correlationId: string | null;
  details: unknown;
  prevHash: string;
}

export function canonicalEncoding(fields: ChainedFields): string {
  return JSON.stringify([
    ENCODING_VERSION,
    String(fields.seq),
    fields.id,
    fields.occurredAt.toISOString(),
    fields.actorType,
    fields.actor,
    fields.action,
    fields.outcome,
    fields.sourceAddress,
    fields.studyInstanceUid,
    fields.seriesInstanceUid,
    fields.accessionNumber,
    fields.patientId,
    fields.reportId,
    fields.deliveryId,
    fields.correlationId,
    sortKeys(fields.details ?? null),
    fields.prevHash,
  ]);
}

/** Returns the hex SHA-256 of the row's canonical encoding. */
export function computeRowHash(fields: ChainedFields): string {
  return createHash('sha256').update(canonicalEncoding(fields), 'utf8').digest('hex');
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
  return sorted;
}
