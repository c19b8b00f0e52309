/**
 * Sends HL7 v2 messages over MLLP (optionally inside TLS) and waits for their acknowledgments.
 *
 * An MllpConnection carries one exchange at a time. It keeps its socket open for the next message when
 * `keepAliveMs` is positive and closes it after every ACK otherwise. After any failure (timeout, reset,
 * an unusable reply) the socket is destroyed and the next message opens a new one, so no half-read state
 * or late reply of a failed exchange can be taken for the reply to the next message.
 *
 * The ACK is matched by MSA-2 against the sent MSH-10. A frame with another MSA-2 (a late ACK of an
 * earlier message, or a receiver that acknowledges twice) is logged by its MSA-2 and skipped, because
 * taking it as ours could mark an undelivered report as delivered.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';

import { getLogger } from '../../logging/logger.ts';
import { parseHl7Ack, type HL7Ack } from './ack.ts';
import {
  Hl7AckInvalidError,
  Hl7Error,
  MllpClosedError,
  MllpConnectionError,
  MllpTimeoutError,
  MllpTlsError,
} from './errors.ts';
import { MllpFrameDecoder, encodeMllpFrame } from './mllp-framing.ts';

export type { HL7Ack, HL7AckCode } from './ack.ts';

const log = getLogger('mllp-client');

/**
 * Maximum frame size accepted from the receiver. An ACK (MSH, MSA, an optional ERR) is well under 1 KiB.
 * 1 MiB leaves room for verbose ERR segments and bounds the memory a peer can fill without ever sending FS.
 */
const MAX_ACK_FRAME_BYTES = 1024 * 1024;

/** TCP keep-alive probe delay on kept connections, so a silently vanished receiver is noticed while idle. */
const TCP_KEEP_ALIVE_DELAY_MS = 30_000;

/** TLS settings with the PEM files already read. */
export interface MllpTlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Name checked against the receiver's certificate; the host by default. */
  serverName?: string;
  rejectUnauthorized: boolean;
}

export interface MllpTarget {
  host: string;
  port: number;
  /** Absent: plain TCP. */
  tls?: MllpTlsOptions;
}

export interface MllpSendOptions {
  /** Time in ms from the start of the exchange (connect, send, ACK) after which it fails with mllp_timeout. */
  timeoutMs: number;
}

export interface MllpConnectionOptions {
  /** Time in ms an idle connection stays open for the next message; 0 closes it after every ACK. */
  keepAliveMs: number;
}

type ConnectStage = 'tcp' | 'tls' | 'open';

interface Exchange {
  messageControlId: string;
  socket: net.Socket | undefined;
  finish(outcome: HL7Ack | Hl7Error): void;
}

export class MllpConnection {
  private socket: net.Socket | undefined;
  private decoder: MllpFrameDecoder | undefined;
  private stage: ConnectStage = 'tcp';
  private exchange: Exchange | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly peerName: string;

  constructor(
    readonly target: MllpTarget,
    private readonly options: MllpConnectionOptions = { keepAliveMs: 0 },
  ) {
    this.peerName = `${target.host}:${target.port}`;
  }

