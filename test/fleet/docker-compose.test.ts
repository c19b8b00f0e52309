/**
 * docker-compose.yml, checked without a container engine: `docker-compose config` (Debian's
 * docker-compose validates the file against the Compose schema) and the fleet layout the deployment
 * guide relies on, read from the file by python3-yaml: PostgreSQL, a gateway without the worker role,
 * a worker with an NVIDIA device reservation, one instance store volume mounted where the
 * configuration expects it, and a configuration file that the service accepts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

import { loadConfig } from '../../src/config/load.ts';
import { REPOSITORY } from '../helpers/service-process.ts';

const run = promisify(execFile);
const COMPOSE_FILE = path.join(REPOSITORY, 'docker-compose.yml');

interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  deploy?: { resources?: { reservations?: { devices?: { driver?: string; count?: number; capabilities?: string[] }[] } } };
}

async function readCompose(): Promise<{ services: Record<string, ComposeService>; volumes: Record<string, unknown> }> {
  const { stdout } = await run('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', COMPOSE_FILE]);
  return JSON.parse(stdout) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
}

async function hasDockerCompose(): Promise<boolean> {
  try {
    await run('docker-compose', ['version']);
    return true;
  } catch {
    return false;
  }
}

function rolesOf(service: ComposeService): string[] {
  const command = service.command ?? [];
  const index = command.indexOf('--roles');
  assert.ok(index >= 0 && command[0] === '--config', `command ${JSON.stringify(command)} names no --config and --roles`);
  return command[index + 1]!.split(',');
}

describe('docker-compose.yml', () => {
  it('passes docker-compose config', async (context) => {
    if (!(await hasDockerCompose())) {
      context.skip('docker-compose is not installed (Debian package docker-compose)');
      return;
    }
    const result = await run('docker-compose', ['-f', COMPOSE_FILE, 'config', '-q'], { cwd: REPOSITORY }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code?: number; stderr?: string }) => ({ code: error.code ?? -1, stderr: error.stderr ?? '' }),
    );
    assert.deepEqual(result, { code: 0, stderr: '' });
  });

  it('runs PostgreSQL, a gateway and a GPU worker', async () => {
    const { services } = await readCompose();
    assert.deepEqual(Object.keys(services).sort(), ['gateway', 'postgres', 'worker']);
    assert.match(services.postgres!.image ?? '', /^postgres:/);

    assert.deepEqual(rolesOf(services.gateway!).sort(), ['api', 'listener', 'scheduler', 'sender']);
    assert.deepEqual(rolesOf(services.worker!), ['worker']);
    const devices = services.worker!.deploy?.resources?.reservations?.devices ?? [];
    assert.equal(devices.length, 1);
    assert.equal(devices[0]!.driver, 'nvidia');
    assert.deepEqual(devices[0]!.capabilities, ['gpu']);
    assert.equal(services.gateway!.deploy, undefined);

    for (const name of ['gateway', 'worker']) {
      const service = services[name]!;
      assert.equal(service.depends_on?.postgres?.condition, 'service_healthy');
      assert.match(service.environment?.DATABASE_URL ?? '', /^postgres:\/\/[^@]+@postgres:5432\//);
    }
  });

  it('mounts one instance store where the configuration keeps it, for both services', async () => {
    const { services, volumes } = await readCompose();
    const mountsOf = (service: ComposeService) => new Map((service.volumes ?? []).map((entry) => [entry.split(':')[1]!, entry.split(':')[0]!]));
    const gatewayMounts = mountsOf(services.gateway!);
    const workerMounts = mountsOf(services.worker!);

    const configMount = [...gatewayMounts].find(([target]) => target.endsWith('.json'));
    assert.ok(configMount, 'the gateway mounts no configuration file');
    assert.equal(workerMounts.get(configMount[0]), configMount[1]);
    // The file the services read must be one the service accepts, with the store on the shared volume.
    const config = loadConfig(path.resolve(REPOSITORY, configMount[1]), {});
    const storeVolume = gatewayMounts.get(config.instanceDirectory);
    assert.ok(storeVolume, `nothing is mounted at storage.instanceDirectory ${config.instanceDirectory}`);
    assert.equal(workerMounts.get(config.instanceDirectory), storeVolume);
    assert.ok(storeVolume in volumes, `${storeVolume} is not a named volume`);
    assert.equal(config.api.host, '0.0.0.0');
  });
});
