/**
 * Builds the Basic Text SR that carries a draft report back to the PACS. It belongs to the study of the
 * analysed images but opens a new series, contains the TID 2000 content tree, lists the analysed instances
 * as evidence and names the model as Device Observer, Manufacturer and Contributing Equipment. The
 * result is a Part 10 file in Explicit VR Little Endian.
 */
import { generateUid } from '../../dicom/uid.ts';
import { buildContentTree } from './content-tree.ts';
import { writePart10, type NaturalizedDataset } from './dcmjs-part10.ts';
import { Codes } from './sr-codes.ts';
import { copyableSourceAttributes } from './source-modules.ts';
import { validateSrInput, type SrEvidenceInstance, type SrInput, type SrPredecessor, type SrRequest } from './sr-input.ts';

export type { SrInput, SrPredecessor, SrRequest } from './sr-input.ts';

/** PS3.6 Annex A: Basic Text SR Storage. */
export const BASIC_TEXT_SR_STORAGE = '1.2.840.10008.5.1.4.1.1.88.11';

/** SeriesDescription shown in PACS series lists: the content is machine-written and unverified. */
export const SERIES_DESCRIPTION = 'AI-generated draft report - NOT VERIFIED';

/**
 * Series number when the caller gives none. Viewers sort series by number, and a high number puts the
 * AI report after the acquired series, which modalities usually number from 1.
 */
const DEFAULT_SERIES_NUMBER = 9001;

export interface BuiltSr {
  part10: Buffer;
  sopInstanceUid: string;
  seriesInstanceUid: string;
}

/**
 * Builds a Basic Text SR for one draft report. Throws SrInputError when a UID, the model identity or a
 * number is invalid, and InvalidUidRootError for an unusable `uidRoot`. Patient and study attributes
 * are copied from `input.study`, and the Type 2 ones are written empty when absent.
 */
export function buildBasicTextSr(input: SrInput): BuiltSr {
  const evidence = validateSrInput(input);
  const seriesInstanceUid = input.seriesInstanceUid ?? generateUid(input.uidRoot);
  const sopInstanceUid = generateUid(input.uidRoot);
  const created = dicomDateTime(input.createdAt);
  const { model, study } = input;

  const content = buildContentTree(input.report, {
    name: model.name,
    version: model.version,
    manufacturer: model.manufacturer,
    deviceUid: model.deviceUid,
  });
  // CompletionFlag describes the content, not its review: the report is whole when both sections have
  // text. The missing review is stated by VerificationFlag and PreliminaryFlag.
  const completion =
    content.missingSections.length === 0
      ? { CompletionFlag: 'COMPLETE' }
      : {
          CompletionFlag: 'PARTIAL',
          CompletionFlagDescription: `Model output had no ${content.missingSections.join(' or ')} text`,
        };

  const dataset: NaturalizedDataset & { SOPClassUID: string; SOPInstanceUID: string } = {
    // SOP Common
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: BASIC_TEXT_SR_STORAGE,
    SOPInstanceUID: sopInstanceUid,
    InstanceCreationDate: created.date,
    InstanceCreationTime: created.time,
    TimezoneOffsetFromUTC: '+0000',

    // Patient: Type 2, except IssuerOfPatientID (Type 3), which is written only when known.
    PatientName: study.patientName ?? '',
    PatientID: study.patientId ?? '',
    ...(study.issuerOfPatientId !== undefined ? { IssuerOfPatientID: study.issuerOfPatientId } : {}),
    PatientBirthDate: study.patientBirthDate ?? '',
    PatientSex: study.patientSex ?? '',

    // General Study: Type 2, except StudyInstanceUID (Type 1).
    StudyInstanceUID: study.studyInstanceUid,
    StudyDate: study.studyDate ?? '',
    StudyTime: study.studyTime ?? '',
    ReferringPhysicianName: study.referringPhysicianName ?? '',
    StudyID: study.studyId ?? '',
    AccessionNumber: study.accessionNumber ?? '',

    // Patient, General Study and Patient Study attributes as the analysed instance has them.
    ...copyableSourceAttributes(input.sourceAttributes),

    // SR Document Series
    Modality: 'SR',
    SeriesInstanceUID: seriesInstanceUid,
    SeriesNumber: input.seriesNumber ?? DEFAULT_SERIES_NUMBER,
    SeriesDate: created.date,
    SeriesTime: created.time,
    SeriesDescription: SERIES_DESCRIPTION,
    ReferencedPerformedProcedureStepSequence: [],

    // General Equipment: the equipment that created the SR is the model. dciodvfy reports Device UID
    // as outside the IOD at this level, so it appears only in the Contributing Equipment item.
    Manufacturer: model.manufacturer,
    ManufacturerModelName: model.name,
    SoftwareVersions: model.version,

    // SR Document General
    InstanceNumber: input.instanceNumber ?? 1,
    ...completion,
    PreliminaryFlag: 'PRELIMINARY',
    VerificationFlag: 'UNVERIFIED',
    ContentDate: created.date,
    ContentTime: created.time,
    PerformedProcedureCodeSequence: [],
    CurrentRequestedProcedureEvidenceSequence: [
      evidenceStudyItem(study.studyInstanceUid, input.evidence.seriesInstanceUid, evidence),
    ],
    ...referencedRequest(study.studyInstanceUid, input.request),
    ...predecessorDocuments(input.predecessor),

    // SOP Common: the model as Contributing Equipment, with its version and device UID.
    ContributingEquipmentSequence: [
      {
        PurposeOfReferenceCodeSequence: [Codes.ProcessingAlgorithm],
        Manufacturer: model.manufacturer,
        ManufacturerModelName: model.name,
        SoftwareVersions: model.version,
        // NOTE: dciodvfy (dicom3tools 1.00~20220618) warns that Device UID is not part of this IOD, which
        // makes the SR a Standard Extended SOP Class. It stays because it is the model's identifier;
        // whether the current PS3.3 lists it in Contributing Equipment items was not checked.
        DeviceUID: model.deviceUid,
        ContributionDateTime: `${created.date}${created.time}+0000`,
        ContributionDescription: 'Draft report generated by an AI model',
      },
    ],

    // SR Document Content: the root content item and its tree.
    ...content.rootAttributes,
  };

  return { part10: writePart10(dataset), sopInstanceUid, seriesInstanceUid };
}

