/**
 * The InstanceSink that the DICOM listener calls: it moves each spooled file into the instance store,
 * records study, series and instance in one transaction, and writes the association audit rows.
 * Order of a store: hash the spool file, check for an existing SOPInstanceUID, rename into the store
 * (durable), commit the rows, and only then return, so the listener can send Success.
 */
import { randomUUID } from 'node:crypto';

import type { Database } from '../db/database.ts';
import { countNewInstance, findInstanceBySopInstanceUid, insertInstanceIfNew, upsertSeriesReturningId, upsertStudyReturningState } from '../db/queries/ingest.ts';
import { recordAudit } from '../audit/record-audit.ts';
import { StoreFailure } from '../dicom/dimse-status.ts';
import type { AssociationInfo, AssociationRejection, InstanceSink, ReceivedInstance, SpoolFile, StoreResult } from '../dicom/instance-sink.ts';
import { getLogger } from '../logging/logger.ts';
import { numberValue, numberValues, personNameValue, stringValue, stringValues } from './header-fields.ts';
import { InstanceStore, InvalidUidError } from './instance-store.ts';

export class IngestSink implements InstanceSink {
  private readonly logger = getLogger('ingest');

  constructor(
    private readonly database: Database,
    private readonly store: InstanceStore,
  ) {}

  createSpool(): SpoolFile {
    const writer = this.store.createSpool();
    return { path: writer.path, stream: writer };
  }

  async discardSpool(spool: SpoolFile): Promise<void> {
    spool.stream.destroy();
    await this.store.remove(spool.path);
  }

  async storeInstance(spool: SpoolFile, instance: ReceivedInstance): Promise<StoreResult> {
    const { dataset } = instance.header;
    const studyInstanceUid = stringValue(dataset, 'StudyInstanceUID');
    const seriesInstanceUid = stringValue(dataset, 'SeriesInstanceUID');
    if (!studyInstanceUid || !seriesInstanceUid) {
      await this.store.remove(spool.path);
      throw new StoreFailure('dataset_unparseable', 'the dataset has no StudyInstanceUID or SeriesInstanceUID');
    }

    let relativePath: string;
    let digest: { sha256: string; sizeBytes: number };
    try {
      digest = await this.store.digest(spool.path);
      relativePath = this.store.relativePathFor({ studyInstanceUid, seriesInstanceUid, sopInstanceUid: instance.sopInstanceUid }, digest.sha256);
    } catch (error) {
      await this.store.remove(spool.path);
      if (error instanceof InvalidUidError) throw new StoreFailure('dataset_unparseable', error.message, { cause: error });
      throw new StoreFailure('storage_failed', 'reading the spool file failed', { cause: error });
    }

    const existing = await this.findExisting(instance.sopInstanceUid, spool);
    if (existing) return this.handleDuplicate(spool, instance, existing.sha256 === digest.sha256, studyInstanceUid);

    try {
      await this.store.commitSpool(spool.path, relativePath);
    } catch (error) {
      await this.store.remove(spool.path);
      throw new StoreFailure('storage_failed', 'moving the file into the instance store failed', { cause: error });
    }

    let inserted: boolean;
    try {
      inserted = await this.recordInstance(instance, { studyInstanceUid, seriesInstanceUid, relativePath, ...digest });
    } catch (error) {
      // Without its row the file is unreachable; the sender will retry after the failure status.
      await this.store.remove(this.store.absolutePath(relativePath));
      throw new StoreFailure('storage_failed', 'recording the instance in the database failed', { cause: error });
    }
    if (!inserted) {
      // Another association stored the same SOPInstanceUID between our check and our insert.
      const winner = await this.database.run((manager) => findInstanceBySopInstanceUid(manager, instance.sopInstanceUid));
      if (winner?.filePath !== relativePath) await this.store.remove(this.store.absolutePath(relativePath));
      return { outcome: 'duplicate' };
    }
    return { outcome: 'stored' };
  }

  private async findExisting(sopInstanceUid: string, spool: SpoolFile): Promise<{ sha256: string } | undefined> {
    try {
      return await this.database.run((manager) => findInstanceBySopInstanceUid(manager, sopInstanceUid));
    } catch (error) {
      await this.store.remove(spool.path);
      throw new StoreFailure('storage_failed', 'looking up the SOPInstanceUID in the database failed', { cause: error });
    }
  }

  /**
   * Keeps the first file of a SOPInstanceUID that is already stored. Identical content is a normal resend.
   * Different content is logged and audited so that an administrator can look at it.
   */
  private async handleDuplicate(spool: SpoolFile, instance: ReceivedInstance, identical: boolean, studyInstanceUid: string): Promise<StoreResult> {
    await this.store.remove(spool.path);
    if (!identical) {
      this.logger.warn('SOPInstanceUID received again with different content; the first copy is kept', {
        associationId: instance.association.associationId,
        sopInstanceUid: instance.sopInstanceUid,
      });
      await this.database.transaction((manager) =>
        recordAudit(manager, {
          action: 'dicom_instance_conflict',
          outcome: 'failure',
          actorType: 'peer',
          actor: instance.association.callingAeTitle,
          sourceAddress: instance.association.remoteAddress,
          studyInstanceUid,
          correlationId: instance.association.associationId,
          details: { sopInstanceUid: instance.sopInstanceUid, policy: 'keep_first' },
        }),
      );
    }
    return { outcome: 'duplicate' };
  }

