/**
 * Static files of the web console (src/api/console/): plain HTML, ES modules and CSS with no build
 * step. Only the files listed here are served, read once at start, so a request path never reaches
 * the file system.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { FastifyPluginAsync } from 'fastify';

const CONSOLE_DIRECTORY = path.join(import.meta.dirname, 'console');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export const CONSOLE_FILES = ['index.html', 'console.css', 'app.js', 'api-client.js', 'views.js', 'favicon.svg'] as const;

/**
 * The page may load its own files and call the API of its own origin, and nothing else: no inline
 * script, no framing, images from the origin and from blob: URLs (the previews).
 */
const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export function consoleRoutes(): FastifyPluginAsync {
  const files = new Map(CONSOLE_FILES.map((name) => [name, readFileSync(path.join(CONSOLE_DIRECTORY, name))]));
  return async (app) => {
    app.addHook('onSend', async (_request, reply, payload) => {
      void reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
      void reply.header('x-content-type-options', 'nosniff');
      void reply.header('referrer-policy', 'no-referrer');
      return payload;
    });
    app.get('/', { config: { public: true } }, async (_request, reply) => reply.type(CONTENT_TYPES['.html']!).header('cache-control', 'no-cache').send(files.get('index.html')));
    app.get('/:file', { config: { public: true } }, async (request, reply) => {
      const { file } = request.params as { file: string };
      const content = files.get(file as (typeof CONSOLE_FILES)[number]);
      if (!content) return reply.code(404).send({ error: { id: 'not_found', message: `the console has no file ${file}` } });
      return reply.type(CONTENT_TYPES[path.extname(file)]!).header('cache-control', 'no-cache').send(content);
    });
  };
}
