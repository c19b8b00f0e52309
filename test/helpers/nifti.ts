/**
 * A minimal NIfTI-1 reader for comparing volumes with dcm2niix output: header dimensions, the sform
 * affine and the voxel values of the first 3D volume with scl_slope/scl_inter applied. Single-file .nii
 * only, either byte order.
 */
import { readFile } from 'node:fs/promises';

export interface NiftiImage {
  /** Voxel counts along the first three axes. */
  dimensions: [number, number, number];
  /** 4x4 row-major voxel-to-RAS matrix from srow_x/y/z. */
  affine: number[][];
  /** Number of 3D volumes in the file (the product of dim[4] and above); dcm2niix writes several for repeated positions. */
  volumes: number;
  /** Voxel values of the first volume after scaling, index = i + j * nx + k * nx * ny. */
  values: Float64Array;
}

const HEADER_SIZE = 348;

/** NIfTI-1 datatype codes (nifti1.h) and the matching reads. */
const DATATYPES: ReadonlyMap<number, { bytes: number; read: (view: DataView, offset: number, le: boolean) => number }> =
  new Map([
    [2, { bytes: 1, read: (view, offset) => view.getUint8(offset) }],
    [4, { bytes: 2, read: (view, offset, le) => view.getInt16(offset, le) }],
    [8, { bytes: 4, read: (view, offset, le) => view.getInt32(offset, le) }],
    [16, { bytes: 4, read: (view, offset, le) => view.getFloat32(offset, le) }],
    [64, { bytes: 8, read: (view, offset, le) => view.getFloat64(offset, le) }],
    [256, { bytes: 1, read: (view, offset) => view.getInt8(offset) }],
    [512, { bytes: 2, read: (view, offset, le) => view.getUint16(offset, le) }],
    [768, { bytes: 4, read: (view, offset, le) => view.getUint32(offset, le) }],
  ]);

export async function readNifti(filePath: string): Promise<NiftiImage> {
  const bytes = await readFile(filePath);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  // sizeof_hdr is 348 in the file's byte order, so reading it as little-endian detects the byte order.
  const le = view.getInt32(0, true) === HEADER_SIZE;
  if (!le && view.getInt32(0, false) !== HEADER_SIZE) throw new Error(`${filePath} is not a NIfTI-1 file`);
  const magic = bytes.subarray(344, 348).toString('latin1');
  if (magic !== 'n+1\0') {
    throw new Error(`${filePath} is not a single-file NIfTI-1 image (magic ${JSON.stringify(magic)})`);
  }

  const rank = view.getInt16(40, le);
  const dimensions: [number, number, number] = [view.getInt16(42, le), view.getInt16(44, le), view.getInt16(46, le)];
  let volumes = 1;
  for (let axis = 4; axis <= rank; axis++) volumes *= view.getInt16(40 + axis * 2, le);
  const datatype = view.getInt16(70, le);
  const voxOffset = view.getFloat32(108, le);
  const rawSlope = view.getFloat32(112, le);
  const intercept = view.getFloat32(116, le);
  const sformCode = view.getInt16(254, le);
  if (sformCode <= 0) throw new Error(`${filePath} has no sform; this reader does not derive affines from the qform`);

  const affine: number[][] = [];
  for (let row = 0; row < 3; row++) {
    const base = 280 + row * 16;
    affine.push([0, 1, 2, 3].map((column) => view.getFloat32(base + column * 4, le)));
  }
  affine.push([0, 0, 0, 1]);

  const type = DATATYPES.get(datatype);
  if (type === undefined) throw new Error(`${filePath} has unsupported NIfTI datatype ${datatype}`);
  // scl_slope 0 means the values are stored unscaled (NIfTI-1 header comments).
  const slope = rawSlope === 0 ? 1 : rawSlope;
  const count = dimensions[0] * dimensions[1] * dimensions[2];
  const values = new Float64Array(count);
  for (let index = 0; index < count; index++) {
    values[index] = type.read(view, voxOffset + index * type.bytes, le) * slope + intercept;
  }
  return { dimensions, affine, volumes, values };
}
