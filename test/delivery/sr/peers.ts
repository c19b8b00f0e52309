/**
 * Real DICOM peers and readers for the SR tests: DCMTK (storescp, dcmqrscp, dcmdump, dsrdump),
 * dicom3tools (dciodvfy) and pydicom, each run as a child process on loopback.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** DCMTK tools wait about 45 ms per C-STORE without it (Nagle's algorithm on loopback). */
const DCMTK_ENV = { ...process.env, TCP_NODELAY: '1' };

/** How long a freshly spawned SCP may take to listen; DCMTK SCPs are ready in well under a second. */
const LISTEN_WAIT_MS = 5000;
const LISTEN_POLL_MS = 50;

export interface ToolOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool to completion and returns its output; a non-zero exit is returned, not thrown. */
export function runTool(command: string, args: string[]): Promise<ToolOutput> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: DCMTK_ENV, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      resolve({ exitCode: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address for the probe server');
  return address.port;
}

export interface RunningPeer {
  port: number;
  stop(): Promise<void>;
}

/** Starts `command` (an SCP listening on `port`) and resolves once it accepts TCP connections. */
export async function startScp(command: string, args: string[], port: number): Promise<RunningPeer> {
  const child = spawn(command, args, { env: DCMTK_ENV, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });

  const deadline = Date.now() + LISTEN_WAIT_MS;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`${command} did not start listening on port ${port}: ${stderr}`);
    }
    await sleep(LISTEN_POLL_MS);
  }
  return { port, stop: () => stopChild(child) };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

/** Returns the dcmdump lines of the dataset (after the file meta), long values printed in full. */
export async function dumpDataset(path: string): Promise<string[]> {
  const { exitCode, stdout, stderr } = await runTool('dcmdump', ['+L', path]);
  if (exitCode !== 0) throw new Error(`dcmdump failed on ${path}: ${stderr}`);
  const lines = stdout.split('\n');
  const start = lines.indexOf('# Dicom-Data-Set');
  if (start < 0) throw new Error(`dcmdump printed no dataset for ${path}`);
  // The next line names the transfer syntax, which legitimately differs between sender and receiver.
  return lines.slice(start + 2);
}

const PYDICOM_TO_JSON = [
  'import json, sys, pydicom',
  'print(json.dumps(pydicom.dcmread(sys.argv[1]).to_json_dict(), ensure_ascii=False))',
].join('\n');

/** An element of the DICOM JSON model (PS3.18 F.2) as pydicom writes it. */
export interface JsonElement {
  vr: string;
  Value?: unknown[];
}
export type JsonDataset = Record<string, JsonElement>;

/** Reads `path` with pydicom and returns the dataset in the DICOM JSON model, keyed by tag. */
export async function readWithPydicom(path: string): Promise<JsonDataset> {
  // The Debian python3 carries pydicom; a python3 earlier on PATH may not.
  const { exitCode, stdout, stderr } = await runTool('/usr/bin/python3', ['-c', PYDICOM_TO_JSON, path]);
  if (exitCode !== 0) throw new Error(`pydicom could not read ${path}: ${stderr}`);
  return JSON.parse(stdout) as JsonDataset;
}
