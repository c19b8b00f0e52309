/**
 * Per-instance rules of series selection: which instances of a series can be slices of the CT volume.
 * A usable slice is a CT Image Storage instance whose ImageType value 1 is ORIGINAL, that is not a
 * LOCALIZER, and whose plane is axial. Gantry-tilted axial slices count as axial.
 */
import { CT_IMAGE_STORAGE_UID } from '../volume/ct-slice.ts';
import { angleDegrees, norm, sliceNormal } from '../volume/vector.ts';

export interface InstanceSummary {
  sopInstanceUid: string;
  sopClassUid: string;
  modality?: string;
  imageType: string[];
  imageOrientationPatient?: number[];
  imagePositionPatient?: number[];
  rows?: number;
  columns?: number;
}

/**
 * Maximum angle in degrees between a slice normal and the patient's feet-head axis for the plane to
 * count as axial. Below 45° the feet-head component of the normal is its largest one, which is the
 * usual rule for naming a plane. Gantry tilts, typically at most 30°, stay inside it.
 */
export const DEFAULT_MAX_AXIAL_ANGLE_DEGREES = 45;

export type InstanceVerdict =
  | 'usable'
  | 'not_ct_image'
  | 'localizer'
  | 'not_original'
  | 'missing_geometry'
  | 'not_axial';

export function classifyInstance(instance: InstanceSummary, maxAxialAngleDegrees: number): InstanceVerdict {
  if (instance.sopClassUid !== CT_IMAGE_STORAGE_UID) return 'not_ct_image';

  const imageType = instance.imageType.map((value) => value.trim().toUpperCase());
  if (imageType.includes('LOCALIZER')) return 'localizer';
  if (imageType[0] !== 'ORIGINAL') return 'not_original';

  const orientation = instance.imageOrientationPatient;
  if (orientation?.length !== 6 || instance.imagePositionPatient?.length !== 3) return 'missing_geometry';
  const normal = sliceNormal(orientation);
  if (norm(normal) === 0) return 'missing_geometry';

  const angle = angleDegrees(normal, [0, 0, 1]);
  // The normal may point head-to-feet or feet-to-head depending on the row and column directions.
  return Math.min(angle, 180 - angle) <= maxAxialAngleDegrees ? 'usable' : 'not_axial';
}
