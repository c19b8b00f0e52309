/** Shared parts of the admin API's route modules: the database, the configuration and helpers for queries and audit rows. */
import type { FastifyRequest } from 'fastify';
import type { EntityManager } from 'typeorm';
import { z } from 'zod';

import { recordAudit, type AuditEntry } from '../../audit/record-audit.ts';
import type { AppConfig } from '../../config/load.ts';
import type { Database } from '../../db/database.ts';
import type { WakeDestination } from '../../worker/delivery-admin.ts';
import { ApiError } from '../api-errors.ts';
import { requestToken } from '../authentication.ts';

export interface ApiContext {
  database: Database;
  config: AppConfig;
  /** Wakes the sender of a destination in the transaction of a delivery action. */
  wakeDestination?: WakeDestination;
}

/** Page size of list routes when the request names none, and the largest one accepted. */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export const pagingFields = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
};

/** An ISO 8601 date-time such as 2026-12-01T00:00:00Z, or a date (midnight UTC). */
export const dateTimeParameter = z
  .string()
  .refine((value) => /^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value)), 'must be an ISO 8601 date or date-time')
  .transform((value) => new Date(value));

export const uuidParameter = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a UUID');

/** DICOM UID syntax (PS3.5 9.1). */
export const uidParameter = z.string().max(64).regex(/^[0-9]+(\.[0-9]+)*$/, 'must be a DICOM UID');

/** Parses query or path parameters; an invalid value is a 400 invalid_request naming each parameter. */
export function parseParameters<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.');
    if (issue.code === 'unrecognized_keys') return `unknown parameter ${issue.keys.join(', ')}`;
    return name ? `${name}: ${issue.message}` : issue.message;
  });
  throw new ApiError('invalid_request', `invalid parameters: ${problems.join('; ')}`);
}

/** Records a read or an action of the requesting token, in the caller's transaction. */
export async function auditTokenRequest(
  manager: EntityManager,
  request: FastifyRequest,
  entry: Omit<AuditEntry, 'actorType' | 'actor' | 'sourceAddress' | 'correlationId'>,
): Promise<void> {
  const token = requestToken(request);
  await recordAudit(manager, {
    ...entry,
    actorType: 'token',
    actor: token.name,
    sourceAddress: request.ip,
    correlationId: request.id,
    details: { tokenId: token.id, ...entry.details },
  });
}
