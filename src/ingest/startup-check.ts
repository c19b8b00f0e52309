/**
 * Checks of the instance store when the service starts. A crash can leave spool files of transfers that
 * never finished, which are removed here because their senders got no Success and send again. For
 * instances that were not acknowledged either, it can also leave a row whose file is missing or shorter
 * than recorded (see IngestSink). Such rows are reported, not deleted, because an administrator decides
 * and a resend from the PACS repairs them.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';

import type { Database } from '../db/database.ts';
import { listInstanceFilesAfter } from '../db/queries/ingest.ts';
import { recordAudit } from '../audit/record-audit.ts';
import { getLogger } from '../logging/logger.ts';
import type { InstanceStore } from './instance-store.ts';

const logger = getLogger('ingest');

/** Rows read per query while scanning the store. */
const PAGE_SIZE = 1000;

/** Problem rows logged one by one; the rest are counted. */
const MAX_LOGGED_ROWS = 20;

/**
 * A spool file of another listener untouched this long cannot belong to a transfer in progress: an
 * association idle for dicom.listener.idleTimeoutSeconds (at most one hour) is aborted.
 */
export const STALE_SPOOL_AGE_MS = 24 * 3600 * 1000;

/**
 * Removes every file in this listener's spool folder, which no transfer can be using before the
 * listener starts, and files older than STALE_SPOOL_AGE_MS in the spool folders of other listeners
 * that share the store. Returns the number removed. Only files with data are reported as unfinished
 * transfers: the spare file that a running listener keeps open for the next C-STORE is empty, and so is
 * a transfer cut off before its first write.
 */
export async function cleanSpoolAtStart(store: InstanceStore, spoolRoot: string): Promise<number> {
  const own = await store.cleanSpool();
  let removed = own.removed;
  let empty = own.empty;
  let folders: string[] = [];
  try {
    folders = await readdir(spoolRoot);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  for (const name of folders) {
    const folder = path.join(spoolRoot, name);
    if (folder === store.spoolDirectory) continue;
    const info = await stat(folder).catch(() => undefined);
    if (info?.isFile()) {
      // A file directly in the spool root comes from a version with one shared spool folder.
      if (Date.now() - info.mtimeMs >= STALE_SPOOL_AGE_MS) {
        await rm(folder, { force: true });
        removed += 1;
        if (info.size === 0) empty += 1;
      }
      continue;
    }
    if (!info?.isDirectory()) continue;
    for (const file of await readdir(folder)) {
      const filePath = path.join(folder, file);
      const fileInfo = await stat(filePath).catch(() => undefined);
      if (fileInfo?.isFile() && Date.now() - fileInfo.mtimeMs >= STALE_SPOOL_AGE_MS) {
        await rm(filePath, { force: true });
        removed += 1;
        if (fileInfo.size === 0) empty += 1;
      }
    }
  }
  if (removed > empty) logger.warn('removed spool files of transfers that did not finish', { count: removed - empty, path: spoolRoot });
  if (empty > 0) logger.info('removed empty spool files', { count: empty, path: spoolRoot });
  return removed;
}

export interface MissingFile {
  sopInstanceUid: string;
  filePath: string;
  problem: 'missing' | 'size_mismatch';
}

/**
 * Checks that every instance row's file exists with the recorded size. Logs each problem (up to 20) and
 * a summary, and writes one audit row when there are any. Returns the problems found; an aborted check
 * returns what it found so far without the summary.
 */
export async function findInstanceFileProblems(database: Database, store: InstanceStore, signal?: AbortSignal): Promise<MissingFile[]> {
  const problems: MissingFile[] = [];
  let checked = 0;
  let afterId: string | null = null;
  for (;;) {
    if (signal?.aborted) return problems;
    const rows = await database.run((manager) => listInstanceFilesAfter(manager, afterId, PAGE_SIZE));
    for (const row of rows) {
      const info = await stat(store.absolutePath(row.file_path)).catch(() => undefined);
      let problem: MissingFile['problem'] | undefined;
      if (!info) problem = 'missing';
      else if (info.size !== Number(row.size_bytes)) problem = 'size_mismatch';
      if (!problem) continue;
      problems.push({ sopInstanceUid: row.sop_instance_uid, filePath: row.file_path, problem });
      if (problems.length <= MAX_LOGGED_ROWS) {
        logger.warn('instance file missing or incomplete', { sopInstanceUid: row.sop_instance_uid, path: row.file_path, reason: problem });
      }
    }
    checked += rows.length;
    if (rows.length < PAGE_SIZE) break;
    afterId = rows[rows.length - 1]!.id;
  }

  if (problems.length === 0) {
    logger.info('instance store checked', { count: checked });
    return problems;
  }
  logger.error('instance rows without their file; a resend from the PACS repairs them', { count: problems.length, path: store.directory });
  await database.transaction((manager) =>
    recordAudit(manager, {
      action: 'instance_files_missing',
      outcome: 'failure',
      actorType: 'system',
      actor: 'startup',
      details: {
        checked,
        missing: problems.filter((item) => item.problem === 'missing').length,
        sizeMismatch: problems.filter((item) => item.problem === 'size_mismatch').length,
      },
    }),
  );
  return problems;
}
