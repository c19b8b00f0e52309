/**
 * The InstanceSink that the DICOM listener calls: it moves each spooled file into the instance store,
 * records study, series and instance, applies the duplicate policy, and writes the association log and
 * its audit rows. A store writes the spool file, renames it into the store, then syncs file and folder
 * and commits the row, and returns only when all of that is done, so the listener can send Success.
 */
import { randomUUID } from 'node:crypto';

import type { Database } from '../db/database.ts';
import { finishAssociationLog, insertAssociationLog } from '../db/queries/associations.ts';
import { deleteInstanceWithContent, findInstanceBySopInstanceUid, recordInstance, type RecordInstanceInput, type RecordInstanceResult } from '../db/queries/ingest.ts';
import type { EntityManager } from 'typeorm';
import { recordAudit } from '../audit/record-audit.ts';
import { StoreFailure } from '../dicom/dimse-status.ts';
import type { AssociationInfo, AssociationRejection, AssociationSummary, InstanceSink, ReceivedInstance, SpoolFile, StoreResult } from '../dicom/instance-sink.ts';
import { getLogger } from '../logging/logger.ts';
import type { DiskSpaceMonitor } from './disk-space.ts';
import { instanceFields, seriesFields, studyFields } from './header-fields.ts';
import { InstanceStore, InvalidUidError } from './instance-store.ts';
import { SpoolWriter } from './spool-writer.ts';

/** Policy for a SOPInstanceUID received again with different content. */
export type DuplicatePolicy = 'keep_first' | 'replace';

export interface IngestOptions {
  duplicatePolicy?: DuplicatePolicy;
  /** Absent: the store is always taken as available. */
  diskSpace?: DiskSpaceMonitor;
}

/**
 * Attempts of the record statement. It fails only when another association creates the same new study
 * or series at the same moment, and then the second attempt finds the row the other one committed.
 */
const RECORD_ATTEMPTS = 3;

export class IngestSink implements InstanceSink {
  private readonly logger = getLogger('ingest');
  private readonly duplicatePolicy: DuplicatePolicy;

  constructor(
    private readonly database: Database,
    private readonly store: InstanceStore,
    private readonly options: IngestOptions = {},
  ) {
    this.duplicatePolicy = options.duplicatePolicy ?? 'keep_first';
  }

  createSpool(): SpoolFile {
    return this.store.createSpool();
  }

  storageAvailable(): boolean {
    return this.options.diskSpace?.available() ?? true;
  }

