/**
 * The boundary between the DICOM listener and the application. The listener handles DIMSE and Part 10.
 * The sink, implemented in src/ingest, decides where files live and what the database records. The
 * listener never imports the database.
 */
import type { Writable } from 'node:stream';

import type { DicomHeader } from './part10.ts';

export interface AssociationInfo {
  /** Our id for the association, used in logs and audit rows. */
  associationId: string;
  callingAeTitle: string;
  calledAeTitle: string;
  remoteAddress: string;
}

export type AssociationRejection = 'called_ae_not_recognized' | 'calling_ae_not_recognized';

/** A spool file being written; the sink decides where it lives. */
export interface SpoolFile {
  readonly path: string;
  /** Receives the Part 10 bytes. It reports write errors through `failure` at the end, not mid-stream. */
  readonly stream: Writable & { readonly failure: Error | undefined };
}

export interface ReceivedInstance {
  association: AssociationInfo;
  /** Affected SOP Class and SOP Instance UIDs from the C-STORE command. */
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  header: DicomHeader;
}

export interface StoreResult {
  /** `stored`: a new instance; `duplicate`: the SOPInstanceUID was already stored and nothing changed. */
  outcome: 'stored' | 'duplicate';
}

export interface InstanceSink {
  /** Creates the spool file for one incoming dataset. Called synchronously by the DIMSE layer. */
  createSpool(): SpoolFile;
  /**
   * Makes the spooled file durable and records it. Resolves only when a crash can no longer lose the
   * instance; the C-STORE response waits for it. Throws StoreFailure (or anything else: treated as a
   * storage failure). The spool file is consumed or removed in every case.
   */
  storeInstance(spool: SpoolFile, instance: ReceivedInstance): Promise<StoreResult>;
  /** Removes a spool file whose transfer failed. */
  discardSpool(spool: SpoolFile): Promise<void>;
  associationAccepted(association: AssociationInfo): Promise<void>;
  associationRejected(association: AssociationInfo, reason: AssociationRejection): Promise<void>;
  associationEnded(association: AssociationInfo, summary: { instancesStored: number; bytesReceived: number }): Promise<void>;
}
