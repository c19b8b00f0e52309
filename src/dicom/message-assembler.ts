/**
 * Assembles DIMSE messages from PDV fragments (PS3.8 E.2): command fragments are collected until the
 * last one, dataset fragments go straight to the message's dataset. Fragments out of order (a command
 * fragment in the middle of a dataset, a dataset fragment without a command, a context that was not
 * accepted) are protocol errors that end the association.
 */
import type { MessageInProgress } from './c-store-handler.ts';
import type { AcceptedContext } from './context-negotiation.ts';
import { CommandSetError, readCommandSet, type CommandSet } from './dimse-command.ts';
import { StoreFailure } from './dimse-status.ts';
import { AbortReason, type PdvHeader } from './pdu.ts';

export interface MessageAssemblerEvents {
  /** Starts the message of a complete command set; undefined when the command needs no message (C-ECHO, C-CANCEL). */
  begin(presentationContextId: number, context: AcceptedContext, command: CommandSet): MessageInProgress | undefined;
  /** Receives a message whose dataset, if any, has fully arrived. */
  complete(message: MessageInProgress): void;
  /** Reports a protocol error; the association must be aborted with this A-ABORT reason. */
  protocolError(reason: number, description: string, cause?: unknown): void;
  /** Pauses reading until `until` resolves, because the spool file asked to wait. */
  backpressure(until: Promise<void>): void;
}

export class MessageAssembler {
  private pdv: (PdvHeader & { target: 'command' | 'dataset' }) | undefined;
  private commandParts: Buffer[] = [];
  private message: MessageInProgress | undefined;

  constructor(
    private readonly contexts: () => ReadonlyMap<number, AcceptedContext>,
    private readonly events: MessageAssemblerEvents,
  ) {}

  /** Removes and returns the message whose dataset is arriving, for a connection that closed. */
  takeUnfinished(): MessageInProgress | undefined {
    const message = this.message;
    this.message = undefined;
    return message;
  }

  onPdvStart(header: PdvHeader): void {
    if (!this.contexts().has(header.presentationContextId)) {
      this.events.protocolError(AbortReason.InvalidPduParameterValue, `PDV for presentation context ${header.presentationContextId}, which was not accepted`);
      return;
    }
    if (header.isCommand) {
      if (this.message) {
        this.events.protocolError(AbortReason.UnexpectedPduParameter, 'command fragment received while a dataset was expected');
        return;
      }
      this.pdv = { ...header, target: 'command' };
      return;
    }
    if (this.message?.presentationContextId !== header.presentationContextId) {
      this.events.protocolError(AbortReason.UnexpectedPduParameter, 'dataset fragment without a matching command');
      return;
    }
    this.pdv = { ...header, target: 'dataset' };
  }

  onPdvData(data: Buffer): void {
    if (this.pdv?.target === 'command') {
      this.commandParts.push(data);
      return;
    }
    const dataset = this.message?.dataset;
    if (dataset && !dataset.write(data)) this.events.backpressure(dataset.spool.drained());
  }

  onPdvEnd(): void {
    const pdv = this.pdv;
    this.pdv = undefined;
    if (!pdv?.isLast) return;
    if (pdv.target === 'command') {
      this.onCommand(pdv.presentationContextId, this.contexts().get(pdv.presentationContextId)!);
      return;
    }
    const message = this.message!;
    this.message = undefined;
    this.events.complete(message);
  }

  /** Reads a complete command set and starts its message. */
  private onCommand(presentationContextId: number, context: AcceptedContext): void {
    let command: CommandSet;
    try {
      command = readCommandSet(Buffer.concat(this.commandParts));
    } catch (error) {
      if (!(error instanceof CommandSetError)) throw error;
      this.events.protocolError(AbortReason.InvalidPduParameterValue, error.message, error);
      return;
    } finally {
      this.commandParts = [];
    }

    const message = this.events.begin(presentationContextId, context, command);
    if (!message) return;
    if (command.hasDataset) {
      this.message = message;
    } else {
      this.events.complete({ ...message, rejection: message.rejection ?? new StoreFailure('dataset_unparseable', 'C-STORE-RQ without a dataset') });
    }
  }
}