  async storeInstance(spool: SpoolFile, instance: ReceivedInstance): Promise<StoreResult> {
    if (!(spool instanceof SpoolWriter)) throw new TypeError('the spool file was not created by this sink');
    const { attributes } = instance;
    const studyInstanceUid = typeof attributes.StudyInstanceUID === 'string' ? attributes.StudyInstanceUID : '';
    const seriesInstanceUid = typeof attributes.SeriesInstanceUID === 'string' ? attributes.SeriesInstanceUID : '';
    if (!studyInstanceUid || !seriesInstanceUid) {
      await spool.discard();
      throw new StoreFailure('dataset_mismatch', 'the dataset has no StudyInstanceUID or SeriesInstanceUID');
    }

    let relativePath: string;
    try {
      relativePath = this.store.relativePathFor({ studyInstanceUid, seriesInstanceUid, sopInstanceUid: instance.sopInstanceUid }, instance.sha256);
    } catch (error) {
      await spool.discard();
      if (error instanceof InvalidUidError) throw new StoreFailure('invalid_uid', error.message, { cause: error });
      throw error;
    }

    try {
      await spool.flush();
      await this.store.placeSpool(spool.path, relativePath);
    } catch (error) {
      await spool.discard();
      throw new StoreFailure('storage_failed', 'writing the instance file failed', { cause: error });
    }

    // The file's sync, its folder's sync and the database commit run at once; Success waits for all three.
    // A crash before all three are done leaves at most a row whose file is incomplete or missing, for an
    // instance that was not acknowledged: the sender sends it again, and the resend lands on the same path.
    const record = this.recordInput(instance, { studyInstanceUid, seriesInstanceUid, relativePath });
    const [durable, recorded] = await Promise.allSettled([
      Promise.all([spool.syncAndClose(), this.store.syncFolder(relativePath)]),
      this.recordOnce(record),
    ]);
    if (durable.status === 'rejected') throw new StoreFailure('storage_failed', 'syncing the instance file failed', { cause: durable.reason });

    try {
      if (recorded.status === 'rejected') throw recorded.reason;
      let result = recorded.value;
      for (let attempt = 1; ; attempt += 1) {
        if (result.kind === 'inserted') return { outcome: 'stored' };
        if (result.kind === 'series_in_other_study') {
          throw new StoreFailure('dataset_mismatch', 'the SeriesInstanceUID is already stored under another study');
        }
        const existing = result.existing ?? (await this.database.run((manager) => findInstanceBySopInstanceUid(manager, instance.sopInstanceUid)));
        if (existing?.sha256 === instance.sha256) return { outcome: 'duplicate' };
        if (existing) {
          const outcome = await this.handleConflict(instance, record, existing, studyInstanceUid);
          if (outcome) return outcome;
        }
        // The stored copy changed between our reads (a replace by another association): look again.
        if (attempt >= RECORD_ATTEMPTS) throw new Error('the stored copy of the SOPInstanceUID kept changing');
        result = await this.recordOnce(record);
      }
    } catch (error) {
      if (error instanceof StoreFailure) throw error;
      // The file stays: it may be the one an identical, already recorded copy points to. A resend of this
      // instance lands on the same path and records it.
      throw new StoreFailure('storage_failed', 'recording the instance in the database failed', { cause: error });
    }
  }

