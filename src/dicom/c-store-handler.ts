/**
 * One C-STORE from the end of its dataset to its status: the dataset's structure and UIDs are checked
 * against the command, then the sink stores it. Every failure becomes a status through
 * statusForStoreFailure(), with an Error Comment that names the problem.
 */
import { datasetEncoding, type SopClassRole } from './conformance.ts';
import type { AcceptedContext } from './context-negotiation.ts';
import type { CommandSet } from './dimse-command.ts';
import { StoreFailure, StoreStatus, statusForStoreFailure } from './dimse-status.ts';
import { IncomingDataset } from './incoming-dataset.ts';
import type { AssociationInfo, InstanceSink } from './instance-sink.ts';
import { encodeFileMetaHeader } from './part10.ts';

/** A DIMSE message whose dataset is arriving. */
export interface MessageInProgress {
  presentationContextId: number;
  context: AcceptedContext;
  command: CommandSet;
  /** Absent when the dataset is read and dropped because the status is already decided. */
  dataset?: IncomingDataset;
  rejection?: StoreFailure;
  /** Response command field; C-STORE-RSP, or the request's field with bit 15 for an unrecognized operation. */
  responseField: number;
}

export interface StoreOutcome {
  status: number;
  /** Error Comment (0000,0902) for a failure. */
  comment?: string;
  /** A new or replacing instance was stored (not a duplicate, not a failure). */
  stored: boolean;
  /** The cause of a failure, for the log. */
  error?: unknown;
}

/** Starts receiving a C-STORE dataset into a new spool file, behind the Part 10 file meta header. */
export function startDataset(sink: InstanceSink, association: AssociationInfo, command: CommandSet, context: AcceptedContext): IncomingDataset {
  const fileMetaHeader = encodeFileMetaHeader({
    mediaStorageSopClassUid: command.affectedSopClassUid,
    mediaStorageSopInstanceUid: command.affectedSopInstanceUid,
    transferSyntaxUid: context.transferSyntaxUid,
    sourceApplicationEntityTitle: association.callingAeTitle,
  });
  return new IncomingDataset(sink.createSpool(), fileMetaHeader, datasetEncoding(context.transferSyntaxUid)!);
}

/** Checks a received dataset against its command and stores it; resolves with the status to send. */
export async function storeMessage(sink: InstanceSink, association: AssociationInfo, message: MessageInProgress): Promise<StoreOutcome> {
  const { command } = message;
  let handedToSink = false;
  try {
    if (message.rejection) throw message.rejection;
    const dataset = message.dataset!;
    const scan = await dataset.complete();
    if (!scan.ok) throw new StoreFailure('dataset_unparseable', `the dataset cannot be parsed: ${scan.error.message}`, { cause: scan.error });
    if (scan.attributes.SOPClassUID !== command.affectedSopClassUid) {
      throw new StoreFailure('dataset_mismatch', 'SOP Class UID of the dataset differs from the C-STORE command');
    }
    if (scan.attributes.SOPInstanceUID !== command.affectedSopInstanceUid) {
      throw new StoreFailure('dataset_mismatch', 'SOP Instance UID of the dataset differs from the C-STORE command');
    }

    handedToSink = true;
    const result = await sink.storeInstance(dataset.spool, {
      association: { ...association },
      sopClassUid: command.affectedSopClassUid,
      sopInstanceUid: command.affectedSopInstanceUid,
      transferSyntaxUid: message.context.transferSyntaxUid,
      role: message.context.role as SopClassRole,
      attributes: scan.attributes,
      sizeBytes: scan.sizeBytes,
    });
    return { status: StoreStatus.Success, stored: result.outcome !== 'duplicate' };
  } catch (error) {
    if (message.dataset && !handedToSink) await message.dataset.spool.discard().catch(() => undefined);
    // Error Comment carries our own message, which names attributes but never their values.
    const comment = error instanceof StoreFailure ? error.message : 'internal error while storing; send again later';
    return { status: statusForStoreFailure(error), comment, stored: false, error };
  }
}
