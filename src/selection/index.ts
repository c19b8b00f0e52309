/** Public API of series selection. */
export { planeOf, type FrameSummary, type InstanceSummary, type PlaneName } from './instance-rules.ts';
export {
  selectSeries,
  type SelectionReasonCode,
  type SelectionResult,
  type SelectionRules,
  type SeriesDecision,
  type SeriesSummary,
} from './select-series.ts';
export { summarizeHeader } from './from-header.ts';
