"""Reference HU values computed with pydicom, independent of the TypeScript reader.

Usage: python3 pydicom-reference.py FILE... ; prints one JSON object per file on a line of its own
with the header values the tests compare and HU = pixel_array * RescaleSlope + RescaleIntercept at a
fixed grid of pixels plus the minimum and maximum, and the sum over the whole slice.
"""
import json
import sys

import numpy
import pydicom


def reference(path):
    dataset = pydicom.dcmread(path)
    slope = float(dataset.RescaleSlope)
    intercept = float(dataset.RescaleIntercept)
    hu = dataset.pixel_array.astype(numpy.float64) * slope + intercept
    rows, columns = hu.shape
    points = {(r, c) for r in (0, rows // 4, rows // 2, 3 * rows // 4, rows - 1)
              for c in (0, columns // 3, columns // 2, 2 * columns // 3, columns - 1)}
    points.add(tuple(int(v) for v in numpy.unravel_index(numpy.argmin(hu), hu.shape)))
    points.add(tuple(int(v) for v in numpy.unravel_index(numpy.argmax(hu), hu.shape)))
    return {
        'path': path,
        'sopInstanceUid': str(dataset.SOPInstanceUID),
        'transferSyntaxUid': str(dataset.file_meta.TransferSyntaxUID),
        'imagePositionPatient': [float(v) for v in dataset.ImagePositionPatient],
        'pixelRepresentation': int(dataset.PixelRepresentation),
        'bitsStored': int(dataset.BitsStored),
        'samples': [{'row': r, 'column': c, 'hu': float(hu[r, c])} for r, c in sorted(points)],
        'huSum': float(hu.sum()),
        'huMin': float(hu.min()),
        'huMax': float(hu.max()),
    }


for argument in sys.argv[1:]:
    print(json.dumps(reference(argument)))
