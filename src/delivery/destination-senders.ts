/**
 * Sends one stored message to its configured destination and reports the attempt's outcome: an
 * ORU^R01 over MLLP to a RIS, or an SR by C-STORE to a PACS. Each HL7 destination has one MllpConnection,
 * kept open between messages when the destination sets keepAliveSeconds. TLS files are read once, when
 * the senders are created, so a missing certificate stops the service at start instead of failing
 * every delivery.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { AppConfig } from '../config/load.ts';
import { outcomeOfAck, outcomeOfError, outcomeOfStoreStatus, type AttemptOutcome } from './attempt-outcome.ts';
import { MllpConnection, type MllpTlsOptions } from './hl7/mllp-client.ts';
import { sendCStore, type CStoreTarget } from './sr/c-store-scu.ts';

type Hl7Destination = AppConfig['hl7']['destinations'][number];
type DicomDestination = AppConfig['dicom']['destinations'][number];
type TlsSettings = NonNullable<Hl7Destination['tls']> | NonNullable<DicomDestination['tls']>;

export interface OutgoingMessage {
  kind: 'hl7_oru' | 'dicom_sr';
  destination: string;
  /** MSH-10 of an ORU^R01, SOPInstanceUID of an SR. */
  controlId: string;
  payload: Buffer;
}

/** A TLS file named in the configuration cannot be read. */
export class DestinationConfigError extends Error {
  readonly code = 'destination_config_invalid';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DestinationConfigError';
  }
}

export class DestinationSenders {
  private readonly hl7 = new Map<string, { destination: Hl7Destination; connection: MllpConnection }>();
  private readonly dicom = new Map<string, { destination: DicomDestination; target: CStoreTarget }>();

  /** Throws DestinationConfigError when a configured TLS file cannot be read. */
  constructor(private readonly config: AppConfig) {
    const baseDirectory = path.dirname(config.configPath);
    for (const destination of config.hl7.destinations) {
      const tls = destination.tls ? loadTls(destination.tls, baseDirectory, `hl7.destinations "${destination.name}"`) : undefined;
      const target = { host: destination.host, port: destination.port, ...(tls ? { tls } : {}) };
      const connection = new MllpConnection(target, { keepAliveMs: destination.keepAliveSeconds * 1000 });
      this.hl7.set(destination.name, { destination, connection });
    }
    for (const destination of config.dicom.destinations) {
      const tls = destination.tls ? loadTls(destination.tls, baseDirectory, `dicom.destinations "${destination.name}"`) : undefined;
      const target: CStoreTarget = { aeTitle: destination.aeTitle, host: destination.host, port: destination.port };
      if (tls) target.tls = { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized };
      this.dicom.set(destination.name, { destination, target });
    }
  }

  /** Returns the maximum time one attempt can take, in seconds, which the outbox lease must outlast. */
  longestAttemptSeconds(): number {
    return Math.max(this.config.dicom.timeoutSeconds, ...this.config.hl7.destinations.map((destination) => destination.ackTimeoutSeconds));
  }

  /** Sends `message` once. Every failure, thrown or answered, comes back as a failed outcome. */
  async send(message: OutgoingMessage): Promise<AttemptOutcome> {
    try {
      if (message.kind === 'hl7_oru') return await this.sendOru(message);
      return await this.sendSr(message);
    } catch (error) {
      return outcomeOfError(error);
    }
  }

  /** Closes kept MLLP connections. */
  close(): void {
    for (const { connection } of this.hl7.values()) connection.close();
  }

  private async sendOru(message: OutgoingMessage): Promise<AttemptOutcome> {
    const sender = this.hl7.get(message.destination);
    if (sender === undefined) return notConfigured(message);
    const ack = await sender.connection.send(message.payload.toString('utf8'), message.controlId, {
      timeoutMs: sender.destination.ackTimeoutSeconds * 1000,
    });
    return outcomeOfAck(ack, sender.destination.rejectPolicy);
  }

  private async sendSr(message: OutgoingMessage): Promise<AttemptOutcome> {
    const sender = this.dicom.get(message.destination);
    if (sender === undefined) return notConfigured(message);
    const callingAeTitle = this.config.dicom.callingAeTitle ?? this.config.dicom.listener.aeTitle;
    const result = await sendCStore(sender.target, callingAeTitle, message.payload, {
      timeoutMs: this.config.dicom.timeoutSeconds * 1000,
    });
    return outcomeOfStoreStatus(result, sender.destination.warningPolicy);
  }
}

function notConfigured(message: OutgoingMessage): AttemptOutcome {
  const section = message.kind === 'hl7_oru' ? 'hl7.destinations' : 'dicom.destinations';
  return {
    result: 'failed',
    retryable: false,
    code: 'destination_not_configured',
    message: `destination "${message.destination}" is no longer in ${section}; add it back and replay the delivery`,
    response: null,
  };
}

function loadTls(settings: TlsSettings, baseDirectory: string, owner: string): MllpTlsOptions {
  const read = (file: string | undefined, key: string): Buffer | undefined => {
    if (file === undefined) return undefined;
    const absolute = path.resolve(baseDirectory, file);
    try {
      return readFileSync(absolute);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new DestinationConfigError(`${owner}: tls.${key} ${absolute} cannot be read (${reason})`, { cause: error });
    }
  };
  return {
    ca: read(settings.caFile, 'caFile'),
    cert: read(settings.certFile, 'certFile'),
    key: read(settings.keyFile, 'keyFile'),
    ...('serverName' in settings && settings.serverName !== undefined ? { serverName: settings.serverName } : {}),
    rejectUnauthorized: settings.rejectUnauthorized,
  };
}
