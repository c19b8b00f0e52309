/**
 * The C-STORE SCU that sends one SR to the PACS over one association, built on dcmjs-dimse's Client.
 * The client reports progress as events, which this module turns into one promise. It resolves on a
 * Success or Warning status with the status and its class, so the caller applies its warning policy.
 * A Failure status and every other failure reject with a typed error whose `code` and `retryable` drive
 * the delivery outbox.
 *
 * dcmjs-dimse 0.3.3 proposes Implicit and Explicit VR Little Endian for the SR's SOP class, sends the
 * dataset in the transfer syntax the peer accepted, and cuts P-DATA-TF PDUs to the maximum length the
 * peer announced in its A-ASSOCIATE-AC.
 */
import dimse from 'dcmjs-dimse';

import '../../dicom/implementation.ts';

import { getLogger } from '../../logging/logger.ts';
import {
  AssociationRejectedError,
  CStoreTimeoutError,
  ConnectionFailedError,
  InvalidDatasetError,
  StoreFailedError,
  formatStatus,
  statusClass,
  type StatusClass,
  type AssociateRejection,
  type CStoreError,
  type CStoreStage,
} from './c-store-errors.ts';
import { readPart10 } from './dcmjs-part10.ts';

const logger = getLogger('sr-c-store');

/**
 * dcmjs-dimse 0.3.3 checks its association and PDU timeouts once a second. Its own timeouts are set this
 * much later than the caller's limit, so the deadline here fires first and a slow peer is reported as
 * `dicom_timeout`. The library's timers then only close sockets that outlive an abort.
 */
const LIBRARY_TIMEOUT_GRACE_MS = 1000;

