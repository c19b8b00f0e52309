/**
 * Series selection: picks the series of a study that the model reads, from header summaries stored at
 * ingest, and gives every series a decision with a stable code and an English reason. The rule is the
 * CT series with the most ORIGINAL axial slices. Instances that cannot be slices (localizers, derived
 * or non-CT images) are skipped inside a series and counted in its reason.
 */
import {
  classifyInstance,
  DEFAULT_MAX_AXIAL_ANGLE_DEGREES,
  type InstanceSummary,
  type InstanceVerdict,
} from './instance-rules.ts';
import { describeSopClass } from './sop-classes.ts';

export interface SeriesSummary {
  seriesInstanceUid: string;
  modality?: string;
  seriesDescription?: string;
  instances: InstanceSummary[];
}

export type SelectionReasonCode =
  | 'selected'
  | 'no_instances'
  | 'not_ct'
  | 'no_original_axial'
  | 'too_few_slices'
  | 'fewer_slices_than_selected'
  | 'tied_with_selected';

export interface SeriesDecision {
  seriesInstanceUid: string;
  selected: boolean;
  reasonCode: SelectionReasonCode;
  reason: string;
  usableInstanceCount: number;
}

export interface SelectionRules {
  /** Minimum number of usable slices for a series to be a candidate. */
  minSlices: number;
  /** Maximum angle in degrees between slice normal and feet-head axis for an axial plane (default 45). */
  maxAxialAngleDegrees?: number;
}

export interface SelectionResult {
  /** SeriesInstanceUID of the selected series; undefined when no series qualifies. */
  selected?: string;
  /** One decision per input series, in input order. */
  decisions: SeriesDecision[];
  /** SOPInstanceUIDs of the usable slices of every series, deduplicated, in input order. */
  usableInstances: Map<string, string[]>;
}

interface SeriesAssessment {
  series: SeriesSummary;
  /** Number of distinct SOPInstanceUIDs in the series. */
  distinct: number;
  usable: string[];
  skipped: Map<InstanceVerdict, number>;
  nonCtClasses: Map<string, number>;
}

/** Selects the CT series with the most ORIGINAL axial slices and records a decision for every series. */
export function selectSeries(series: SeriesSummary[], rules: SelectionRules): SelectionResult {
  const maxAngle = rules.maxAxialAngleDegrees ?? DEFAULT_MAX_AXIAL_ANGLE_DEGREES;
  const assessments = series.map((summary) => assessSeries(summary, maxAngle));

  const candidates = assessments
    .filter((assessment) => assessment.usable.length >= rules.minSlices && assessment.usable.length > 0)
    // Most usable slices first; equal counts fall back to SeriesInstanceUID so the choice is repeatable.
    .sort(
      (a, b) =>
        b.usable.length - a.usable.length ||
        compareStrings(a.series.seriesInstanceUid, b.series.seriesInstanceUid),
    );
  const winner = candidates[0];

  const decisions = assessments.map((assessment) => decide(assessment, winner, rules.minSlices));
  const usableInstances = new Map(
    assessments.map((assessment) => [assessment.series.seriesInstanceUid, assessment.usable]),
  );
  return { selected: winner?.series.seriesInstanceUid, decisions, usableInstances };
}

function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function assessSeries(series: SeriesSummary, maxAngle: number): SeriesAssessment {
  const usable: string[] = [];
  const skipped = new Map<InstanceVerdict, number>();
  const nonCtClasses = new Map<string, number>();
  const seen = new Set<string>();

  for (const instance of series.instances) {
    // A resent instance is one slice, not two.
    if (seen.has(instance.sopInstanceUid)) continue;
    seen.add(instance.sopInstanceUid);

    const verdict = classifyInstance(instance, maxAngle);
    if (verdict === 'usable') {
      usable.push(instance.sopInstanceUid);
      continue;
    }
    skipped.set(verdict, (skipped.get(verdict) ?? 0) + 1);
    if (verdict === 'not_ct_image') {
      const name = describeSopClass(instance.sopClassUid);
      nonCtClasses.set(name, (nonCtClasses.get(name) ?? 0) + 1);
    }
  }
  return { series, distinct: seen.size, usable, skipped, nonCtClasses };
}

function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

/** Describes the skipped instances, for example "skipped 1 localizer and 6 non-CT images (...)". */
function describeSkipped(assessment: SeriesAssessment): string {
  const { skipped, nonCtClasses } = assessment;
  const parts: string[] = [];
  const localizers = skipped.get('localizer') ?? 0;
  const derived = skipped.get('not_original') ?? 0;
  const notAxial = skipped.get('not_axial') ?? 0;
  const noGeometry = skipped.get('missing_geometry') ?? 0;
  const nonCt = skipped.get('not_ct_image') ?? 0;

  if (localizers > 0) parts.push(plural(localizers, 'localizer'));
  if (derived > 0) parts.push(`${plural(derived, 'image')} whose ImageType is not ORIGINAL`);
  if (notAxial > 0) parts.push(`${plural(notAxial, 'image')} not in an axial plane`);
  if (noGeometry > 0) {
    parts.push(`${plural(noGeometry, 'image')} without ImageOrientationPatient or ImagePositionPatient`);
  }
  if (nonCt > 0) {
    const classes = [...nonCtClasses.entries()].map(([name, count]) => `${count} ${name}`).join(', ');
    parts.push(`${plural(nonCt, 'instance')} that are not CT Image Storage (${classes})`);
  }
  return parts.length === 0 ? 'nothing was skipped' : `skipped ${parts.join(', ')}`;
}

function decide(assessment: SeriesAssessment, winner: SeriesAssessment | undefined, minSlices: number): SeriesDecision {
  const { series, usable } = assessment;
  const count = usable.length;
  const skipped = describeSkipped(assessment);
  const make = (reasonCode: SelectionReasonCode, reason: string, selected = false): SeriesDecision => ({
    seriesInstanceUid: series.seriesInstanceUid,
    selected,
    reasonCode,
    reason,
    usableInstanceCount: count,
  });

  if (series.instances.length === 0) return make('no_instances', 'The series has no instances.');
  if ((assessment.skipped.get('not_ct_image') ?? 0) === assessment.distinct) {
    return make('not_ct', `The series has no CT Image Storage instances; ${skipped}.`);
  }
  if (count === 0) return make('no_original_axial', `The series has no ORIGINAL axial CT slices; ${skipped}.`);
  if (count < minSlices) {
    return make(
      'too_few_slices',
      `The series has ${plural(count, 'ORIGINAL axial CT slice')}, fewer than the ${minSlices} required; ${skipped}.`,
    );
  }
  if (assessment === winner) {
    return make(
      'selected',
      `Selected: ${plural(count, 'ORIGINAL axial CT slice')}, the most of any series; ${skipped}.`,
      true,
    );
  }

  const winnerCount = winner?.usable.length ?? 0;
  if (count === winnerCount) {
    return make(
      'tied_with_selected',
      `The series has ${plural(count, 'ORIGINAL axial CT slice')}, as many as the selected series, which ` +
        `won the tie because its SeriesInstanceUID sorts first; ${skipped}.`,
    );
  }
  return make(
    'fewer_slices_than_selected',
    `The series has ${plural(count, 'ORIGINAL axial CT slice')}, fewer than the ${winnerCount} of the ` +
      `selected series; ${skipped}.`,
  );
}
