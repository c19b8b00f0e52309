/**
 * Copies the Patient, General Study and Patient Study modules of an analysed instance into the SR, so
 * that the report shows the same patient and study details as the images in a PACS viewer. Only the
 * attributes of those modules (PS3.3 C.7.1.1, C.7.2.1, C.7.2.2) are copied, and only when they have a
 * value: an empty Type 1C or Type 3 attribute in the source would make the SR invalid.
 */
import { readFile } from 'node:fs/promises';

import { readPart10, type NaturalizedDataset } from './dcmjs-part10.ts';

/** Keywords of the copied modules. SpecificCharacterSet is not among them: the SR is always ISO_IR 192. */
const SOURCE_MODULE_KEYWORDS = new Set([
  // Patient Module
  'PatientName',
  'PatientID',
  'IssuerOfPatientID',
  'IssuerOfPatientIDQualifiersSequence',
  'TypeOfPatientID',
  'PatientBirthDate',
  'PatientBirthTime',
  'PatientSex',
  'OtherPatientIDsSequence',
  'OtherPatientNames',
  'EthnicGroup',
  'PatientComments',
  'PatientSpeciesDescription',
  'PatientSpeciesCodeSequence',
  'PatientBreedDescription',
  'PatientBreedCodeSequence',
  'ResponsiblePerson',
  'ResponsiblePersonRole',
  'ResponsibleOrganization',
  'PatientIdentityRemoved',
  'DeidentificationMethod',
  'DeidentificationMethodCodeSequence',
  // General Study Module (StudyInstanceUID is always the analysed study's and is set separately)
  'StudyDate',
  'StudyTime',
  'ReferringPhysicianName',
  'ReferringPhysicianIdentificationSequence',
  'ConsultingPhysicianName',
  'StudyID',
  'AccessionNumber',
  'IssuerOfAccessionNumberSequence',
  'StudyDescription',
  'PhysiciansOfRecord',
  'NameOfPhysiciansReadingStudy',
  'RequestingServiceCodeSequence',
  'ProcedureCodeSequence',
  'ReasonForPerformedProcedureCodeSequence',
  // Patient Study Module
  'AdmittingDiagnosesDescription',
  'AdmittingDiagnosesCodeSequence',
  'PatientAge',
  'PatientSize',
  'PatientWeight',
  'Occupation',
  'AdditionalPatientHistory',
  'PatientSexNeutered',
  'SmokingStatus',
  'PregnancyStatus',
  'LastMenstrualDate',
]);

/**
 * Reads the copied modules from a Part 10 file. Throws when the file cannot be read or decoded (for
 * example a SpecificCharacterSet that dcmjs cannot decode); the caller falls back to the study row.
 */
export async function readSourceAttributes(path: string): Promise<NaturalizedDataset> {
  const { dataset } = readPart10(await readFile(path));
  return copyableSourceAttributes(dataset);
}

/** Returns the attributes of `dataset` that belong to the copied modules and have a value. */
export function copyableSourceAttributes(dataset: NaturalizedDataset | undefined): NaturalizedDataset {
  const copied: NaturalizedDataset = {};
  for (const [keyword, value] of Object.entries(dataset ?? {})) {
    if (!SOURCE_MODULE_KEYWORDS.has(keyword) || isEmpty(value)) continue;
    copied[keyword] = value;
  }
  return copied;
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0 || value.every((item) => isEmpty(item));
  return false;
}
