/**
 * A local control socket for command-line tools while the service runs on the embedded database. Only
 * one process may open PGlite, so `argus-gateway reports list` sends its request to the running service over a Unix
 * socket in the data folder instead. The socket file is created with mode 0600, so only the service's
 * user can connect. The protocol is one JSON request line and one JSON response line.
 */
import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';

import type { AuditFilterMessage } from '../audit/audit-log-reads.ts';
import { getLogger } from '../logging/logger.ts';

export type ControlCommand =
  | 'reports.list'
  | 'deliveries.list'
  | 'deliveries.approve'
  | 'deliveries.replay'
  | 'associations.list'
  | 'studies.list'
  | 'jobs.list'
  | 'tokens.create'
  | 'tokens.list'
  | 'tokens.revoke'
  | 'audit.search'
  | 'audit.verify';

export interface ControlRequest {
  command: ControlCommand;
  limit?: number;
  /** The delivery an approve or replay acts on. */
  deliveryId?: string;
  /** The operating-system user who asked, recorded in the audit row. */
  actor?: string;
  /** Replay even when a later report of the study was delivered. */
  force?: boolean;
  /** Job states that jobs.list returns. */
  states?: string[];
  /** Name of the API token that tokens.create creates, or id or name of the one tokens.revoke revokes. */
  tokenName?: string;
  /** Role of the API token that tokens.create creates. */
  tokenRole?: string;
  /** The filter of audit.search, with times as ISO 8601 strings. */
  auditFilter?: AuditFilterMessage;
}

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } };

export type ControlHandler = (request: ControlRequest) => Promise<unknown>;

/** Longest accepted request line; requests are a command name, ids, short labels and a number. */
const MAX_REQUEST_BYTES = 4096;

export class LocalControlServer {
  private readonly logger = getLogger('local-control');
  private readonly server: net.Server;

  constructor(
    readonly socketPath: string,
    private readonly handler: ControlHandler,
  ) {
    this.server = net.createServer((socket) => this.serve(socket));
  }

  async start(): Promise<void> {
    // A socket file left by a crashed service would make listen() fail with EADDRINUSE.
    rmSync(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => resolve());
    });
    chmodSync(this.socketPath, 0o600);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  private serve(socket: net.Socket): void {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0) {
        if (buffered.length > MAX_REQUEST_BYTES) this.reply(socket, { ok: false, error: { code: 'request_too_large', message: 'the request line is too long' } });
        return;
      }
      socket.removeAllListeners('data');
      void this.answer(buffered.slice(0, newline)).then((response) => this.reply(socket, response));
    });
  }

  private async answer(line: string): Promise<ControlResponse> {
    let request: ControlRequest;
    try {
      request = JSON.parse(line) as ControlRequest;
    } catch {
      return { ok: false, error: { code: 'invalid_request', message: 'the request is not valid JSON' } };
    }
    try {
      return { ok: true, result: await this.handler(request) };
    } catch (error) {
      this.logger.warn('control request failed', { err: error });
      return { ok: false, error: { code: (error as { code?: string }).code ?? 'internal_error', message: (error as Error).message } };
    }
  }

  private reply(socket: net.Socket, response: ControlResponse): void {
    socket.end(`${JSON.stringify(response)}\n`);
  }
}

/** Sends one request to the control socket and returns the result, or throws the service's error. */
export async function sendControlRequest(socketPath: string, request: ControlRequest): Promise<unknown> {
  const line = await new Promise<string>((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
    });
    socket.on('end', () => resolve(buffered.trim()));
    socket.on('error', reject);
  });
  const response = JSON.parse(line) as ControlResponse;
  if (!response.ok) throw Object.assign(new Error(response.error.message), { code: response.error.code });
  return response.result;
}
