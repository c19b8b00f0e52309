/**
 * Maps a volume's (i, j, k) axes onto the model's (W, H, D) axes.
 *
 * An orientation code such as "LPS" names, for W, H and D in turn, the patient direction toward which
 * the index increases (nibabel's axis codes; LPS is the DICOM patient coordinate system). Each volume
 * axis is assigned the patient axis its direction vector points along most, so an oblique volume is
 * read as the nearest orthogonal orientation without resampling the rotation away.
 */
import type { CtVolume } from '../volume/ct-volume.ts';
import { VolumeNotSupportedError } from './errors.ts';

/** Source of one model axis: a volume axis (0 = i, 1 = j, 2 = k) and whether its order is reversed. */
export interface AxisSource {
  volumeAxis: 0 | 1 | 2;
  flip: boolean;
}

/** Sources of the model axes in the order W, H, D. */
export type OrientationPlan = [AxisSource, AxisSource, AxisSource];

const LETTERS: Record<string, { patientAxis: number; sign: 1 | -1 }> = {
  L: { patientAxis: 0, sign: 1 },
  R: { patientAxis: 0, sign: -1 },
  P: { patientAxis: 1, sign: 1 },
  A: { patientAxis: 1, sign: -1 },
  S: { patientAxis: 2, sign: 1 },
  I: { patientAxis: 2, sign: -1 },
};

const VOLUME_AXES = [0, 1, 2] as const;

/** Builds the plan for `orientation` ("native" or a code such as "LPS") from the volume's direction. */
export function planOrientation(direction: CtVolume['direction'], orientation: string): OrientationPlan {
  if (orientation === 'native') {
    return [
      { volumeAxis: 0, flip: false },
      { volumeAxis: 1, flip: false },
      { volumeAxis: 2, flip: false },
    ];
  }

  const dominant = direction.map((vector) => {
    let patientAxis = 0;
    for (let axis = 1; axis < 3; axis++) {
      if (Math.abs(vector[axis]!) > Math.abs(vector[patientAxis]!)) patientAxis = axis;
    }
    return { patientAxis, sign: vector[patientAxis]! > 0 ? 1 : -1 };
  });
  if (new Set(dominant.map((d) => d.patientAxis)).size !== 3) {
    // Happens only when two axes are 45 degrees from the same patient axis.
    throw new VolumeNotSupportedError('the volume direction vectors do not map onto three distinct patient axes');
  }

  const plan = [...orientation].map((letter): AxisSource => {
    const target = LETTERS[letter];
    if (target === undefined) throw new RangeError(`invalid orientation letter "${letter}"`);
    const volumeAxis = VOLUME_AXES.find((axis) => dominant[axis]!.patientAxis === target.patientAxis)!;
    return { volumeAxis, flip: dominant[volumeAxis]!.sign !== target.sign };
  });
  return plan as OrientationPlan;
}
