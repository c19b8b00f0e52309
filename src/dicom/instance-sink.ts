/**
 * The boundary between the DICOM listener and the application. The listener handles DIMSE and Part 10.
 * The sink, implemented in src/ingest, decides where files live and what the database records. The
 * listener never imports the database.
 */
import type { SopClassRole } from './conformance.ts';
import type { NaturalDataset } from './part10.ts';

export interface AssociationInfo {
  /** Our id for the association, used in logs, audit rows and the association log. */
  associationId: string;
  callingAeTitle: string;
  calledAeTitle: string;
  remoteAddress: string;
  startedAt: Date;
}

export type AssociationRejection =
  | 'called_ae_not_recognized'
  | 'calling_ae_not_recognized'
  | 'calling_address_not_allowed'
  | 'application_context_not_supported'
  | 'association_limit_reached'
  | 'storage_unavailable';

/** End of an accepted association. */
export type AssociationEnd = 'released' | 'aborted_by_peer' | 'aborted' | 'connection_closed' | 'timed_out';

export interface AssociationSummary {
  result: AssociationEnd;
  instancesStored: number;
  instancesFailed: number;
  bytesReceived: number;
  endedAt: Date;
}

/**
 * A spool file being written; the sink decides where it lives and makes it durable. Write errors (a full
 * disk) surface when the sink stores the instance, not in the middle of the transfer.
 */
export interface SpoolFile {
  readonly path: string;
  /** Appends bytes; returns false when the caller should wait for drained() before writing more. */
  write(chunk: Buffer): boolean;
  drained(): Promise<void>;
  /** Closes and removes the file. */
  discard(): Promise<void>;
}

export interface ReceivedInstance {
  association: AssociationInfo;
  /** Affected SOP Class and SOP Instance UIDs from the C-STORE command; the dataset carries the same. */
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  role: SopClassRole;
  /** Header attributes of the dataset (keyword-named, as in a dcmjs naturalized dataset). */
  attributes: NaturalDataset;
  /** Size in bytes of the whole Part 10 file: our file meta followed by the received dataset. */
  sizeBytes: number;
}

export interface StoreResult {
  /**
   * `stored`: a new instance. `duplicate`: the SOPInstanceUID was already stored and the first copy is
   * kept. `replaced`: the SOPInstanceUID was stored with other content, which this copy replaced.
   */
  outcome: 'stored' | 'duplicate' | 'replaced';
}

export interface InstanceSink {
  /** Creates the spool file for one incoming dataset. Called synchronously by the DIMSE layer. */
  createSpool(): SpoolFile;
  /**
   * Moves the finished spool file into the store and records it. Resolves only when a crash can no longer
   * lose the instance; the C-STORE response waits for it. Throws StoreFailure (or anything else: treated
   * as a storage failure). The spool file is consumed or removed in every case.
   */
  storeInstance(spool: SpoolFile, instance: ReceivedInstance): Promise<StoreResult>;
  /** False while the instance store is above its disk-use watermark; checked without I/O. */
  storageAvailable(): boolean;
  associationAccepted(association: AssociationInfo): Promise<void>;
  associationRejected(association: AssociationInfo, reason: AssociationRejection): Promise<void>;
  associationEnded(association: AssociationInfo, summary: AssociationSummary): Promise<void>;
}
