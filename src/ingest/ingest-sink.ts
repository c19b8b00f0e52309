/**
 * The InstanceSink that the DICOM listener calls: it moves each spooled file into the instance store,
 * records study, series and instance, applies the duplicate policy, and writes the association log and
 * its audit rows. A store writes the spool file, renames it into the store, then syncs file and folder
 * and commits the row, and returns only when all of that is done, so the listener can send Success.
 */
import { randomUUID } from 'node:crypto';

import type { Database } from '../db/database.ts';
import { finishAssociationLog, insertAssociationLog } from '../db/queries/associations.ts';
import {
  deleteInstanceCopy,
  findInstanceBySopInstanceUid,
  recordInstance,
  storeInstanceSha256,
  type RecordInstanceInput,
  type RecordInstanceResult,
  type StoredCopy,
} from '../db/queries/ingest.ts';
import { isForeignKeyViolation } from '../db/sql.ts';
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
      relativePath = this.store.newRelativePath({ studyInstanceUid, seriesInstanceUid, sopInstanceUid: instance.sopInstanceUid });
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
    // On the embedded database the commit is followed by flushCommits(), which still overlaps the file's
    // sync. A crash before all of them are done can leave a committed row whose file is missing or
    // shorter than recorded, for an instance that was not acknowledged. The sender sends it again, and
    // resolveDuplicate() replaces the broken copy with the new one.
    const record = this.recordInput(instance, { studyInstanceUid, seriesInstanceUid, relativePath });
    const recording = this.recordOnce(record);
    const [durable, recorded, flushed] = await Promise.allSettled([
      Promise.all([spool.syncAndClose(), this.store.syncFolder(relativePath)]),
      recording,
      recording.then(() => this.database.flushCommits()),
    ]);
    if (durable.status === 'rejected') throw new StoreFailure('storage_failed', 'syncing the instance file failed', { cause: durable.reason });
    if (recorded.status === 'rejected') {
      // No row refers to the new file unless the commit went through and only its reply was lost. Such a
      // row is reported by the startup check, and a resend of the instance replaces it.
      await this.removeFile(relativePath);
      throw new StoreFailure('storage_failed', 'recording the instance in the database failed', { cause: recorded.reason });
    }
    // The row is committed and refers to the new file, so the file stays for the resend to match.
    if (flushed.status === 'rejected') throw flushFailure(flushed.reason);
    if (recorded.value.kind === 'inserted') return { outcome: 'stored' };

    try {
      const outcome = await this.settleRecord(instance, record, recorded.value, studyInstanceUid);
      // Resolving a duplicate may have committed a replacement or an audit row.
      await this.database.flushCommits().catch((error: unknown) => {
        throw flushFailure(error);
      });
      return outcome;
    } catch (error) {
      if (error instanceof StoreFailure) throw error;
      // The new file stays: a replacement that failed after its commit may already refer to it.
      throw new StoreFailure('storage_failed', 'recording the instance in the database failed', { cause: error });
    }
  }

  /** Turns the record statement's result into the store outcome, resolving a duplicate SOPInstanceUID. */
  private async settleRecord(
    instance: ReceivedInstance,
    record: RecordInstanceInput,
    first: RecordInstanceResult,
    studyInstanceUid: string,
  ): Promise<StoreResult> {
    const relativePath = record.instance.filePath;
    let result = first;
    for (let attempt = 1; ; attempt += 1) {
      if (result.kind === 'inserted') return { outcome: 'stored' };
      if (result.kind === 'series_in_other_study') {
        await this.removeFile(relativePath);
        throw new StoreFailure('dataset_mismatch', 'the SeriesInstanceUID is already stored under another study');
      }
      const existing = result.existing ?? (await this.database.run((manager) => findInstanceBySopInstanceUid(manager, instance.sopInstanceUid)));
      if (existing) {
        const outcome = await this.resolveDuplicate(instance, record, existing, studyInstanceUid);
        if (outcome) return outcome;
      }
      // The stored copy changed between our reads (a replace by another association): look again.
      if (attempt >= RECORD_ATTEMPTS) throw new Error('the stored copy of the SOPInstanceUID kept changing');
      result = await this.recordOnce(record);
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
   * Handles a copy of a SOPInstanceUID that is already stored. A stored file that is missing or has
   * another size than its row is replaced by the new copy whatever the policy. Such a row was committed
   * before a crash cut its file short, so that copy was never acknowledged. Otherwise the
   * SHA-256 of both files decides. The same content is a duplicate and the new file is removed. Other
   * content goes to the duplicate policy. The stored copy's hash is kept in its row for the next comparison.
   * Returns undefined when the stored copy changed meanwhile and the caller should look again.
   *
   * NOTE: the size check relies on the file system never keeping, after a crash, a file size whose data
   * did not reach the disk. The Linux ext4 documentation (filesystems/ext4/journal.rst) describes its
   * default data=ordered mode as flushing data blocks before the metadata that refers to them is
   * committed, and data=writeback as not doing so. Without that ordering a cut copy of the recorded size
   * counts as other content, and keep_first would keep it.
   */
  private async resolveDuplicate(
    instance: ReceivedInstance,
    record: RecordInstanceInput,
    existing: StoredCopy,
    studyInstanceUid: string,
  ): Promise<StoreResult | undefined> {
    const ids = { associationId: instance.association.associationId, sopInstanceUid: instance.sopInstanceUid };
    const newPath = record.instance.filePath;
    const storedSize = await this.store.storedSize(existing.filePath);
    if (storedSize !== existing.sizeBytes) {
      const outcome = await this.replaceCopy(instance, record, existing, studyInstanceUid, 'stored_copy_incomplete');
      if (outcome) this.logger.warn('the stored copy of the SOPInstanceUID was missing or incomplete; the new copy replaced it', ids);
      return outcome;
    }

    let newSha256: string;
    let storedSha256: string;
    try {
      [newSha256, storedSha256] = await Promise.all([this.store.sha256Of(newPath), existing.sha256 ?? this.hashStoredCopy(instance.sopInstanceUid, existing.filePath)]);
    } catch (error) {
      // Another association replaced the stored copy and removed its file since the size check.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && (await this.store.storedSize(newPath)) !== undefined) return undefined;
      throw error;
    }
    if (newSha256 === storedSha256) {
      // A process crash can leave the stored copy complete in the page cache but not yet on disk.
      await this.store.syncStoredFile(existing.filePath);
      await this.removeFile(newPath);
      return { outcome: 'duplicate' };
    }

    if (this.duplicatePolicy === 'keep_first') {
      await this.removeFile(newPath);
      this.logger.warn('SOPInstanceUID received again with different content; the first copy is kept', ids);
      await this.database.transaction((manager) => this.auditConflict(manager, instance, studyInstanceUid, 'dicom_instance_conflict'));
      return { outcome: 'duplicate' };
    }

    const replacing = { ...record, instance: { ...record.instance, sha256: newSha256 } };
    const outcome = await this.replaceCopy(instance, replacing, existing, studyInstanceUid, 'policy');
    if (outcome) this.logger.warn('SOPInstanceUID received again with different content; the new copy replaced the stored one', ids);
    return outcome;
  }

  /** Computes the SHA-256 of a stored copy and records it in the copy's row. */
  private async hashStoredCopy(sopInstanceUid: string, filePath: string): Promise<string> {
    const sha256 = await this.store.sha256Of(filePath);
    await this.database.run((manager) => storeInstanceSha256(manager, sopInstanceUid, filePath, sha256));
    return sha256;
  }

  /**
   * Replaces the row of the stored copy with a row for the new one, audits it and removes the old file.
   * Returns undefined when the row points to another copy by now.
   */
  private async replaceCopy(
    instance: ReceivedInstance,
    record: RecordInstanceInput,
    existing: StoredCopy,
    studyInstanceUid: string,
    reason: 'policy' | 'stored_copy_incomplete',
  ): Promise<StoreResult | undefined> {
    const replaced = await this.database.transaction(async (manager) => {
      const removed = await deleteInstanceCopy(manager, instance.sopInstanceUid, existing.filePath);
      if (!removed) return undefined;
      const result = await recordInstance(manager, { ...record, instance: { ...record.instance, id: randomUUID() } });
      if (result.kind !== 'inserted') throw new Error('the replacing instance row was not inserted');
      await this.auditConflict(manager, instance, studyInstanceUid, 'dicom_instance_replaced', reason);
      return removed;
    });
    if (!replaced) return undefined;
    await this.removeFile(replaced.filePath);
    return { outcome: 'replaced' };
  }

  private async removeFile(relativePath: string): Promise<void> {
    await this.store.remove(this.store.absolutePath(relativePath));
  }

  private async auditConflict(
    manager: EntityManager,
    instance: ReceivedInstance,
    studyInstanceUid: string,
    action: 'dicom_instance_conflict' | 'dicom_instance_replaced',
    reason: 'policy' | 'stored_copy_incomplete' = 'policy',
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
      details: { sopInstanceUid: instance.sopInstanceUid, policy: this.duplicatePolicy, reason },
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
        sha256: null,
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

function flushFailure(cause: unknown): StoreFailure {
  return new StoreFailure('storage_failed', 'flushing the database commit to disk failed', { cause });
}

function stringAttribute(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
