/**
 * Series selection: picks the series of a study that the model reads and gives every series a decision
 * with a stable code and an English reason. Slices that cannot be part of the volume (localizers,
 * non-CT or derived images, other planes) are skipped inside a series and counted in its reason. A
 * series qualifies on Modality, SeriesDescription, SliceThickness and slice count. Among qualifying
 * series the preferred ConvolutionKernel wins, then the most slices, then the SeriesInstanceUID that
 * sorts first, so that the choice is repeatable.
 */
import { classifySlices, type InstanceSummary, type PlaneName, type SliceVerdict } from './instance-rules.ts';
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
  | 'modality_excluded'
  | 'description_excluded'
  | 'no_usable_slices'
  | 'slice_thickness_out_of_range'
  | 'too_few_slices'
  | 'kernel_less_preferred'
  | 'fewer_slices_than_selected'
  | 'tied_with_selected';

export interface SeriesDecision {
  seriesInstanceUid: string;
  selected: boolean;
  reasonCode: SelectionReasonCode;
  reason: string;
  /** Usable slices: frames of multi-frame images count one each. */
  usableInstanceCount: number;
}

export interface SelectionRules {
  /** Minimum number of usable slices for a series to be a candidate. */
  minSlices: number;
  /** Modality values accepted (default CT). */
  modalities?: string[];
  /** ImageType values every slice must have (default ORIGINAL, PRIMARY, AXIAL). */
  requiredImageType?: string[];
  /** ImageType values that exclude a slice (default LOCALIZER, which is always excluded). */
  excludedImageType?: string[];
  /** Inclusive SliceThickness range in mm that every usable slice must be in; absent: any thickness. */
  sliceThicknessMm?: { min: number; max: number };
  /** Case-insensitive regular expressions for ConvolutionKernel, most preferred first. */
  preferredKernels?: string[];
  /** Case-insensitive regular expression that SeriesDescription must match. */
  seriesDescriptionPattern?: string;
  /** Case-insensitive regular expression that excludes a series by SeriesDescription. */
  excludedSeriesDescriptionPattern?: string;
  /** Planes accepted, named from ImageOrientationPatient (default axial). */
  orientations?: PlaneName[];
}

export interface SelectionResult {
  /** SeriesInstanceUID of the selected series; undefined when no series qualifies. */
  selected?: string;
  /** One decision per input series, in input order. */
  decisions: SeriesDecision[];
  /** SOPInstanceUIDs of the instances with usable slices, per series, deduplicated, in input order. */
  usableInstances: Map<string, string[]>;
}

const DEFAULT_MODALITIES = ['CT'];
const DEFAULT_REQUIRED_IMAGE_TYPE = ['ORIGINAL', 'PRIMARY', 'AXIAL'];
const DEFAULT_EXCLUDED_IMAGE_TYPE = ['LOCALIZER'];
const DEFAULT_ORIENTATIONS: PlaneName[] = ['axial'];
/** Thickness values closer than this (mm) to a limit count as on it, because DS values are rounded decimals. */
const THICKNESS_EPSILON_MM = 1e-6;

interface SeriesAssessment {
  series: SeriesSummary;
  usableInstances: string[];
  usableSlices: number;
  skipped: Map<SliceVerdict, number>;
  nonCtClasses: Map<string, number>;
  thicknesses: number[];
  kernel: string | undefined;
  kernelRank: number;
  /** The series-level rule the series fails, if any. */
  failure?: { code: SelectionReasonCode; reason: string };
}

/** Selects the series the model reads and records a decision for every series. */
export function selectSeries(series: SeriesSummary[], rules: SelectionRules): SelectionResult {
  const kernels = (rules.preferredKernels ?? []).map((pattern) => new RegExp(pattern, 'i'));
  const assessments = series.map((summary) => assessSeries(summary, rules, kernels));

  const candidates = assessments
    .filter((assessment) => assessment.failure === undefined)
    .sort(
      (a, b) =>
        a.kernelRank - b.kernelRank ||
        b.usableSlices - a.usableSlices ||
        compareStrings(a.series.seriesInstanceUid, b.series.seriesInstanceUid),
    );
  const winner = candidates[0];

  const decisions = assessments.map((assessment) => decide(assessment, winner, kernels.length > 0));
  const usableInstances = new Map(assessments.map((assessment) => [assessment.series.seriesInstanceUid, assessment.usableInstances]));
  return { selected: winner?.series.seriesInstanceUid, decisions, usableInstances };
}

