import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { runCli } from '../helpers/service-process.ts';

describe('argus-gateway command line', () => {
  let directory: string;
  let testDatabase: TestDatabase;

  before(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'argus-cli-'));
    testDatabase = await createTestDatabase('argus_cli');
  });

  after(async () => {
    await testDatabase.drop();
    await rm(directory, { recursive: true, force: true });
  });

  it('stops with exit code 2 and every bad key on an invalid file', async () => {
    const configPath = path.join(directory, 'invalid.json');
    await writeFile(configPath, JSON.stringify({ dicom: { listener: { port: -1 } }, unknownKey: true }));
    const result = await runCli(configPath, ['serve']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Invalid configuration in .*invalid\.json/);
    assert.match(result.stderr, /dicom\.listener\.port:/);
    assert.match(result.stderr, /unknownKey: unknown key/);
  });

  it('names model.packagePath when the package is missing', async () => {
    const configPath = path.join(directory, 'no-model.json');
    const dataDirectory = path.join(directory, 'no-model-data');
    await writeFile(configPath, JSON.stringify({ dataDirectory, model: { packagePath: path.join(directory, 'missing-model') } }));
    const result = await runCli(configPath, ['serve']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /The model package in .*missing-model \(model\.packagePath\) cannot be loaded/);
    assert.equal(existsSync(path.join(dataDirectory, 'pglite')), false);
  });

  it('applies migrations once with migrate', async () => {
    const configPath = path.join(directory, 'postgres.json');
    await writeFile(configPath, JSON.stringify({ dataDirectory: path.join(directory, 'data'), database: { url: testDatabase.url } }));

    const first = await runCli(configPath, ['migrate']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Applied migrations: InitialSchema/);

    const second = await runCli(configPath, ['migrate']);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /up to date/);
  });

  it('runs from any working directory', async () => {
    const configPath = path.join(directory, 'postgres.json');
    await writeFile(configPath, JSON.stringify({ dataDirectory: path.join(directory, 'data'), database: { url: testDatabase.url } }));
    const result = await runCli(configPath, ['migrate'], { cwd: os.tmpdir() });
    assert.equal(result.code, 0, result.stderr);
  });

  it('migrates the embedded database', async () => {
    const configPath = path.join(directory, 'embedded.json');
    await writeFile(configPath, JSON.stringify({ dataDirectory: path.join(directory, 'embedded') }));
    const result = await runCli(configPath, ['migrate']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Applied migrations: InitialSchema/);
  });

  it('prints an empty report list as JSON', async () => {
    const configPath = path.join(directory, 'postgres.json');
    const result = await runCli(configPath, ['reports', 'list', '--json']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), []);
  });

  it('rejects a limit that is not a positive integer', async () => {
    const configPath = path.join(directory, 'postgres.json');
    const result = await runCli(configPath, ['reports', 'list', '--limit', 'many']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--limit must be a positive integer, got "many"/);
  });
});