  /** Runs the record statement, again when a concurrent association created the same study or series. */
  private async recordOnce(record: RecordInstanceInput): Promise<RecordInstanceResult> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.database.run((manager) => recordInstance(manager, record));
      } catch (error) {
        if (attempt >= RECORD_ATTEMPTS || !isForeignKeyViolation(error)) throw error;
      }
    }
  }

  /**
   * Applies the duplicate policy to a SOPInstanceUID stored with other content. Returns undefined when the
   * stored copy changed meanwhile and the caller should look again.
   */
  private async handleConflict(
    instance: ReceivedInstance,
    record: RecordInstanceInput,
    existing: { sha256: string; filePath: string },
    studyInstanceUid: string,
  ): Promise<StoreResult | undefined> {
    const ids = { associationId: instance.association.associationId, sopInstanceUid: instance.sopInstanceUid };
    if (this.duplicatePolicy === 'keep_first') {
      await this.store.remove(this.store.absolutePath(record.instance.filePath));
      this.logger.warn('SOPInstanceUID received again with different content; the first copy is kept', ids);
      await this.database.transaction((manager) => this.auditConflict(manager, instance, studyInstanceUid, 'dicom_instance_conflict'));
      return { outcome: 'duplicate' };
    }

    const replaced = await this.database.transaction(async (manager) => {
      const removed = await deleteInstanceWithContent(manager, instance.sopInstanceUid, existing.sha256);
      if (!removed) return undefined;
      const result = await recordInstance(manager, { ...record, instance: { ...record.instance, id: randomUUID() } });
      if (result.kind !== 'inserted') throw new Error('the replacing instance row was not inserted');
      await this.auditConflict(manager, instance, studyInstanceUid, 'dicom_instance_replaced');
      return removed;
    });
    if (!replaced) return undefined;
    if (replaced.filePath !== record.instance.filePath) await this.store.remove(this.store.absolutePath(replaced.filePath));
    this.logger.warn('SOPInstanceUID received again with different content; the new copy replaced the stored one', ids);
    return { outcome: 'replaced' };
  }

  private async auditConflict(
    manager: EntityManager,
    instance: ReceivedInstance,
    studyInstanceUid: string,
    action: 'dicom_instance_conflict' | 'dicom_instance_replaced',
  ): Promise<void> {
    await recordAudit(manager, {
      action,
      outcome: action === 'dicom_instance_conflict' ? 'failure' : 'success',
      actorType: 'peer',
      actor: instance.association.callingAeTitle,
      sourceAddress: instance.association.remoteAddress,
      studyInstanceUid,
      accessionNumber: stringAttribute(instance.attributes.AccessionNumber),
      patientId: stringAttribute(instance.attributes.PatientID),
      correlationId: instance.association.associationId,
      details: { sopInstanceUid: instance.sopInstanceUid, policy: this.duplicatePolicy },
    });
  }

  private recordInput(
    instance: ReceivedInstance,
    stored: { studyInstanceUid: string; seriesInstanceUid: string; relativePath: string },
  ): RecordInstanceInput {
    const receivedAt = new Date();
    return {
      study: studyFields(instance.attributes, randomUUID(), stored.studyInstanceUid),
      series: seriesFields(instance.attributes, randomUUID(), stored.seriesInstanceUid),
      instance: instanceFields(instance.attributes, {
        id: randomUUID(),
        sopInstanceUid: instance.sopInstanceUid,
        sopClassUid: instance.sopClassUid,
        transferSyntaxUid: instance.transferSyntaxUid,
        filePath: stored.relativePath,
        sizeBytes: instance.sizeBytes,
        sha256: instance.sha256,
        callingAeTitle: instance.association.callingAeTitle,
        associationId: instance.association.associationId,
        receivedAt,
      }),
      processed: instance.role === 'processed',
      eventIds: [randomUUID(), randomUUID()],
    };
  }

  async associationAccepted(association: AssociationInfo): Promise<void> {
    await this.database.transaction(async (manager) => {
      await insertAssociationLog(manager, { ...this.logStart(association), result: 'in_progress', rejectionReason: null });
      await recordAudit(manager, {
        action: 'dicom_association_accepted',
        outcome: 'success',
        actorType: 'peer',
        actor: association.callingAeTitle,
        sourceAddress: association.remoteAddress,
        correlationId: association.associationId,
        details: { calledAeTitle: association.calledAeTitle },
      });
    });
  }

  async associationRejected(association: AssociationInfo, reason: AssociationRejection): Promise<void> {
    await this.database.transaction(async (manager) => {
      await insertAssociationLog(manager, { ...this.logStart(association), result: 'rejected', rejectionReason: reason });
      await recordAudit(manager, {
        action: 'dicom_association_rejected',
        outcome: 'failure',
        actorType: 'peer',
        actor: association.callingAeTitle.slice(0, 16),
        sourceAddress: association.remoteAddress,
        correlationId: association.associationId,
        details: { calledAeTitle: association.calledAeTitle.slice(0, 16), reason },
      });
    });
  }

  async associationEnded(association: AssociationInfo, summary: AssociationSummary): Promise<void> {
    await this.database.transaction(async (manager) => {
      await finishAssociationLog(manager, association.associationId, summary);
      if (summary.instancesStored === 0) return;
      await recordAudit(manager, {
        action: 'dicom_instances_transferred',
        outcome: 'success',
        actorType: 'peer',
        actor: association.callingAeTitle,
        sourceAddress: association.remoteAddress,
        correlationId: association.associationId,
        details: { instancesStored: summary.instancesStored, instancesFailed: summary.instancesFailed, bytesReceived: summary.bytesReceived },
      });
    });
  }

  private logStart(association: AssociationInfo) {
    return {
      id: association.associationId,
      callingAeTitle: association.callingAeTitle,
      calledAeTitle: association.calledAeTitle,
      remoteAddress: association.remoteAddress,
      startedAt: association.startedAt,
    };
  }
}

/** PostgreSQL's foreign_key_violation (SQLSTATE 23503), on either driver. */
function isForeignKeyViolation(error: unknown): boolean {
  const driverError = (error as { driverError?: { code?: string } } | undefined)?.driverError;
  return driverError?.code === '23503' || (error as { code?: string } | undefined)?.code === '23503';
}

function stringAttribute(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
