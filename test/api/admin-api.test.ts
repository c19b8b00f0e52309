/**
 * The admin API on a PostgreSQL database. The tests compare the registered routes with the OpenAPI
 * document and check the token on every route but health, and the role matrix. They also cover the
 * audit rows of reads and actions, filters, CSV export, previews, delivery actions, job retry and the
 * token command.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { adminApiRoutes } from '../../src/api/admin-api.ts';
import { createApiToken } from '../../src/api/api-tokens.ts';
import { tokenAuthentication } from '../../src/api/authentication.ts';
import { healthRoutes, HttpServer, metricsRoutes } from '../../src/api/http-server.ts';
import { OPENAPI_DOCUMENT } from '../../src/api/openapi.ts';
import { Readiness } from '../../src/api/readiness.ts';
import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import { Database } from '../../src/db/database.ts';
import { queryRows } from '../../src/db/sql.ts';
import { configureLogging } from '../../src/logging/logger.ts';
import { GatewayMetrics } from '../../src/metrics/gateway-metrics.ts';
import { JobQueue } from '../../src/queue/job-queue.ts';
import { previewRoot } from '../../src/worker/series-volume.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { runCli } from '../helpers/service-process.ts';
import { seedReportedStudy, type SeededStudy } from './seed-study.ts';

type Role = 'admin' | 'auditor' | 'viewer';

interface AuditRow {
  actor_type: string;
  actor: string;
  action: string;
  outcome: string;
  source_address: string | null;
  study_instance_uid: string | null;
  accession_number: string | null;
  patient_id: string | null;
  report_id: string | null;
  delivery_id: string | null;
  details: Record<string, unknown> | null;
}

const UNKNOWN_UUID = '00000000-0000-4000-8000-000000000000';

describe('admin API', () => {
  let workDirectory: string;
  let configPath: string;
  let testDatabase: TestDatabase;
  let database: Database;
  let config: AppConfig;
  let queue: JobQueue;
  let server: HttpServer;
  let base: string;
  let study: SeededStudy;
  let otherStudy: SeededStudy;
  const tokens = {} as Record<Role, string>;
  const routes: { method: string; url: string }[] = [];

  const request = (pathname: string, options: { role?: Role; token?: string; method?: string; body?: unknown; accept?: string } = {}) => {
    const headers: Record<string, string> = {};
    const token = options.token ?? (options.role ? tokens[options.role] : undefined);
    if (token) headers.authorization = `Bearer ${token}`;
    if (options.accept) headers.accept = options.accept;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${base}${pathname}`, { method: options.method ?? 'GET', headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  };

  const auditRows = (action: string) =>
    database.run((manager) => queryRows<AuditRow>(manager, `SELECT * FROM audit_event WHERE action = $1 ORDER BY occurred_at`, [action]));

  before(async () => {
    configureLogging('silent');
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-api-'));
    testDatabase = await createTestDatabase('argus_api');
    configPath = path.join(workDirectory, 'argus-gateway.json');
    await writeFile(
      configPath,
      JSON.stringify({
        dataDirectory: path.join(workDirectory, 'data'),
        database: { url: testDatabase.url },
        api: { host: '127.0.0.1', port: 0, metricsRequireToken: true },
        queues: { report: { maxAttempts: 1 } },
        dicom: {
          peers: [{ aeTitle: 'CT01', host: '127.0.0.1' }],
          destinations: [{ name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port: 11113, tls: { caFile: 'secret-ca.pem', rejectUnauthorized: true } }],
        },
      }),
    );
    config = loadConfig(configPath, {});
    database = await Database.open({ kind: 'postgres', url: testDatabase.url });
    await database.migrate();
    queue = await JobQueue.start(database, config, { schedule: false });

    server = new HttpServer(config.api, [
      healthRoutes(new Readiness()),
      metricsRoutes(new GatewayMetrics(), tokenAuthentication(database)),
      adminApiRoutes({ database, config }),
    ]);
    server.app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
    });
    base = `http://127.0.0.1:${await server.start()}`;

    for (const role of ['admin', 'auditor', 'viewer'] as const) {
      tokens[role] = (await createApiToken(database, { name: `test-${role}`, role, actor: 'test', actorType: 'user' })).token;
    }
    study = await seedReportedStudy(database, previewRoot(config), '1001');
    otherStudy = await seedReportedStudy(database, previewRoot(config), '2002');
  });

  after(async () => {
    await server?.stop();
    await queue?.stop();
    await database?.close();
    await testDatabase?.drop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  /** Fastify's `:name` parameters written as OpenAPI `{name}`, under the /api/v1 prefix. */
  const apiRoutes = () =>
    routes.filter((route) => route.url.startsWith('/api/v1/')).map((route) => `${route.method} ${route.url.slice('/api/v1'.length).replace(/:(\w+)/g, '{$1}')}`);

  it('documents every API route in the OpenAPI document', () => {
    const registered = apiRoutes().sort();
    const documented = Object.entries(OPENAPI_DOCUMENT.paths)
      .flatMap(([pathname, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${pathname}`))
      .sort();
    assert.ok(registered.length >= 12, `only ${registered.length} API routes registered`);
    assert.deepEqual(registered, documented);
  });

  it('serves the OpenAPI document as version 3.1', async () => {
    const response = await request('/api/v1/openapi.json', { role: 'viewer' });
    assert.equal(response.status, 200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    assert.equal(document.openapi, '3.1.0');
    assert.deepEqual(Object.keys(document.paths).sort(), Object.keys(OPENAPI_DOCUMENT.paths).sort());
  });

  /** A request path for each route pattern: ids of seeded rows, or unknown ones where the route acts. */
  const concretePath = (url: string) =>
    url
      .replace(':studyInstanceUid', study.studyInstanceUid)
      .replace(':seriesInstanceUid', study.axialSeriesUid)
      .replace(':plane', 'axial')
      .replace(':reportId', study.reportId)
      .replace(':deliveryId', UNKNOWN_UUID)
      .replace(':jobId', UNKNOWN_UUID)
      .replace(':file', 'app.js');

  it('rejects missing and invalid tokens', async () => {
    const open = routes.filter((route) => route.url.startsWith('/health/') || route.url.startsWith('/console'));
    assert.deepEqual(open.map((route) => route.url).sort(), ['/console', '/console/:file', '/health/live', '/health/ready']);
    const guarded = routes.filter((route) => !open.includes(route));
    assert.ok(guarded.some((route) => route.url === '/metrics'), 'GET /metrics is not guarded');
    for (const route of guarded) {
      const pathname = concretePath(route.url);
      const missing = await request(pathname, { method: route.method });
      assert.equal(missing.status, 401, `${route.method} ${route.url} without a token`);
      assert.equal(((await missing.json()) as { error: { id: string } }).error.id, 'unauthorized');
      const invalid = await request(pathname, { method: route.method, token: `argus_${'A'.repeat(43)}` });
      assert.equal(invalid.status, 401, `${route.method} ${route.url} with an unknown token`);
    }
  });

  it('records a rejected token as user_authentication_failed', async () => {
    const rows = await auditRows('user_authentication_failed');
    assert.ok(rows.length > 0, 'no user_authentication_failed row');
    assert.equal(rows[0]!.outcome, 'failure');
    assert.equal(rows[0]!.source_address, '127.0.0.1');
  });

  it('enforces the role matrix on every guarded route', async () => {
    // The permission each route needs, written here independently of the routes' own config.
    const needs: Record<string, 'read' | 'audit' | 'act'> = {
      'GET /metrics': 'read',
      'GET /api/v1/openapi.json': 'read',
      'GET /api/v1/session': 'read',
      'GET /api/v1/studies': 'read',
      'GET /api/v1/studies/:studyInstanceUid': 'read',
      'GET /api/v1/series/:seriesInstanceUid/previews/:plane': 'read',
      'GET /api/v1/reports': 'read',
      'GET /api/v1/reports/:reportId': 'read',
      'GET /api/v1/deliveries': 'read',
      'POST /api/v1/deliveries/:deliveryId/replay': 'act',
      'POST /api/v1/deliveries/:deliveryId/approve': 'act',
      'GET /api/v1/jobs': 'read',
      'POST /api/v1/jobs/:jobId/retry': 'act',
      'GET /api/v1/peers': 'read',
      'GET /api/v1/audit-events': 'audit',
    };
    const allowed: Record<Role, string[]> = { viewer: ['read'], auditor: ['read', 'audit'], admin: ['read', 'audit', 'act'] };
    const guarded = routes.filter((route) => !route.url.startsWith('/health/') && !route.url.startsWith('/console'));
    assert.deepEqual(guarded.map((route) => `${route.method} ${route.url}`).sort(), Object.keys(needs).sort());
    for (const route of guarded) {
      const permission = needs[`${route.method} ${route.url}`]!;
      for (const role of ['viewer', 'auditor', 'admin'] as const) {
        const response = await request(concretePath(route.url), { method: route.method, role });
        const label = `${role} on ${route.method} ${route.url}`;
        if (allowed[role].includes(permission)) {
          assert.notEqual(response.status, 401, label);
          assert.notEqual(response.status, 403, label);
        } else {
          assert.equal(response.status, 403, label);
          assert.equal(((await response.json()) as { error: { id: string } }).error.id, 'forbidden');
        }
      }
    }
  });

  it('forbids auditor replay and viewer audit reads', async () => {
    const replay = await request(`/api/v1/deliveries/${study.deadDeliveryId}/replay`, { method: 'POST', role: 'auditor' });
    assert.equal(replay.status, 403);
    const audit = await request('/api/v1/audit-events', { role: 'viewer' });
    assert.equal(audit.status, 403);
  });

  it('names the token and its role in the session', async () => {
    const response = await request('/api/v1/session', { role: 'auditor' });
    const session = (await response.json()) as { name: string; role: string; permissions: string[] };
    assert.equal(session.name, 'test-auditor');
    assert.equal(session.role, 'auditor');
    assert.deepEqual(session.permissions, ['read', 'audit']);
  });

  it('lists studies with their stage and filters them', async () => {
    const all = (await (await request('/api/v1/studies', { role: 'viewer' })).json()) as { total: number; studies: { studyInstanceUid: string; stage: string; instanceCount: number }[] };
    assert.equal(all.total, 2);
    assert.equal(all.studies[0]!.stage, 'delivery_failed');
    assert.equal(all.studies[0]!.instanceCount, 120);

    const byAccession = (await (await request(`/api/v1/studies?q=${study.accessionNumber}`, { role: 'viewer' })).json()) as { total: number; studies: { studyInstanceUid: string }[] };
    assert.deepEqual(byAccession.studies.map((item) => item.studyInstanceUid), [study.studyInstanceUid]);
    const byName = (await (await request('/api/v1/studies?q=patient2002', { role: 'viewer' })).json()) as { studies: { studyInstanceUid: string }[] };
    assert.deepEqual(byName.studies.map((item) => item.studyInstanceUid), [otherStudy.studyInstanceUid]);
    const receiving = (await (await request('/api/v1/studies?status=receiving', { role: 'viewer' })).json()) as { total: number };
    assert.equal(receiving.total, 0);
    const future = (await (await request('/api/v1/studies?receivedFrom=2999-01-01', { role: 'viewer' })).json()) as { total: number };
    assert.equal(future.total, 0);
    const paged = (await (await request('/api/v1/studies?limit=1&offset=1', { role: 'viewer' })).json()) as { total: number; studies: unknown[] };
    assert.equal(paged.total, 2);
    assert.equal(paged.studies.length, 1);
  });

  it('rejects invalid parameters by name', async () => {
    const response = await request('/api/v1/studies?status=lost&limit=0', { role: 'viewer' });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { id: string; message: string } };
    assert.equal(body.error.id, 'invalid_request');
    assert.match(body.error.message, /status/);
    assert.match(body.error.message, /limit/);
    const unknown = await request('/api/v1/studies?colour=red', { role: 'viewer' });
    assert.equal(unknown.status, 400);
    assert.match(((await unknown.json()) as { error: { message: string } }).error.message, /unknown parameter colour/);
  });

  it('answers unknown API paths with not_found', async () => {
    const response = await request('/api/v1/nothing-here', { role: 'viewer' });
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { error: { id: string } }).error.id, 'not_found');
  });

  it('shows and audits a study detail', async () => {
    const response = await request(`/api/v1/studies/${study.studyInstanceUid}`, { role: 'viewer' });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const detail = (await response.json()) as {
      series: { seriesInstanceUid: string; selectionDecision: string; selectionReason: string; volumeChecks: { passed: boolean; checks: unknown[] } | null; hasPreviews: boolean }[];
      reports: { id: string; text?: string }[];
      deliveries: { id: string; state: string }[];
    };
    const axial = detail.series.find((series) => series.seriesInstanceUid === study.axialSeriesUid)!;
    assert.equal(axial.selectionDecision, 'selected');
    assert.equal(axial.volumeChecks?.passed, true);
    assert.equal(axial.volumeChecks?.checks.length, 1);
    assert.equal(axial.hasPreviews, true);
    const localizer = detail.series.find((series) => series.seriesInstanceUid === study.localizerSeriesUid)!;
    assert.equal(localizer.selectionReason, 'every instance is a LOCALIZER');
    assert.deepEqual(detail.reports.map((report) => report.id), [study.reportId]);
    assert.equal(detail.reports[0]!.text, undefined);
    assert.equal(detail.deliveries.length, 2);

    const rows = (await auditRows('study_viewed')).filter((row) => row.study_instance_uid === study.studyInstanceUid);
    assert.ok(rows.length >= 1, 'no study_viewed row for the study');
    const row = rows.at(-1)!;
    assert.equal(row.actor_type, 'token');
    assert.equal(row.actor, 'test-viewer');
    assert.equal(row.source_address, '127.0.0.1');
  });

  it('answers an unknown study with not_found', async () => {
    const response = await request('/api/v1/studies/1.2.3.4', { role: 'viewer' });
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { error: { id: string } }).error.id, 'not_found');
  });

  it('returns a report with its text and audits the read', async () => {
    const before = (await auditRows('report_viewed')).length;
    const response = await request(`/api/v1/reports/${study.reportId}`, { role: 'viewer' });
    assert.equal(response.status, 200);
    const report = (await response.json()) as { text: string; studyInstanceUid: string; patientId?: string };
    assert.equal(report.text, study.reportText);
    assert.equal(report.studyInstanceUid, study.studyInstanceUid);
    const rows = await auditRows('report_viewed');
    assert.equal(rows.length, before + 1);
    assert.equal(rows.at(-1)!.report_id, study.reportId);
    assert.equal(rows.at(-1)!.actor, 'test-viewer');
  });

  it('lists reports without their text', async () => {
    const response = await request(`/api/v1/reports?studyInstanceUid=${otherStudy.studyInstanceUid}`, { role: 'viewer' });
    const page = (await response.json()) as { total: number; reports: Record<string, unknown>[] };
    assert.equal(page.total, 1);
    assert.equal(page.reports[0]!.id, otherStudy.reportId);
    assert.equal('text' in page.reports[0]!, false);
  });

  it('serves the three previews as PNG', async () => {
    for (const plane of ['axial', 'coronal', 'sagittal']) {
      const response = await request(`/api/v1/series/${study.axialSeriesUid}/previews/${plane}`, { role: 'viewer' });
      assert.equal(response.status, 200, plane);
      assert.equal(response.headers.get('content-type'), 'image/png');
      const bytes = Buffer.from(await response.arrayBuffer());
      assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    }
    const missing = await request(`/api/v1/series/${study.localizerSeriesUid}/previews/axial`, { role: 'viewer' });
    assert.equal(missing.status, 404);
    const badPlane = await request(`/api/v1/series/${study.axialSeriesUid}/previews/oblique`, { role: 'viewer' });
    assert.equal(badPlane.status, 400);
  });

  it('lists peers without file paths', async () => {
    const response = await request('/api/v1/peers', { role: 'viewer' });
    const text = await response.text();
    assert.equal(response.status, 200);
    assert.ok(!text.includes('secret-ca.pem'), 'the CA file path is listed');
    const peers = JSON.parse(text) as { dicom: { peers: { aeTitle: string }[]; destinations: { name: string; tls: boolean }[] } };
    assert.deepEqual(peers.dicom.peers.map((peer) => peer.aeTitle), ['CT01']);
    assert.deepEqual(peers.dicom.destinations, [{ name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port: 11113, tls: true, warningPolicy: 'delivered', requireApproval: false, blockOnDead: false }]);
  });

  it('replays a dead delivery', async () => {
    const response = await request(`/api/v1/deliveries/${study.deadDeliveryId}/replay`, { method: 'POST', role: 'admin', body: {} });
    assert.equal(response.status, 200);
    const result = (await response.json()) as { state: string; controlId: string; previousControlId: string };
    assert.equal(result.state, 'pending');
    assert.equal(result.previousControlId, 'OLD1001');
    assert.notEqual(result.controlId, 'OLD1001');
    const rows = (await auditRows('delivery_replayed')).filter((row) => row.delivery_id === study.deadDeliveryId);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.actor, 'test-admin');
    assert.equal(rows[0]!.actor_type, 'token');
    assert.equal(rows[0]!.source_address, '127.0.0.1');
    assert.equal(rows[0]!.accession_number, study.accessionNumber);
    assert.equal(rows[0]!.patient_id, study.patientId);

    const again = await request(`/api/v1/deliveries/${study.deadDeliveryId}/replay`, { method: 'POST', role: 'admin' });
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { error: { id: string } }).error.id, 'conflict');
  });

  it('replays a superseded delivery only with force', async () => {
    // A later report of the other study was delivered to the same RIS.
    const laterReportId = randomUUID();
    await database.transaction(async (manager) => {
      await queryRows(
        manager,
        `INSERT INTO report (id, study_id, series_id, status, text, findings, impression, model_name, model_version, model_device_uid,
           instance_uids, timings, created_at, supersedes_report_id)
         SELECT $1, study_id, series_id, status, 'amended', 'amended', '', model_name, model_version, model_device_uid, instance_uids, timings,
                created_at + interval '1 minute', id
           FROM report WHERE id = $2`,
        [laterReportId, otherStudy.reportId],
      );
      await queryRows(
        manager,
        `INSERT INTO delivery (id, report_id, kind, destination, control_id, payload, state, attempts, next_attempt_at, created_at, updated_at, delivered_at)
         VALUES ($1, $2, 'hl7_oru', 'ris', 'NEW2002', '\\x00', 'delivered', 1, now(), now(), now(), now())`,
        [randomUUID(), laterReportId],
      );
    });

    const rejected = await request(`/api/v1/deliveries/${otherStudy.deadDeliveryId}/replay`, { method: 'POST', role: 'admin', body: {} });
    assert.equal(rejected.status, 409);
    const problem = (await rejected.json()) as { error: { id: string; message: string } };
    assert.equal(problem.error.id, 'conflict');
    assert.match(problem.error.message, /send \{"force": true\} to replay anyway/);

    const forced = await request(`/api/v1/deliveries/${otherStudy.deadDeliveryId}/replay`, { method: 'POST', role: 'admin', body: { force: true } });
    assert.equal(forced.status, 200);
  });

  it('approves a held delivery', async () => {
    const response = await request(`/api/v1/deliveries/${study.heldDeliveryId}/approve`, { method: 'POST', role: 'admin' });
    assert.equal(response.status, 200);
    const listed = (await (await request(`/api/v1/deliveries?studyInstanceUid=${study.studyInstanceUid}&state=pending`, { role: 'viewer' })).json()) as { total: number };
    assert.equal(listed.total, 2);
  });

  it('filters and audits audit log queries', async () => {
    const response = await request(`/api/v1/audit-events?action=report_viewed&accessionNumber=${study.accessionNumber}`, { role: 'auditor' });
    assert.equal(response.status, 200);
    const page = (await response.json()) as { total: number; events: { action: string; studyInstanceUid: string; patientId: string }[] };
    assert.ok(page.total >= 1, 'no report_viewed row for the accession number');
    assert.ok(page.events.every((event) => event.action === 'report_viewed' && event.studyInstanceUid === study.studyInstanceUid), 'a row outside the filter');
    assert.equal(page.events[0]!.patientId, study.patientId);

    const byPatient = (await (await request(`/api/v1/audit-events?action=report_viewed&patientId=${otherStudy.patientId}`, { role: 'auditor' })).json()) as { total: number };
    assert.equal(byPatient.total, 0);
    const failures = (await (await request('/api/v1/audit-events?outcome=failure&actor=unknown', { role: 'auditor' })).json()) as { events: { action: string }[] };
    assert.ok(failures.events.length > 0, 'no failed authentication in the audit log');
    assert.ok(failures.events.every((event) => event.action === 'user_authentication_failed'), 'a failure row of another action');

    const viewed = await auditRows('audit_log_viewed');
    assert.ok(viewed.length >= 3, `${viewed.length} audit_log_viewed rows`);
    assert.equal(viewed.at(-1)!.actor, 'test-auditor');
    assert.equal(viewed.at(-1)!.details?.filters, 'actor,outcome');
  });

  it('exports the audit log as CSV', async () => {
    for (const [pathname, accept] of [
      [`/api/v1/audit-events?action=delivery_replayed&studyInstanceUid=${study.studyInstanceUid}`, 'text/csv'],
      [`/api/v1/audit-events?action=delivery_replayed&studyInstanceUid=${study.studyInstanceUid}&format=csv`, undefined],
    ] as const) {
      const response = await request(pathname, { role: 'auditor', accept });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/csv/);
      const lines = (await response.text()).trimEnd().split('\r\n');
      assert.equal(lines[0], 'occurredAt,actorType,actor,action,outcome,sourceAddress,studyInstanceUid,seriesInstanceUid,accessionNumber,patientId,reportId,deliveryId,correlationId,details,id,seq,prevHash,rowHash');
      assert.equal(lines.length, 2);
      assert.ok(lines[1]!.includes(study.deadDeliveryId), 'the CSV row does not name the replayed delivery');
    }
    assert.equal((await auditRows('audit_log_exported')).length, 2);
  });

  it('retries a failed report job', async () => {
    const jobId = randomUUID();
    const studyId = randomUUID();
    const now = new Date();
    await database.transaction(async (manager) => {
      await queryRows(
        manager,
        `INSERT INTO study (id, study_instance_uid, state, state_reason, instance_count, first_received_at, last_received_at, updated_at, report_job_id, report_run)
         VALUES ($1, '1.2.826.0.1.3680043.8.498.3003', 'failed', 'report job failed', 10, $2, $2, $2, $3, 1)`,
        [studyId, now, jobId],
      );
      await queue.send(manager, 'report', { studyId, run: 1 }, { id: jobId });
    });
    const [fetched] = await queue.fetch('report', 1);
    assert.equal(fetched?.id, jobId);
    await queue.fail('report', jobId, { code: 'model_failed', message: 'inference failed' });

    const failed = (await (await request('/api/v1/jobs?state=failed', { role: 'viewer' })).json()) as { jobs: { id: string }[] };
    assert.ok(failed.jobs.some((job) => job.id === jobId), 'the failed job is not listed');

    const response = await request(`/api/v1/jobs/${jobId}/retry`, { method: 'POST', role: 'admin' });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { id: jobId, queue: 'report', state: 'retry', studyInstanceUid: '1.2.826.0.1.3680043.8.498.3003' });
    const [state] = await database.run((manager) => queryRows<{ state: string }>(manager, 'SELECT state FROM study WHERE id = $1', [studyId]));
    assert.equal(state!.state, 'complete');
    const rows = await auditRows('job_retried');
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.details?.jobId, jobId);

    const again = await request(`/api/v1/jobs/${jobId}/retry`, { method: 'POST', role: 'admin' });
    assert.equal(again.status, 409);
  });

  it('serves metrics to any role once a token is given', async () => {
    const response = await request('/metrics', { role: 'viewer' });
    assert.equal(response.status, 200);
    assert.match(await response.text(), /argus_open_associations/);
  });

  it('manages tokens with the token command', async () => {
    const created = await runCli(configPath, ['token', 'create', '--role', 'viewer', '--name', 'cli-viewer']);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    assert.match(token, /^argus_[A-Za-z0-9_-]{43}$/);
    assert.equal((await request('/api/v1/studies', { token })).status, 200);

    const [stored] = await database.run((manager) => queryRows<{ token_hash: string }>(manager, `SELECT token_hash FROM api_token WHERE name = 'cli-viewer'`));
    assert.notEqual(stored!.token_hash, token);
    assert.equal((await auditRows('api_token_created')).filter((row) => row.details?.tokenName === 'cli-viewer').length, 1);

    const listed = await runCli(configPath, ['token', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(!listed.stdout.includes(token), 'token list prints the token');
    assert.ok((JSON.parse(listed.stdout) as { name: string }[]).some((item) => item.name === 'cli-viewer'), 'token list misses cli-viewer');

    const duplicate = await runCli(configPath, ['token', 'create', '--role', 'viewer', '--name', 'cli-viewer']);
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.stderr, /a token named "cli-viewer" exists and is not revoked/);
    const badRole = await runCli(configPath, ['token', 'create', '--role', 'owner', '--name', 'cli-owner']);
    assert.equal(badRole.code, 1);
    assert.match(badRole.stderr, /the role "owner" is invalid; use one of admin, auditor, viewer/);

    const revoked = await runCli(configPath, ['token', 'revoke', 'cli-viewer']);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await request('/api/v1/studies', { token })).status, 401);
    const revokedRows = (await auditRows('api_token_revoked')).filter((row) => row.details?.tokenName === 'cli-viewer');
    assert.equal(revokedRows.length, 1);
    assert.equal(revokedRows[0]!.actor_type, 'user');
  });
});
