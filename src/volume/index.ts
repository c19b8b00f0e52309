/** Public API of volume assembly: read CT slices from Part 10 files and build a HU volume from them. */
export { assembleVolume, type AssembledVolume, type AssemblyOptions } from './assemble-volume.ts';
export { CT_IMAGE_STORAGE_UID, readCtSlice, type CtSlice } from './ct-slice.ts';
export { lpsAffine, rasAffine, type CtVolume, type Vector3 } from './ct-volume.ts';
export { SUPPORTED_TRANSFER_SYNTAXES } from './transfer-syntax.ts';
export type { VolumeCheck, VolumeCheckName } from './volume-check.ts';
export { VolumeError, type VolumeErrorCode } from './volume-error.ts';