function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

function mostCommon(values: string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || compareStrings(a[0], b[0]))[0]?.[0];
}

function assessSeries(series: SeriesSummary, rules: SelectionRules, kernels: RegExp[]): SeriesAssessment {
  const sliceRules = {
    requiredImageType: rules.requiredImageType ?? DEFAULT_REQUIRED_IMAGE_TYPE,
    excludedImageType: rules.excludedImageType ?? DEFAULT_EXCLUDED_IMAGE_TYPE,
    orientations: rules.orientations ?? DEFAULT_ORIENTATIONS,
  };
  const assessment: SeriesAssessment = {
    series,
    usableInstances: [],
    usableSlices: 0,
    skipped: new Map(),
    nonCtClasses: new Map(),
    thicknesses: [],
    kernel: undefined,
    kernelRank: kernels.length,
  };
  const kernelValues: string[] = [];
  const seen = new Set<string>();

  for (const instance of series.instances) {
    // A resent instance is one image, not two.
    if (seen.has(instance.sopInstanceUid)) continue;
    seen.add(instance.sopInstanceUid);

    const verdicts = classifySlices(instance, sliceRules);
    const frames = instance.frames ?? [instance];
    verdicts.forEach((verdict, index) => {
      if (verdict !== 'usable') {
        assessment.skipped.set(verdict, (assessment.skipped.get(verdict) ?? 0) + 1);
        return;
      }
      assessment.usableSlices++;
      const frame = frames[index]!;
      const thickness = frame.sliceThickness ?? instance.sliceThickness;
      if (thickness !== undefined) assessment.thicknesses.push(thickness);
      const kernel = frame.convolutionKernel ?? instance.convolutionKernel;
      if (kernel !== undefined) kernelValues.push(kernel);
    });
    if (verdicts.some((verdict) => verdict === 'usable')) assessment.usableInstances.push(instance.sopInstanceUid);
    if (verdicts[0] === 'not_ct_image') {
      const name = describeSopClass(instance.sopClassUid);
      assessment.nonCtClasses.set(name, (assessment.nonCtClasses.get(name) ?? 0) + 1);
    }
  }

  assessment.kernel = mostCommon(kernelValues);
  if (assessment.kernel !== undefined) {
    const rank = kernels.findIndex((pattern) => pattern.test(assessment.kernel!));
    assessment.kernelRank = rank < 0 ? kernels.length : rank;
  }
  assessment.failure = findSeriesFailure(assessment, rules);
  return assessment;
}

