/**
 * DCMTK tools as the PACS in tests: storescu and echoscu as senders, storescp as a receiver. DCMTK on
 * Debian waits for delayed ACKs on every PDU unless TCP_NODELAY=1 is set (about 45 ms per C-STORE).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const DCMTK_ENV = { ...process.env, TCP_NODELAY: '1' };

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runTool(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? DCMTK_ENV });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Sends files or folders with storescu; `-nh` keeps going after a file the SCP does not accept. */
export function storescu(options: { port: number; calledAeTitle: string; callingAeTitle?: string; paths: string[] }): Promise<ToolResult> {
  return runTool('storescu', [
    '-aet',
    options.callingAeTitle ?? 'STORESCU',
    '-aec',
    options.calledAeTitle,
    '-nh',
    '+sd',
    '+r',
    '127.0.0.1',
    String(options.port),
    ...options.paths,
  ]);
}

export function echoscu(options: { port: number; calledAeTitle: string; callingAeTitle?: string }): Promise<ToolResult> {
  return runTool('echoscu', ['-aet', options.callingAeTitle ?? 'STORESCU', '-aec', options.calledAeTitle, '127.0.0.1', String(options.port)]);
}

/** Returns a TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Storescp {
  port: number;
  aeTitle: string;
  directory: string;
  files(): Promise<string[]>;
  stop(): Promise<void>;
}

/** Starts DCMTK storescp on 127.0.0.1 writing every received object into a new temporary folder. */
export async function startStorescp(aeTitle = 'PACS'): Promise<Storescp> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'argus-storescp-'));
  const port = await freePort();
  const child: ChildProcess = spawn('storescp', ['--aetitle', aeTitle, '--output-directory', directory, String(port)], { env: DCMTK_ENV, stdio: 'ignore' });
  await waitForPort(port);
  return {
    port,
    aeTitle,
    directory,
    files: async () => (await readdir(directory)).map((name) => path.join(directory, name)),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
