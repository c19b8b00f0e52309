/**
 * The one error type of reading slices and assembling a volume. `code` is stable for storage and
 * decisions. `message` is written for a radiographer and names the slices, positions and sizes involved.
 */
import type { VolumeCheck } from './volume-check.ts';

export type VolumeErrorCode =
  | 'file_read_failed'
  | 'not_part10_file'
  | 'unreadable_dataset'
  | 'unsupported_transfer_syntax'
  | 'private_compression'
  | 'unsupported_sop_class'
  | 'unsupported_pixel_format'
  | 'missing_attribute'
  | 'invalid_attribute'
  | 'invalid_pixel_data'
  | 'pixel_data_truncated'
  | 'pixel_decoding_failed'
  | 'too_few_slices'
  | 'inconsistent_dimensions'
  | 'inconsistent_pixel_spacing'
  | 'mixed_orientation'
  | 'duplicate_position'
  | 'non_uniform_spacing'
  | 'positions_not_collinear'
  | 'gantry_tilt';

export interface VolumeErrorOptions {
  /** The file the problem was found in, when it concerns one file. */
  filePath?: string;
  /** Checks made before the failure, ending with the failed one, for storage beside the rejection. */
  checks?: VolumeCheck[];
  /** True only when reading the same input again may succeed (a file store that was briefly unreachable). */
  retryable?: boolean;
  cause?: unknown;
}

export class VolumeError extends Error {
  override readonly name = 'VolumeError';
  readonly code: VolumeErrorCode;
  readonly retryable: boolean;
  readonly filePath: string | undefined;
  readonly checks: VolumeCheck[];

  constructor(code: VolumeErrorCode, message: string, options: VolumeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.filePath = options.filePath;
    this.checks = options.checks ?? [];
  }
}
