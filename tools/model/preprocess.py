"""Reference preprocessing in torch: CT volume in HU -> pixel_values, following config.json.

The TypeScript preprocessing must match this within a stated tolerance, so each step is written in
the plainest torch form:

1. orientation: "native" keeps the volume's (i, j, k) axes as (W, H, D). A code such as "LPS" names,
   for W, H and D in turn, the patient direction toward which the index increases (nibabel's axis
   codes). Each volume axis is assigned the patient axis its direction vector points along most, then
   axes are permuted and flipped to match the code.
2. resampling: trilinear F.interpolate with align_corners=False, either straight to input_size
   (target_spacing null) or to target_spacing, followed by a centred crop or pad with pad_value_hu.
3. HU window: clamp to [low, high].
4. scaling: "window_linear" maps the window onto output_range; "standardize" subtracts mean and
   divides by std.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# Patient axis (0 = x, 1 = y, 2 = z in LPS) and the sign along it for each orientation letter.
LETTER_AXES = {"L": (0, 1), "R": (0, -1), "P": (1, 1), "A": (1, -1), "S": (2, 1), "I": (2, -1)}


def orientation_plan(direction: list[list[float]], code: str) -> list[tuple[int, bool]]:
    """Returns, for W, H and D, the volume axis (0 = i, 1 = j, 2 = k) that feeds it and whether to flip."""
    if code == "native":
        return [(0, False), (1, False), (2, False)]
    dominant = []
    for vector in direction:
        patient_axis = max(range(3), key=lambda p: abs(vector[p]))
        dominant.append((patient_axis, 1 if vector[patient_axis] > 0 else -1))
    if len({axis for axis, _ in dominant}) != 3:
        raise ValueError("direction vectors do not map onto three distinct patient axes")
    plan = []
    for letter in code:
        patient_axis, sign = LETTER_AXES[letter]
        volume_axis = next(a for a, (p, _) in enumerate(dominant) if p == patient_axis)
        plan.append((volume_axis, dominant[volume_axis][1] != sign))
    return plan


def resampled_size(size: int, spacing: float, target: float) -> int:
    # floor(x + 0.5) rather than round(), which rounds halves to even in Python.
    return max(1, math.floor(size * spacing / target + 0.5))


def crop_or_pad(volume: torch.Tensor, size: tuple[int, int, int], pad_value: float) -> torch.Tensor:
    """Centres the volume in a grid of `size`; an odd excess is cropped or padded more at the end."""
    out = torch.full(size, pad_value, dtype=volume.dtype)
    source, target = [], []
    for axis in range(3):
        have, want = volume.shape[axis], size[axis]
        if have >= want:
            start = (have - want) // 2
            source.append(slice(start, start + want))
            target.append(slice(0, want))
        else:
            start = (want - have) // 2
            source.append(slice(0, have))
            target.append(slice(start, start + have))
    out[tuple(target)] = volume[tuple(source)]
    return out


def preprocess(
    voxels: np.ndarray,
    dimensions: tuple[int, int, int],
    spacing: tuple[float, float, float],
    direction: list[list[float]],
    config: dict,
) -> torch.Tensor:
    """voxels in CtVolume order (i fastest) -> float32 pixel_values [1, 1, D, H, W]."""
    ni, nj, nk = dimensions
    # Tensor dims are (k, j, i), so volume axis a is tensor dim 2 - a.
    volume = torch.from_numpy(np.asarray(voxels, dtype=np.float32).reshape(nk, nj, ni))

    plan = orientation_plan(direction, config["orientation"])
    (w_axis, _), (h_axis, _), (d_axis, _) = plan
    volume = volume.permute(2 - d_axis, 2 - h_axis, 2 - w_axis)
    flips = [dim for dim, (_, flip) in zip((2, 1, 0), plan) if flip]
    if flips:
        volume = volume.flip(flips)
    oriented_spacing = [spacing[d_axis], spacing[h_axis], spacing[w_axis]]

    input_size = tuple(config["input_size"])
    target_spacing = config["target_spacing"]
    if config["resampling"] != "trilinear":
        raise ValueError(f"unsupported resampling {config['resampling']!r}")
    if target_spacing is None:
        size = input_size
    else:
        size = tuple(resampled_size(volume.shape[a], oriented_spacing[a], target_spacing[a]) for a in range(3))
    volume = F.interpolate(volume[None, None], size=size, mode="trilinear", align_corners=False)[0, 0]
    if target_spacing is not None:
        volume = crop_or_pad(volume, input_size, float(config["pad_value_hu"]))

    low, high = config["hu_window"]
    volume = volume.clamp(low, high)
    scaling = config["scaling"]
    if scaling["kind"] == "window_linear":
        out_low, out_high = scaling["output_range"]
        volume = (volume - low) * ((out_high - out_low) / (high - low)) + out_low
    elif scaling["kind"] == "standardize":
        volume = (volume - scaling["mean"]) / scaling["std"]
    else:
        raise ValueError(f"unsupported scaling {scaling['kind']!r}")
    return volume[None, None].contiguous()
