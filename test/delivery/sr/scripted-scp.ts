/**
 * A Storage SCP on 127.0.0.1 that accepts every presentation context and responds to each C-STORE with
 * a status chosen by the test, for the statuses storescp cannot be made to send (warnings, refusals).
 * It runs on dcmjs-dimse's Scp behind its own net.Server, because dcmjs-dimse's Server binds every
 * interface.
 */
import net from 'node:net';

import dcmjsDimse from 'dcmjs-dimse';

const { Scp, constants, responses } = dcmjsDimse;
type Association = InstanceType<typeof dcmjsDimse.association.Association>;
type CStoreRequest = InstanceType<typeof dcmjsDimse.requests.CStoreRequest>;

export class ScriptedStorageScp {
  /** SOPInstanceUIDs of the C-STORE requests received. */
  readonly received: string[] = [];
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(status: number) {
    const received = this.received;
    class StatusScp extends Scp {
      override associationRequested(association: Association): void {
        for (const proposed of association.getPresentationContexts()) {
          const context = association.getPresentationContext(proposed.id);
          context.setResult(constants.PresentationContextResult.Accept, context.getTransferSyntaxUids()[0]);
        }
        this.sendAssociationAccept();
      }

      override associationReleaseRequested(): void {
        this.sendAssociationReleaseResponse();
      }

      override cStoreRequest(request: CStoreRequest, callback: (response: InstanceType<typeof responses.CStoreResponse>) => void): void {
        received.push(String(request.getDataset()?.getElement('SOPInstanceUID')));
        const response = responses.CStoreResponse.fromRequest(request);
        response.setStatus(status);
        callback(response);
      }
    }

    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      const scp = new StatusScp(socket, {});
      // dcmjs-dimse's own Server sets this flag on accepted sockets; its timers depend on it.
      (scp as unknown as { connected: boolean }).connected = true;
      scp.on('networkError', () => socket.destroy());
    });
  }

  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as net.AddressInfo).port));
    });
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
