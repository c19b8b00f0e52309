/**
 * The input of the SR builder and the checks that run before a dataset is built. Patient and study
 * values are copied as received. Only UIDs, the model identity and numbers are checked, so that an
 * invalid SR fails here with a named field instead of at the PACS.
 */
import { isValidUid } from '../../dicom/uid.ts';

export interface SrStudy {
  studyInstanceUid: string;
  studyId?: string;
  /** DA, YYYYMMDD. */
  studyDate?: string;
  /** TM, HHMMSS with optional fraction. */
  studyTime?: string;
  accessionNumber?: string;
  /** PN in DICOM form (Family^Given^Middle^Prefix^Suffix). */
  referringPhysicianName?: string;
  /** PN in DICOM form. */
  patientName?: string;
  patientId?: string;
  /** DA, YYYYMMDD. */
  patientBirthDate?: string;
  /** CS: M, F or O. */
  patientSex?: string;
  issuerOfPatientId?: string;
}

export interface SrEvidenceInstance {
  sopClassUid: string;
  sopInstanceUid: string;
}

/** The request (order) that the report is the result of; every value is optional. */
export interface SrRequest {
  accessionNumber?: string;
  requestedProcedureId?: string;
  requestedProcedureDescription?: string;
  /** Requested Procedure Code Sequence item, e.g. the RIS procedure code of OBR-4. */
  requestedProcedureCode?: { value: string; scheme: string; meaning: string };
  placerOrderNumber?: string;
  fillerOrderNumber?: string;
}

/** The SR that a corrected report replaces. */
export interface SrPredecessor {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
}

export interface SrInput {
  /** Values of the analysed study, already decoded to JavaScript strings; the SR writes them as UTF-8. */
  study: SrStudy;
  /** The series and instances the model read; they become the Current Requested Procedure Evidence. */
  evidence: { seriesInstanceUid: string; instances: SrEvidenceInstance[] };
  report: { findings: string; impression: string };
  /**
   * The model that wrote the report; `deviceUid` identifies it as the Device Observer. Unless
   * `clinicalUse` is true, the series description and the Contributing Equipment state that the report
   * is not for clinical use.
   */
  model: { name: string; version: string; deviceUid: string; manufacturer: string; clinicalUse?: boolean };
  /** When the report was produced; becomes ContentDate/ContentTime in UTC. */
  createdAt: Date;
  /**
   * Patient, General Study and Patient Study module attributes read from an analysed instance, in
   * naturalized form. They are copied as they are and take precedence over `study`.
   */
  sourceAttributes?: Record<string, unknown>;
  /** Written as the Referenced Request Sequence when it has an accession number or a requested procedure. */
  request?: SrRequest;
  /** Set for a corrected report: written as the Predecessor Documents Sequence. */
  predecessor?: SrPredecessor;
  /** Series to put the SR in; absent: a new series. A correction goes into its predecessor's series. */
  seriesInstanceUid?: string;
  seriesNumber?: number;
  instanceNumber?: number;
  /** Root for the new SeriesInstanceUID and SOPInstanceUID; without it they are UUID-derived (2.25). */
  uidRoot?: string;
}

export class SrInputError extends Error {
  readonly code = 'sr_invalid_input';
  readonly retryable = false;

  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`Invalid SR input ${field}: ${reason}`);
    this.name = 'SrInputError';
  }
}

/** PS3.5 6.2: LO values are at most 64 characters. */
const MAX_LO_LENGTH = 64;

/** PS3.5 6.2: an IS value is a signed 32-bit integer. This service writes only positive numbers. */
const MAX_IS_VALUE = 2 ** 31 - 1;

/**
 * Checks `input` and returns the evidence instances with exact duplicates removed: received studies can
 * contain the same instance twice, and the evidence sequence must list each instance once. Throws
 * SrInputError naming the first invalid field.
 */
export function validateSrInput(input: SrInput): SrEvidenceInstance[] {
  requireUid('study.studyInstanceUid', input.study.studyInstanceUid);
  requireUid('evidence.seriesInstanceUid', input.evidence.seriesInstanceUid);
  requireUid('model.deviceUid', input.model.deviceUid);
  if (input.seriesInstanceUid !== undefined) requireUid('seriesInstanceUid', input.seriesInstanceUid);
  if (input.predecessor !== undefined) {
    for (const [field, value] of Object.entries(input.predecessor)) requireUid(`predecessor.${field}`, value);
  }

  // The model identity fills LO attributes (Manufacturer, ManufacturerModelName, SoftwareVersions) and
  // Type 1 TEXT items of the device observer, so each value must be present and fit in one LO value.
  const { name, version, deviceUid, manufacturer } = input.model;
  for (const [field, value] of Object.entries({ name, version, deviceUid, manufacturer })) {
    if (value.trim() === '') throw new SrInputError(`model.${field}`, 'is empty');
    if (value.length > MAX_LO_LENGTH) {
      throw new SrInputError(`model.${field}`, `is longer than ${MAX_LO_LENGTH} characters`);
    }
    if (value.includes('\\')) {
      throw new SrInputError(`model.${field}`, 'contains a backslash, the DICOM value delimiter');
    }
  }

  if (Number.isNaN(input.createdAt.getTime())) throw new SrInputError('createdAt', 'is not a valid date');
  requirePositiveInteger('seriesNumber', input.seriesNumber);
  requirePositiveInteger('instanceNumber', input.instanceNumber);

  return uniqueEvidenceInstances(input.evidence.instances);
}

function uniqueEvidenceInstances(instances: SrEvidenceInstance[]): SrEvidenceInstance[] {
  if (instances.length === 0) throw new SrInputError('evidence.instances', 'must list at least one instance');

  const sopClassByInstance = new Map<string, string>();
  const unique: SrEvidenceInstance[] = [];
  instances.forEach((instance, index) => {
    requireUid(`evidence.instances[${index}].sopClassUid`, instance.sopClassUid);
    requireUid(`evidence.instances[${index}].sopInstanceUid`, instance.sopInstanceUid);

    const knownSopClass = sopClassByInstance.get(instance.sopInstanceUid);
    if (knownSopClass === undefined) {
      sopClassByInstance.set(instance.sopInstanceUid, instance.sopClassUid);
      unique.push({ sopClassUid: instance.sopClassUid, sopInstanceUid: instance.sopInstanceUid });
    } else if (knownSopClass !== instance.sopClassUid) {
      throw new SrInputError(
        `evidence.instances[${index}]`,
        `SOPInstanceUID ${instance.sopInstanceUid} is listed with two different SOP classes`,
      );
    }
  });
  return unique;
}

function requireUid(field: string, value: string): void {
  if (!isValidUid(value)) throw new SrInputError(field, `"${value}" is not a valid UID`);
}

function requirePositiveInteger(field: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 1 || value > MAX_IS_VALUE) {
    throw new SrInputError(field, `expected an integer from 1 to ${MAX_IS_VALUE}, got ${value}`);
  }
}