  /**
   * Sends `message` and resolves with the ACK whose MSA-2 equals `messageControlId`, which must be the
   * MSH-10 of `message`. Every HL7 table 0008 code resolves, AE and AR included, and the caller decides
   * what it means. Rejects with MllpTimeoutError, MllpConnectionError, MllpTlsError, MllpClosedError or
   * Hl7AckInvalidError. Calls made while an exchange runs wait for it.
   */
  send(message: string, messageControlId: string, options: MllpSendOptions): Promise<HL7Ack> {
    if (!(options.timeoutMs > 0)) {
      return Promise.reject(new RangeError(`MLLP timeoutMs must be a positive number of ms, got ${options.timeoutMs}`));
    }
    const run = () => this.runExchange(message, messageControlId, options.timeoutMs);
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Closes the socket; an exchange in progress fails with mllp_closed and later sends are rejected. */
  close(): void {
    this.closed = true;
    this.exchange?.finish(new MllpClosedError(`MLLP to ${this.peerName}: the connection was closed by the sender`));
    this.dropSocket();
  }

  private runExchange(message: string, messageControlId: string, timeoutMs: number): Promise<HL7Ack> {
    if (this.closed) {
      return Promise.reject(new MllpClosedError(`MLLP to ${this.peerName}: the connection was closed by the sender`));
    }
    clearTimeout(this.idleTimer);

    return new Promise<HL7Ack>((resolve, reject) => {
      const startedAt = performance.now();
      const timer = setTimeout(() => {
        const waitedFor = this.stage === 'open' ? `the ACK of MSH-10 ${messageControlId}` : describeStage(this.stage);
        exchange.finish(new MllpTimeoutError(`MLLP to ${this.peerName}: timed out after ${timeoutMs} ms waiting for ${waitedFor}`));
      }, timeoutMs);

      const exchange: Exchange = {
        messageControlId,
        socket: undefined,
        finish: (outcome) => {
          if (this.exchange !== exchange) return;
          this.exchange = undefined;
          clearTimeout(timer);
          if (outcome instanceof Hl7Error) {
            this.dropSocket();
            reject(outcome);
            return;
          }
          const durationMs = Math.round(performance.now() - startedAt);
          log.info('HL7 ACK received', { ...this.logFields(), messageControlId, ackCode: outcome.code, durationMs });
          this.keepOrDropSocket();
          resolve(outcome);
        },
      };
      this.exchange = exchange;

      const write = (socket: net.Socket) => {
        exchange.socket = socket;
        socket.write(encodeMllpFrame(message));
      };
      if (this.socket !== undefined && this.stage === 'open' && !this.socket.destroyed) write(this.socket);
      else this.connect(write);
    });
  }

  private connect(onOpen: (socket: net.Socket) => void): void {
    this.dropSocket();
    const decoder = new MllpFrameDecoder({ maxFrameBytes: MAX_ACK_FRAME_BYTES });
    const { host, port } = this.target;
    const secure = this.target.tls;
    const socket = secure
      ? tls.connect({
          host,
          port,
          // Node checks the certificate against servername, or against host when it is an IP address (SNI
          // carries names only).
          servername: secure.serverName ?? (net.isIP(host) === 0 ? host : undefined),
          ca: secure.ca,
          cert: secure.cert,
          key: secure.key,
          rejectUnauthorized: secure.rejectUnauthorized,
        })
      : net.createConnection({ host, port });

    this.socket = socket;
    this.decoder = decoder;
    this.stage = 'tcp';
    socket.setNoDelay(true);

    socket.once('connect', () => {
      if (this.socket !== socket) return;
      this.stage = secure ? 'tls' : 'open';
      if (!secure) onOpen(socket);
    });
    if (secure) {
      socket.once('secureConnect', () => {
        if (this.socket !== socket) return;
        this.stage = 'open';
        onOpen(socket);
      });
    }
    socket.on('data', (chunk: Buffer) => this.onData(socket, decoder, chunk));
    socket.on('error', (error) => this.onSocketError(socket, error));
    socket.on('close', () => this.onSocketClose(socket));
  }

  private onData(socket: net.Socket, decoder: MllpFrameDecoder, chunk: Buffer): void {
    if (this.socket !== socket) return;
    let frames: Buffer[];
    try {
      frames = decoder.push(chunk);
    } catch (error) {
      const failure = new Hl7AckInvalidError(`MLLP from ${this.peerName}: the reply frame is too large`, { cause: error });
      if (this.exchange) this.exchange.finish(failure);
      else this.dropSocket();
      return;
    }

    for (const frame of frames) {
      const exchange = this.exchange;
      const ack = this.parseFrame(frame);
      if (exchange === undefined) {
        // Between exchanges nothing is expected; a late ACK of an earlier message lands here.
        log.warn('ignored an HL7 frame between messages', {
          ...this.logFields(),
          messageControlId: ack instanceof Hl7AckInvalidError ? undefined : ack.messageControlId,
          reason: ack instanceof Hl7AckInvalidError ? 'not an HL7 ACK' : 'no message is waiting for an ACK',
        });
        continue;
      }
      if (ack instanceof Hl7AckInvalidError) return exchange.finish(ack);
      if (ack.messageControlId === exchange.messageControlId) return exchange.finish(ack);
      log.warn('ignored an HL7 ACK for another message', {
        ...this.logFields(),
        messageControlId: ack.messageControlId,
        ackCode: ack.code,
        reason: 'MSA-2 differs from the sent MSH-10',
      });
    }
  }

  private onSocketError(socket: net.Socket, error: Error): void {
    if (this.socket !== socket) return;
    const exchange = this.exchange;
    if (exchange === undefined) {
      log.debug('idle MLLP connection failed', { ...this.logFields(), err: error });
      this.dropSocket();
      return;
    }
    if (this.stage === 'tcp') {
      const reason = `MLLP to ${this.peerName}: connection failed, check the RIS host, port and firewall`;
      exchange.finish(new MllpConnectionError(reason, { cause: error }));
    } else if (this.stage === 'tls') {
      const detail = (error as NodeJS.ErrnoException).code ?? error.message;
      const reason = `MLLP to ${this.peerName}: TLS handshake failed (${detail}), check the certificates on both sides`;
      exchange.finish(new MllpTlsError(reason, { cause: error }));
    } else {
      const reason = `MLLP to ${this.peerName}: connection lost before the ACK of MSH-10 ${exchange.messageControlId}`;
      exchange.finish(new MllpClosedError(reason, { cause: error }));
    }
  }

  private onSocketClose(socket: net.Socket): void {
    if (this.socket !== socket) return;
    const exchange = this.exchange;
    this.socket = undefined;
    this.decoder = undefined;
    if (exchange === undefined) return;
    const waitedFor = this.stage === 'open' ? `the ACK of MSH-10 ${exchange.messageControlId}` : describeStage(this.stage);
    exchange.finish(new MllpClosedError(`MLLP to ${this.peerName}: the receiver closed the connection before ${waitedFor}`));
  }

  /** Returns the parsed ACK, or the parse error so that the caller can reject with it. */
  private parseFrame(frame: Buffer): HL7Ack | Hl7AckInvalidError {
    try {
      return parseHl7Ack(frame.toString('utf8'));
    } catch (error) {
      if (!(error instanceof Hl7AckInvalidError)) throw error;
      return new Hl7AckInvalidError(`MLLP from ${this.peerName}: ${error.message}`, { cause: error });
    }
  }

  private keepOrDropSocket(): void {
    if (this.options.keepAliveMs <= 0 || this.closed) {
      this.dropSocket();
      return;
    }
    this.socket?.setKeepAlive(true, TCP_KEEP_ALIVE_DELAY_MS);
    this.idleTimer = setTimeout(() => this.dropSocket(), this.options.keepAliveMs);
    this.idleTimer.unref();
  }

  private dropSocket(): void {
    clearTimeout(this.idleTimer);
    const socket = this.socket;
    this.socket = undefined;
    this.decoder = undefined;
    this.stage = 'tcp';
    socket?.destroy();
  }

  private logFields(): Record<string, unknown> {
    return { host: this.target.host, port: this.target.port };
  }
}

/**
 * Sends one message over a connection of its own and closes it afterwards. Resolves and rejects as
 * MllpConnection.send does.
 */
export async function sendMllpMessage(
  target: MllpTarget,
  message: string,
  messageControlId: string,
  options: MllpSendOptions,
): Promise<HL7Ack> {
  const connection = new MllpConnection(target, { keepAliveMs: 0 });
  try {
    return await connection.send(message, messageControlId, options);
  } finally {
    connection.close();
  }
}

function describeStage(stage: ConnectStage): string {
  return stage === 'tls' ? 'the TLS handshake' : 'the TCP connection';
}
