/** Public API of series selection. */
export { DEFAULT_MAX_AXIAL_ANGLE_DEGREES, type InstanceSummary } from './instance-rules.ts';
export {
  selectSeries,
  type SelectionReasonCode,
  type SelectionResult,
  type SelectionRules,
  type SeriesDecision,
  type SeriesSummary,
} from './select-series.ts';