function findSeriesFailure(assessment: SeriesAssessment, rules: SelectionRules): SeriesAssessment['failure'] {
  const { series, usableSlices, thicknesses } = assessment;
  const skipped = describeSkipped(assessment);
  const modalities = (rules.modalities ?? DEFAULT_MODALITIES).map((value) => value.toUpperCase());
  const modality = series.modality ?? series.instances.find((instance) => instance.modality !== undefined)?.modality;
  const description = series.seriesDescription ?? '';

  if (series.instances.length === 0) return { code: 'no_instances', reason: 'The series has no instances.' };
  if (modality === undefined || !modalities.includes(modality.toUpperCase())) {
    return { code: 'modality_excluded', reason: `The series has Modality ${modality ?? '(none)'}, not ${modalities.join(' or ')}.` };
  }
  if (rules.seriesDescriptionPattern !== undefined && !new RegExp(rules.seriesDescriptionPattern, 'i').test(description)) {
    return {
      code: 'description_excluded',
      reason: `The SeriesDescription "${description}" does not match the required pattern /${rules.seriesDescriptionPattern}/.`,
    };
  }
  if (rules.excludedSeriesDescriptionPattern !== undefined && new RegExp(rules.excludedSeriesDescriptionPattern, 'i').test(description)) {
    return {
      code: 'description_excluded',
      reason: `The SeriesDescription "${description}" matches the excluded pattern /${rules.excludedSeriesDescriptionPattern}/.`,
    };
  }
  if (usableSlices === 0) {
    return { code: 'no_usable_slices', reason: `The series has no slices that the model can read; ${skipped}.` };
  }
  const range = rules.sliceThicknessMm;
  if (range !== undefined && thicknesses.length > 0) {
    const outside = thicknesses.filter((value) => value < range.min - THICKNESS_EPSILON_MM || value > range.max + THICKNESS_EPSILON_MM);
    if (outside.length > 0) {
      const values = [...new Set(thicknesses)].sort((a, b) => a - b).join(', ');
      return {
        code: 'slice_thickness_out_of_range',
        reason:
          `${plural(outside.length, 'slice')} of the series have a SliceThickness outside ${range.min} to ${range.max} mm ` +
          `(values found: ${values} mm).`,
      };
    }
  }
  if (usableSlices < rules.minSlices) {
    return {
      code: 'too_few_slices',
      reason: `The series has ${plural(usableSlices, 'usable slice')}, fewer than the ${rules.minSlices} required; ${skipped}.`,
    };
  }
  return undefined;
}

/** Describes the skipped slices, for example "skipped 1 localizer and 6 non-CT instances (...)". */
function describeSkipped(assessment: SeriesAssessment): string {
  const { skipped, nonCtClasses } = assessment;
  const parts: string[] = [];
  const count = (verdict: SliceVerdict) => skipped.get(verdict) ?? 0;

  if (count('localizer') > 0) parts.push(plural(count('localizer'), 'localizer'));
  if (count('image_type') > 0) parts.push(`${plural(count('image_type'), 'image')} whose ImageType does not fit the rules`);
  if (count('orientation') > 0) parts.push(`${plural(count('orientation'), 'image')} in another plane`);
  if (count('missing_geometry') > 0) parts.push(`${plural(count('missing_geometry'), 'image')} without ImageOrientationPatient`);
  if (count('not_ct_image') > 0) {
    const classes = [...nonCtClasses.entries()].map(([name, number]) => `${number} ${name}`).join(', ');
    parts.push(`${plural(count('not_ct_image'), 'instance')} that are not CT images (${classes})`);
  }
  return parts.length === 0 ? 'nothing was skipped' : `skipped ${parts.join(', ')}`;
}

function describeKernel(assessment: SeriesAssessment): string {
  return assessment.kernel === undefined ? 'no ConvolutionKernel' : `ConvolutionKernel ${assessment.kernel}`;
}

function decide(assessment: SeriesAssessment, winner: SeriesAssessment | undefined, kernelsPreferred: boolean): SeriesDecision {
  const { series, usableSlices: count } = assessment;
  const make = (reasonCode: SelectionReasonCode, reason: string, selected = false): SeriesDecision => ({
    seriesInstanceUid: series.seriesInstanceUid,
    selected,
    reasonCode,
    reason,
    usableInstanceCount: count,
  });

  if (assessment.failure !== undefined) return make(assessment.failure.code, assessment.failure.reason);
  const slices = plural(count, 'usable slice');
  const kernel = kernelsPreferred ? `, ${describeKernel(assessment)}` : '';
  if (assessment === winner) {
    return make('selected', `Selected: ${slices}${kernel}; ${describeSkipped(assessment)}.`, true);
  }

  const chosen = winner!;
  if (assessment.kernelRank > chosen.kernelRank) {
    return make(
      'kernel_less_preferred',
      `The series has ${slices} with ${describeKernel(assessment)}; the selected series has ${describeKernel(chosen)}, which the rules prefer.`,
    );
  }
  if (count === chosen.usableSlices) {
    return make(
      'tied_with_selected',
      `The series has ${slices}, as many as the selected series, which won the tie because its SeriesInstanceUID sorts first.`,
    );
  }
  return make('fewer_slices_than_selected', `The series has ${slices}${kernel}, fewer than the ${chosen.usableSlices} of the selected series.`);
}
