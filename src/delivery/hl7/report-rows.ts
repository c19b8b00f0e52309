/**
 * The OBX rows that carry the report text. A receiver chooses one of two forms:
 * - TX: one row per line of text; CR, LF and CR LF all end a line, and an empty line is an empty row.
 * - FT: one row per section; lines are joined with the formatting escape `\.br\`.
 * Either way each value is escaped, so no field contains a delimiter or a raw line break. With section
 * labels, each section starts with "FINDINGS:" or "IMPRESSION:" for receivers that show only OBX-5.
 */
import { escapeHl7Text } from './escape.ts';
import { FINDINGS, IMPRESSIONS, type CodedConcept } from './observation-codes.ts';
import type { ReportValueType } from './oru-r01-input.ts';

export interface ObservationRow {
  valueType: 'ST' | ReportValueType;
  concept: CodedConcept;
  /** OBX-5, already escaped for the default delimiters. */
  escapedValue: string;
}

/** Section labels as they open each section's text. */
export const SECTION_LABELS = { findings: 'FINDINGS:', impression: 'IMPRESSION:' } as const;

/** HL7 v2 formatted text (FT) line break (HL7 v2.5.1 section 2.7.6). */
const FT_LINE_BREAK = '\\.br\\';

/** Returns the rows of both sections; a section with empty text gives no rows, and no label either. */
export function reportTextRows(result: {
  findings: string;
  impression: string;
  valueType?: ReportValueType;
  sectionLabels?: boolean;
}): ObservationRow[] {
  const valueType = result.valueType ?? 'TX';
  const labels = result.sectionLabels ?? false;
  return [
    ...sectionRows(FINDINGS, labels ? SECTION_LABELS.findings : undefined, result.findings, valueType),
    ...sectionRows(IMPRESSIONS, labels ? SECTION_LABELS.impression : undefined, result.impression, valueType),
  ];
}

function sectionRows(
  concept: CodedConcept,
  label: string | undefined,
  text: string,
  valueType: ReportValueType,
): ObservationRow[] {
  if (text === '') return [];
  const lines = text.split(/\r\n|\r|\n/);
  if (label !== undefined) lines.unshift(label);

  const escaped = lines.map((line) => escapeHl7Text(line));
  if (valueType === 'FT') return [{ valueType, concept, escapedValue: escaped.join(FT_LINE_BREAK) }];
  return escaped.map((escapedValue) => ({ valueType, concept, escapedValue }));
}
