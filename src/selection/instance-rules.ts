/**
 * Per-slice rules of series selection: which images (or frames of a multi-frame image) of a series can
 * be slices of the CT volume. A usable slice belongs to a CT image SOP class, has every required
 * ImageType value and no excluded one (LOCALIZER by default), has ImageOrientationPatient, and lies
 * in an allowed plane. The plane is named after the patient axis closest to the slice normal, so a
 * gantry-tilted axial slice (tilts are at most about 30°) still counts as axial.
 */
import { CT_IMAGE_SOP_CLASSES } from '../volume/ct-slice.ts';
import { norm, sliceNormal } from '../volume/vector.ts';

export type PlaneName = 'axial' | 'coronal' | 'sagittal';

/** One frame of a multi-frame image, with its FrameType and geometry. */
export interface FrameSummary {
  imageType: string[];
  imageOrientationPatient?: number[];
  sliceThickness?: number;
  convolutionKernel?: string;
}

export interface InstanceSummary {
  sopInstanceUid: string;
  sopClassUid: string;
  modality?: string;
  imageType: string[];
  imageOrientationPatient?: number[];
  imagePositionPatient?: number[];
  rows?: number;
  columns?: number;
  sliceThickness?: number;
  convolutionKernel?: string;
  /** The frames of a multi-frame image. Absent for a single-frame image, which the fields above describe. */
  frames?: FrameSummary[];
}

export type SliceVerdict = 'usable' | 'not_ct_image' | 'localizer' | 'image_type' | 'missing_geometry' | 'orientation';

export interface SliceRules {
  requiredImageType: string[];
  excludedImageType: string[];
  orientations: PlaneName[];
}

/** Names the plane of an image from ImageOrientationPatient, or undefined when the directions are missing or parallel. */
export function planeOf(imageOrientationPatient: number[] | undefined): PlaneName | undefined {
  if (imageOrientationPatient?.length !== 6) return undefined;
  const normal = sliceNormal(imageOrientationPatient);
  if (norm(normal) === 0) return undefined;
  const [x, y, z] = normal.map(Math.abs) as [number, number, number];
  if (z >= x && z >= y) return 'axial';
  return y >= x ? 'coronal' : 'sagittal';
}

/** Classifies every slice of an instance: one verdict for a single-frame image, one per frame otherwise. */
export function classifySlices(instance: InstanceSummary, rules: SliceRules): SliceVerdict[] {
  if (!CT_IMAGE_SOP_CLASSES.has(instance.sopClassUid)) return ['not_ct_image'];
  const frames: FrameSummary[] = instance.frames ?? [instance];
  return frames.map((frame) => classifyFrame(frame, rules));
}

function classifyFrame(frame: FrameSummary, rules: SliceRules): SliceVerdict {
  const imageType = frame.imageType.map((value) => value.trim().toUpperCase());
  if (imageType.includes('LOCALIZER')) return 'localizer';
  if (rules.excludedImageType.some((value) => imageType.includes(value.toUpperCase()))) return 'image_type';
  if (!rules.requiredImageType.every((value) => imageType.includes(value.toUpperCase()))) return 'image_type';

  const plane = planeOf(frame.imageOrientationPatient);
  if (plane === undefined) return 'missing_geometry';
  return rules.orientations.includes(plane) ? 'usable' : 'orientation';
}
