/**
 * The Storage SCP for one connection, on dcmjs-dimse's Scp. It checks the association against the
 * policy, streams each C-STORE dataset into a spool file behind a Part 10 file meta header, checks the
 * dataset against the command, hands the file to the instance sink and sends the response only once
 * the sink has made it durable. Every failure becomes a status through statusForStoreFailure().
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';

import dcmjsDimse from 'dcmjs-dimse';

import type { Logger } from '../logging/logger.ts';
import { checkAssociation, decidePresentationContext, normalizeAddress, REJECTION_FIELDS, type ListenerPolicy } from './association-policy.ts';
import { formatStatus, StoreFailure, StoreStatus, statusForStoreFailure } from './dimse-status.ts';
import type { AssociationInfo, InstanceSink, SpoolFile } from './instance-sink.ts';
import { encodeFileMetaHeader, readDicomHeader } from './part10.ts';

const { Scp, Dataset, constants, responses } = dcmjsDimse;
type Association = InstanceType<typeof dcmjsDimse.association.Association>;
type PresentationContext = InstanceType<typeof dcmjsDimse.association.PresentationContext>;
type CStoreRequest = InstanceType<typeof dcmjsDimse.requests.CStoreRequest>;
type CEchoRequest = InstanceType<typeof dcmjsDimse.requests.CEchoRequest>;
type DimseDataset = InstanceType<typeof dcmjsDimse.Dataset>;

export interface StorageScpDependencies {
  policy: ListenerPolicy;
  sink: InstanceSink;
  logger: Logger;
  /** Registers work that shutdown must wait for (audit rows, stores in progress). */
  track: (work: Promise<unknown>) => void;
}

export type ScpOptions = ConstructorParameters<typeof Scp>[1];

export class StorageScp extends Scp {
  private readonly deps: StorageScpDependencies;
  private readonly info: AssociationInfo;
  private accepted = false;
  private instancesStored = 0;
  private receivedSpool: SpoolFile | undefined;

  constructor(socket: Socket, options: ScpOptions, deps: StorageScpDependencies) {
    super(socket, options);
    this.deps = deps;
    this.info = {
      associationId: randomUUID(),
      callingAeTitle: '',
      calledAeTitle: '',
      remoteAddress: normalizeAddress(socket.remoteAddress),
    };
    this.on('close', () => this.onClose());
  }

  override associationRequested(association: Association): void {
    this.info.callingAeTitle = association.getCallingAeTitle().trim();
    this.info.calledAeTitle = association.getCalledAeTitle().trim();
    const logger = this.deps.logger;

    const rejection = checkAssociation(this.deps.policy, this.info);
    if (rejection) {
      const fields = REJECTION_FIELDS[rejection];
      logger.warn('association rejected', { ...this.logFields(), reason: fields.text });
      this.sendAssociationReject(fields.result, fields.source, fields.reason);
      this.deps.track(this.deps.sink.associationRejected({ ...this.info }, rejection));
      return;
    }

    for (const proposed of association.getPresentationContexts()) {
      const context: PresentationContext = association.getPresentationContext(proposed.id);
      const decision = decidePresentationContext(context.getAbstractSyntaxUid(), context.getTransferSyntaxUids());
      if (decision.accepted) {
        context.setResult(constants.PresentationContextResult.Accept, decision.transferSyntaxUid);
      } else if (decision.reason === 'abstract_syntax_not_supported') {
        context.setResult(constants.PresentationContextResult.RejectAbstractSyntaxNotSupported);
      } else {
        context.setResult(constants.PresentationContextResult.RejectTransferSyntaxesNotSupported);
      }
    }
    this.accepted = true;
    this.sendAssociationAccept();
    logger.info('association accepted', this.logFields());
    this.deps.track(this.deps.sink.associationAccepted({ ...this.info }));
  }

  override associationReleaseRequested(): void {
    this.sendAssociationReleaseResponse();
  }

  /** A-ABORT from the peer (PS3.8 7.3): the association ends at once and the connection is closed. */
  override abort(source: number, reason: number): void {
    this.deps.logger.info('association aborted by peer', { associationId: this.info.associationId, reason: `source ${source}, reason ${reason}` });
    this.socketOf().end();
  }

  override cEchoRequest(request: CEchoRequest, callback: (response: InstanceType<typeof responses.CEchoResponse>) => void): void {
    const response = responses.CEchoResponse.fromRequest(request);
    response.setStatus(constants.Status.Success);
    callback(response);
  }

