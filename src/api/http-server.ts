/**
 * The HTTP server of every process, on Fastify. Each process serves its health, readiness and
 * Prometheus metrics, whatever its roles. Routes are Fastify plugins registered by the caller, so the
 * admin API adds its own plugins to the same server.
 *
 * - GET /health/live: 200 while the process runs its event loop.
 * - GET /health/ready: 200 when every check passes, otherwise 503; the body names each check's state.
 * - GET /metrics: the Prometheus text format; with api.metricsRequireToken, only with an API token.
 * A process with the `api` role adds the admin API and the web console (admin-api.ts).
 */
import { randomUUID } from 'node:crypto';

import Fastify, { type FastifyInstance, type FastifyPluginAsync, type onRequestHookHandler } from 'fastify';

import type { GatewayMetrics } from '../metrics/gateway-metrics.ts';
import { getLogger } from '../logging/logger.ts';
import type { Readiness } from './readiness.ts';

const logger = getLogger('http');

/** Request bodies are small JSON objects at most (a delivery replay's options). */
const BODY_LIMIT_BYTES = 64 * 1024;
/** A scrape or probe that takes longer than this fails with an error rather than staying open. */
const REQUEST_TIMEOUT_MS = 10_000;

export class HttpServerError extends Error {
  readonly code = 'http_server_failed';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HttpServerError';
  }
}

export function healthRoutes(readiness: Readiness): FastifyPluginAsync {
  return async (app) => {
    app.get('/health/live', async () => ({ status: 'live' }));
    app.get('/health/ready', async (_request, reply) => {
      const report = await readiness.report();
      return reply.code(report.ready ? 200 : 503).send({ status: report.ready ? 'ready' : 'not_ready', checks: report.checks });
    });
  };
}

/** With `authenticate`, a scrape needs an API token of any role. */
export function metricsRoutes(metrics: GatewayMetrics, authenticate?: onRequestHookHandler): FastifyPluginAsync {
  return async (app) => {
    if (authenticate) app.addHook('onRequest', authenticate);
    app.get('/metrics', { config: { permission: 'read' } }, async (_request, reply) => {
      const { contentType, body } = await metrics.render();
      return reply.type(contentType).send(body);
    });
  };
}

export class HttpServer {
  readonly app: FastifyInstance;

  constructor(
    private readonly settings: { host: string; port: number },
    plugins: FastifyPluginAsync[],
  ) {
    // Request ids are UUIDs, because audit rows of API requests carry them as correlation ids.
    this.app = Fastify({ logger: false, bodyLimit: BODY_LIMIT_BYTES, requestTimeout: REQUEST_TIMEOUT_MS, genReqId: () => randomUUID() });
    for (const plugin of plugins) void this.app.register(plugin);
    this.app.setErrorHandler((error, _request, reply) => {
      logger.error('HTTP request failed', { err: error });
      void reply.code(500).send({ error: { id: 'internal_error', message: 'the request failed; see the service log' } });
    });
  }

  /** Listens; returns the bound port. */
  async start(): Promise<number> {
    try {
      await this.app.listen({ host: this.settings.host, port: this.settings.port });
    } catch (error) {
      throw new HttpServerError(`The HTTP server cannot listen on ${this.settings.host}:${this.settings.port} (api.host, api.port): ${(error as Error).message}`, { cause: error });
    }
    const address = this.app.server.address();
    return typeof address === 'object' && address ? address.port : this.settings.port;
  }

  async stop(): Promise<void> {
    await this.app.close();
  }
}
