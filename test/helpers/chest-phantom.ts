/**
 * The chest phantom of tools/model/demo_phantom.py in TypeScript: body ellipse, two lungs, heart, spine
 * and at most one finding, defined in patient space (LPS millimetres, patient's left is +x, posterior
 * +y, superior +z). The demo model was trained on these shapes, so a phantom written as a DICOM series
 * tests whether a finding's side survives the path from DICOM to the model. The anatomy here is the
 * mean of the training range and the noise is left out.
 */
import type { Vector3 } from '../../src/volume/ct-volume.ts';

export type Side = 'right' | 'left';
export type Lobe = 'upper' | 'lower';

export type ChestFinding =
  | { kind: 'normal' }
  | { kind: 'lesion'; side: Side; lobe: Lobe; diameterMm: number }
  | { kind: 'effusion'; side: Side };

const AIR_HU = -1000;
const SOFT_TISSUE_HU = 40;
const LUNG_HU = -850;
const BONE_HU = 700;
const FLUID_HU = 15;

/** Body semi-axes in x and y and the lungs' half length in z, in mm: the middle of the training ranges. */
const BODY_SEMI_AXIS_X = 140;
const BODY_SEMI_AXIS_Y = 97.5;
const LUNG_HALF_LENGTH = 110;
const LUNG_SEMI_AXES: Vector3 = [0.36 * BODY_SEMI_AXIS_X, 0.65 * BODY_SEMI_AXIS_Y, LUNG_HALF_LENGTH];
/** Fraction of the lung depth (y) that an effusion fills; training draws 0.3 to 0.45. */
const EFFUSION_FRACTION = 0.4;
/** Distance of a lesion centre from the lung centre along z, as a fraction of the lung half length. */
const LESION_Z_OFFSET = 0.4;

function sideSign(side: Side): number {
  return side === 'left' ? 1 : -1;
}

function lungCentre(side: Side): Vector3 {
  return [sideSign(side) * 0.46 * BODY_SEMI_AXIS_X, -0.05 * BODY_SEMI_AXIS_Y, 0];
}

/** Returns the lesion centre in LPS mm: in the middle of its lung in x and y, up or down the lung in z. */
export function lesionCentre(side: Side, lobe: Lobe): Vector3 {
  const [x, y, z] = lungCentre(side);
  return [x, y, z + (lobe === 'upper' ? 1 : -1) * LESION_Z_OFFSET * LUNG_HALF_LENGTH];
}

function insideEllipsoid(point: Vector3, centre: Vector3, semiAxes: Vector3): boolean {
  let sum = 0;
  for (let axis = 0; axis < 3; axis++) sum += ((point[axis]! - centre[axis]!) / semiAxes[axis]!) ** 2;
  return sum <= 1;
}

/** Returns the HU value of the phantom at an LPS point in mm. */
export function chestHu(point: Vector3, finding: ChestFinding): number {
  const [x, y, z] = point;
  let hu = AIR_HU;
  if ((x / BODY_SEMI_AXIS_X) ** 2 + (y / BODY_SEMI_AXIS_Y) ** 2 <= 1) hu = SOFT_TISSUE_HU;

  let lungSide: Side | undefined;
  for (const side of ['right', 'left'] as const) {
    if (insideEllipsoid(point, lungCentre(side), LUNG_SEMI_AXES)) {
      hu = LUNG_HU;
      lungSide = side;
    }
  }
  // Heart: anterior, a little to the patient's left, in the lower half of the chest.
  if (insideEllipsoid(point, [0.1 * BODY_SEMI_AXIS_X, -0.25 * BODY_SEMI_AXIS_Y, -0.3 * LUNG_HALF_LENGTH], [0.3 * BODY_SEMI_AXIS_X, 0.4 * BODY_SEMI_AXIS_Y, 0.4 * LUNG_HALF_LENGTH])) {
    hu = SOFT_TISSUE_HU;
  }
  if ((x / 16) ** 2 + ((y - 0.7 * BODY_SEMI_AXIS_Y) / 16) ** 2 <= 1) hu = BONE_HU;

  if (finding.kind === 'lesion') {
    const [cx, cy, cz] = lesionCentre(finding.side, finding.lobe);
    if ((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= (finding.diameterMm / 2) ** 2) hu = SOFT_TISSUE_HU;
  } else if (finding.kind === 'effusion' && lungSide === finding.side) {
    // Fluid lies in the dependent (posterior, +y) part of the lung of a supine patient.
    const [, ly, lz] = lungCentre(finding.side);
    const level = ly + LUNG_SEMI_AXES[1] * (1 - 2 * EFFUSION_FRACTION);
    if (y >= level && z <= lz + 0.3 * LUNG_HALF_LENGTH) hu = FLUID_HU;
  }
  return hu;
}
