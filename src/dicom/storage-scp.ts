/**
 * The Storage SCP for one connection. dcmjs-dimse's Scp still reads A-ASSOCIATE-RQ and writes the
 * A-ASSOCIATE-AC/RJ and A-RELEASE-RP, but the byte stream, the P-DATA-TF PDUs and the C-STORE and C-ECHO
 * messages are handled here (see pdu.ts for why). Each dataset streams into a spool file while its
 * structure is checked, and c-store-handler.ts turns it into a status once it is complete.
 * The response is sent only once the sink has made the instance durable. Every protocol error is an
 * A-ABORT that ends this association only.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';

import dcmjsDimse from 'dcmjs-dimse';

import type { Logger } from '../logging/logger.ts';
import { checkAssociation, normalizeAddress, REJECTION_FIELDS, type ListenerPolicy } from './association-policy.ts';
import { startDataset, storeMessage, type MessageInProgress } from './c-store-handler.ts';
import { acceptPresentationContexts, type AcceptedContext } from './context-negotiation.ts';
import { CommandField, encodeResponse, type CommandSet } from './dimse-command.ts';
import { formatStatus, StoreFailure, StoreStatus } from './dimse-status.ts';
import type { AssociationEnd, AssociationInfo, AssociationRejection, InstanceSink } from './instance-sink.ts';
import { MessageAssembler } from './message-assembler.ts';
import { AbortReason, AbortSource, describeAbort, encodeAAbort, encodeCommandPDataTf, PduError, PduReader, PduType, readApplicationContextName, type PdvHeader } from './pdu.ts';

const { Scp } = dcmjsDimse;
type Association = InstanceType<typeof dcmjsDimse.association.Association>;

/** Largest A-ASSOCIATE-RQ (or other non-data PDU) read; 128 presentation contexts take about 100 KiB. */
const MAX_CONTROL_PDU_LENGTH = 1024 * 1024;

/** Reserves and frees association slots (connection and association limits live in the listener). */
export interface AssociationAdmission {
  admit(association: AssociationInfo): AssociationRejection | undefined;
  release(association: AssociationInfo): void;
}

export interface StorageScpDependencies {
  policy: ListenerPolicy;
  sink: InstanceSink;
  admission: AssociationAdmission;
  logger: Logger;
  /** Registers work that shutdown must wait for (audit rows, stores in progress). */
  track: (work: Promise<unknown>) => void;
  /** An association with no PDU for this long, and no C-STORE being stored, is aborted. */
  idleTimeoutMs: number;
}

type ScpState = 'awaiting_request' | 'established' | 'closed';

export class StorageScp extends Scp {
  private deps!: StorageScpDependencies;
  /** The connection; dcmjs-dimse keeps the same socket as `socket`. */
  private connection!: Socket;
  private info!: AssociationInfo;
  private state: ScpState = 'awaiting_request';
  private reader!: PduReader;
  private assembler!: MessageAssembler;
  private contexts = new Map<number, AcceptedContext>();
  private readonly pending = new Set<Promise<void>>();
  private releaseRequested = false;
  private accepted = false;
  private acceptanceRecorded: Promise<void> = Promise.resolve();
  private endResult: AssociationEnd | undefined;
  private applicationContextName: string | undefined;
  private counts = { stored: 0, failed: 0, bytes: 0 };

  constructor(socket: Socket, deps: StorageScpDependencies) {
    super(socket, { logCommandDatasets: false, logDatasets: false });
    this.deps = deps;
    this.connection = socket;
    this.info = {
      associationId: randomUUID(),
      callingAeTitle: '',
      calledAeTitle: '',
      remoteAddress: normalizeAddress(socket.remoteAddress),
      startedAt: new Date(),
    };
    this.reader = new PduReader(
      { maxPDataLength: dcmjsDimse.Implementation.getMaxPduLength(), maxOtherLength: MAX_CONTROL_PDU_LENGTH },
      {
        onControlPdu: (pdu) => this.handleControlPdu(pdu),
        onPdvStart: (header) => this.onPdvStart(header),
        onPdvData: (data) => this.assembler.onPdvData(data),
        onPdvEnd: () => this.assembler.onPdvEnd(),
      },
    );
    this.assembler = new MessageAssembler(() => this.contexts, {
      begin: (presentationContextId, context, command) => this.beginMessage(presentationContextId, context, command),
      complete: (message) => this.respondWhenDone(message),
      protocolError: (reason, description, cause) => this.abortAssociation(reason, description, cause),
      backpressure: (until) => {
        const socket = this.connection;
        socket.pause();
        void until.then(() => socket.resume());
      },
    });
    this.on('networkError', (error: Error) => this.abortAssociation(AbortReason.InvalidPduParameterValue, 'the A-ASSOCIATE-RQ cannot be read', error));
    this.wireSocket(socket);
  }

  /** Replaces dcmjs-dimse's socket handling, which the Network constructor installs; see wireSocket(). */
  _wrapSocket(): void {}

