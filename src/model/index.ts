/**
 * The model stage: loads an Argus model package and turns a CT volume into a draft report. Pure of
 * database and network; it reads only the package folder it is given.
 */
export { ArgusRuntime, loadModel } from './argus-model.ts';
export type { ArgusModel, GeneratedReport, GenerateOptions, LoadModelOptions, ModelIdentity } from './argus-model.ts';
export { argmax, decode, greedyDecode } from './decode.ts';
export type { DecodeOptions, DecodeResult } from './decode.ts';
export { MAX_BEAMS, resolveGeneration } from './generation-settings.ts';
export type { DecodingSettings, GenerationOverrides } from './generation-settings.ts';
export { bannedNgramTokens, processLogits } from './logits.ts';
export {
  ExecutionProviderError,
  GenerationAbortedError,
  ModelError,
  ModelInferenceError,
  ModelPackageError,
  ModelReleasedError,
  VolumeNotSupportedError,
} from './errors.ts';
export type { ModelErrorCode } from './errors.ts';
export { packageConfigSchema, readPackageConfig } from './package-config.ts';
export type { GenerationConfig, PackageConfig, PreprocessingConfig } from './package-config.ts';
export { preprocessVolume } from './preprocess.ts';
export type { PixelValues } from './preprocess.ts';
export { cleanGeneratedText, isNotForClinicalUse, labelReportText, NOT_FOR_CLINICAL_USE_NOTICE, splitReportSections } from './report-text.ts';
export type { ReportSections } from './report-text.ts';
export type { ExecutionProvider } from './sessions.ts';
