/**
 * `argus-gateway doctor`: checks what the service needs and prints one line per check, then exits with
 * code 1 when any failed. The checks are the configuration (loading it already validated every key),
 * the database (reachable, no pending migrations) and the model package (it loads and passes the checks
 * that `serve` runs). Then each DICOM destination gets a C-ECHO, and each HL7 destination and the syslog
 * receiver a TCP connect. It changes nothing: it neither applies migrations nor creates a database.
 */
import { existsSync } from 'node:fs';
import net from 'node:net';

import type { Command } from 'commander';

import type { AppConfig } from '../config/load.ts';
import { embeddedDatabaseHeldElsewhere, openDatabase } from '../db/open-database.ts';
import { queryRows } from '../db/sql.ts';
import { configureLogging } from '../logging/logger.ts';
import { sendCEcho } from './c-echo-scu.ts';
import { callingAeTitle, echoTarget } from './dicom-destinations.ts';

interface CheckResult {
  name: string;
  ok: boolean;
  message: string;
}

export function registerDoctorCommand(program: Command, loadConfig: () => AppConfig): void {
  program
    .command('doctor')
    .description('check the configuration, database, model package, DICOM and HL7 destinations and syslog receiver; exit code 1 if any check fails')
    .action(async () => {
      configureLogging('warn');
      const config = loadConfig();
      const results = await runChecks(config);
      const width = Math.max(...results.map((result) => result.name.length));
      for (const result of results) {
        process.stdout.write(`${result.ok ? 'ok  ' : 'FAIL'}  ${result.name.padEnd(width)}  ${result.message}\n`);
      }
      const failed = results.filter((result) => !result.ok).length;
      process.stdout.write(failed === 0 ? `All ${results.length} checks passed.\n` : `${failed} of ${results.length} checks failed.\n`);
      if (failed > 0) process.exitCode = 1;
    });
}

async function runChecks(config: AppConfig): Promise<CheckResult[]> {
  const results: CheckResult[] = [{ name: 'config', ok: true, message: `${config.configPath} is valid` }];
  results.push(await check('database', () => checkDatabase(config)));
  results.push(await check('model package', () => checkModel(config)));
  for (const destination of config.dicom.destinations) {
    results.push(
      await check(`dicom destination ${destination.name}`, async () => {
        const result = await sendCEcho(echoTarget(config, destination), callingAeTitle(config), config.dicom.timeoutSeconds * 1000);
        return `C-ECHO to ${destination.aeTitle} at ${destination.host}:${destination.port} succeeded in ${result.roundTripMs} ms`;
      }),
    );
  }
  for (const destination of config.hl7.destinations) {
    results.push(
      await check(`hl7 destination ${destination.name}`, () => checkTcp(destination.host, destination.port, destination.ackTimeoutSeconds * 1000)),
    );
  }
  const syslog = config.audit.syslog;
  if (syslog && syslog.transport !== 'udp') {
    results.push(await check('audit syslog receiver', () => checkTcp(syslog.host, syslog.port, syslog.timeoutSeconds * 1000)));
  }
  return results;
}

async function check(name: string, run: () => Promise<string>): Promise<CheckResult> {
  try {
    return { name, ok: true, message: await run() };
  } catch (error) {
    return { name, ok: false, message: (error as Error).message };
  }
}

async function checkDatabase(config: AppConfig): Promise<string> {
  if (!config.database.url) {
    if (embeddedDatabaseHeldElsewhere(config)) return `the running service holds the embedded database in ${config.pgliteDirectory}; its schema was not checked`;
    if (!existsSync(config.pgliteDirectory)) {
      throw new Error(`no embedded database in ${config.pgliteDirectory} yet; run argus-gateway migrate or start the service`);
    }
  }
  const opened = await openDatabase(config).catch((error: unknown) => {
    throw new Error(`cannot open the database: ${(error as Error).message}`);
  });
  try {
    await opened.database.run((manager) => queryRows(manager, 'SELECT 1'));
    const pending = await opened.database.dataSource.showMigrations();
    if (pending) throw new Error('the database is reachable but has pending migrations; run argus-gateway migrate');
    return `${config.database.url ? 'PostgreSQL' : 'embedded PGlite'} reachable, every migration applied`;
  } finally {
    await opened.close();
  }
}

async function checkModel(config: AppConfig): Promise<string> {
  // Loaded here only, so that the other commands do not load onnxruntime.
  const { loadModel } = await import('../model/index.ts');
  const model = await loadModel(config.modelPackagePath, { intraOpThreads: config.model.intraOpThreads }).catch((error: unknown) => {
    throw new Error(`the package in ${config.modelPackagePath} (model.packagePath) cannot be loaded: ${(error as Error).message}`);
  });
  try {
    return `${model.identity.name} ${model.identity.version} loaded from ${config.modelPackagePath}`;
  } finally {
    await model.release();
  }
}

function checkTcp(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TCP connect to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(`TCP connect to ${host}:${port} succeeded in ${Math.round(performance.now() - startedAt)} ms`);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      const reason = error.code === 'ECONNREFUSED' ? 'connection refused (nothing listens on that port)' : error.message;
      reject(new Error(`TCP connect to ${host}:${port} failed: ${reason}`));
    });
  });
}
