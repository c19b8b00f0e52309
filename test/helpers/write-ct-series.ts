/**
 * Writes a CT series as single-frame CT Image Storage files from HU values and a geometry. Each slice
 * gets its own SOPInstanceUID, ImagePositionPatient and InstanceNumber. The series shares new Study,
 * Series and Frame of Reference UIDs, ImageOrientationPatient, PatientPosition, PixelSpacing and the
 * rescale. Stored values are (HU - RescaleIntercept) / RescaleSlope as unsigned 16-bit integers, so a
 * reader that skips the rescale gets wrong HU.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { generateUid } from '../../src/dicom/uid.ts';
import { writePart10, type NaturalizedDataset } from '../../src/delivery/sr/dcmjs-part10.ts';
import type { Vector3 } from '../../src/volume/ct-volume.ts';

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

export interface CtSeriesGeometry {
  columns: number;
  rows: number;
  slices: number;
  /** PixelSpacing: [between rows, between columns] in mm. */
  pixelSpacing: [number, number];
  /** Distance between neighbouring slices in mm; also written as SliceThickness. */
  sliceSpacing: number;
  /** LPS unit vector along a row (increasing column); the first three values of ImageOrientationPatient. */
  rowDirection: Vector3;
  /** LPS unit vector down a column (increasing row); the last three values of ImageOrientationPatient. */
  columnDirection: Vector3;
  /** LPS unit vector from one slice to the next in file and InstanceNumber order. */
  sliceDirection: Vector3;
  /** ImagePositionPatient of the first slice: the centre of its first pixel, in LPS mm. */
  firstPosition: Vector3;
  /** PatientPosition, e.g. HFS (head first supine) or FFS (feet first supine). */
  patientPosition: string;
}

export interface CtSeriesOptions {
  directory: string;
  geometry: CtSeriesGeometry;
  /** HU at an LPS point in mm; called once per pixel centre. */
  hu: (point: Vector3) => number;
  rescaleSlope?: number;
  rescaleIntercept?: number;
  studyInstanceUid?: string;
  patientId?: string;
}

export interface WrittenCtSeries {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** Files in InstanceNumber order. */
  files: string[];
}

/** Returns the LPS position of pixel (column, row) of slice `slice`. */
export function pixelPosition(geometry: CtSeriesGeometry, column: number, row: number, slice: number): Vector3 {
  const [rowSpacing, columnSpacing] = geometry.pixelSpacing;
  const position: Vector3 = [0, 0, 0];
  for (let axis = 0; axis < 3; axis++) {
    position[axis] =
      geometry.firstPosition[axis]! +
      column * columnSpacing * geometry.rowDirection[axis]! +
      row * rowSpacing * geometry.columnDirection[axis]! +
      slice * geometry.sliceSpacing * geometry.sliceDirection[axis]!;
  }
  return position;
}

/**
 * Returns the geometry of an axial series centred on the patient-space origin. Head-first supine rows
 * run toward the patient's left and feet-first supine rows toward the right; columns run posterior in
 * both. `reversed` stacks the slices from head to feet instead of feet to head.
 */
export function axialGeometry(options: {
  patientPosition: 'HFS' | 'FFS';
  reversed: boolean;
  size: number;
  slices: number;
  pixelSpacing: number;
  sliceSpacing: number;
}): CtSeriesGeometry {
  const rowDirection: Vector3 = options.patientPosition === 'HFS' ? [1, 0, 0] : [-1, 0, 0];
  const columnDirection: Vector3 = [0, 1, 0];
  const sliceDirection: Vector3 = options.reversed ? [0, 0, -1] : [0, 0, 1];
  const halfWidth = ((options.size - 1) / 2) * options.pixelSpacing;
  const halfLength = ((options.slices - 1) / 2) * options.sliceSpacing;
  const firstPosition: Vector3 = [
    -halfWidth * rowDirection[0],
    -halfWidth * columnDirection[1],
    -halfLength * sliceDirection[2],
  ];
  return {
    columns: options.size,
    rows: options.size,
    slices: options.slices,
    pixelSpacing: [options.pixelSpacing, options.pixelSpacing],
    sliceSpacing: options.sliceSpacing,
    rowDirection,
    columnDirection,
    sliceDirection,
    firstPosition,
    patientPosition: options.patientPosition,
  };
}

/** Writes one Part 10 file per slice into `directory`, named CT0001.dcm onwards in InstanceNumber order. */
export async function writeCtSeries(options: CtSeriesOptions): Promise<WrittenCtSeries> {
  const { geometry } = options;
  const slope = options.rescaleSlope ?? 1;
  const intercept = options.rescaleIntercept ?? -1024;
  const studyInstanceUid = options.studyInstanceUid ?? generateUid();
  const seriesInstanceUid = generateUid();
  const frameOfReferenceUid = generateUid();
  await mkdir(options.directory, { recursive: true });

  const files: string[] = [];
  for (let slice = 0; slice < geometry.slices; slice++) {
    const pixels = new Uint16Array(geometry.rows * geometry.columns);
    for (let row = 0; row < geometry.rows; row++) {
      for (let column = 0; column < geometry.columns; column++) {
        const hu = options.hu(pixelPosition(geometry, column, row, slice));
        const stored = Math.round((hu - intercept) / slope);
        pixels[row * geometry.columns + column] = Math.min(0xffff, Math.max(0, stored));
      }
    }
    const position = pixelPosition(geometry, 0, 0, slice);
    const sopInstanceUid = generateUid();
    const dataset: NaturalizedDataset & { SOPClassUID: string; SOPInstanceUID: string } = {
      SOPClassUID: CT_IMAGE_STORAGE,
      SOPInstanceUID: sopInstanceUid,
      StudyInstanceUID: studyInstanceUid,
      SeriesInstanceUID: seriesInstanceUid,
      FrameOfReferenceUID: frameOfReferenceUid,
      PositionReferenceIndicator: '',
      Manufacturer: 'argus-gateway test phantom',
      BodyPartExamined: 'CHEST',
      AcquisitionNumber: 1,
      Modality: 'CT',
      ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
      PatientName: 'PHANTOM^CHEST',
      PatientID: options.patientId ?? 'PHANTOM',
      PatientBirthDate: '',
      PatientSex: 'O',
      StudyDate: '20260101',
      StudyTime: '120000',
      AccessionNumber: '',
      StudyID: '1',
      ReferringPhysicianName: '',
      SeriesNumber: 1,
      SeriesDescription: 'Chest phantom',
      InstanceNumber: slice + 1,
      PatientPosition: geometry.patientPosition,
      ImagePositionPatient: position,
      ImageOrientationPatient: [...geometry.rowDirection, ...geometry.columnDirection],
      SliceLocation: position[2],
      SliceThickness: geometry.sliceSpacing,
      PixelSpacing: geometry.pixelSpacing,
      ConvolutionKernel: 'STANDARD',
      KVP: 120,
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      Rows: geometry.rows,
      Columns: geometry.columns,
      BitsAllocated: 16,
      BitsStored: 16,
      HighBit: 15,
      PixelRepresentation: 0,
      RescaleIntercept: intercept,
      RescaleSlope: slope,
      RescaleType: 'HU',
      PixelData: [pixels.buffer],
      _vrMap: { PixelData: 'OW' },
    };
    const file = path.join(options.directory, `CT${String(slice + 1).padStart(4, '0')}.dcm`);
    await writeFile(file, writePart10(dataset));
    files.push(file);
  }
  return { studyInstanceUid, seriesInstanceUid, files };
}
