/**
 * Errors of the admin API. Every error response is `{ error: { id, message } }` with an HTTP status and
 * a stable id from API_ERROR_IDS, so clients branch on the id and show the message. Errors of the
 * actions the API reuses (delivery-admin, API tokens) are mapped to ids here, in one place.
 */
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';

import { getLogger } from '../logging/logger.ts';
import { DeliveryAdminError } from '../worker/delivery-admin.ts';
import { ApiTokenError } from './api-tokens.ts';

const logger = getLogger('api');

export const API_ERROR_IDS = {
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  invalid_request: 400,
  conflict: 409,
  internal_error: 500,
} as const;

export type ApiErrorId = keyof typeof API_ERROR_IDS;

export class ApiError extends Error {
  constructor(
    readonly id: ApiErrorId,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get status(): number {
    return API_ERROR_IDS[this.id];
  }
}

export function sendApiError(reply: FastifyReply, id: ApiErrorId, message: string): FastifyReply {
  return reply.code(API_ERROR_IDS[id]).type('application/json; charset=utf-8').send({ error: { id, message } });
}

/** Maps an error thrown by a route to its API error; undefined for an unexpected error. */
export function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof DeliveryAdminError) {
    if (error.code === 'delivery_not_found') return new ApiError('not_found', error.message);
    // The message names the command-line option; an API client sends the body field instead.
    return new ApiError('conflict', error.message.replace('use --force', 'send {"force": true}'));
  }
  if (error instanceof ApiTokenError) return new ApiError(error.code, error.message);
  const fastifyError = error as FastifyError;
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    // Fastify's own rejections: a malformed JSON body, a wrong content type, a body over the limit.
    return new ApiError('invalid_request', fastifyError.message);
  }
  return undefined;
}

/** Installs the error and not-found handlers of the admin API's plugin scope. */
export function installApiErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const apiError = toApiError(error);
    if (apiError) return sendApiError(reply, apiError.id, apiError.message);
    logger.error('API request failed', { err: error, path: request.routeOptions.url });
    return sendApiError(reply, 'internal_error', 'the request failed; see the service log');
  });
  app.setNotFoundHandler((request, reply) => sendApiError(reply, 'not_found', `no API route ${request.method} ${request.url.split('?')[0]}`));
}
