import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ConfigError, DEFAULT_CONFIG_PATH, ENVIRONMENT_OVERRIDES, loadConfig } from '../../src/config/load.ts';
import { configSchema } from '../../src/config/schema.ts';

describe('configuration', () => {
  let directory: string;

  before(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'argus-config-'));
  });

  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  async function writeConfig(name: string, content: unknown): Promise<string> {
    const file = path.join(directory, name);
    await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  it('loads the bundled default file', () => {
    const config = loadConfig(DEFAULT_CONFIG_PATH, {});
    assert.equal(config.dicom.listener.aeTitle, 'ARGUS');
    assert.equal(config.database.url, undefined);
    assert.equal(config.modelPackagePath, path.resolve(path.dirname(DEFAULT_CONFIG_PATH), '../models/argus-demo'));
  });

  it('resolves relative paths against the file folder', async () => {
    const file = await writeConfig('paths.json', { dataDirectory: 'data', model: { packagePath: '../models/x' } });
    const config = loadConfig(file, {});
    assert.equal(config.dataDirectory, path.join(directory, 'data'));
    assert.equal(config.instanceDirectory, path.join(directory, 'data', 'instances'));
    assert.equal(config.pgliteDirectory, path.join(directory, 'data', 'pglite'));
    assert.equal(config.modelPackagePath, path.resolve(directory, '../models/x'));
  });

  it('names every invalid key in one error', async () => {
    const file = await writeConfig('bad.json', {
      dicom: { listener: { port: 70000, aeTitle: 'A_TITLE_LONGER_THAN_16' }, peers: [{ aeTitle: 'PACS', host: 'pacs.example.org' }] },
      completeness: { studyQuietPeriodSeconds: -1 },
      hl7: { destinations: [{ name: 'ris', host: 'localhost', port: 2575, sendingApplication: 'A|B', sendingFacility: 'F', receivingApplication: 'R', receivingFacility: 'H' }] },
      colour: 'blue',
    });
    const error = captureConfigError(() => loadConfig(file, {}));
    const keys = error.problems.map((problem) => problem.split(':')[0]);
    assert.deepEqual(new Set(keys), new Set([
      'dicom.listener.port',
      'dicom.listener.aeTitle',
      'dicom.peers.0.host',
      'completeness.studyQuietPeriodSeconds',
      'hl7.destinations.0.sendingApplication',
      'colour',
    ]));
    assert.match(error.message, new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });

  it('rejects duplicate destination names', async () => {
    const destination = { name: 'main', aeTitle: 'PACS', host: '127.0.0.1', port: 104 };
    const file = await writeConfig('duplicate.json', { dicom: { destinations: [destination, destination] } });
    const error = captureConfigError(() => loadConfig(file, {}));
    assert.match(error.problems.join('\n'), /dicom\.destinations\.1\.name: "main" is already used/);
  });

  it('reports unreadable and non-JSON files', async () => {
    assert.match(captureConfigError(() => loadConfig(path.join(directory, 'missing.json'), {})).message, /cannot be read \(ENOENT\)/);
    const file = await writeConfig('broken.json', '{ "logLevel": ');
    assert.match(captureConfigError(() => loadConfig(file, {})).message, /not valid JSON/);
  });

  it('applies environment overrides', async () => {
    const file = await writeConfig('env.json', {});
    const config = loadConfig(file, { DATABASE_URL: 'postgres://argus@db.example:5432/argus', ARGUS_DICOM_PORT: '4242', ARGUS_LOG_LEVEL: 'debug' });
    assert.equal(config.database.url, 'postgres://argus@db.example:5432/argus');
    assert.equal(config.dicom.listener.port, 4242);
    assert.equal(config.logLevel, 'debug');
  });

  it('names the variable of an invalid override', async () => {
    const file = await writeConfig('env-bad.json', {});
    const error = captureConfigError(() => loadConfig(file, { ARGUS_DICOM_PORT: 'eleven', DATABASE_URL: 'mysql://x' }));
    assert.match(error.message, /ARGUS_DICOM_PORT \(overrides dicom\.listener\.port\): must be an integer/);
    assert.match(error.message, /DATABASE_URL \(overrides database\.url: must start with postgres:\/\//);
  });

  it('names the variable of an invalid log level', async () => {
    const file = await writeConfig('env-level.json', {});
    const error = captureConfigError(() => loadConfig(file, { ARGUS_LOG_LEVEL: 'verbose' }));
    assert.match(error.message, /ARGUS_LOG_LEVEL \(overrides logLevel: /);
  });

  it('documents every key and override in docs/configuration.md', async () => {
    const documentation = await readFile(path.resolve(import.meta.dirname, '../../docs/configuration.md'), 'utf8');
    for (const key of leafKeys(configSchema)) {
      assert.ok(documentation.includes(`\`${key}\``), `docs/configuration.md does not document ${key}`);
    }
    for (const variable of Object.keys(ENVIRONMENT_OVERRIDES)) {
      assert.ok(documentation.includes(`\`${variable}\``), `docs/configuration.md does not document ${variable}`);
    }
  });
});

function captureConfigError(action: () => unknown): ConfigError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError');
}

/** Dotted names of every leaf key; array items are written as `name[].key`. */
function leafKeys(schema: unknown, prefix = ''): string[] {
  const definition = (schema as { def?: Record<string, unknown> }).def ?? {};
  const type = definition.type as string;
  if (type === 'default' || type === 'prefault' || type === 'optional' || type === 'nullable') return leafKeys(definition.innerType, prefix);
  if (type === 'pipe') return leafKeys(definition.in, prefix);
  if (type === 'array') return leafKeys(definition.element, `${prefix}[]`);
  if (type === 'object') {
    const shape = definition.shape as Record<string, unknown>;
    return Object.entries(shape).flatMap(([key, value]) => leafKeys(value, prefix ? `${prefix}.${key}` : key));
  }
  return prefix ? [prefix] : [];
}
