/**
 * argus-gateway `serve` as a child process that a test can kill with any signal (the shared
 * ServiceProcess helper stops it with SIGTERM only), plus storescu runs whose per-file outcome is read
 * from its verbose output.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { DCMTK_ENV } from '../helpers/dcmtk.ts';
import type { SyntheticStudy } from './synthetic-study.ts';

const run = promisify(execFile);

const REPOSITORY = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(REPOSITORY, 'bin', 'argus-gateway.js');

function childEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'DATABASE_URL' || key.startsWith('ARGUS_') || key.startsWith('NODE_TEST')) continue;
    env[key] = value;
  }
  // Each process serves health and metrics over HTTP; a free port keeps parallel test files apart.
  env.ARGUS_API_PORT = '0';
  return env;
}

export class GatewayProcess {
  output = '';
  private readonly child: ChildProcess;
  readonly exited: Promise<NodeJS.Signals | number | null>;

  constructor(configPath: string) {
    this.child = spawn(process.execPath, [BIN, '--config', configPath, 'serve'], { env: childEnvironment() });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(signal ?? code)));
  }

  logLines(): Record<string, unknown>[] {
    return this.output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  async waitForLog(message: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.logLines().find((candidate) => candidate.msg === message);
      if (line) return line;
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`argus-gateway exited before logging "${message}":\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`argus-gateway did not log "${message}" within ${timeoutMs} ms:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

export interface StorescuRun {
  /** Files whose C-STORE response was Success, in the order storescu sent them. */
  acknowledged(): string[];
  readonly finished: Promise<{ code: number | null; output: string }>;
}

/**
 * Runs storescu -v over the given paths. It prints "Sending file: <path>" before each C-STORE and
 * "Received Store Response (Success)" after a successful one, so each Success belongs to the last file
 * named before it.
 */
export function runStorescu(port: number, paths: string[]): StorescuRun {
  let output = '';
  const child = spawn('storescu', ['-v', '-aet', 'STORESCU', '-aec', 'ARGUS', '-nh', '+sd', '+r', '127.0.0.1', String(port), ...paths], { env: DCMTK_ENV });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const finished = new Promise<{ code: number | null; output: string }>((resolve) => child.on('close', (code) => resolve({ code, output })));
  return {
    acknowledged: () => {
      const done: string[] = [];
      let current: string | undefined;
      for (const line of output.split('\n')) {
        const sending = /Sending file: (.+)$/.exec(line);
        if (sending) current = sending[1]!.trim();
        else if (/Received Store Response \(Success\)/.test(line) && current) done.push(current);
      }
      return done;
    },
    finished,
  };
}

/**
 * Asserts that every file storescu saw acknowledged has an instance row and a stored file that dcmdump
 * reads with the right SOPInstanceUID. `stored` maps SOPInstanceUID to the stored file's absolute path.
 */
export async function assertAcknowledgedStored(study: SyntheticStudy, acknowledged: string[], stored: Map<string, string>): Promise<void> {
  const byPath = new Map(study.files.map((file) => [file.path, file.sopInstanceUid]));
  for (const file of acknowledged) {
    const sopInstanceUid = byPath.get(file)!;
    const storedPath = stored.get(sopInstanceUid);
    assert.ok(storedPath, `acknowledged ${path.basename(file)} has no row`);
    const dump = await run('dcmdump', ['+P', '0008,0018', storedPath]);
    assert.match(dump.stdout, new RegExp(sopInstanceUid.replaceAll('.', '\\.')));
  }
}
