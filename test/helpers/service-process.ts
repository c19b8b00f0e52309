/**
 * Runs argus-gateway as a user would: `bin/argus-gateway.js --config <file> <command>` in a child
 * process, with its JSON log lines collected for assertions (including the absence of patient data).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const REPOSITORY = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(REPOSITORY, 'bin', 'argus-gateway.js');

/** Returns the test process environment without DATABASE_URL and ARGUS_* overrides from the shell. */
function cleanEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'DATABASE_URL' || key.startsWith('ARGUS_') || key.startsWith('NODE_TEST')) continue;
    env[key] = value;
  }
  // Each process serves health and metrics over HTTP; a free port keeps parallel test files apart.
  env.ARGUS_API_PORT = '0';
  return env;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(configPath: string, args: string[], options: { cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--config', configPath, ...args], { env: cleanEnvironment(), cwd: options.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export class ServiceProcess {
  output = '';
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;

  /** `serveArguments` follow `serve`, e.g. ['--roles', 'worker']. */
  constructor(configPath: string, serveArguments: string[] = []) {
    this.child = spawn(process.execPath, [BIN, '--config', configPath, 'serve', ...serveArguments], { env: cleanEnvironment() });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** Log lines parsed as JSON; lines that are not JSON (stderr notices) are skipped. */
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
      if (this.child.exitCode !== null) throw new Error(`argus-gateway exited with code ${this.child.exitCode} before logging "${message}":\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`argus-gateway did not log "${message}" within ${timeoutMs} ms:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Sends a signal without waiting (SIGSTOP freezes the process, SIGKILL ends it at once). */
  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** Resolves when the process has exited, with its exit code (null when a signal ended it). */
  exitCode(): Promise<number | null> {
    return this.exited;
  }

  /** The port of the health and metrics server, from the log line that names it. */
  async apiPort(timeoutMs = 60_000): Promise<number> {
    const line = await this.waitForLog('HTTP server listening', timeoutMs);
    return line.port as number;
  }

  /** Sends SIGTERM and returns the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

/** Polls `probe` until it returns a value other than undefined. */
export async function waitFor<T>(description: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
