/**
 * One finding of volume assembly, passed or failed, in the shape of a volume_check row, so that a
 * reviewer can see what was verified about the series a report was made from.
 */

export type VolumeCheckName =
  | 'slice_count'
  | 'duplicate_instances'
  | 'dimensions'
  | 'pixel_spacing'
  | 'orientation'
  | 'unique_positions'
  | 'slice_spacing'
  | 'collinear_positions'
  | 'gantry_tilt'
  | 'rescale'
  | 'pixel_padding';

export interface VolumeCheck {
  name: VolumeCheckName;
  passed: boolean;
  /** One English sentence with the measured values, for the admin UI and the audit trail. */
  detail: string;
  /** The measured value in the unit of `unit`, when the check measures one number. */
  measured?: number;
  /** The limit that `measured` was compared with. */
  limit?: number;
  unit?: 'mm' | 'degrees' | 'slices' | 'voxels';
}
