"""Reference HU values computed with pydicom, independent of the TypeScript reader.

Usage: python3 pydicom-reference.py AIR_HU FILE... ; prints one JSON object per file on a line of its
own with the header values the tests compare and the HU at a fixed grid of pixels plus the minimum,
maximum and sum over the whole slice. HU = pixel_array * RescaleSlope + RescaleIntercept, except that
pixels equal to PixelPaddingValue (or within PixelPaddingRangeLimit) are AIR_HU.
"""
import json
import sys

import numpy
import pydicom


def padding(dataset, name):
    value = getattr(dataset, name, None)
    if value is None:
        return None
    value = int(value)
    # Implicit VR files give US for a signed image's SS value.
    return value - 65536 if dataset.PixelRepresentation == 1 and value > 32767 else value


def reference(path, air):
    dataset = pydicom.dcmread(path)
    slope = float(dataset.RescaleSlope)
    intercept = float(dataset.RescaleIntercept)
    stored = dataset.pixel_array.astype(numpy.int64)
    hu = stored.astype(numpy.float64) * slope + intercept
    value = padding(dataset, 'PixelPaddingValue')
    if value is not None:
        limit = padding(dataset, 'PixelPaddingRangeLimit')
        low, high = (value, value) if limit is None else (min(value, limit), max(value, limit))
        hu[(stored >= low) & (stored <= high)] = air
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


air_hu = float(sys.argv[1])
for argument in sys.argv[2:]:
    print(json.dumps(reference(argument, air_hu)))
