/**
 * The service logger. Every log line is a fixed message plus keys from an allow-list of identifiers
 * (association, SOPInstanceUID, job, MSH-10, status, duration). Keys outside the list are dropped before
 * the line is written, so a field such as a patient name or a dataset never reaches the log. Messages
 * are fixed strings, and error messages written by this service name attributes, never their values.
 */
import pino from 'pino';

const LOGGABLE_KEYS = new Set([
  'component',
  'associationId',
  'callingAeTitle',
  'calledAeTitle',
  'remoteAddress',
  'sopClassUid',
  'sopInstanceUid',
  'seriesInstanceUid',
  'studyInstanceUid',
  'transferSyntaxUid',
  'studyId',
  'seriesId',
  'reportId',
  'deliveryId',
  'jobId',
  'destination',
  'messageControlId',
  'ackCode',
  'status',
  'statusHex',
  'reason',
  'code',
  'attempt',
  'count',
  'bytes',
  'durationMs',
  'host',
  'port',
  'aeTitle',
  'state',
  'stage',
  'path',
  'model',
  'version',
  'roles',
  'orderId',
  'messageType',
  'queue',
  'priority',
  'run',
  'auditEventId',
  'seq',
  'err',
]);

/** Keeps only allow-listed keys; error objects keep their class, code and message but no data fields. */
export function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (!LOGGABLE_KEYS.has(key)) continue;
    kept[key] = key === 'err' ? describeError(value) : value;
  }
  return kept;
}

function describeError(value: unknown): Record<string, unknown> {
  if (!(value instanceof Error)) return { message: String(value) };
  const code = (value as { code?: unknown }).code;
  return { type: value.name, code, message: value.message };
}

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

function wrap(base: pino.Logger): Logger {
  return {
    debug: (message, fields = {}) => base.debug(redact(fields), message),
    info: (message, fields = {}) => base.info(redact(fields), message),
    warn: (message, fields = {}) => base.warn(redact(fields), message),
    error: (message, fields = {}) => base.error(redact(fields), message),
    child: (fields) => wrap(base.child(redact(fields))),
  };
}

let root: Logger = wrap(pino({ level: 'info', base: undefined }));

/** Replaces the root logger; `serve` calls it once the configured level is known. */
export function configureLogging(level: string, destination?: pino.DestinationStream): void {
  root = wrap(pino({ level, base: undefined }, destination));
}

/** Returns a logger for one module; `component` appears on every line. */
export function getLogger(component: string): Logger {
  return {
    debug: (message, fields) => root.debug(message, { ...fields, component }),
    info: (message, fields) => root.info(message, { ...fields, component }),
    warn: (message, fields) => root.warn(message, { ...fields, component }),
    error: (message, fields) => root.error(message, { ...fields, component }),
    child: (fields) => root.child({ ...fields, component }),
  };
}
