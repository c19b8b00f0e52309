"""Writes synthetic CT Image Storage series with pydicom, for volume tests with exact expected values.

Usage: python3 write-series.py < spec.json, where the spec is a list of series:
  {"directory": str, "rows": int, "columns": int, "pixelSpacing": [row, column],
   "phantom": {"background": HU, "spheres": [{"center": [x, y, z], "radius": mm, "hu": HU}]},
   "slices": [{"imagePositionPatient": [x, y, z], "imageOrientationPatient": [6 values],
               optional: "instanceNumber" (null leaves it out), "rescaleSlope", "rescaleIntercept",
               "pixelRepresentation", "bitsStored", "junkHighBits", "patientPosition",
               "spacingBetweenSlices", "imageType", "acquisitionNumber", "pixelPaddingValue",
               "pixelPaddingRangeLimit", "paddingOutsideRadiusMm", "sopInstanceUid", "fileName",
               "sopClassUid"}]}
The phantom gives the HU at each pixel centre in patient coordinates (LPS, mm). Stored values are
(HU - intercept) / slope, rounded, in BitsStored bits; junkHighBits sets the bits above HighBit.
Pixels farther than paddingOutsideRadiusMm from the image centre get PixelPaddingValue, or with
pixelPaddingRangeLimit every value of the range in turn.
"""
import json
import os
import sys

import numpy
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2'


def phantom_hu(spec, points):
    phantom = spec['phantom']
    hu = numpy.full(points.shape[:-1], float(phantom['background']))
    for sphere in phantom.get('spheres', []):
        distance = numpy.linalg.norm(points - numpy.array(sphere['center'], dtype=float), axis=-1)
        hu[distance <= sphere['radius']] = sphere['hu']
    return hu


def write_slice(spec, series_uid, study_uid, index, item):
    rows, columns = spec['rows'], spec['columns']
    row_spacing, column_spacing = spec['pixelSpacing']
    orientation = numpy.array(item['imageOrientationPatient'], dtype=float)
    position = numpy.array(item['imagePositionPatient'], dtype=float)
    row_direction, column_direction = orientation[:3], orientation[3:]
    j, i = numpy.mgrid[0:rows, 0:columns]
    points = (position + i[..., None] * column_spacing * row_direction
              + j[..., None] * row_spacing * column_direction)
    hu = phantom_hu(spec, points)

    slope = float(item.get('rescaleSlope', 1))
    intercept = float(item.get('rescaleIntercept', -1024))
    signed = int(item.get('pixelRepresentation', 1))
    bits = int(item.get('bitsStored', 16))
    stored = numpy.rint((hu - intercept) / slope).astype(numpy.int64)
    padding = item.get('pixelPaddingValue')
    radius = item.get('paddingOutsideRadiusMm')
    limit = item.get('pixelPaddingRangeLimit')
    if padding is not None and radius is not None:
        centre_i, centre_j = (columns - 1) / 2, (rows - 1) / 2
        outside = numpy.hypot((i - centre_i) * column_spacing, (j - centre_j) * row_spacing) > radius
        if limit is None:
            stored[outside] = padding
        else:
            # Every value from the padding value to the range limit, cycling over the padded pixels.
            low_padding, high_padding = min(padding, limit), max(padding, limit)
            stored[outside] = low_padding + numpy.arange(int(outside.sum())) % (high_padding - low_padding + 1)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    assert stored.min() >= low, f'stored values below the {bits}-bit range'
    assert stored.max() <= high, f'stored values above the {bits}-bit range'
    words = stored & ((1 << bits) - 1)
    if item.get('junkHighBits') and bits < 16:
        junk = (numpy.arange(words.size).reshape(words.shape) * 7 % (1 << (16 - bits))) << bits
        words = words | junk

    meta = FileMetaDataset()
    sop_uid = item.get('sopInstanceUid') or generate_uid()
    meta.MediaStorageSOPClassUID = item.get('sopClassUid', CT_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b'\0' * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = 'CT'
    ds.ImageType = item.get('imageType', ['ORIGINAL', 'PRIMARY', 'AXIAL'])
    ds.PatientPosition = item.get('patientPosition', 'HFS')
    if item.get('instanceNumber', index + 1) is not None:
        ds.InstanceNumber = item.get('instanceNumber', index + 1)
    if 'acquisitionNumber' in item:
        ds.AcquisitionNumber = item['acquisitionNumber']
    if 'spacingBetweenSlices' in item:
        ds.SpacingBetweenSlices = item['spacingBetweenSlices']
    ds.SliceThickness = item.get('sliceThickness', 2)
    ds.ImagePositionPatient = [f'{value:.6f}' for value in position]
    ds.ImageOrientationPatient = [f'{value:.6f}' for value in orientation]
    ds.PixelSpacing = [row_spacing, column_spacing]
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = signed
    ds.RescaleSlope = f'{slope:g}'
    ds.RescaleIntercept = f'{intercept:g}'
    if padding is not None:
        ds.add_new(0x00280120, 'SS' if signed else 'US', int(padding))
    if limit is not None:
        ds.add_new(0x00280121, 'SS' if signed else 'US', int(limit))
    ds.PixelData = words.astype('<u2').tobytes()
    ds.save_as(os.path.join(spec['directory'], item.get('fileName', f'{index + 1:04d}.dcm')), write_like_original=False)


def main():
    for spec in json.load(sys.stdin):
        os.makedirs(spec['directory'], exist_ok=True)
        series_uid = spec.get('seriesInstanceUid') or generate_uid()
        study_uid = spec.get('studyInstanceUid') or generate_uid()
        for index, item in enumerate(spec['slices']):
            write_slice(spec, series_uid, study_uid, index, item)


main()
