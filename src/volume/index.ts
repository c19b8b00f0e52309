/** Public API of volume assembly: read CT slices from Part 10 files and build a HU volume from them. */
export {
  assembleVolume,
  type AssembledVolume,
  type AssemblyOptions,
  type SkippedInstance,
} from './assemble-volume.ts';
export {
  CT_IMAGE_SOP_CLASSES,
  CT_IMAGE_STORAGE_UID,
  ENHANCED_CT_IMAGE_STORAGE_UID,
  LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE_UID,
  readCtSlice,
  readCtSlices,
  type CtSlice,
} from './ct-slice.ts';
export { lpsAffine, rasAffine, toFloat32Volume, type CtVolume, type Vector3, type VoxelArray } from './ct-volume.ts';
export { readImageHeader, type ImageHeader } from './image-header.ts';
export { renderPreviews, type Preview } from './preview.ts';
export { readSeriesSlices, type SeriesSlices } from './read-series.ts';
export { SliceReaderPool } from './slice-reader-pool.ts';
export type { RepeatedPositionPolicy } from './repeated-positions.ts';
export type { SpacingPolicy, TiltPolicy } from './stack-spacing.ts';
export { describeTransferSyntax, SUPPORTED_TRANSFER_SYNTAXES } from './transfer-syntax.ts';
export type { SliceGap, VolumeCheck, VolumeCheckName } from './volume-check.ts';
export { VolumeError, type VolumeErrorCode } from './volume-error.ts';
