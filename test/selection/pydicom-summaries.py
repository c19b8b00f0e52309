"""Series summaries of DICOM files read with pydicom, in the shape that ingest stores.

Usage: python3 pydicom-summaries.py DIRECTORY... ; prints a JSON list of series, each with
seriesInstanceUid, modality, seriesDescription and the instances' header values (those that selection
reads), in path order.
"""
import json
import os
import sys

import pydicom


def numbers(dataset, keyword):
    value = dataset.get(keyword)
    return None if value is None else [float(item) for item in value]


def summarise(directories):
    series = {}
    paths = sorted(os.path.join(root, name) for directory in directories
                   for root, _, names in os.walk(directory) for name in names)
    for path in paths:
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError:
            continue
        uid = str(dataset.SeriesInstanceUID)
        entry = series.setdefault(uid, {
            'seriesInstanceUid': uid,
            'modality': dataset.get('Modality'),
            'seriesDescription': dataset.get('SeriesDescription'),
            'instances': [],
        })
        image_type = dataset.get('ImageType')
        instance = {
            'sopInstanceUid': str(dataset.SOPInstanceUID),
            'sopClassUid': str(dataset.SOPClassUID),
            'modality': dataset.get('Modality'),
            'imageType': [] if image_type is None else [str(item) for item in image_type],
            'imageOrientationPatient': numbers(dataset, 'ImageOrientationPatient'),
            'imagePositionPatient': numbers(dataset, 'ImagePositionPatient'),
            'rows': dataset.get('Rows'),
            'columns': dataset.get('Columns'),
            'sliceThickness': None if dataset.get('SliceThickness') in (None, '') else float(dataset.SliceThickness),
            'convolutionKernel': None if dataset.get('ConvolutionKernel') in (None, '') else '\\'.join(
                [str(item) for item in dataset.ConvolutionKernel] if isinstance(dataset.ConvolutionKernel, pydicom.multival.MultiValue)
                else [str(dataset.ConvolutionKernel)]),
        }
        entry['instances'].append({key: value for key, value in instance.items() if value is not None})
    return [{key: value for key, value in entry.items() if value is not None} for entry in series.values()]


print(json.dumps(summarise(sys.argv[1:])))
