/**
 * API tokens: random secrets shown once at creation and stored only as SHA-256 hashes. A token is
 * `argus_` followed by 32 random bytes in base64url (43 characters). The prefix lets secret scanners
 * and people recognise a leaked token. The 256 random bits make guessing hopeless, so a fast hash
 * without salt is enough, and a request finds its token with one index lookup.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';

import { recordAudit } from '../audit/record-audit.ts';
import type { Database } from '../db/database.ts';
import { insertApiToken, listApiTokens, revokeApiToken, type ApiRole, type ApiTokenItem } from '../db/queries/api-tokens.ts';
import { isUniqueViolation } from '../db/sql.ts';
import type { ControlRequest } from './local-control.ts';

export const API_ROLES = ['admin', 'auditor', 'viewer'] as const satisfies readonly ApiRole[];
export type { ApiRole, ApiTokenItem };

export const TOKEN_PREFIX = 'argus_';
const TOKEN_RANDOM_BYTES = 32;
/** `argus_` and 43 base64url characters; anything else is rejected before the database is asked. */
const TOKEN_PATTERN = /^argus_[A-Za-z0-9_-]{43}$/;
/** Token names appear in audit rows and logs, so they are short labels without spaces or markup. */
const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export class ApiTokenError extends Error {
  constructor(
    readonly code: 'invalid_request' | 'conflict' | 'not_found',
    message: string,
  ) {
    super(message);
    this.name = 'ApiTokenError';
  }
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** True when the string has the shape of a token, whether or not such a token exists. */
export function isWellFormedToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

export interface CreatedApiToken extends ApiTokenItem {
  /** The secret; it is not stored and cannot be shown again. */
  token: string;
}

/** Creates a token and its `api_token_created` audit row in one transaction. */
export async function createApiToken(
  database: Database,
  request: { name: string; role: string; actor: string; actorType: 'user' | 'token'; sourceAddress?: string },
): Promise<CreatedApiToken> {
  if (!TOKEN_NAME_PATTERN.test(request.name)) {
    throw new ApiTokenError('invalid_request', `the token name "${request.name}" is invalid; use 1 to 64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit`);
  }
  if (!(API_ROLES as readonly string[]).includes(request.role)) {
    throw new ApiTokenError('invalid_request', `the role "${request.role}" is invalid; use one of ${API_ROLES.join(', ')}`);
  }
  const token = `${TOKEN_PREFIX}${randomBytes(TOKEN_RANDOM_BYTES).toString('base64url')}`;
  try {
    const item = await database.transaction(async (manager) => {
      const inserted = await insertApiToken(manager, {
        id: randomUUID(),
        name: request.name,
        role: request.role as ApiRole,
        tokenHash: hashToken(token),
        createdAt: new Date(),
        createdBy: request.actor,
      });
      await recordAudit(manager, {
        action: 'api_token_created',
        outcome: 'success',
        actorType: request.actorType,
        actor: request.actor,
        sourceAddress: request.sourceAddress,
        details: { tokenId: inserted.id, tokenName: inserted.name, role: inserted.role },
      });
      return inserted;
    });
    return { ...item, token };
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new ApiTokenError('conflict', `a token named "${request.name}" exists and is not revoked; revoke it first or choose another name`);
    }
    throw error;
  }
}

export function listTokens(database: Database): Promise<ApiTokenItem[]> {
  return database.run((manager) => listApiTokens(manager));
}

/** Revokes a token by id or name and audits it; requests with it fail from then on. */
export async function revokeToken(database: Database, idOrName: string, actor: string): Promise<ApiTokenItem> {
  const revoked = await database.transaction(async (manager) => {
    const item = await revokeApiToken(manager, idOrName, new Date());
    if (item) {
      await recordAudit(manager, {
        action: 'api_token_revoked',
        outcome: 'success',
        actorType: 'user',
        actor,
        details: { tokenId: item.id, tokenName: item.name, role: item.role },
      });
    }
    return item;
  });
  if (!revoked) throw new ApiTokenError('not_found', `no token that is not revoked has the id or name "${idOrName}"; token list shows them`);
  return revoked;
}

/** Runs a tokens.* request on an open database: for the command line and for the service's control socket. */
export async function handleTokenControlRequest(database: Database, request: ControlRequest): Promise<unknown> {
  if (request.command === 'tokens.list') return listTokens(database);
  if (typeof request.tokenName !== 'string') {
    throw Object.assign(new Error(`${request.command} needs tokenName`), { code: 'invalid_request' });
  }
  if (request.command === 'tokens.revoke') {
    if (typeof request.actor !== 'string') throw Object.assign(new Error('tokens.revoke needs actor'), { code: 'invalid_request' });
    return revokeToken(database, request.tokenName, request.actor);
  }
  if (request.command === 'tokens.create') {
    if (typeof request.tokenRole !== 'string' || typeof request.actor !== 'string') {
      throw Object.assign(new Error('tokens.create needs tokenRole and actor'), { code: 'invalid_request' });
    }
    return createApiToken(database, { name: request.tokenName, role: request.tokenRole, actor: request.actor, actorType: 'user' });
  }
  throw Object.assign(new Error(`unknown command "${String(request.command)}"`), { code: 'unknown_command' });
}