  private async recordInstance(
    instance: ReceivedInstance,
    stored: { studyInstanceUid: string; seriesInstanceUid: string; relativePath: string; sha256: string; sizeBytes: number },
  ): Promise<boolean> {
    const { dataset } = instance.header;
    const receivedAt = new Date();
    return this.database.transaction(async (manager) => {
      const study = await upsertStudyReturningState(
        manager,
        {
          id: randomUUID(),
          studyInstanceUid: stored.studyInstanceUid,
          patientId: stringValue(dataset, 'PatientID'),
          issuerOfPatientId: stringValue(dataset, 'IssuerOfPatientID'),
          patientName: personNameValue(dataset, 'PatientName'),
          patientBirthDate: stringValue(dataset, 'PatientBirthDate'),
          patientSex: stringValue(dataset, 'PatientSex'),
          accessionNumber: stringValue(dataset, 'AccessionNumber'),
          studyId: stringValue(dataset, 'StudyID'),
          studyDate: stringValue(dataset, 'StudyDate'),
          studyTime: stringValue(dataset, 'StudyTime'),
          studyDescription: stringValue(dataset, 'StudyDescription'),
          referringPhysicianName: personNameValue(dataset, 'ReferringPhysicianName'),
          specificCharacterSet: stringValues(dataset, 'SpecificCharacterSet')?.join('\\') ?? null,
        },
        receivedAt,
      );
      const series = await upsertSeriesReturningId(
        manager,
        {
          id: randomUUID(),
          studyId: study.id,
          seriesInstanceUid: stored.seriesInstanceUid,
          modality: stringValue(dataset, 'Modality'),
          seriesNumber: integerOrNull(numberValue(dataset, 'SeriesNumber')),
          seriesDescription: stringValue(dataset, 'SeriesDescription'),
        },
        receivedAt,
      );
      if (series.studyId !== study.id) {
        throw new StoreFailure('dataset_mismatch', 'the SeriesInstanceUID is already stored under another study');
      }

      const inserted = await insertInstanceIfNew(manager, {
        id: randomUUID(),
        studyId: study.id,
        seriesId: series.id,
        sopInstanceUid: instance.sopInstanceUid,
        sopClassUid: instance.sopClassUid,
        transferSyntaxUid: instance.transferSyntaxUid,
        filePath: stored.relativePath,
        sizeBytes: stored.sizeBytes,
        sha256: stored.sha256,
        modality: stringValue(dataset, 'Modality'),
        instanceNumber: integerOrNull(numberValue(dataset, 'InstanceNumber')),
        imageType: stringValues(dataset, 'ImageType'),
        imagePositionPatient: numberValues(dataset, 'ImagePositionPatient', 3),
        imageOrientationPatient: numberValues(dataset, 'ImageOrientationPatient', 6),
        rows: integerOrNull(numberValue(dataset, 'Rows')),
        columns: integerOrNull(numberValue(dataset, 'Columns')),
        callingAeTitle: instance.association.callingAeTitle,
        associationId: instance.association.associationId,
        receivedAt,
      });
      if (inserted) await countNewInstance(manager, study.id, series.id);
      return inserted;
    });
  }

  async associationAccepted(association: AssociationInfo): Promise<void> {
    await this.database.transaction((manager) =>
      recordAudit(manager, {
        action: 'dicom_association_accepted',
        outcome: 'success',
        actorType: 'peer',
        actor: association.callingAeTitle,
        sourceAddress: association.remoteAddress,
        correlationId: association.associationId,
        details: { calledAeTitle: association.calledAeTitle },
      }),
    );
  }

  async associationRejected(association: AssociationInfo, reason: AssociationRejection): Promise<void> {
    await this.database.transaction((manager) =>
      recordAudit(manager, {
        action: 'dicom_association_rejected',
        outcome: 'failure',
        actorType: 'peer',
        actor: association.callingAeTitle.slice(0, 16),
        sourceAddress: association.remoteAddress,
        correlationId: association.associationId,
        details: { calledAeTitle: association.calledAeTitle.slice(0, 16), reason },
      }),
    );
  }

  async associationEnded(association: AssociationInfo, summary: { instancesStored: number; bytesReceived: number }): Promise<void> {
    if (summary.instancesStored === 0) return;
    await this.database.transaction((manager) =>
      recordAudit(manager, {
        action: 'dicom_instances_transferred',
        outcome: 'success',
        actorType: 'peer',
        actor: association.callingAeTitle,
        sourceAddress: association.remoteAddress,
        correlationId: association.associationId,
        details: { instancesStored: summary.instancesStored, bytesReceived: summary.bytesReceived },
      }),
    );
  }
}

function integerOrNull(value: number | null): number | null {
  return value !== null && Number.isInteger(value) ? value : null;
}
