/**
 * The optional required-series rule of the completeness check: a study is not complete until, for each
 * rule, one of its series matches all of the rule's criteria (Modality, a SeriesDescription pattern,
 * ImageType values). Pure functions, so the rules can be tested without a database.
 */

export interface RequiredSeriesRule {
  /** Modality (0008,0060), exact match. */
  modality?: string;
  /** Regular expression for SeriesDescription (0008,103E), case-insensitive. */
  seriesDescription?: string;
  /** ImageType (0008,0008) values that one instance of the series must all carry. */
  imageType?: string[];
}

export interface SeriesForRules {
  seriesInstanceUid: string;
  modality: string | null;
  seriesDescription: string | null;
  /** The distinct ImageType lists of the series' instances. */
  imageTypes: string[][];
}

export function seriesMatchesRule(series: SeriesForRules, rule: RequiredSeriesRule): boolean {
  if (rule.modality !== undefined && series.modality?.trim().toUpperCase() !== rule.modality.trim().toUpperCase()) return false;
  if (rule.seriesDescription !== undefined && !new RegExp(rule.seriesDescription, 'i').test(series.seriesDescription ?? '')) return false;
  if (rule.imageType !== undefined) {
    const wanted = rule.imageType.map((value) => value.trim().toUpperCase());
    const carried = series.imageTypes.some((values) => {
      const present = new Set(values.map((value) => value.trim().toUpperCase()));
      return wanted.every((value) => present.has(value));
    });
    if (!carried) return false;
  }
  return true;
}

/** Returns the rules that no series of the study matches. */
export function unmatchedRules(rules: readonly RequiredSeriesRule[], series: readonly SeriesForRules[]): RequiredSeriesRule[] {
  return rules.filter((rule) => !series.some((candidate) => seriesMatchesRule(candidate, rule)));
}

/** Describes a rule in words, for stored reasons: `Modality CT, SeriesDescription /axial/i, ImageType ORIGINAL\AXIAL`. */
export function describeRule(rule: RequiredSeriesRule): string {
  const parts: string[] = [];
  if (rule.modality !== undefined) parts.push(`Modality ${rule.modality}`);
  if (rule.seriesDescription !== undefined) parts.push(`SeriesDescription /${rule.seriesDescription}/i`);
  if (rule.imageType !== undefined) parts.push(`ImageType ${rule.imageType.join('\\')}`);
  return parts.join(', ');
}