  private wireSocket(socket: Socket): void {
    socket.setTimeout(this.deps.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('timeout', () => this.onIdleTimeout());
    socket.on('error', (error: Error) => {
      this.deps.logger.warn('DICOM connection error', { associationId: this.info.associationId, remoteAddress: this.info.remoteAddress, err: error });
      this.endResult ??= 'connection_closed';
      socket.destroy();
    });
    socket.on('close', () => this.onClose());
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.counts.bytes += chunk.length;
    try {
      this.reader.push(chunk);
    } catch (error) {
      if (!(error instanceof PduError)) throw error;
      this.abortAssociation(error.abortReason, error.message, error);
    }
  }

  private handleControlPdu(pdu: Buffer): void {
    const type = pdu[0];
    if (type === PduType.AssociateRq && this.state === 'awaiting_request') {
      this.applicationContextName = readApplicationContextName(pdu);
      this.processWithDcmjsDimse(pdu);
    } else if (type === PduType.ReleaseRq && this.state === 'established') {
      this.processWithDcmjsDimse(pdu);
    } else if (type === PduType.Abort) {
      this.processWithDcmjsDimse(pdu);
    } else {
      this.abortAssociation(AbortReason.UnexpectedPdu, `unexpected PDU type 0x0${type} in state ${this.state}`);
    }
  }

  /** Hands a control PDU to dcmjs-dimse, which emits associationRequested, associationReleaseRequested or abort. */
  private processWithDcmjsDimse(pdu: Buffer): void {
    const processPdu = (Object.getPrototypeOf(Scp.prototype) as { _processPdu(this: unknown, pdu: Buffer): Promise<void> })._processPdu;
    void processPdu.call(this, pdu);
  }

  override associationRequested(association: Association): void {
    this.info.callingAeTitle = association.getCallingAeTitle().trim();
    this.info.calledAeTitle = association.getCalledAeTitle().trim();

    let rejection = checkAssociation(this.deps.policy, { ...this.info, applicationContextName: this.applicationContextName });
    if (!rejection && !this.deps.sink.storageAvailable()) rejection = 'storage_unavailable';
    rejection ??= this.deps.admission.admit(this.info);
    if (rejection) {
      this.reject(rejection);
      return;
    }

    this.contexts = acceptPresentationContexts(association, this.deps.policy);
    this.state = 'established';
    this.accepted = true;
    this.sendAssociationAccept();
    this.deps.logger.info('association accepted', { ...this.logFields(), count: this.contexts.size });
    this.acceptanceRecorded = this.deps.sink.associationAccepted({ ...this.info });
    this.deps.track(this.acceptanceRecorded);
  }

  private reject(rejection: AssociationRejection): void {
    const fields = REJECTION_FIELDS[rejection];
    this.deps.logger.warn('association rejected', { ...this.logFields(), reason: fields.text, code: rejection });
    this.sendAssociationReject(fields.result, fields.source, fields.reason);
    this.state = 'closed';
    this.reader.stop();
    this.deps.track(this.deps.sink.associationRejected({ ...this.info }, rejection));
    // The requestor closes the connection after A-ASSOCIATE-RJ, and nothing it sends now is read.
    this.connection.end();
  }

  override associationReleaseRequested(): void {
    this.releaseRequested = true;
    this.endResult = 'released';
    if (this.pending.size === 0) this.sendAssociationReleaseResponse();
  }

  /** A-ABORT from the peer (PS3.8 7.3): the association ends at once and the connection is closed. */
  override abort(source: number, reason: number): void {
    this.deps.logger.info('association aborted by peer', { associationId: this.info.associationId, reason: describeAbort(source, reason) });
    this.endResult = 'aborted_by_peer';
    this.state = 'closed';
    this.reader.stop();
    this.connection.destroy();
  }

  /** Sends A-ABORT (service provider) and closes the connection; other associations are not affected. */
  private abortAssociation(reason: number, description: string, cause?: unknown): void {
    if (this.state === 'closed') return;
    this.deps.logger.warn('association aborted', { ...this.logFields(), reason: description, ...(cause === undefined ? {} : { err: cause }) });
    this.endResult = 'aborted';
    this.state = 'closed';
    this.reader.stop();
    const socket = this.connection;
    socket.end(encodeAAbort(AbortSource.ServiceProvider, reason), () => socket.destroy());
  }

  private onIdleTimeout(): void {
    if (this.pending.size > 0 || this.state === 'closed') return;
    this.deps.logger.warn('association idle timeout', { ...this.logFields(), durationMs: this.deps.idleTimeoutMs });
    this.endResult = 'timed_out';
    this.abortAssociation(AbortReason.NotSpecified, 'no PDU within the idle timeout');
  }

  private onPdvStart(header: PdvHeader): void {
    if (this.state !== 'established') {
      this.abortAssociation(AbortReason.UnexpectedPdu, `unexpected P-DATA-TF in state ${this.state}`);
      return;
    }
    this.assembler.onPdvStart(header);
  }

  /** Starts the message of a command set: C-ECHO is answered at once, a C-STORE gets its spool file or its failure. */
  private beginMessage(presentationContextId: number, context: AcceptedContext, command: CommandSet): MessageInProgress | undefined {
    if (command.commandField === CommandField.CCancelRq) return undefined;
    if (command.commandField === CommandField.CEchoRq && !command.hasDataset) {
      this.sendDimseResponse(presentationContextId, { commandField: CommandField.CEchoRsp, command, status: StoreStatus.Success });
      return undefined;
    }

    const message: MessageInProgress = { presentationContextId, context, command, responseField: CommandField.CStoreRsp };
    if (command.commandField !== CommandField.CStoreRq) {
      message.responseField = (command.commandField | 0x8000) & 0xffff;
      message.rejection = new StoreFailure('sop_class_not_supported', 'only C-STORE and C-ECHO are supported');
    } else if (context.role === 'verification' || command.affectedSopClassUid !== context.abstractSyntaxUid) {
      message.rejection = new StoreFailure('sop_class_not_supported', 'the SOP class differs from the presentation context');
    } else if (!this.deps.sink.storageAvailable()) {
      message.rejection = new StoreFailure('storage_unavailable', 'the instance store is above its disk-use watermark');
    } else {
      message.dataset = startDataset(this.deps.sink, this.info, command, context);
    }
    return message;
  }

  /** Stores the message's dataset and sends its response; the idle timeout pauses meanwhile. */
  private respondWhenDone(message: MessageInProgress): void {
    this.connection.setTimeout(0);
    const work = this.store(message).then(({ status, comment }) => {
      const isUnrecognized = message.responseField !== CommandField.CStoreRsp;
      this.sendDimseResponse(message.presentationContextId, {
        commandField: message.responseField,
        command: message.command,
        status: isUnrecognized ? StoreStatus.UnrecognizedOperation : status,
        comment,
        withInstance: !isUnrecognized,
      });
    });
    const settled = work.finally(() => {
      this.pending.delete(settled);
      if (this.pending.size > 0 || this.state === 'closed') return;
      this.connection.setTimeout(this.deps.idleTimeoutMs);
      if (this.releaseRequested) this.sendAssociationReleaseResponse();
    });
    this.pending.add(settled);
    this.deps.track(settled);
  }

  private async store(message: MessageInProgress): Promise<{ status: number; comment?: string }> {
    const outcome = await storeMessage(this.deps.sink, this.info, message);
    if (outcome.stored) this.counts.stored += 1;
    if (outcome.status !== StoreStatus.Success) {
      this.counts.failed += 1;
      const { command } = message;
      this.deps.logger.warn('C-STORE failed', {
        associationId: this.info.associationId,
        sopInstanceUid: command.affectedSopInstanceUid,
        sopClassUid: command.affectedSopClassUid,
        statusHex: formatStatus(outcome.status),
        err: outcome.error,
      });
    }
    return outcome;
  }

  private sendDimseResponse(
    presentationContextId: number,
    response: { commandField: number; command: CommandSet; status: number; comment?: string; withInstance?: boolean },
  ): void {
    const socket = this.connection;
    if (socket.destroyed || !socket.writable) return;
    const commandSet = encodeResponse({
      commandField: response.commandField,
      messageIdBeingRespondedTo: response.command.messageId,
      affectedSopClassUid: response.command.affectedSopClassUid,
      affectedSopInstanceUid: response.withInstance === false || response.commandField === CommandField.CEchoRsp ? undefined : response.command.affectedSopInstanceUid,
      status: response.status,
      errorComment: response.comment,
    });
    socket.write(encodeCommandPDataTf(presentationContextId, commandSet));
  }

  private onClose(): void {
    this.state = 'closed';
    const message = this.assembler.takeUnfinished();
    // The connection closed in the middle of a dataset: the partial file must not survive.
    if (message?.dataset) this.deps.track(message.dataset.spool.discard());
    if (!this.accepted) return;

    // The end is recorded after the acceptance, which an association aborted at once may still be writing.
    const finished = Promise.allSettled([...this.pending, this.acceptanceRecorded]).then(async () => {
      this.deps.admission.release(this.info);
      const summary = {
        result: this.endResult ?? 'connection_closed',
        instancesStored: this.counts.stored,
        instancesFailed: this.counts.failed,
        bytesReceived: this.counts.bytes,
        endedAt: new Date(),
      } as const;
      this.deps.logger.info('association ended', { ...this.logFields(), state: summary.result, count: summary.instancesStored, bytes: summary.bytesReceived });
      await this.deps.sink.associationEnded({ ...this.info }, summary);
    });
    this.deps.track(finished);
  }

  private isClosed(): boolean {
    return this.state === 'closed';
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
