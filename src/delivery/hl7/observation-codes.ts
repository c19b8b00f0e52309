/**
 * Coded concepts for OBX-3 of the ORU^R01. The section headings are the LOINC codes of DICOM PS3.16
 * CID 7001 (Diagnostic Imaging Report Headings), so the HL7 report and the DICOM SR (TID 2000) name their
 * sections the same way. The model rows use DICOM (DCM) concepts from PS3.16 Annex D. Codes and meanings
 * were checked against the DICOM code dictionary in pydicom 2.3.1 (pydicom/sr/_concepts_dict.py).
 */

/** A coded concept as HL7 CE/CWE writes it: identifier ^ text ^ name of coding system (HL7 table 0396). */
export interface CodedConcept {
  code: string;
  meaning: string;
  codingSystem: string;
}

/** LOINC 59776-5 "Findings", the Findings section heading (CID 7001). */
export const FINDINGS: CodedConcept = { code: '59776-5', meaning: 'Findings', codingSystem: 'LN' };

/** LOINC 19005-8 "Impressions", the Impression section heading (CID 7001). */
export const IMPRESSIONS: CodedConcept = { code: '19005-8', meaning: 'Impressions', codingSystem: 'LN' };

/** DCM 113014 "Study": the row with the Study Instance UID, as in dcm4che's IHE MESA-style ORU test messages. */
export const STUDY: CodedConcept = { code: '113014', meaning: 'Study', codingSystem: 'DCM' };

/** DCM 121106 "Comment": the row that states that the report is an unverified AI draft. */
export const COMMENT: CodedConcept = { code: '121106', meaning: 'Comment', codingSystem: 'DCM' };

/** DCM 111001 "Algorithm Name": the model name. */
export const ALGORITHM_NAME: CodedConcept = { code: '111001', meaning: 'Algorithm Name', codingSystem: 'DCM' };

/** DCM 111003 "Algorithm Version": the model version. */
export const ALGORITHM_VERSION: CodedConcept = { code: '111003', meaning: 'Algorithm Version', codingSystem: 'DCM' };

/** DCM 121012 "Device Observer UID": the device UID that the SR also names as its device observer. */
export const DEVICE_OBSERVER_UID: CodedConcept = {
  code: '121012',
  meaning: 'Device Observer UID',
  codingSystem: 'DCM',
};
