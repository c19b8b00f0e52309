/**
 * The DICOM listener: our own net.Server (or tls.Server for DICOM TLS) bound to the
 * configured host, one StorageScp per connection. dcmjs-dimse's Server binds every interface, so it is
 * not used. Connections above the limit are closed by the server at once. Associations above the limits
 * are rejected as transient (local limit exceeded), so the sender retries later. stop() stops accepting,
 * waits for C-STOREs in progress to finish their durable write, then closes the remaining connections.
 */
import net from 'node:net';
import tls from 'node:tls';

import { getLogger } from '../logging/logger.ts';
import type { ListenerPolicy } from './association-policy.ts';
import { acceptedSopClasses, DEFAULT_STORED_ONLY_SOP_CLASSES, DEFAULT_TRANSFER_SYNTAX_ORDER, PROCESSABLE_SOP_CLASSES } from './conformance.ts';
import type { AssociationInfo, AssociationRejection, InstanceSink } from './instance-sink.ts';
import './implementation.ts';
import { StorageScp, type AssociationAdmission } from './storage-scp.ts';

export interface ListenerTls {
  /** PEM private key and certificate chain of the listener. */
  key: Buffer;
  cert: Buffer;
  /** PEM CA certificates that client certificates must chain to; absent: the system's CAs. */
  ca?: Buffer;
  requireClientCertificate: boolean;
}

export interface DicomListenerOptions extends Pick<ListenerPolicy, 'aeTitle' | 'peers'>, Partial<Pick<ListenerPolicy, 'sopClasses' | 'transferSyntaxes'>> {
  host: string;
  port: number;
  idleTimeoutSeconds: number;
  /** Open TCP connections, associated or not; more are closed at once. */
  maxConnections?: number;
  /** Associations at once, across all peers. */
  maxAssociations?: number;
  /** Associations at once from one calling AE title. */
  maxAssociationsPerPeer?: number;
  tls?: ListenerTls;
}

/**
 * Defaults for callers that do not pass limits. An association keeps at most a 128 KiB write batch and
 * one open spool file, so 32 associations need a few MB and 32 file descriptors. A PACS usually sends a
 * study over one to four associations, so 8 per peer leave room for several studies at once.
 */
const DEFAULT_LIMITS = { maxConnections: 64, maxAssociations: 32, maxAssociationsPerPeer: 8 };

/** Time a peer gets to close its connection after ours is ended at shutdown, before it is destroyed. */
const STOP_GRACE_MS = 5000;

export class DicomListener {
  private readonly logger = getLogger('dicom-listener');
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly policy: ListenerPolicy;
  private readonly admission: AssociationAdmission;

  constructor(
    private readonly options: DicomListenerOptions,
    private readonly sink: InstanceSink,
  ) {
    this.policy = {
      aeTitle: options.aeTitle,
      peers: options.peers,
      sopClasses: options.sopClasses ?? acceptedSopClasses(Object.keys(PROCESSABLE_SOP_CLASSES), Object.keys(DEFAULT_STORED_ONLY_SOP_CLASSES)),
      transferSyntaxes: options.transferSyntaxes ?? DEFAULT_TRANSFER_SYNTAX_ORDER,
    };
    this.admission = new AssociationCounter(
      options.maxAssociations ?? DEFAULT_LIMITS.maxAssociations,
      options.maxAssociationsPerPeer ?? DEFAULT_LIMITS.maxAssociationsPerPeer,
    );

    if (options.tls) {
      const secure = options.tls;
      this.server = tls.createServer(
        {
          key: secure.key,
          cert: secure.cert,
          ca: secure.ca,
          requestCert: secure.requireClientCertificate,
          rejectUnauthorized: secure.requireClientCertificate,
          // TLS 1.0 and 1.1 are refused.
          minVersion: 'TLSv1.2',
        },
        (socket) => this.accept(socket),
      );
      this.server.on('tlsClientError', (error: Error, socket: tls.TLSSocket) => {
        this.logger.warn('DICOM TLS handshake failed', { remoteAddress: socket.remoteAddress, err: error });
      });
    } else {
      this.server = net.createServer((socket) => this.accept(socket));
    }
    this.server.maxConnections = options.maxConnections ?? DEFAULT_LIMITS.maxConnections;
    this.server.on('drop', (data?: { remoteAddress?: string }) => {
      this.logger.warn('DICOM connection refused: connection limit reached', { remoteAddress: data?.remoteAddress, count: this.server.maxConnections });
    });
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
    this.logger.info('DICOM listener started', { host: this.options.host, port: address.port, aeTitle: this.options.aeTitle, state: this.options.tls ? 'tls' : 'tcp' });
    return address.port;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Stores in progress finish before their connections are closed, so their senders get a response.
    await Promise.allSettled([...this.inFlight]);
    for (const socket of this.sockets) socket.end();
    const forced = setTimeout(() => {
      for (const socket of this.sockets) socket.destroy();
    }, STOP_GRACE_MS);
    await closed;
    clearTimeout(forced);
    await Promise.allSettled([...this.inFlight]);
    this.logger.info('DICOM listener stopped');
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.setNoDelay(true);

    new StorageScp(socket, {
      policy: this.policy,
      sink: this.sink,
      admission: this.admission,
      logger: this.logger,
      track: (work) => this.track(work),
      idleTimeoutMs: this.options.idleTimeoutSeconds * 1000,
    });
  }

  private track(work: Promise<unknown>): void {
    const settled = work.catch((error: unknown) => this.logger.error('DICOM listener task failed', { err: error }));
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
  }
}

/** Association slots, in total and per calling AE title. */
class AssociationCounter implements AssociationAdmission {
  private total = 0;
  private readonly byPeer = new Map<string, number>();

  constructor(
    private readonly maxAssociations: number,
    private readonly maxPerPeer: number,
  ) {}

  admit(association: AssociationInfo): AssociationRejection | undefined {
    const peerCount = this.byPeer.get(association.callingAeTitle) ?? 0;
    if (this.total >= this.maxAssociations || peerCount >= this.maxPerPeer) return 'association_limit_reached';
    this.total += 1;
    this.byPeer.set(association.callingAeTitle, peerCount + 1);
    return undefined;
  }

  release(association: AssociationInfo): void {
    this.total -= 1;
    const peerCount = (this.byPeer.get(association.callingAeTitle) ?? 1) - 1;
    if (peerCount <= 0) this.byPeer.delete(association.callingAeTitle);
    else this.byPeer.set(association.callingAeTitle, peerCount);
  }
}
