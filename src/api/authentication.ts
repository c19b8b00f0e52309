/**
 * Bearer token authentication and role checks of the admin API.
 *
 * Every route states in its config the permission it needs. A route without one needs `act`, so a
 * route added without thought is admin-only rather than open. Routes marked `public` (health probes,
 * the console's static files) skip the check. Roles grant:
 * - viewer: read (studies, reports, deliveries, jobs, peers, previews);
 * - auditor: read and audit (the audit log);
 * - admin: read, audit and act (replay and approve deliveries, retry jobs).
 */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';

import { recordAudit } from '../audit/record-audit.ts';
import type { Database } from '../db/database.ts';
import { findActiveApiToken, touchApiToken, type ApiRole, type ApiTokenItem } from '../db/queries/api-tokens.ts';
import { getLogger } from '../logging/logger.ts';
import { sendApiError } from './api-errors.ts';
import { hashToken, isWellFormedToken } from './api-tokens.ts';

const logger = getLogger('api');

export type Permission = 'read' | 'audit' | 'act';

export const ROLE_PERMISSIONS: Record<ApiRole, readonly Permission[]> = {
  viewer: ['read'],
  auditor: ['read', 'audit'],
  admin: ['read', 'audit', 'act'],
};

/** last_used_at is written at most once per this many seconds per token, not on every request. */
const LAST_USED_GRANULARITY_SECONDS = 60;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Permission the route needs; absent means `act`. */
    permission?: Permission;
    /** No token needed. */
    public?: boolean;
  }
  interface FastifyRequest {
    /** The token that authenticated the request; set by the authentication hook. */
    apiToken?: ApiTokenItem;
  }
}

/** Returns the token of a request that passed the authentication hook. */
export function requestToken(request: FastifyRequest): ApiTokenItem {
  if (!request.apiToken) throw new Error('the route runs without the authentication hook');
  return request.apiToken;
}

/**
 * Returns the onRequest hook that authenticates each request and checks the route's permission. A
 * request without a token gets 401. An unknown or revoked token gets 401 and writes a
 * `user_authentication_failed` audit row. A token whose role lacks the permission gets 403.
 */
export function tokenAuthentication(database: Database): onRequestHookHandler {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const config = request.routeOptions.config;
    if (config?.public === true) return;

    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer +(\S+)\s*$/i.exec(header) : null;
    if (!match) {
      void reply.header('www-authenticate', 'Bearer realm="argus-gateway"');
      return sendApiError(reply, 'unauthorized', 'this request needs an API token: send "Authorization: Bearer <token>"; argus-gateway token create makes one');
    }

    const presented = match[1]!;
    const token = isWellFormedToken(presented) ? await database.run((manager) => findActiveApiToken(manager, hashToken(presented))) : undefined;
    if (!token) {
      await recordFailedAuthentication(database, request);
      void reply.header('www-authenticate', 'Bearer realm="argus-gateway", error="invalid_token"');
      return sendApiError(reply, 'unauthorized', 'the API token is unknown or revoked');
    }
    request.apiToken = token;
    await database.run((manager) => touchApiToken(manager, token.id, new Date(), LAST_USED_GRANULARITY_SECONDS));

    // A path without a route gets 404 for any valid token, because only real routes are fail-closed.
    const permission = request.is404 ? 'read' : (config?.permission ?? 'act');
    if (!ROLE_PERMISSIONS[token.role].includes(permission)) {
      return sendApiError(reply, 'forbidden', `the token's role ${token.role} does not allow this request; it needs a role with the ${permission} permission`);
    }
  };
}

async function recordFailedAuthentication(database: Database, request: FastifyRequest): Promise<void> {
  // NOTE: every rejected token writes an audit row and a log line. A client that retries a wrong
  // token in a loop fills both, because there is no rate limit yet.
  logger.warn('API request with an unknown or revoked token', { remoteAddress: request.ip, path: request.routeOptions.url });
  await database.transaction((manager) =>
    recordAudit(manager, {
      action: 'user_authentication_failed',
      outcome: 'failure',
      actorType: 'token',
      actor: 'unknown',
      sourceAddress: request.ip,
      correlationId: request.id,
      details: { method: request.method, route: request.routeOptions.url ?? null },
    }),
  );
}
