"""A synthetic chest-like HU volume on any grid, for preprocessing references.

The phantom is defined in patient space (LPS millimetres, centred on the body), so the same anatomy
appears whatever the grid's spacing and direction. It has a body ellipse, two lungs, a spine and a small
lesion in the patient's left lung (+x in LPS). Noise makes interpolation errors visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Vector = tuple[float, float, float]


@dataclass
class Geometry:
    """A CtVolume grid: dimensions (i, j, k), spacing in mm and LPS direction vectors of i, j and k."""

    dimensions: tuple[int, int, int]
    spacing: Vector
    direction: tuple[Vector, Vector, Vector]

    @property
    def origin(self) -> Vector:
        """Places the grid centre at the patient-space origin."""
        centre = np.zeros(3)
        for axis in range(3):
            centre += (self.dimensions[axis] - 1) / 2 * self.spacing[axis] * np.asarray(self.direction[axis], dtype=float)
        return tuple(float(v) for v in -centre)  # type: ignore[return-value]

    def to_json(self) -> dict:
        return {
            "dimensions": list(self.dimensions),
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": [list(map(float, vector)) for vector in self.direction],
        }


def phantom_hu(geometry: Geometry, rng: np.random.Generator) -> np.ndarray:
    """Returns float32 HU values in CtVolume order: shape (k, j, i), i fastest."""
    ni, nj, nk = geometry.dimensions
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    position = np.asarray(geometry.origin, dtype=float).reshape(3, 1, 1, 1)
    for axis, index in enumerate((i, j, k)):
        vector = np.asarray(geometry.direction[axis], dtype=float).reshape(3, 1, 1, 1)
        position = position + vector * (index * geometry.spacing[axis])
    x, y, z = position

    hu = np.full(x.shape, -1000.0)
    hu[(x / 140) ** 2 + (y / 100) ** 2 <= 1] = 40.0
    for side in (-1, 1):
        hu[((x - side * 65) / 50) ** 2 + (y / 65) ** 2 + (z / 110) ** 2 <= 1] = -850.0
    hu[(x / 16) ** 2 + ((y - 70) / 16) ** 2 <= 1] = 700.0
    hu[(x - 70) ** 2 + (y + 10) ** 2 + (z - 20) ** 2 <= 14**2] = 30.0
    hu += rng.normal(0.0, 15.0, size=hu.shape)
    return hu.astype(np.float32)
