/**
 * The coded concepts of the Basic Text SR this service writes. Code values and meanings are those of
 * PS3.16 (DCM codes from Annex D, the report title from CID 7000, the equipment purpose from CID 7005,
 * the language from CID 5000 as an RFC 5646 tag). Each was checked against the PS3.16-generated concept
 * table of pydicom 2.3.1; the language and device observer items are coded as in the SR samples that
 * highdicom writes.
 */

export interface CodedConcept {
  CodeValue: string;
  CodingSchemeDesignator: string;
  CodeMeaning: string;
}

function code(CodeValue: string, CodingSchemeDesignator: string, CodeMeaning: string): CodedConcept {
  return { CodeValue, CodingSchemeDesignator, CodeMeaning };
}

export const Codes = {
  /** Document title of TID 2000 (CID 7000). */
  DiagnosticImagingReport: code('18748-4', 'LN', 'Diagnostic Imaging Report'),
  /** TID 1204 concept name. */
  LanguageOfContentItemAndDescendants: code('121049', 'DCM', 'Language of Content Item and Descendants'),
  /** CID 5000 value; the model writes English reports. */
  English: code('en', 'RFC5646', 'English'),
  /** TID 1002 concept name and its value for an automated observer. */
  ObserverType: code('121005', 'DCM', 'Observer Type'),
  Device: code('121007', 'DCM', 'Device'),
  /** TID 1004 Device Observer Identifying Attributes. */
  DeviceObserverUid: code('121012', 'DCM', 'Device Observer UID'),
  DeviceObserverName: code('121013', 'DCM', 'Device Observer Name'),
  DeviceObserverManufacturer: code('121014', 'DCM', 'Device Observer Manufacturer'),
  DeviceObserverModelName: code('121015', 'DCM', 'Device Observer Model Name'),
  /** Section headings (CID 7001) and the text items inside them (CID 7002). */
  Findings: code('121070', 'DCM', 'Findings'),
  Finding: code('121071', 'DCM', 'Finding'),
  Impressions: code('121072', 'DCM', 'Impressions'),
  Impression: code('121073', 'DCM', 'Impression'),
  /** CID 7005 purpose of reference for equipment that processed the data. */
  ProcessingEquipment: code('109102', 'DCM', 'Processing Equipment'),
  /**
   * Purpose of reference "Processing Algorithm" that IHE AI Results requires in the Contributing
   * Equipment Sequence. NOTE: CID 7005 has no such code (checked against the 2024 value set as published
   * in bvdh/dicom-terminology-in-fhir), so this is the code of the IHE scheme 99IHE that MONAI Label
   * writes for it. Replace it once DICOM assigns one.
   */
  ProcessingAlgorithm: code('Newcode1', '99IHE', 'Processing Algorithm'),
} as const satisfies Record<string, CodedConcept>;
