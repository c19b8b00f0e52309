/**
 * Builds a CT study of any size from one real slice: each copy gets the new study and series UIDs, its
 * own SOPInstanceUID, InstanceNumber, SliceLocation and ImagePositionPatient one slice step further along
 * the stack. DCMTK dcmodify rewrites the copies, so the file meta (MediaStorageSOPInstanceUID) follows
 * the dataset and the pixel data stays as it was.
 */
import { execFile } from 'node:child_process';
import { copyFile, chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import { generateUid } from '../../src/dicom/uid.ts';

const run = promisify(execFile);

export interface SyntheticStudy {
  directory: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** Files in slice order, with the SOPInstanceUID each carries. */
  files: { path: string; sopInstanceUid: string }[];
}

export interface SyntheticStudyOptions {
  /** A single-frame CT file whose pixel data and other attributes every copy keeps. */
  sourceFile: string;
  directory: string;
  instanceCount: number;
  /** Distance between two slices along z, in mm. */
  sliceStepMm?: number;
  /** dcmodify processes run at once; two keep a two-core machine responsive. */
  parallelism?: number;
  studyInstanceUid?: string;
}

export async function buildSyntheticStudy(options: SyntheticStudyOptions): Promise<SyntheticStudy> {
  const studyInstanceUid = options.studyInstanceUid ?? generateUid();
  const seriesInstanceUid = generateUid();
  const step = options.sliceStepMm ?? 1.25;
  await mkdir(options.directory, { recursive: true });

  const files = Array.from({ length: options.instanceCount }, (_, index) => ({
    path: path.join(options.directory, `CT${String(index + 1).padStart(4, '0')}.dcm`),
    sopInstanceUid: generateUid(),
  }));

  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const index = next++;
      const file = files[index]!;
      const z = (index * step).toFixed(2);
      await copyFile(options.sourceFile, file.path);
      await chmod(file.path, 0o644);
      await run('dcmodify', [
        '-nb',
        '-m', `(0020,000d)=${studyInstanceUid}`,
        '-m', `(0020,000e)=${seriesInstanceUid}`,
        '-m', `(0008,0018)=${file.sopInstanceUid}`,
        '-m', `(0020,0013)=${index + 1}`,
        '-m', `(0020,0032)=-250\\-250\\${z}`,
        '-m', `(0020,1041)=${z}`,
        file.path,
      ]);
    }
  };
  await Promise.all(Array.from({ length: options.parallelism ?? 2 }, worker));
  return { directory: options.directory, studyInstanceUid, seriesInstanceUid, files };
}
