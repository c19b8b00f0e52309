"""Writes a CT series of N slices for the volume benchmark, made from real slices.

Usage: python3 volume-series.py SOURCE_DIR TARGET_DIR N ; the source slices (uncompressed, one series)
are used in position order, then in reverse, and so on, so the anatomy stays continuous. Every slice
gets a new SOPInstanceUID, the target series one new SeriesInstanceUID and StudyInstanceUID, and
ImagePositionPatient continues at the source spacing.
"""
import os
import sys

import pydicom
from pydicom.uid import generate_uid

source, target, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(target, exist_ok=True)
paths = [os.path.join(source, name) for name in os.listdir(source)]
slices = sorted(paths, key=lambda path: float(pydicom.dcmread(path, stop_before_pixels=True).ImagePositionPatient[2]))
cycle = slices + slices[::-1]
first = pydicom.dcmread(slices[0], stop_before_pixels=True)
second = pydicom.dcmread(slices[1], stop_before_pixels=True)
z0 = float(first.ImagePositionPatient[2])
step = float(second.ImagePositionPatient[2]) - z0
series_uid, study_uid = generate_uid(), generate_uid()
for index in range(count):
    dataset = pydicom.dcmread(cycle[index % len(cycle)])
    dataset.StudyInstanceUID = study_uid
    dataset.SeriesInstanceUID = series_uid
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.InstanceNumber = index + 1
    position = [float(value) for value in dataset.ImagePositionPatient]
    position[2] = z0 + index * step
    dataset.ImagePositionPatient = [f'{value:.4f}' for value in position]
    dataset.save_as(os.path.join(target, f'{index + 1:04d}.dcm'))
