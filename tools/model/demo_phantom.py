"""Chest-like CT phantoms with one known finding, for training and checking the demo model.

A phantom is described in patient space (LPS millimetres): a body ellipse, two lungs, a heart, a spine
and at most one finding. The finding is a spherical lesion in a given side and lobe, a pleural effusion
on one side, or nothing. `render_hu` samples it on any acquisition grid, so the same anatomy reaches the model
through the service's own reorientation and resampling whatever the patient position or slice order.
Patient's left is +x, posterior is +y and superior is +z in LPS.

test/helpers/chest-phantom.ts draws the same shapes in TypeScript for the end-to-end tests; a change to
the shapes here needs the same change there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phantom import Geometry

FINDINGS = ("normal", "lesion", "effusion")
SIDES = ("right", "left")
LOBES = ("upper", "lower")
# Reported diameter in mm of each lesion size class; the drawn diameter varies by up to 2 mm around it.
LESION_SIZES_MM = (25, 35, 45)

# Sign of the patient x axis for each side: the patient's left is +x in LPS.
SIDE_SIGN = {"right": -1.0, "left": 1.0}

AIR_HU = -1000.0
SOFT_TISSUE_HU = 40.0
LUNG_HU = -850.0
BONE_HU = 700.0
FLUID_HU = 15.0


@dataclass
class Anatomy:
    """Sizes and position of one phantom's normal anatomy, in LPS millimetres."""

    centre: tuple[float, float, float]
    body_semi_axes: tuple[float, float]
    lung_half_length: float

    @property
    def lung_semi_axes(self) -> tuple[float, float, float]:
        a, b = self.body_semi_axes
        return (0.36 * a, 0.65 * b, self.lung_half_length)

    def lung_centre(self, side: str) -> tuple[float, float, float]:
        a, b = self.body_semi_axes
        cx, cy, cz = self.centre
        return (cx + SIDE_SIGN[side] * 0.46 * a, cy - 0.05 * b, cz)


@dataclass
class Finding:
    """The one abnormality of a phantom. kind "normal" leaves the other fields unused."""

    kind: str
    side: str = ""
    lobe: str = ""
    size_class: int = -1
    # Lesion centre and drawn diameter, or the effusion's fluid fraction of the lung depth (y).
    lesion_centre: tuple[float, float, float] = (0.0, 0.0, 0.0)
    lesion_diameter: float = 0.0
    effusion_fraction: float = 0.0


def random_anatomy(rng: np.random.Generator) -> Anatomy:
    return Anatomy(
        centre=(float(rng.uniform(-6, 6)), float(rng.uniform(-6, 6)), float(rng.uniform(-8, 8))),
        body_semi_axes=(float(rng.uniform(132, 148)), float(rng.uniform(90, 105))),
        lung_half_length=float(rng.uniform(104, 116)),
    )


def random_finding(anatomy: Anatomy, rng: np.random.Generator, kind: str | None = None, side: str | None = None) -> Finding:
    """Draws a finding; kind and side are random unless given. Lesions stay inside their lobe."""
    kind = kind or str(rng.choice(FINDINGS, p=(0.2, 0.55, 0.25)))
    if kind == "normal":
        return Finding("normal")
    side = side or str(rng.choice(SIDES))
    if kind == "effusion":
        return Finding("effusion", side=side, effusion_fraction=float(rng.uniform(0.3, 0.45)))

    lobe = str(rng.choice(LOBES))
    size_class = int(rng.integers(len(LESION_SIZES_MM)))
    diameter = LESION_SIZES_MM[size_class] + float(rng.uniform(-2, 2))
    lx, ly, lz = anatomy.lung_centre(side)
    ax, ay, az = anatomy.lung_semi_axes
    # The upper lobe is the superior (+z) half of the lung. Offsets keep the sphere well inside it.
    z_offset = float(rng.uniform(0.3, 0.5)) * az * (1 if lobe == "upper" else -1)
    centre = (lx + float(rng.uniform(-0.25, 0.25)) * ax, ly + float(rng.uniform(-0.3, 0.3)) * ay, lz + z_offset)
    return Finding("lesion", side=side, lobe=lobe, size_class=size_class, lesion_centre=centre, lesion_diameter=diameter)


def patient_positions(geometry: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LPS coordinates of every voxel centre, each of shape (k, j, i)."""
    ni, nj, nk = geometry.dimensions
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    position = np.asarray(geometry.origin, dtype=float).reshape(3, 1, 1, 1)
    for axis, index in enumerate((i, j, k)):
        vector = np.asarray(geometry.direction[axis], dtype=float).reshape(3, 1, 1, 1)
        position = position + vector * (index * geometry.spacing[axis])
    return position[0], position[1], position[2]


def render_hu(geometry: Geometry, anatomy: Anatomy, finding: Finding, noise_hu: float, rng: np.random.Generator) -> np.ndarray:
    """Returns float32 HU values in CtVolume order: shape (k, j, i), i fastest."""
    x, y, z = patient_positions(geometry)
    cx, cy, cz = anatomy.centre
    a, b = anatomy.body_semi_axes
    ax, ay, az = anatomy.lung_semi_axes

    hu = np.full(x.shape, AIR_HU)
    hu[((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1] = SOFT_TISSUE_HU
    lungs = {}
    for side in SIDES:
        lx, ly, lz = anatomy.lung_centre(side)
        lungs[side] = ((x - lx) / ax) ** 2 + ((y - ly) / ay) ** 2 + ((z - lz) / az) ** 2 <= 1
        hu[lungs[side]] = LUNG_HU
    # Heart: anterior, a little to the patient's left, in the lower half of the chest.
    hu[((x - cx - 0.1 * a) / (0.3 * a)) ** 2 + ((y - cy + 0.25 * b) / (0.4 * b)) ** 2 + ((z - cz + 0.3 * az) / (0.4 * az)) ** 2 <= 1] = SOFT_TISSUE_HU
    hu[((x - cx) / 16) ** 2 + ((y - cy - 0.7 * b) / 16) ** 2 <= 1] = BONE_HU

    if finding.kind == "lesion":
        px, py, pz = finding.lesion_centre
        radius = finding.lesion_diameter / 2
        hu[(x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2 <= radius**2] = SOFT_TISSUE_HU
    elif finding.kind == "effusion":
        lx, ly, lz = anatomy.lung_centre(finding.side)
        # Fluid lies in the dependent (posterior, +y) part of the lung of a supine patient.
        level = ly + ay * (1 - 2 * finding.effusion_fraction)
        hu[lungs[finding.side] & (y >= level) & (z <= lz + 0.3 * az)] = FLUID_HU

    hu += rng.normal(0.0, noise_hu, size=hu.shape)
    return hu.astype(np.float32)


def random_geometry(rng: np.random.Generator) -> Geometry:
    """Returns an axial acquisition grid centred on the patient origin, head-first or feet-first, in either slice order."""
    columns = int(rng.integers(64, 81))
    rows = columns
    slices = int(rng.integers(30, 41))
    pixel_spacing = float(rng.uniform(380, 440)) / columns
    slice_spacing = float(rng.uniform(280, 330)) / slices
    # Head-first supine rows run toward the patient's left; feet-first supine rows run toward the right.
    row_x = 1.0 if rng.random() < 0.5 else -1.0
    slice_z = 1.0 if rng.random() < 0.5 else -1.0
    return Geometry((columns, rows, slices), (pixel_spacing, pixel_spacing, slice_spacing), ((row_x, 0, 0), (0, 1, 0), (0, 0, slice_z)))
