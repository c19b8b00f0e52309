/**
 * The input of the ORU^R01 builder and the checks that run before a message is built, so that an
 * unusable value fails here with the field named instead of at the RIS.
 */
import { OruR01InputError } from './errors.ts';

/** OBR-25 and OBX-11 result status (HL7 table 0123): preliminary, correction, final. */
export type OruResultStatus = 'P' | 'C' | 'F';

/** OBX-2 of the report text: TX, one row per line, or FT, one row per section with `\.br\` line breaks. */
export type ReportValueType = 'TX' | 'FT';

export interface OruR01Input {
  /** MSH-10. The caller keeps it across retries so that the receiver can drop duplicates. */
  messageControlId: string;
  /** MSH-7. */
  createdAt: Date;
  /** MSH-3 and MSH-4. */
  sendingApplication: string;
  sendingFacility: string;
  /** MSH-5 and MSH-6. */
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-11 (HL7 table 0103): P production (the default), T training, D debugging. */
  processingId?: 'P' | 'T' | 'D';
  patient: {
    /** PID-3.1. */
    id: string;
    /** PID-3.4, the assigning authority (DICOM IssuerOfPatientID). */
    issuer?: string;
    /** PID-5.1 and PID-5.2. */
    familyName?: string;
    givenName?: string;
    /** PID-7 as YYYYMMDD (YYYY and YYYYMM are accepted too). */
    birthDate?: string;
    /** PID-8 (HL7 table 0001: F, M, O, U, ...). */
    sex?: string;
  };
  order: {
    /** ORC-2.1 and OBR-2.1, with the namespace ID of the placer in ORC-2.2 and OBR-2.2. */
    placerOrderNumber?: string;
    placerOrderNamespace?: string;
    /** ORC-3.1 and OBR-3.1, with the namespace ID of the filler in ORC-3.2 and OBR-3.2. */
    fillerOrderNumber?: string;
    fillerOrderNamespace?: string;
    /** OBR-18. */
    accessionNumber?: string;
    /** OBR-19, the requested procedure ID as IHE Scheduled Workflow places it. */
    requestedProcedureId?: string;
    /** OBR-4.1, OBR-4.2 and OBR-4.3. */
    procedureCode?: string;
    procedureText?: string;
    procedureCodingSystem?: string;
    /** Written as an OBX row coded DCM 113014 "Study". */
    studyInstanceUid: string;
    /**
     * OBR-7: a Date (written in UTC), or an HL7 DTM string such as the study's DICOM date and time,
     * which carry no time zone and are written as they are.
     */
    observationAt?: Date | string;
  };
  result: {
    /** OBR-25 and OBX-11 of every row. */
    status: OruResultStatus;
    /** OBR-22. */
    reportedAt: Date;
    /** Report sections; empty text gives no rows. */
    findings: string;
    impression: string;
    /** OBX-2 of the text rows; absent: TX rows without labels. */
    valueType?: ReportValueType;
    /** Starts each section with its label (FINDINGS:, IMPRESSION:). */
    sectionLabels?: boolean;
  };
  /** Unless `clinicalUse` is true, the notice row and the Algorithm Name state that the model is not for clinical use. */
  model: { name: string; version: string; deviceUid: string; clinicalUse?: boolean };
}

/** MSH-10 is an ST of at most 20 characters in HL7 v2.5.1, and receivers may truncate a longer one. */
export const MESSAGE_CONTROL_ID_MAX_LENGTH = 20;
/** Printable ASCII without the delimiters, so MSH-10 needs no escaping and MSA-2 matches it byte for byte. */
const MESSAGE_CONTROL_ID_PATTERN = /^[!-~]+$/;
const HL7_DELIMITER_PATTERN = /[|^~\\&]/;
/** HL7 DT: YYYY, YYYYMM or YYYYMMDD. */
const HL7_DATE_PATTERN = /^\d{4}(?:\d{2}){0,2}$/;
/** HL7 DTM: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]. */
const HL7_DATE_TIME_PATTERN = /^\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,4})?)?)?)?)?)?(?:[+-]\d{4})?$/;

/** Returns true when `id` can be an MSH-10 of this service. */
export function isValidMessageControlId(id: string): boolean {
  return (
    id.length > 0 &&
    id.length <= MESSAGE_CONTROL_ID_MAX_LENGTH &&
    MESSAGE_CONTROL_ID_PATTERN.test(id) &&
    !HL7_DELIMITER_PATTERN.test(id)
  );
}

/** Throws OruR01InputError naming the first value that is missing or cannot be carried in HL7 v2.5.1. */
export function validateOruR01Input(input: OruR01Input): void {
  const id = input.messageControlId;
  if (!isValidMessageControlId(id)) {
    const rule = `1 to ${MESSAGE_CONTROL_ID_MAX_LENGTH} printable ASCII characters without | ^ ~ \\ &`;
    throw new OruR01InputError(`MSH-10 "${id}" is invalid: use ${rule}`);
  }
  if (input.patient.id === '') throw new OruR01InputError(`ORU^R01 ${id}: PID-3 (patient.id) is missing`);
  if (input.order.studyInstanceUid === '') {
    throw new OruR01InputError(`ORU^R01 ${id}: the Study Instance UID (order.studyInstanceUid) is missing`);
  }
  const birthDate = input.patient.birthDate;
  if (birthDate !== undefined && birthDate !== '' && !HL7_DATE_PATTERN.test(birthDate)) {
    // The value itself is a birth date, so the message leaves it out.
    throw new OruR01InputError(`ORU^R01 ${id}: PID-7 (patient.birthDate) is not YYYYMMDD`);
  }

  const observationAt = input.order.observationAt;
  if (typeof observationAt === 'string' && observationAt !== '' && !HL7_DATE_TIME_PATTERN.test(observationAt)) {
    throw new OruR01InputError(`ORU^R01 ${id}: OBR-7 (order.observationAt) "${observationAt}" is not an HL7 DTM`);
  }
  const dates: Array<[string, Date | undefined]> = [
    ['MSH-7 (createdAt)', input.createdAt],
    ['OBR-22 (result.reportedAt)', input.result.reportedAt],
    ['OBR-7 (order.observationAt)', observationAt instanceof Date ? observationAt : undefined],
  ];
  for (const [name, date] of dates) {
    if (date !== undefined && Number.isNaN(date.getTime())) {
      throw new OruR01InputError(`ORU^R01 ${id}: ${name} is an invalid Date`);
    }
  }
}
