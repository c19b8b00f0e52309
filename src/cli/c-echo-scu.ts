/**
 * A C-ECHO SCU (Verification SOP Class, PS3.4 Annex A) on dcmjs-dimse's Client, for `echo` and
 * `doctor`. It resolves with the status and the round-trip time from TCP connect to the C-ECHO
 * response. It rejects with an EchoError whose `code` names what failed: connection refused or broken,
 * association rejected (with the A-ASSOCIATE-RJ reason in words), a failure status, or the timeout.
 */
import dimse from 'dcmjs-dimse';

import '../dicom/implementation.ts';

import type { AssociateRejection } from '../delivery/sr/c-store-errors.ts';
import { clientSendOptions } from '../delivery/sr/c-store-scu.ts';

export interface EchoTarget {
  aeTitle: string;
  host: string;
  port: number;
  /** TLS with the PEM files already read; absent: plain TCP. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean };
}

export interface EchoResult {
  status: number;
  roundTripMs: number;
}

export type EchoErrorCode = 'connection_refused' | 'connection_failed' | 'association_rejected' | 'echo_failed' | 'timeout';

export class EchoError extends Error {
  constructor(
    readonly code: EchoErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EchoError';
  }
}

/** Verification SOP Class UID (PS3.4 A.4). */
const VERIFICATION_SOP_CLASS_UID = '1.2.840.10008.1.1';

export function sendCEcho(target: EchoTarget, callingAeTitle: string, timeoutMs: number): Promise<EchoResult> {
  // dcmjs-dimse logs connection errors to stderr itself; the caller reports them through the EchoError.
  dimse.log.setLevel('silent');
  return new Promise((resolve, reject) => {
    const client = new dimse.Client();
    const request = new dimse.requests.CEchoRequest();
    const peer = `${target.aeTitle}@${target.host}:${target.port}`;
    const startedAt = performance.now();
    let stage: 'connecting' | 'associating' | 'echoing' | 'releasing' = 'connecting';
    let settled = false;

    const settle = (outcome: EchoResult | EchoError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (outcome instanceof EchoError) {
        abort(client);
        reject(outcome);
      } else {
        resolve(outcome);
      }
    };

    const deadline = setTimeout(() => settle(new EchoError('timeout', `${peer} did not respond within ${timeoutMs} ms while ${stage}`)), timeoutMs);

    client.on('connected', () => {
      stage = 'associating';
    });
    client.on('associationRejected', (rejection: AssociateRejection) => {
      settle(new EchoError('association_rejected', `${peer} rejected the association: ${describeRejection(rejection)}`));
    });
    client.on('associationAccepted', (association: InstanceType<typeof dimse.association.Association>) => {
      stage = 'echoing';
      if (association.getAcceptedPresentationContextFromRequest(request) === undefined) {
        settle(new EchoError('association_rejected', `${peer} accepted the association but not the Verification SOP Class ${VERIFICATION_SOP_CLASS_UID}`));
      }
    });
    request.on('response', (response: InstanceType<typeof dimse.responses.CEchoResponse>) => {
      const status = response.getStatus();
      const roundTripMs = Math.round((performance.now() - startedAt) * 10) / 10;
      stage = 'releasing';
      if (status === 0) settle({ status, roundTripMs });
      else settle(new EchoError('echo_failed', `${peer} returned the C-ECHO failure status 0x${status.toString(16).toUpperCase().padStart(4, '0')}`));
    });
    client.on('networkError', (error: NodeJS.ErrnoException) => {
      // dcmjs-dimse 0.3.3 wraps socket errors in a new Error whose message quotes the original one.
      if (error.code === 'ECONNREFUSED' || error.message.includes('ECONNREFUSED')) settle(new EchoError('connection_refused', `${peer} refused the connection (nothing listens on that port)`, { cause: error }));
      else settle(new EchoError('connection_failed', `connection to ${peer} failed while ${stage}: ${error.message}`, { cause: error }));
    });
    client.on('closed', () => {
      settle(new EchoError('connection_failed', `${peer} closed the connection while ${stage}`));
    });

    client.addRequest(request);
    try {
      client.send(target.host, target.port, callingAeTitle, target.aeTitle, clientSendOptions(target, timeoutMs));
    } catch (error) {
      settle(new EchoError('connection_failed', `failed to connect to ${peer}: ${(error as Error).message}`, { cause: error }));
    }
  });
}

/** A-ASSOCIATE-RJ result, source and reason in the words of PS3.8 Table 9-21. */
export function describeRejection({ result, source, reason }: AssociateRejection): string {
  const results: Record<number, string> = { 1: 'rejected-permanent', 2: 'rejected-transient' };
  const reasons: Record<number, Record<number, string>> = {
    1: { 1: 'no-reason-given', 2: 'application-context-name-not-supported', 3: 'calling-AE-title-not-recognized', 7: 'called-AE-title-not-recognized' },
    2: { 1: 'no-reason-given', 2: 'protocol-version-not-supported' },
    3: { 1: 'temporary-congestion', 2: 'local-limit-exceeded' },
  };
  const sources: Record<number, string> = { 1: 'service-user', 2: 'service-provider (ACSE)', 3: 'service-provider (presentation)' };
  const reasonText = reasons[source]?.[reason] ?? `reason ${reason}`;
  return `${results[result] ?? `result ${result}`}, source ${sources[source] ?? source}, ${reasonText} (result ${result}, source ${source}, reason ${reason})`;
}

/**
 * Sends A-ABORT and closes the socket at once.
 * NOTE: dcmjs-dimse 0.3.3 only half-closes its socket after an abort and keeps it until the peer
 * closes its side, which a hung peer never does, so the process would not exit. The socket is taken
 * from the Client's undocumented `network` field. If a later version drops that field, a hung peer
 * keeps the command running until the library's own timeout.
 */
function abort(client: InstanceType<typeof dimse.Client>): void {
  const socket = (client as unknown as { network?: { socket?: { destroy?: () => void } } }).network?.socket;
  try {
    client.abort();
  } catch {
    // Client.abort() throws once the connection has closed, when there is nothing left to abort.
  }
  socket?.destroy?.();
}