  override createStoreWritableStream(context: PresentationContext, request: CStoreRequest): Writable {
    const spool = this.deps.sink.createSpool();
    spool.stream.write(
      encodeFileMetaHeader({
        mediaStorageSopClassUid: request.getAffectedSopClassUid(),
        mediaStorageSopInstanceUid: request.getAffectedSopInstanceUid(),
        transferSyntaxUid: context.getAcceptedTransferSyntaxUid() ?? '',
        sourceApplicationEntityTitle: this.info.callingAeTitle,
      }),
    );
    this.receivedSpool = spool;
    return spool.stream;
  }

  override createDatasetFromStoreWritableStream(
    writable: Writable,
    context: PresentationContext,
    callback: (dataset: DimseDataset) => void,
  ): void {
    // dcmjs-dimse has already called end(); the C-STORE is handled once the spool file is flushed.
    const finished = writable.writableFinished ? Promise.resolve() : once(writable, 'finish');
    finished.then(
      () => callback(new Dataset({}, context.getAcceptedTransferSyntaxUid())),
      () => callback(new Dataset({}, context.getAcceptedTransferSyntaxUid())),
    );
  }

  override cStoreRequest(request: CStoreRequest, callback: (response: InstanceType<typeof responses.CStoreResponse>) => void): void {
    const spool = this.receivedSpool;
    this.receivedSpool = undefined;
    const work = this.handleStore(request, spool).then((status) => {
      const response = responses.CStoreResponse.fromRequest(request);
      response.setStatus(status);
      callback(response);
    });
    this.deps.track(work);
  }

  private async handleStore(request: CStoreRequest, spool: SpoolFile | undefined): Promise<number> {
    const sopClassUid = request.getAffectedSopClassUid();
    const sopInstanceUid = request.getAffectedSopInstanceUid();
    const logger = this.deps.logger.child({ associationId: this.info.associationId });
    let handedToSink = false;
    try {
      if (!spool) throw new StoreFailure('storage_failed', 'no spool file was created for the dataset');
      if (spool.stream.failure) {
        throw new StoreFailure('storage_failed', 'writing the spool file failed', { cause: spool.stream.failure });
      }

      const header = await readDicomHeader(spool.path).catch((error: unknown) => {
        throw new StoreFailure('dataset_unparseable', 'the dataset cannot be parsed', { cause: error });
      });
      if (header.dataset.SOPClassUID !== sopClassUid) {
        throw new StoreFailure('dataset_mismatch', 'SOP Class UID of the dataset differs from the C-STORE command');
      }
      if (header.dataset.SOPInstanceUID !== sopInstanceUid) {
        throw new StoreFailure('dataset_mismatch', 'SOP Instance UID of the dataset differs from the C-STORE command');
      }

      handedToSink = true;
      const result = await this.deps.sink.storeInstance(spool, {
        association: { ...this.info },
        sopClassUid,
        sopInstanceUid,
        transferSyntaxUid: String(header.meta.TransferSyntaxUID ?? ''),
        header,
      });
      if (result.outcome === 'stored') this.instancesStored += 1;
      logger.debug('instance stored', { sopInstanceUid, state: result.outcome });
      return StoreStatus.Success;
    } catch (error) {
      const status = statusForStoreFailure(error);
      logger.warn('C-STORE failed', { sopInstanceUid, sopClassUid, statusHex: formatStatus(status), err: error });
      if (spool && !handedToSink) await this.deps.sink.discardSpool(spool).catch(() => undefined);
      return status;
    }
  }

  private onClose(): void {
    if (this.receivedSpool) {
      // The connection closed in the middle of a dataset: the partial file must not survive.
      this.deps.track(this.deps.sink.discardSpool(this.receivedSpool));
      this.receivedSpool = undefined;
    }
    if (!this.accepted) return;
    // Network.getStatistics() exists at run time but is missing from dcmjs-dimse 0.3.3's type declarations.
    const bytesReceived = (this as unknown as { getStatistics(): { getBytesReceived(): number } }).getStatistics().getBytesReceived();
    this.deps.logger.info('association ended', { ...this.logFields(), count: this.instancesStored, bytes: bytesReceived });
    this.deps.track(this.deps.sink.associationEnded({ ...this.info }, { instancesStored: this.instancesStored, bytesReceived }));
  }

  private socketOf(): Socket {
    return (this as unknown as { socket: Socket }).socket;
  }

  private logFields(): Record<string, unknown> {
    return {
      associationId: this.info.associationId,
      callingAeTitle: this.info.callingAeTitle,
      calledAeTitle: this.info.calledAeTitle,
      remoteAddress: this.info.remoteAddress,
    };
  }
}
