/**
 * The MLLP server that receives orders from the RIS, plain or inside TLS. It binds only the configured
 * address, refuses connections from addresses outside the allow-list, and handles the frames of one
 * connection one after another, so ACKs go back in the order the messages arrived. It handles MLLP, not
 * HL7: each frame goes to the handler, and the handler's text goes back as the reply frame.
 */
import net from 'node:net';
import tls from 'node:tls';

import { MllpFrameDecoder, encodeMllpFrame } from '../delivery/hl7/mllp-framing.ts';
import { getLogger } from '../logging/logger.ts';

const log = getLogger('order-listener');

/**
 * Largest frame accepted. An order message is a few KiB; 1 MiB leaves room for long NTE comments and
 * bounds the memory a client can fill without ever sending FS.
 */
const MAX_FRAME_BYTES = 1024 * 1024;

export interface OrderListenerOptions {
  host: string;
  port: number;
  /** Source addresses allowed to connect; empty allows every address. */
  allowedAddresses: readonly string[];
  /** A connection idle this long is closed. */
  idleTimeoutMs: number;
  /** PEM contents; with `ca`, clients must present a certificate that it signed. */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
}

/** Returns the reply (an ACK) for one frame. It must not throw; a throw closes the connection. */
export type FrameHandler = (frame: Buffer, remoteAddress: string) => Promise<string>;

export class OrderListener {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly options: OrderListenerOptions,
    private readonly handler: FrameHandler,
  ) {
    const onSocket = (socket: net.Socket) => this.serve(socket);
    if (options.tls) {
      const { cert, key, ca } = options.tls;
      this.server = tls.createServer({ cert, key, ca, requestCert: ca !== undefined, rejectUnauthorized: ca !== undefined }, onSocket);
      this.server.on('tlsClientError', (error, socket) => {
        log.warn('TLS handshake with an order sender failed', { remoteAddress: socket.remoteAddress, err: error });
      });
    } else {
      this.server = net.createServer(onSocket);
    }
  }

  /** Listens and returns the bound port (useful with port 0). */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const port = (this.server.address() as net.AddressInfo).port;
    log.info('HL7 order listener started', { host: this.options.host, port });
    return port;
  }

  /** Stops accepting connections, lets running handlers finish, then closes the open connections. */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.allSettled([...this.inFlight]);
    for (const socket of this.sockets) socket.destroy();
    await closed;
    log.info('HL7 order listener stopped');
  }

  private serve(socket: net.Socket): void {
    const remoteAddress = normalizeAddress(socket.remoteAddress ?? '');
    if (this.options.allowedAddresses.length > 0 && !this.options.allowedAddresses.includes(remoteAddress)) {
      log.warn('order sender address is not allowed; connection closed', { remoteAddress });
      socket.destroy();
      return;
    }

    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.options.idleTimeoutMs, () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', (error) => log.debug('order sender connection failed', { remoteAddress, err: error }));

    const decoder = new MllpFrameDecoder({ maxFrameBytes: MAX_FRAME_BYTES });
    let replies: Promise<void> = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        log.warn('order sender frame too large; connection closed', { remoteAddress, err: error });
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        replies = replies.then(() => this.reply(socket, frame, remoteAddress));
        this.track(replies);
      }
    });
  }

  private async reply(socket: net.Socket, frame: Buffer, remoteAddress: string): Promise<void> {
    try {
      const ack = await this.handler(frame, remoteAddress);
      if (!socket.destroyed) socket.write(encodeMllpFrame(ack));
    } catch (error) {
      log.error('order message handler failed; connection closed', { remoteAddress, err: error });
      socket.destroy();
    }
  }

  private track(work: Promise<unknown>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }
}

/** Node reports IPv4 clients of a dual-stack socket as `::ffff:a.b.c.d`; the allow-list uses `a.b.c.d`. */
function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}
