/**
 * Locates the public DICOM and HL7 test data: ARGUS_SHARED_DATA when set, else `shared/data` beside the
 * repository, else /work/shared/data. A clone made elsewhere, such as a CI checkout in /tmp, has no
 * sibling folder and uses the last.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

const REPOSITORY = path.resolve(import.meta.dirname, '../..');

function locateSharedData(): string {
  const candidates = [process.env.ARGUS_SHARED_DATA, path.resolve(REPOSITORY, '../shared/data'), '/work/shared/data'];
  for (const candidate of candidates) {
    if (candidate && existsSync(path.join(candidate, 'README.md'))) return candidate;
  }
  throw new Error('The shared test data was not found; set ARGUS_SHARED_DATA to the folder that holds dcm_qa_ct/ and README.md.');
}

export const SHARED_DATA = locateSharedData();

export function sharedData(...parts: string[]): string {
  return path.join(SHARED_DATA, ...parts);
}
