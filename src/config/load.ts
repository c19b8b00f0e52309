/**
 * Loads the configuration file, applies environment overrides for secrets and ports, validates the
 * result and resolves paths. This is the only module that reads process.env. Every problem found is
 * collected into one ConfigError so that an operator fixes the file in one pass.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { configSchema, type ParsedConfig } from './schema.ts';

export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../config/argus-gateway.json', import.meta.url));

/** Environment variables that override a key of the file. */
export const ENVIRONMENT_OVERRIDES = {
  DATABASE_URL: 'database.url',
  ARGUS_DICOM_PORT: 'dicom.listener.port',
  ARGUS_API_PORT: 'api.port',
  ARGUS_LOG_LEVEL: 'logLevel',
  ARGUS_DATA_DIRECTORY: 'dataDirectory',
} as const;

export class ConfigError extends Error {
  readonly code = 'config_invalid';

  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`Invalid configuration in ${source}:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The validated configuration with every path made absolute. */
export interface AppConfig extends ParsedConfig {
  readonly configPath: string;
  readonly dataDirectory: string;
  readonly instanceDirectory: string;
  readonly spoolDirectory: string;
  /** Folder of the embedded PGlite database; used only when database.url is absent. */
  readonly pgliteDirectory: string;
  readonly modelPackagePath: string;
}

export function loadConfig(configPath: string = DEFAULT_CONFIG_PATH, env: NodeJS.ProcessEnv = process.env): AppConfig {
  const absolutePath = path.resolve(configPath);
  const raw = readConfigFile(absolutePath);
  const problems: string[] = [];
  const overridden = applyEnvironmentOverrides(raw, env, problems);

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const problem = describeIssue(issue.path, issue.message, issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys : undefined);
      const variable = overridden.get(issue.path.map(String).join('.'));
      problems.push(variable ? `${variable} (overrides ${problem})` : problem);
    }
  }
  problems.push(...crossFieldProblems(raw));
  if (problems.length > 0) throw new ConfigError(absolutePath, problems);

  return resolvePaths(parsed.data!, absolutePath);
}

function readConfigFile(absolutePath: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(absolutePath, 'utf8');
  } catch (error) {
    throw new ConfigError(absolutePath, [`the file cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(absolutePath, [`the file is not valid JSON: ${(error as Error).message}`]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(absolutePath, ['the file must contain a JSON object']);
  }
  return value as Record<string, unknown>;
}

/** Applies the overrides that are set; returns the variable behind each overridden key. */
function applyEnvironmentOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, problems: string[]): Map<string, string> {
  const overridden = new Map<string, string>();
  for (const [variable, key] of Object.entries(ENVIRONMENT_OVERRIDES)) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    overridden.set(key, variable);
    if (key === 'dicom.listener.port' || key === 'api.port') {
      const port = Number(value);
      if (!Number.isInteger(port)) {
        problems.push(`${variable} (overrides ${key}): must be an integer, got "${value}"`);
        continue;
      }
      setPath(raw, key, port);
    } else if (key === 'dataDirectory') {
      // A directory given on the command line environment is relative to the working directory.
      setPath(raw, key, path.resolve(value));
    } else {
      setPath(raw, key, value);
    }
  }
  return overridden;
}

function setPath(target: Record<string, unknown>, dottedKey: string, value: unknown): void {
  const keys = dottedKey.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

function describeIssue(issuePath: PropertyKey[], message: string, unknownKeys?: string[]): string {
  const key = issuePath.map(String).join('.');
  if (unknownKeys) {
    return unknownKeys.map((unknown) => `${key ? `${key}.` : ''}${unknown}: unknown key`).join('\n  - ');
  }
  return `${key || '(top level)'}: ${message}`;
}

/** Checks that span several keys; reads the raw input defensively so they run even when other keys are invalid. */
function crossFieldProblems(raw: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const dicom = asRecord(raw.dicom);
  const hl7 = asRecord(raw.hl7);
  asArray(dicom.peers).forEach((peer, index) => {
    const host = asRecord(peer).host;
    if (typeof host === 'string' && isIP(host) === 0) {
      problems.push(`dicom.peers.${index}.host: must be an IP address, got "${host}"`);
    }
  });

  const names = new Map<string, string>();
  const destinations = [
    ...asArray(dicom.destinations).map((destination, index) => ({ name: asRecord(destination).name, key: `dicom.destinations.${index}.name` })),
    ...asArray(hl7.destinations).map((destination, index) => ({ name: asRecord(destination).name, key: `hl7.destinations.${index}.name` })),
  ];
  for (const { name, key } of destinations) {
    if (typeof name !== 'string') continue;
    const earlier = names.get(name);
    if (earlier) problems.push(`${key}: "${name}" is already used by ${earlier}; destination names must be unique`);
    else names.set(name, key);
  }
  return problems;
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function resolvePaths(config: ParsedConfig, configPath: string): AppConfig {
  const base = path.dirname(configPath);
  const dataDirectory = path.resolve(base, config.dataDirectory);
  const instanceDirectory = config.storage.instanceDirectory
    ? path.resolve(base, config.storage.instanceDirectory)
    : path.join(dataDirectory, 'instances');
  return {
    ...config,
    configPath,
    dataDirectory,
    instanceDirectory,
    spoolDirectory: path.join(instanceDirectory, '.spool'),
    pgliteDirectory: path.join(dataDirectory, 'pglite'),
    modelPackagePath: path.resolve(base, config.model.packagePath),
  };
}
