/**
 * The OpenAPI 3.1 document of the admin API, written by hand and served at /api/v1/openapi.json.
 * test/api/admin-api.test.ts compares its paths with the routes Fastify registers, both ways.
 */
import { AUDIT_ACTIONS } from '../audit/record-audit.ts';
import { API_ERROR_IDS } from './api-errors.ts';

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string): Json => ({ type: [type, 'null'] });
const dateTime: Json = { type: 'string', format: 'date-time' };
const nullableDateTime: Json = { type: ['string', 'null'], format: 'date-time' };

function errorResponse(description: string): Json {
  return { description, content: { 'application/json': { schema: ref('Error') } } };
}

const COMMON_ERRORS: Json = {
  '400': errorResponse('invalid_request: a parameter is invalid; the message names it'),
  '401': errorResponse('unauthorized: the token is missing, unknown or revoked'),
  '403': errorResponse("forbidden: the token's role lacks the permission"),
};

function queryParameter(name: string, schema: Json, description: string): Json {
  return { name, in: 'query', required: false, schema, description };
}

function pathParameter(name: string, description: string, schema: Json = { type: 'string' }): Json {
  return { name, in: 'path', required: true, schema, description };
}

const PAGING = [
  queryParameter('limit', { type: 'integer', minimum: 1, maximum: 500, default: 50 }, 'rows per page'),
  queryParameter('offset', { type: 'integer', minimum: 0, default: 0 }, 'rows to skip'),
];

function operation(summary: string, permission: 'read' | 'audit' | 'act', parameters: Json[], responses: Json, extra: Json = {}): Json {
  const roles = { read: 'viewer, auditor, admin', audit: 'auditor, admin', act: 'admin' }[permission];
  return { summary, description: `Roles: ${roles}.`, 'x-permission': permission, parameters, responses: { ...responses, ...COMMON_ERRORS }, ...extra };
}

function jsonResponse(description: string, schema: Json): Json {
  return { description, content: { 'application/json': { schema } } };
}

function page(itemsKey: string, item: Json): Json {
  return {
    type: 'object',
    required: ['total', 'limit', 'offset', itemsKey],
    properties: { total: { type: 'integer' }, limit: { type: 'integer' }, offset: { type: 'integer' }, [itemsKey]: { type: 'array', items: item } },
  };
}

const uid: Json = { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)*$', maxLength: 64 };
const uuid: Json = { type: 'string', format: 'uuid' };

