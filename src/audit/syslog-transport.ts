/**
 * Sends RFC 5424 syslog messages over TCP or TLS (RFC 5425) with octet-counting framing, or over UDP
 * with one message per datagram (RFC 5426). Octet counting (RFC 6587 3.4.1) sends the message length
 * in bytes, a space, then the message. One connection is kept open and opened again after an
 * error. A write counts as sent once the kernel took it: syslog has no acknowledgment, so a message
 * written just before the receiver drops the connection can be lost.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';

export interface SyslogTarget {
  host: string;
  port: number;
  transport: 'tcp' | 'tls' | 'udp';
  /** TLS options of the `tls` transport, with the PEM files already read. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string; rejectUnauthorized: boolean };
  /** Limit in ms for connecting and for one write. */
  timeoutMs: number;
}

/** UDP payload limit of IPv4 (65,535 bytes less the IP and UDP headers). */
const MAX_UDP_MESSAGE_BYTES = 65507;

export class SyslogSendError extends Error {
  constructor(
    readonly code: 'syslog_connect_failed' | 'syslog_write_failed' | 'syslog_timeout' | 'syslog_message_too_long',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SyslogSendError';
  }
}

export class SyslogSender {
  private socket: net.Socket | undefined;
  private udp: dgram.Socket | undefined;

  constructor(private readonly target: SyslogTarget) {}

  /** Sends one message; rejects with SyslogSendError and closes the connection on any failure. */
  async send(message: string): Promise<void> {
    const payload = Buffer.from(message, 'utf8');
    if (this.target.transport === 'udp') return this.sendDatagram(payload);

    const socket = this.socket ?? (await this.connect());
    const framed = Buffer.concat([Buffer.from(`${payload.length} `, 'ascii'), payload]);
    await this.withTimeout('write', (resolve, reject) => {
      socket.write(framed, (error) => (error ? reject(new SyslogSendError('syslog_write_failed', `writing to ${this.describe()} failed`, { cause: error })) : resolve()));
    }).catch((error: unknown) => {
      this.close();
      throw error;
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
    this.udp?.close();
    this.udp = undefined;
  }

  private async connect(): Promise<net.Socket> {
    const { host, port } = this.target;
    let socket: net.Socket | undefined;
    await this.withTimeout('connect', (resolve, reject) => {
      const fail = (error: Error) => reject(new SyslogSendError('syslog_connect_failed', `connecting to ${this.describe()} failed`, { cause: error }));
      socket =
        this.target.transport === 'tls'
          ? tls.connect({ host, port, ...this.target.tls }, () => resolve())
          : net.connect({ host, port }, () => resolve());
      socket.once('error', fail);
    }).catch((error: unknown) => {
      socket?.destroy();
      throw error;
    });

    const connected = socket!;
    connected.removeAllListeners('error');
    // A later error or close only drops the connection; the next send opens a new one.
    connected.on('error', () => this.dropSocket(connected));
    connected.on('close', () => this.dropSocket(connected));
    // The receiver sends nothing back; reading keeps the socket from filling up if one does.
    connected.on('data', () => undefined);
    this.socket = connected;
    return connected;
  }

  private dropSocket(socket: net.Socket): void {
    if (this.socket === socket) this.socket = undefined;
    socket.destroy();
  }

  private async sendDatagram(payload: Buffer): Promise<void> {
    if (payload.length > MAX_UDP_MESSAGE_BYTES) {
      throw new SyslogSendError('syslog_message_too_long', `the message of ${payload.length} bytes does not fit in one UDP datagram`);
    }
    this.udp ??= dgram.createSocket(net.isIPv6(this.target.host) ? 'udp6' : 'udp4');
    const udp = this.udp;
    await this.withTimeout('write', (resolve, reject) => {
      udp.send(payload, this.target.port, this.target.host, (error) =>
        error ? reject(new SyslogSendError('syslog_write_failed', `sending to ${this.describe()} failed`, { cause: error })) : resolve(),
      );
    });
  }

  private withTimeout(step: 'connect' | 'write', start: (resolve: () => void, reject: (error: Error) => void) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new SyslogSendError('syslog_timeout', `${step} to ${this.describe()} timed out after ${this.target.timeoutMs} ms`)),
        this.target.timeoutMs,
      );
      start(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (error) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  private describe(): string {
    return `${this.target.transport}://${this.target.host}:${this.target.port}`;
  }
}