/**
 * Returns the Referenced Request Sequence (SR Document General Module, PS3.3 C.17.2) when the request
 * is known by an accession number or a requested procedure. Its Type 2 attributes are written empty when
 * unknown.
 */
function referencedRequest(studyInstanceUid: string, request: SrRequest | undefined): NaturalizedDataset {
  if (request === undefined) return {};
  const { accessionNumber, requestedProcedureId, requestedProcedureDescription, requestedProcedureCode } = request;
  const known = [accessionNumber, requestedProcedureId, requestedProcedureDescription, requestedProcedureCode?.value];
  if (known.every((value) => value === undefined || value === '')) return {};

  return {
    ReferencedRequestSequence: [
      {
        StudyInstanceUID: studyInstanceUid,
        ReferencedStudySequence: [],
        AccessionNumber: accessionNumber ?? '',
        PlacerOrderNumberImagingServiceRequest: request.placerOrderNumber ?? '',
        FillerOrderNumberImagingServiceRequest: request.fillerOrderNumber ?? '',
        RequestedProcedureID: requestedProcedureId ?? '',
        RequestedProcedureDescription: requestedProcedureDescription ?? '',
        RequestedProcedureCodeSequence:
          requestedProcedureCode === undefined
            ? []
            : [
                {
                  CodeValue: requestedProcedureCode.value,
                  CodingSchemeDesignator: requestedProcedureCode.scheme,
                  CodeMeaning: requestedProcedureCode.meaning,
                },
              ],
      },
    ],
  };
}

/** Returns the Predecessor Documents Sequence of a corrected report (PS3.3 C.17.2, Table C.17-3 items). */
function predecessorDocuments(predecessor: SrPredecessor | undefined): NaturalizedDataset {
  if (predecessor === undefined) return {};
  return {
    PredecessorDocumentsSequence: [
      evidenceStudyItem(predecessor.studyInstanceUid, predecessor.seriesInstanceUid, [
        { sopClassUid: predecessor.sopClassUid, sopInstanceUid: predecessor.sopInstanceUid },
      ]),
    ],
  };
}

/** Builds the evidence item, a Hierarchical SOP Instance Reference Macro (PS3.3 Table C.17-3). */
function evidenceStudyItem(
  studyInstanceUid: string,
  seriesInstanceUid: string,
  instances: SrEvidenceInstance[],
): NaturalizedDataset {
  return {
    StudyInstanceUID: studyInstanceUid,
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: seriesInstanceUid,
        ReferencedSOPSequence: instances.map((instance) => ({
          ReferencedSOPClassUID: instance.sopClassUid,
          ReferencedSOPInstanceUID: instance.sopInstanceUid,
        })),
      },
    ],
  };
}

/** Formats `moment` in UTC as DA (YYYYMMDD) and TM (HHMMSS.FFF). */
function dicomDateTime(moment: Date): { date: string; time: string } {
  const iso = moment.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const date = iso.slice(0, 10).replaceAll('-', '');
  const time = `${iso.slice(11, 19).replaceAll(':', '')}.${iso.slice(20, 23)}`;
  return { date, time };
}
