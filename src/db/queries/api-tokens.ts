/** SQL of the api_token table: tokens of the admin API, stored as SHA-256 hashes. */
import type { EntityManager } from 'typeorm';

import { queryRows } from '../sql.ts';

export type ApiRole = 'admin' | 'auditor' | 'viewer';

export interface ApiTokenItem {
  id: string;
  name: string;
  role: ApiRole;
  createdAt: string;
  createdBy: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface ApiTokenRow {
  id: string;
  name: string;
  role: ApiRole;
  created_at: Date | string;
  created_by: string;
  last_used_at: Date | string | null;
  revoked_at: Date | string | null;
}

const COLUMNS = 'id, name, role, created_at, created_by, last_used_at, revoked_at';

function toItem(row: ApiTokenRow): ApiTokenItem {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    createdAt: new Date(row.created_at).toISOString(),
    createdBy: row.created_by,
    lastUsedAt: row.last_used_at ? new Date(row.last_used_at).toISOString() : null,
    revokedAt: row.revoked_at ? new Date(row.revoked_at).toISOString() : null,
  };
}

export async function insertApiToken(
  manager: EntityManager,
  token: { id: string; name: string; role: ApiRole; tokenHash: string; createdAt: Date; createdBy: string },
): Promise<ApiTokenItem> {
  const rows = await queryRows<ApiTokenRow>(
    manager,
    `INSERT INTO api_token (id, name, role, token_hash, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
    [token.id, token.name, token.role, token.tokenHash, token.createdAt, token.createdBy],
  );
  return toItem(rows[0]!);
}

/** Returns the token that is not revoked and has this hash, if there is one. */
export async function findActiveApiToken(manager: EntityManager, tokenHash: string): Promise<ApiTokenItem | undefined> {
  const rows = await queryRows<ApiTokenRow>(manager, `SELECT ${COLUMNS} FROM api_token WHERE token_hash = $1 AND revoked_at IS NULL`, [tokenHash]);
  return rows[0] ? toItem(rows[0]) : undefined;
}

/** Sets last_used_at to `now` unless it was set less than `granularitySeconds` ago, which saves a write per request. */
export async function touchApiToken(manager: EntityManager, id: string, now: Date, granularitySeconds: number): Promise<void> {
  await queryRows(
    manager,
    `UPDATE api_token SET last_used_at = $2
      WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - make_interval(secs => $3))
      RETURNING id`,
    [id, now, granularitySeconds],
  );
}

/** Returns every token, revoked ones included, newest first. */
export async function listApiTokens(manager: EntityManager): Promise<ApiTokenItem[]> {
  const rows = await queryRows<ApiTokenRow>(manager, `SELECT ${COLUMNS} FROM api_token ORDER BY created_at DESC, name`);
  return rows.map(toItem);
}

/** Revokes the token that is not yet revoked and has this id or name; returns it, or undefined when there is none. */
export async function revokeApiToken(manager: EntityManager, idOrName: string, now: Date): Promise<ApiTokenItem | undefined> {
  const rows = await queryRows<ApiTokenRow>(
    manager,
    `UPDATE api_token SET revoked_at = $2
      WHERE revoked_at IS NULL AND (id::text = $1 OR name = $1)
      RETURNING ${COLUMNS}`,
    [idOrName, now],
  );
  return rows[0] ? toItem(rows[0]) : undefined;
}
