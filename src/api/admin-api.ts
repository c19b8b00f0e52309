/**
 * The admin API under /api/v1 and the web console under /console/, as Fastify plugins for the HTTP
 * server of a process with the `api` role. Every /api/v1 route needs a bearer token (authentication.ts).
 * The console's static files need none, because they contain no data and the page requests a token itself.
 */
import type { FastifyPluginAsync } from 'fastify';

import { installApiErrorHandlers } from './api-errors.ts';
import { requestToken, ROLE_PERMISSIONS, tokenAuthentication } from './authentication.ts';
import { consoleRoutes } from './console-files.ts';
import { OPENAPI_DOCUMENT } from './openapi.ts';
import { auditLogRoutes } from './routes/audit-log.ts';
import { deliveryRoutes } from './routes/deliveries.ts';
import { jobRoutes } from './routes/jobs.ts';
import { peerRoutes } from './routes/peers.ts';
import { reportRoutes } from './routes/reports.ts';
import type { ApiContext } from './routes/route-context.ts';
import { studyRoutes } from './routes/studies.ts';

export const API_PREFIX = '/api/v1';

export function adminApiRoutes(context: ApiContext): FastifyPluginAsync {
  return async (app) => {
    await app.register(
      async (api) => {
        installApiErrorHandlers(api);
        api.addHook('onRequest', tokenAuthentication(context.database));
        // Responses contain patient data, so shared caches and the browser's disk cache must not store them.
        api.addHook('onSend', async (_request, reply, payload) => {
          if (!reply.hasHeader('cache-control')) void reply.header('cache-control', 'no-store');
          return payload;
        });
        api.get('/openapi.json', { config: { permission: 'read' } }, async () => OPENAPI_DOCUMENT);
        api.get('/session', { config: { permission: 'read' } }, async (request) => {
          const token = requestToken(request);
          return { tokenId: token.id, name: token.name, role: token.role, permissions: ROLE_PERMISSIONS[token.role] };
        });
        await api.register(studyRoutes(context));
        await api.register(reportRoutes(context));
        await api.register(deliveryRoutes(context));
        await api.register(jobRoutes(context));
        await api.register(peerRoutes(context));
        await api.register(auditLogRoutes(context));
      },
      { prefix: API_PREFIX },
    );
    await app.register(consoleRoutes(), { prefix: '/console' });
  };
}