const schemas: Json = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['id', 'message'],
        properties: { id: { type: 'string', enum: Object.keys(API_ERROR_IDS) }, message: { type: 'string' } },
      },
    },
  },
  StudySummary: {
    type: 'object',
    properties: {
      studyInstanceUid: uid,
      patientId: nullable('string'),
      patientName: nullable('string'),
      accessionNumber: nullable('string'),
      studyDate: nullable('string'),
      studyDescription: nullable('string'),
      state: { type: 'string', enum: ['receiving', 'complete', 'processing', 'reported', 'failed'] },
      stateReason: nullable('string'),
      stage: { type: 'string', enum: ['receiving', 'queued', 'processing', 'failed', 'delivery_failed', 'held', 'delivering', 'done'] },
      instanceCount: { type: 'integer', description: 'instances received' },
      firstReceivedAt: dateTime,
      lastReceivedAt: dateTime,
      completedAt: nullableDateTime,
      latestReportId: { type: ['string', 'null'], format: 'uuid' },
    },
  },
  Series: {
    type: 'object',
    properties: {
      seriesInstanceUid: uid,
      modality: nullable('string'),
      seriesNumber: nullable('integer'),
      seriesDescription: nullable('string'),
      instanceCount: { type: 'integer' },
      completedAt: nullableDateTime,
      selectionDecision: { type: ['string', 'null'], enum: ['selected', 'rejected', null] },
      selectionReasonCode: nullable('string'),
      selectionReason: nullable('string'),
      volumeChecks: {
        type: ['object', 'null'],
        description: 'findings of volume assembly; null until the series was assembled',
        properties: {
          passed: { type: 'boolean' },
          code: { type: 'string', description: 'reason code of a rejected series' },
          reason: { type: 'string' },
          checks: {
            type: 'array',
            items: {
              type: 'object',
              properties: { name: { type: 'string' }, passed: { type: 'boolean' }, detail: { type: 'string' }, measured: { type: 'number' }, limit: { type: 'number' }, unit: { type: 'string' }, action: { type: 'string' } },
            },
          },
        },
      },
      hasPreviews: { type: 'boolean' },
    },
  },
  ReportSummary: {
    type: 'object',
    properties: {
      id: uuid,
      studyInstanceUid: uid,
      accessionNumber: nullable('string'),
      status: { type: 'string' },
      createdAt: dateTime,
      model: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' } } },
      supersedesReportId: { type: ['string', 'null'], format: 'uuid' },
    },
  },
  Report: {
    allOf: [
      ref('ReportSummary'),
      {
        type: 'object',
        properties: {
          seriesInstanceUid: uid,
          patientId: nullable('string'),
          model: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'string' }, deviceUid: uid } },
          text: { type: 'string' },
          findings: { type: 'string' },
          impression: { type: 'string' },
          instanceUids: { type: 'array', items: uid },
          timings: { type: 'object', additionalProperties: { type: 'number' }, description: 'milliseconds per stage' },
        },
      },
    ],
  },
  Delivery: {
    type: 'object',
    properties: {
      id: uuid,
      reportId: uuid,
      studyInstanceUid: uid,
      kind: { type: 'string', enum: ['hl7_oru', 'dicom_sr'] },
      destination: { type: 'string' },
      controlId: { type: 'string', description: 'MSH-10 of an ORU^R01, SOPInstanceUID of an SR' },
      state: { type: 'string', enum: ['pending', 'held', 'sending', 'delivered', 'failed', 'dead'] },
      attempts: { type: 'integer' },
      nextAttemptAt: dateTime,
      lastError: nullable('string'),
      deliveredAt: nullableDateTime,
    },
  },
  StudyDetail: {
    allOf: [
      ref('StudySummary'),
      {
        type: 'object',
        properties: {
          patientBirthDate: nullable('string'),
          patientSex: nullable('string'),
          studyTime: nullable('string'),
          series: { type: 'array', items: ref('Series') },
          reports: { type: 'array', items: ref('ReportSummary'), description: 'without text; GET /reports/{reportId} returns the text' },
          deliveries: { type: 'array', items: ref('Delivery') },
        },
      },
    ],
  },
  DeliveryActionResult: {
    type: 'object',
    properties: { id: uuid, state: { const: 'pending' }, controlId: { type: 'string' }, previousControlId: { type: 'string' } },
  },
  Job: {
    type: 'object',
    properties: {
      id: uuid,
      queue: { type: 'string' },
      state: { type: 'string' },
      priority: { type: 'integer' },
      attempts: { type: 'integer' },
      maxAttempts: { type: 'integer' },
      data: { type: 'object', description: 'ids only' },
      output: { description: 'the error of the last failed attempt, or the result' },
      createdAt: dateTime,
      startedAt: nullableDateTime,
      completedAt: nullableDateTime,
      archived: { type: 'boolean' },
    },
  },
  AuditEvent: {
    type: 'object',
    properties: {
      id: uuid,
      occurredAt: dateTime,
      actorType: { type: 'string', enum: ['peer', 'system', 'user', 'token'] },
      actor: { type: 'string' },
      action: { type: 'string', enum: [...AUDIT_ACTIONS] },
      outcome: { type: 'string', enum: ['success', 'failure'] },
      sourceAddress: nullable('string'),
      studyInstanceUid: nullable('string'),
      seriesInstanceUid: nullable('string'),
      accessionNumber: nullable('string'),
      patientId: nullable('string'),
      reportId: nullable('string'),
      deliveryId: nullable('string'),
      correlationId: nullable('string'),
      details: { type: ['object', 'null'] },
      seq: { type: 'integer', description: 'position in the hash chain' },
      prevHash: { type: 'string', description: 'SHA-256 of the previous row, hex' },
      rowHash: { type: 'string', description: 'SHA-256 over this row and prevHash, hex' },
    },
  },
  Peers: { type: 'object', description: 'configured DICOM listener, peers and destinations, HL7 destinations and order listener; no key or certificate paths' },
};

