/**
 * One finding of volume assembly, passed or failed, in the shape stored in series.volume_checks, so that
 * a reviewer can see what was verified, dropped or corrected in the series a report was made from.
 */

export type VolumeCheckName =
  | 'skipped_instances'
  | 'localizers'
  | 'duplicate_instances'
  | 'slice_count'
  | 'dimensions'
  | 'pixel_spacing'
  | 'orientation'
  | 'repeated_positions'
  | 'collinear_positions'
  | 'slice_spacing'
  | 'gantry_tilt'
  | 'rescale'
  | 'pixel_padding'
  | 'lossy_compression'
  | 'voxel_type'
  | 'canonical_orientation';

/** A gap between neighbouring slices that differs from the expected spacing. */
export interface SliceGap {
  /** The slice below the gap and the one above it, as InstanceNumber or SOPInstanceUID (and frame). */
  below: string;
  above: string;
  /** Positions in mm along the slice normal. */
  belowPositionMm: number;
  abovePositionMm: number;
  gapMm: number;
  /** The median gap of the series. */
  expectedMm: number;
  /** Slices that would fit into the gap at the expected spacing; 0 when the gap is not a multiple of it. */
  missingSlices: number;
}

export interface VolumeCheck {
  name: VolumeCheckName;
  passed: boolean;
  /** One English sentence with the measured values, for the admin UI and the audit trail. */
  detail: string;
  /** The measured value in the unit of `unit`, when the check measures one number. */
  measured?: number;
  /** The limit that `measured` was compared with. */
  limit?: number;
  unit?: 'mm' | 'degrees' | 'slices' | 'voxels' | 'instances';
  /** Change that assembly made to the input because of the finding, if any. */
  action?: 'dropped' | 'deduplicated' | 'split' | 'resampled' | 'reoriented';
  /** Every irregular gap, for the slice_spacing check. */
  gaps?: SliceGap[];
}
