/**
 * Splits generated report text into its Findings and Impression sections.
 *
 * The models are trained to write "Findings: ... Impression: ..."; the markers are matched without
 * regard to case and only as whole words followed by a colon, so "FINDINGS:" works and "impressions"
 * inside a sentence does not split the text. Text without markers is all findings, because a report
 * section must not be lost even when the model ignores the format.
 */

export interface ReportSections {
  findings: string;
  impression: string;
}

const FINDINGS_MARKER = /\bfindings\s*:/i;
const IMPRESSION_MARKER = /\bimpression\s*:/i;

/**
 * C0 control characters other than TAB and LF, DEL, C1 controls and U+FFFD (what a byte-level tokenizer
 * decodes from an incomplete UTF-8 sequence). None belongs in a report, and HL7 and DICOM text both
 * restrict control characters.
 */
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\ufffd]/g;

/** Removes characters that have no place in report text and turns CR LF and lone CR into LF. */
export function cleanGeneratedText(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(UNPRINTABLE, '');
}

export function splitReportSections(text: string): ReportSections {
  const findingsMatch = FINDINGS_MARKER.exec(text);
  const findingsStart = findingsMatch === null ? 0 : findingsMatch.index + findingsMatch[0].length;

  const impressionMatch = IMPRESSION_MARKER.exec(text.slice(findingsStart));
  if (impressionMatch === null) {
    return { findings: text.slice(findingsStart).trim(), impression: '' };
  }

  const impressionIndex = findingsStart + impressionMatch.index;
  // Text before the Findings marker (a title, a technique line) stays only in the full report text.
  const findings = text.slice(findingsStart, impressionIndex);
  const impression = text.slice(impressionIndex + impressionMatch[0].length);
  return { findings: findings.trim(), impression: impression.trim() };
}
