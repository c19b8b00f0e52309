/**
 * The DICOM listener: our own net.Server bound to the configured host, one StorageScp per connection.
 * dcmjs-dimse's Server binds every interface, so it is not used. stop() stops accepting, waits for
 * C-STOREs in progress to finish their durable write, then closes the remaining connections.
 */
import net from 'node:net';

import { getLogger } from '../logging/logger.ts';
import type { ListenerPolicy } from './association-policy.ts';
import type { InstanceSink } from './instance-sink.ts';
import './implementation.ts';
import { StorageScp } from './storage-scp.ts';

export interface DicomListenerOptions extends ListenerPolicy {
  host: string;
  port: number;
  idleTimeoutSeconds: number;
}

export class DicomListener {
  private readonly logger = getLogger('dicom-listener');
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly options: DicomListenerOptions,
    private readonly sink: InstanceSink,
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  /** Starts listening; resolves with the bound port (useful when the configured port is 0). */
  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as net.AddressInfo;
    this.logger.info('DICOM listener started', { host: this.options.host, port: address.port, aeTitle: this.options.aeTitle });
    return address.port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.end();
    });
    await Promise.allSettled([...this.inFlight]);
    this.logger.info('DICOM listener stopped');
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.setNoDelay(true);

    const timeoutMs = this.options.idleTimeoutSeconds * 1000;
    const scp = new StorageScp(
      socket,
      { connectTimeout: timeoutMs, associationTimeout: timeoutMs, pduTimeout: timeoutMs, logCommandDatasets: false, logDatasets: false },
      {
        policy: { aeTitle: this.options.aeTitle, peers: this.options.peers },
        sink: this.sink,
        logger: this.logger,
        track: (work) => this.track(work),
      },
    );
    // dcmjs-dimse's own Server sets this flag on accepted sockets; its timers depend on it.
    (scp as unknown as { connected: boolean }).connected = true;
    scp.on('networkError', (error: Error) => {
      this.logger.warn('DICOM connection error', { err: error, remoteAddress: socket.remoteAddress });
      socket.destroy();
    });
  }

  private track(work: Promise<unknown>): void {
    const settled = work.catch((error: unknown) => this.logger.error('DICOM listener task failed', { err: error }));
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
  }
}
