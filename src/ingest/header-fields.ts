/**
 * Reads the attributes the database keeps from a naturalized header (dcmjs's, or the listener's own
 * header capture, which uses the same keyword names). A single value may be a scalar or a one-element
 * array depending on the element, a multi-valued string may be one backslash-separated string, and
 * person names may be objects, so every attribute goes through one of these readers.
 */
import type { InstanceFields, SeriesFields, StudyFields } from '../db/queries/ingest.ts';
import type { NaturalDataset } from '../dicom/part10.ts';

export function stringValue(dataset: NaturalDataset, keyword: string): string | null {
  const value = dataset[keyword];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined || first === null) return null;
  const text = String(first).trim();
  return text === '' ? null : text;
}

export function stringValues(dataset: NaturalDataset, keyword: string): string[] | null {
  const value = dataset[keyword];
  if (value === undefined || value === null || value === '') return null;
  const values = Array.isArray(value) ? value : String(value).split('\\');
  return values.map((item) => String(item).trim());
}

export function numberValue(dataset: NaturalDataset, keyword: string): number | null {
  const value = dataset[keyword];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined || first === null || first === '') return null;
  const number = Number(first);
  return Number.isFinite(number) ? number : null;
}

export function numberValues(dataset: NaturalDataset, keyword: string, expectedCount: number): number[] | null {
  const value = dataset[keyword];
  if (value === undefined || value === null || value === '') return null;
  const values = (Array.isArray(value) ? value : String(value).split('\\')).map(Number);
  return values.length === expectedCount && values.every(Number.isFinite) ? values : null;
}

/** Person Name as its alphabetic component group in DICOM form (Family^Given^Middle^Prefix^Suffix). */
export function personNameValue(dataset: NaturalDataset, keyword: string): string | null {
  const value = dataset[keyword];
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined || first === null) return null;
  if (typeof first === 'object') {
    const alphabetic = (first as { Alphabetic?: unknown }).Alphabetic;
    return typeof alphabetic === 'string' && alphabetic.trim() !== '' ? alphabetic.trim() : null;
  }
  const text = String(first).trim();
  return text === '' ? null : text;
}

/** Study columns from the header of an instance; the first instance of a study sets them. */
export function studyFields(dataset: NaturalDataset, id: string, studyInstanceUid: string): StudyFields {
  return {
    id,
    studyInstanceUid,
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
  };
}

export function seriesFields(dataset: NaturalDataset, id: string, seriesInstanceUid: string): SeriesFields {
  return {
    id,
    seriesInstanceUid,
    modality: stringValue(dataset, 'Modality'),
    seriesNumber: integerOrNull(numberValue(dataset, 'SeriesNumber')),
    seriesDescription: stringValue(dataset, 'SeriesDescription'),
  };
}

/** Instance columns: the given identity and file fields plus what selection reads from the header. */
export function instanceFields(
  dataset: NaturalDataset,
  fields: Omit<InstanceFields, 'modality' | 'instanceNumber' | 'imageType' | 'imagePositionPatient' | 'imageOrientationPatient' | 'rows' | 'columns'>,
): InstanceFields {
  return {
    ...fields,
    modality: stringValue(dataset, 'Modality'),
    instanceNumber: integerOrNull(numberValue(dataset, 'InstanceNumber')),
    imageType: stringValues(dataset, 'ImageType'),
    imagePositionPatient: numberValues(dataset, 'ImagePositionPatient', 3),
    imageOrientationPatient: numberValues(dataset, 'ImageOrientationPatient', 6),
    rows: integerOrNull(numberValue(dataset, 'Rows')),
    columns: integerOrNull(numberValue(dataset, 'Columns')),
  };
}

function integerOrNull(value: number | null): number | null {
  return value !== null && Number.isInteger(value) ? value : null;
}