const notFound = errorResponse('not_found');
const conflict = errorResponse('conflict: the object is not in a state that allows the action; the message says which');

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'argus-gateway admin API',
    version: '1',
    description:
      'Studies, reports, deliveries, jobs, peers and the audit log of argus-gateway. Every route needs "Authorization: Bearer <token>" (argus-gateway token create). Errors are {"error": {"id", "message"}}.',
  },
  servers: [{ url: '/api/v1' }],
  security: [{ bearerToken: [] }],
  components: { securitySchemes: { bearerToken: { type: 'http', scheme: 'bearer' } }, schemas },
  paths: {
    '/openapi.json': { get: operation('This document', 'read', [], { '200': jsonResponse('the OpenAPI document', { type: 'object' }) }) },
    '/session': {
      get: operation('The token of the request: its name, role and permissions', 'read', [], {
        '200': jsonResponse('the token', {
          type: 'object',
          properties: {
            tokenId: uuid,
            name: { type: 'string' },
            role: { type: 'string', enum: ['admin', 'auditor', 'viewer'] },
            permissions: { type: 'array', items: { type: 'string', enum: ['read', 'audit', 'act'] } },
          },
        }),
      }),
    },
    '/studies': {
      get: operation(
        'Studies, most recently received first, with their progress',
        'read',
        [
          queryParameter('status', { type: 'string', enum: ['receiving', 'complete', 'processing', 'reported', 'failed'] }, 'study state'),
          queryParameter('receivedFrom', dateTime, 'first instance received at or after'),
          queryParameter('receivedTo', dateTime, 'first instance received before'),
          queryParameter('q', { type: 'string', maxLength: 64 }, 'start of patient ID, accession number or StudyInstanceUID, or part of the patient name'),
          ...PAGING,
        ],
        { '200': jsonResponse('one page of studies', page('studies', ref('StudySummary'))) },
      ),
    },
    '/studies/{studyInstanceUid}': {
      get: operation('A study with its series, selection reasons, volume checks, reports and deliveries; audited as study_viewed', 'read', [pathParameter('studyInstanceUid', 'StudyInstanceUID', uid)], {
        '200': jsonResponse('the study', ref('StudyDetail')),
        '404': notFound,
      }),
    },
    '/series/{seriesInstanceUid}/previews/{plane}': {
      get: operation(
        'A PNG preview of the volume of a series: the middle slice in a soft-tissue window (W 400 / L 40)',
        'read',
        [pathParameter('seriesInstanceUid', 'SeriesInstanceUID', uid), pathParameter('plane', 'plane', { type: 'string', enum: ['axial', 'coronal', 'sagittal'] })],
        { '200': { description: 'the preview', content: { 'image/png': { schema: { type: 'string', contentEncoding: 'binary' } } } }, '404': notFound },
      ),
    },
    '/reports': {
      get: operation('Reports without their text, newest first', 'read', [queryParameter('studyInstanceUid', uid, 'only reports of this study'), ...PAGING], {
        '200': jsonResponse('one page of reports', page('reports', ref('ReportSummary'))),
      }),
    },
    '/reports/{reportId}': {
      get: operation('A report with its text; audited as report_viewed', 'read', [pathParameter('reportId', 'report id', uuid)], {
        '200': jsonResponse('the report', ref('Report')),
        '404': notFound,
      }),
    },
    '/deliveries': {
      get: operation(
        'Deliveries, newest first',
        'read',
        [
          queryParameter('state', { type: 'string', enum: ['pending', 'held', 'sending', 'delivered', 'failed', 'dead'] }, 'delivery state'),
          queryParameter('destination', { type: 'string' }, 'destination name from the configuration'),
          queryParameter('studyInstanceUid', uid, 'only deliveries of this study'),
          ...PAGING,
        ],
        { '200': jsonResponse('one page of deliveries', page('deliveries', ref('Delivery'))) },
      ),
    },
    '/deliveries/{deliveryId}/replay': {
      post: operation(
        'Send a dead or delivered delivery again; an ORU^R01 gets a new MSH-10. Audited as delivery_replayed',
        'act',
        [pathParameter('deliveryId', 'delivery id', uuid)],
        { '200': jsonResponse('the delivery is pending', ref('DeliveryActionResult')), '404': notFound, '409': conflict },
        {
          requestBody: {
            required: false,
            content: { 'application/json': { schema: { type: 'object', properties: { force: { type: 'boolean', default: false, description: 'replay even when a later report of the study was delivered to the destination' } } } } },
          },
        },
      ),
    },
    '/deliveries/{deliveryId}/approve': {
      post: operation('Release a held delivery; audited as delivery_approved', 'act', [pathParameter('deliveryId', 'delivery id', uuid)], {
        '200': jsonResponse('the delivery is pending', ref('DeliveryActionResult')),
        '404': notFound,
        '409': conflict,
      }),
    },
    '/jobs': {
      get: operation(
        'Jobs of the queues, newest first',
        'read',
        [
          queryParameter('state', { type: 'string', default: 'failed' }, 'comma-separated pg-boss states: created, retry, active, completed, cancelled, failed'),
          queryParameter('limit', { type: 'integer', minimum: 1, maximum: 500, default: 50 }, 'rows'),
        ],
        { '200': jsonResponse('the jobs', { type: 'object', properties: { limit: { type: 'integer' }, jobs: { type: 'array', items: ref('Job') } } }) },
      ),
    },
    '/jobs/{jobId}/retry': {
      post: operation(
        'Give a failed job one more attempt; a failed study of a report job becomes complete again. Audited as job_retried',
        'act',
        [pathParameter('jobId', 'job id', uuid)],
        {
          '200': jsonResponse('the job waits for its retry', {
            type: 'object',
            properties: { id: uuid, queue: { type: 'string' }, state: { const: 'retry' }, studyInstanceUid: nullable('string') },
          }),
          '404': notFound,
          '409': conflict,
        },
      ),
    },
    '/peers': { get: operation('Configured DICOM peers and destinations and HL7 destinations', 'read', [], { '200': jsonResponse('the peers', ref('Peers')) }) },
    '/audit-events': {
      get: operation(
        'The audit log, newest first, as JSON or CSV; audited as audit_log_viewed or audit_log_exported',
        'audit',
        [
          queryParameter('since', dateTime, 'at or after'),
          queryParameter('until', dateTime, 'before'),
          queryParameter('actor', { type: 'string' }, 'exact actor: AE title, user, token name or system component'),
          queryParameter('action', { type: 'string', enum: [...AUDIT_ACTIONS] }, 'action'),
          queryParameter('studyInstanceUid', uid, 'StudyInstanceUID'),
          queryParameter('accessionNumber', { type: 'string' }, 'accession number recorded in the row'),
          queryParameter('patientId', { type: 'string' }, 'patient ID recorded in the row'),
          queryParameter('outcome', { type: 'string', enum: ['success', 'failure'] }, 'outcome'),
          queryParameter('format', { type: 'string', enum: ['json', 'csv'] }, 'csv has the same effect as "Accept: text/csv"'),
          queryParameter('limit', { type: 'integer', minimum: 1, maximum: 10000 }, 'rows: default 50 and at most 500 for JSON; default and at most 10000 for CSV'),
          PAGING[1]!,
        ],
        {
          '200': {
            description: 'one page of audit rows; CSV carries the total in X-Total-Count',
            content: { 'application/json': { schema: page('events', ref('AuditEvent')) }, 'text/csv': { schema: { type: 'string' } } },
          },
        },
      ),
    },
  },
} as const;
