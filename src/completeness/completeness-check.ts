/**
 * Decides that a study is complete. DICOM has no "study finished" message, so a study counts as
 * complete once no instance has arrived for the quiet period. The state lives in the database and the
 * check is one UPDATE, so any number of processes can run it. Each decision is stored on the study with
 * its reason and audited in the same transaction.
 */
import type { Database } from '../db/database.ts';
import { completeQuietStudiesReturningThem } from '../db/queries/completeness.ts';
import { recordAudit } from '../audit/record-audit.ts';

export interface CompletedStudy {
  studyId: string;
  studyInstanceUid: string;
  instanceCount: number;
}

export async function completeQuietStudies(database: Database, quietPeriodSeconds: number, now: Date = new Date()): Promise<CompletedStudy[]> {
  const quietSince = new Date(now.getTime() - quietPeriodSeconds * 1000);
  return database.transaction(async (manager) => {
    const rows = await completeQuietStudiesReturningThem(manager, quietSince, now, quietPeriodSeconds);
    for (const row of rows) {
      await recordAudit(manager, {
        action: 'study_complete',
        outcome: 'success',
        actorType: 'system',
        actor: 'scheduler',
        studyInstanceUid: row.study_instance_uid,
        details: { instanceCount: row.instance_count, quietPeriodSeconds },
      });
    }
    return rows.map((row) => ({ studyId: row.id, studyInstanceUid: row.study_instance_uid, instanceCount: row.instance_count }));
  });
}