export interface CStoreTarget {
  aeTitle: string;
  host: string;
  port: number;
  /** TLS with the PEM files already read; absent: plain TCP. The certificate must name `host`. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean };
}

/**
 * Builds the options of dcmjs-dimse's Client.send() for one association: the library's timeouts a grace
 * period after the caller's limit, and TLS when the target has it.
 */
export function clientSendOptions(target: CStoreTarget, timeoutMs: number): Record<string, unknown> {
  const libraryTimeoutMs = timeoutMs + LIBRARY_TIMEOUT_GRACE_MS;
  return {
    connectTimeout: libraryTimeoutMs,
    associationTimeout: libraryTimeoutMs,
    pduTimeout: libraryTimeoutMs,
    ...(target.tls === undefined ? {} : { securityOptions: { ...target.tls } }),
  };
}

export interface CStoreResult {
  status: number;
  statusClass: Extract<StatusClass, 'success' | 'warning'>;
  /** Error Comment (0000,0902) of a warning; it may quote patient data, so it is never logged. */
  errorComment?: string;
}

export interface CStoreOptions {
  /** Limit in ms for the whole exchange from TCP connect to the C-STORE response. */
  timeoutMs: number;
}

/**
 * Sends the Part 10 file `part10` to `target` with one C-STORE and returns the response status when it
 * is Success or Warning. Rejects with AssociationRejectedError, ConnectionFailedError,
 * CStoreTimeoutError, StoreFailedError (a Failure status) or InvalidDatasetError.
 */
export async function sendCStore(
  target: CStoreTarget,
  callingAeTitle: string,
  part10: Buffer,
  options: CStoreOptions,
): Promise<CStoreResult> {
  // dcmjs-dimse logs every PDU at info level through loglevel, outside the service logger.
  dimse.log.setLevel('warn');

  const dataset = toDimseDataset(part10);
  const sopInstanceUid = dataset.getElement('SOPInstanceUID');
  const logFields = {
    callingAeTitle,
    calledAeTitle: target.aeTitle,
    host: target.host,
    port: target.port,
    sopInstanceUid,
  };
  const startedAt = Date.now();

  try {
    const result = await runAssociation(target, callingAeTitle, dataset, options.timeoutMs);
    const durationMs = Date.now() - startedAt;
    const fields = { ...logFields, statusHex: formatStatus(result.status), durationMs };
    if (result.statusClass === 'success') logger.info('C-STORE succeeded', fields);
    else logger.warn('C-STORE succeeded with a warning status', fields);
    return result;
  } catch (error) {
    logger.warn('C-STORE failed', { ...logFields, err: error, durationMs: Date.now() - startedAt });
    throw error;
  }
}

function toDimseDataset(part10: Buffer): InstanceType<typeof dimse.Dataset> {
  let contents;
  try {
    contents = readPart10(part10);
  } catch (error) {
    throw new InvalidDatasetError('Failed to decode the Part 10 file to send', { cause: error });
  }

  const { SOPClassUID, SOPInstanceUID } = contents.dataset;
  if (typeof SOPClassUID !== 'string' || typeof SOPInstanceUID !== 'string') {
    throw new InvalidDatasetError('The Part 10 file to send is missing SOPClassUID or SOPInstanceUID');
  }
  return new dimse.Dataset(contents.dataset, contents.transferSyntaxUid);
}

/**
 * Opens the association, sends the C-STORE-RQ and settles on the first decisive event. The deadline
 * stays armed after the response so that a peer that never sends A-RELEASE-RP still gets an A-ABORT.
 */
function runAssociation(
  target: CStoreTarget,
  callingAeTitle: string,
  dataset: InstanceType<typeof dimse.Dataset>,
  timeoutMs: number,
): Promise<CStoreResult> {
  return new Promise((resolve, reject) => {
    const client = new dimse.Client();
    const request = new dimse.requests.CStoreRequest(dataset);
    const peer = describePeer(target);
    let stage: CStoreStage = 'connecting';
    let settled = false;

    const settle = (outcome: CStoreResult | { error: CStoreError }): void => {
      if (settled) return;
      settled = true;
      if ('error' in outcome) reject(outcome.error);
      else resolve(outcome);
    };
    const fail = (error: CStoreError): void => settle({ error });

    const deadline = setTimeout(() => {
      fail(new CStoreTimeoutError(stage, timeoutMs));
      // Before the A-ASSOCIATE-RQ there is no association to abort. The library's own connect
      // timeout ends that socket a second later.
      if (stage !== 'connecting') abortAssociation(client);
    }, timeoutMs);

    client.on('connected', () => {
      stage = 'associating';
    });
    client.on('associationRejected', (rejection: AssociateRejection) => {
      fail(new AssociationRejectedError(describeRejection(peer, rejection), rejection));
    });
    client.on('associationAccepted', (association: InstanceType<typeof dimse.association.Association>) => {
      stage = 'storing';
      // dcmjs-dimse skips a request without an accepted presentation context and releases quietly.
      if (association.getAcceptedPresentationContextFromRequest(request) === undefined) {
        const sopClassUid = dataset.getElement('SOPClassUID');
        const message = `${peer} accepted no presentation context for SOP class ${sopClassUid}`;
        fail(new AssociationRejectedError(message));
      }
    });
    request.on('response', (response: InstanceType<typeof dimse.responses.CStoreResponse>) => {
      stage = 'releasing';
      const status = response.getStatus();
      const errorComment = response.getErrorComment() || undefined;
      const outcomeClass = statusClass(status);
      if (outcomeClass === 'failure') fail(new StoreFailedError(status, errorComment));
      else settle({ status, statusClass: outcomeClass, ...(errorComment === undefined ? {} : { errorComment }) });
    });
    client.on('networkError', (error: Error) => {
      fail(new ConnectionFailedError(`Connection to ${peer} failed while ${stage}`, stage, { cause: error }));
    });
    client.on('closed', () => {
      clearTimeout(deadline);
      fail(new ConnectionFailedError(`${peer} closed the connection while ${stage}`, stage));
    });

    client.addRequest(request);
    try {
      client.send(target.host, target.port, callingAeTitle, target.aeTitle, clientSendOptions(target, timeoutMs));
    } catch (error) {
      // net.connect() throws synchronously on an invalid port or host option.
      clearTimeout(deadline);
      fail(new ConnectionFailedError(`Failed to connect to ${peer}`, stage, { cause: error }));
      return;
    }
    onPeerAbort(client, () => {
      fail(new ConnectionFailedError(`${peer} aborted the association while ${stage}`, stage));
    });
  });
}

interface NetworkInternals {
  on?: (event: string, listener: () => void) => void;
  socket?: { destroy?: () => void };
}

/**
 * Calls `onAbort` when the peer sends A-ABORT, then closes the connection, which PS3.8 requires of the
 * side that receives an A-ABORT.
 *
 * NOTE: dcmjs-dimse 0.3.3's Client does not re-emit the 'abort' event of the Network object it keeps
 * in its undocumented `network` field, so this reaches into that field. If a later version drops it,
 * an A-ABORT is reported as `dicom_timeout` once the deadline passes; the C-STORE tests catch that.
 */
function onPeerAbort(client: InstanceType<typeof dimse.Client>, onAbort: () => void): void {
  const network = (client as unknown as { network?: NetworkInternals }).network;
  if (typeof network?.on !== 'function') return;

  network.on('abort', () => {
    onAbort();
    network.socket?.destroy?.();
  });
}

function abortAssociation(client: InstanceType<typeof dimse.Client>): void {
  try {
    client.abort();
  } catch {
    // Client.abort() throws once the connection has closed, when there is nothing left to abort.
  }
}

function describePeer(target: CStoreTarget): string {
  return `${target.aeTitle}@${target.host}:${target.port}`;
}

function describeRejection(peer: string, rejection: AssociateRejection): string {
  const { result, source, reason } = rejection;
  return `${peer} rejected the association (result ${result}, source ${source}, reason ${reason})`;
}
