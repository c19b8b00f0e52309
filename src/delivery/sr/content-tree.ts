/**
 * The SR content tree of TID 2000 Basic Diagnostic Imaging Report, limited to what a Basic Text SR may
 * hold. A root CONTAINER titled "Diagnostic Imaging Report" carries the language of the content
 * (TID 1204) and a device observer naming the model (TID 1002 with TID 1004: UID, name and version,
 * manufacturer, model name). Below it, the Findings
 * and Impressions headings (CID 7001) each contain a TID 2002 Report Narrative with one TEXT item per
 * paragraph of the model's text.
 */
import { isNotForClinicalUse } from '../../model/report-text.ts';
import { Codes, type CodedConcept } from './sr-codes.ts';
import type { NaturalizedDataset } from './dcmjs-part10.ts';

export interface ReportText {
  findings: string;
  impression: string;
}

export interface DeviceObserver {
  name: string;
  version: string;
  manufacturer: string;
  deviceUid: string;
  /** Unless true, the Device Observer Name ends in "(NOT FOR CLINICAL USE)". */
  clinicalUse?: boolean;
}

export interface ContentTree {
  /** Attributes of the SR Document Content Module for the root item, in naturalized dcmjs form. */
  rootAttributes: NaturalizedDataset;
  /** Report sections that had no text and were left out. */
  missingSections: ('Findings' | 'Impressions')[];
}

/** Builds the content tree; a section whose text is empty after cleaning is left out and listed. */
export function buildContentTree(report: ReportText, observer: DeviceObserver): ContentTree {
  const missingSections: ContentTree['missingSections'] = [];
  const sections: NaturalizedDataset[] = [];

  const findings = splitParagraphs(report.findings);
  if (findings.length > 0) {
    sections.push(sectionContainer(Codes.Findings, Codes.Finding, findings));
  } else {
    missingSections.push('Findings');
  }

  const impressions = splitParagraphs(report.impression);
  if (impressions.length > 0) {
    sections.push(sectionContainer(Codes.Impressions, Codes.Impression, impressions));
  } else {
    missingSections.push('Impressions');
  }

  const rootAttributes: NaturalizedDataset = {
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [Codes.DiagnosticImagingReport],
    ContinuityOfContent: 'SEPARATE',
    // Template identification: TID 2000 of the DICOM Content Mapping Resource (DCMR).
    ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: '2000' }],
    ContentSequence: [
      codeItem('HAS CONCEPT MOD', Codes.LanguageOfContentItemAndDescendants, Codes.English),
      ...deviceObserverContext(observer),
      ...sections,
    ],
  };
  return { rootAttributes, missingSections };
}

/** Returns the model name and version, followed by "(NOT FOR CLINICAL USE)" unless the model is for clinical use. */
function deviceObserverName(observer: DeviceObserver): string {
  const name = `${observer.name} ${observer.version}`;
  return isNotForClinicalUse(observer) ? `${name} (NOT FOR CLINICAL USE)` : name;
}

/** TID 1002 rows for a device observer followed by TID 1004 Device Observer Identifying Attributes. */
function deviceObserverContext(observer: DeviceObserver): NaturalizedDataset[] {
  return [
    codeItem('HAS OBS CONTEXT', Codes.ObserverType, Codes.Device),
    {
      RelationshipType: 'HAS OBS CONTEXT',
      ValueType: 'UIDREF',
      ConceptNameCodeSequence: [Codes.DeviceObserverUid],
      UID: observer.deviceUid,
    },
    // TID 1004 has no row for a software version, so the device name carries it, as in "argus-demo 0.1.0".
    textItem('HAS OBS CONTEXT', Codes.DeviceObserverName, deviceObserverName(observer)),
    textItem('HAS OBS CONTEXT', Codes.DeviceObserverManufacturer, observer.manufacturer),
    textItem('HAS OBS CONTEXT', Codes.DeviceObserverModelName, observer.name),
  ];
}

function sectionContainer(
  heading: CodedConcept,
  itemConcept: CodedConcept,
  paragraphs: string[],
): NaturalizedDataset {
  return {
    RelationshipType: 'CONTAINS',
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [heading],
    ContinuityOfContent: 'SEPARATE',
    ContentSequence: paragraphs.map((paragraph) => textItem('CONTAINS', itemConcept, paragraph)),
  };
}

function codeItem(relationship: string, concept: CodedConcept, value: CodedConcept): NaturalizedDataset {
  return {
    RelationshipType: relationship,
    ValueType: 'CODE',
    ConceptNameCodeSequence: [concept],
    ConceptCodeSequence: [value],
  };
}

function textItem(relationship: string, concept: CodedConcept, text: string): NaturalizedDataset {
  return {
    RelationshipType: relationship,
    ValueType: 'TEXT',
    ConceptNameCodeSequence: [concept],
    TextValue: text,
  };
}

/**
 * PS3.5 (Table 6.2-1, UT) allows no control characters in text values other than TAB, LF, FF, CR and
 * ESC, and ESC only for ISO 2022 code extensions, which ISO_IR 192 does not use. The others are removed.
 */
const DISALLOWED_CONTROL_CHARACTERS = /[\u0000-\u0008\u000B\u000E-\u001F\u007F]/g;

/**
 * Splits model text into paragraphs at blank lines. Line breaks inside a paragraph become CR LF, so
 * every TEXT item uses one convention whatever the model emitted.
 */
export function splitParagraphs(text: string): string[] {
  const cleaned = text.replace(DISALLOWED_CONTROL_CHARACTERS, '').replace(/\r\n?/g, '\n');
  return cleaned
    .split(/\n[ \t\f]*\n/)
    .map((paragraph) => paragraph.trim())
    .filter((paragraph) => paragraph !== '')
    .map((paragraph) => paragraph.replace(/\n/g, '\r\n'));
}
