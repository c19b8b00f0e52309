/**
 * The instance store on disk. A received dataset is spooled under <store>/.spool, fsynced, then renamed
 * to <store>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>-<sha256 prefix>.dcm and the
 * folder is fsynced, so the file is durable before the database row points at it. The spool folder is
 * inside the store so that the rename never crosses file systems. The content hash in the name keeps a
 * second, different file with the same SOPInstanceUID from overwriting the first.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

import { SpoolWriter } from './spool-writer.ts';

/** DICOM UIDs contain only digits and dots (PS3.5 9.1); anything else must not reach a path. */
const UID_PATTERN = /^[0-9.]{1,64}$/;

export class InstanceStore {
  constructor(
    readonly directory: string,
    readonly spoolDirectory: string,
  ) {}

  async prepare(): Promise<void> {
    await mkdir(this.spoolDirectory, { recursive: true });
  }

  createSpool(): SpoolWriter {
    return new SpoolWriter(path.join(this.spoolDirectory, `${randomUUID()}.part`));
  }

  /** Returns the SHA-256 (hex) and size in bytes of a file. */
  async digest(filePath: string): Promise<{ sha256: string; sizeBytes: number }> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(filePath)) hash.update(chunk as Buffer);
    const { size } = await stat(filePath);
    return { sha256: hash.digest('hex'), sizeBytes: size };
  }

  /** Returns the store-relative path for an instance, or throws when a UID is not a valid UID. */
  relativePathFor(uids: { studyInstanceUid: string; seriesInstanceUid: string; sopInstanceUid: string }, sha256: string): string {
    for (const [name, value] of Object.entries(uids)) {
      if (!UID_PATTERN.test(value)) throw new InvalidUidError(name, value);
    }
    return path.join(uids.studyInstanceUid, uids.seriesInstanceUid, `${uids.sopInstanceUid}-${sha256.slice(0, 16)}.dcm`);
  }

  absolutePath(relativePath: string): string {
    return path.join(this.directory, relativePath);
  }

  /** Moves a flushed spool file to its place in the store and makes the rename durable. */
  async commitSpool(spoolPath: string, relativePath: string): Promise<void> {
    const target = this.absolutePath(relativePath);
    const folder = path.dirname(target);
    await mkdir(folder, { recursive: true });
    await rename(spoolPath, target);
    await fsyncDirectory(folder);
    // The series and study folders may be new; their entries must be durable too.
    await fsyncDirectory(path.dirname(folder));
    await fsyncDirectory(path.dirname(path.dirname(folder)));
  }

  async remove(filePath: string): Promise<void> {
    await rm(filePath, { force: true });
  }
}

export class InvalidUidError extends Error {
  readonly code = 'invalid_uid';

  constructor(
    readonly attribute: string,
    value: string,
  ) {
    super(`${attribute} is not a valid DICOM UID (${value.length} characters; only digits and dots, at most 64, are allowed)`);
    this.name = 'InvalidUidError';
  }
}

async function fsyncDirectory(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
