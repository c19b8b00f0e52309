/** SQL of the completeness stage. */
import type { EntityManager } from 'typeorm';

import { queryRows } from '../sql.ts';

export interface CompletedStudyRow {
  id: string;
  study_instance_uid: string;
  instance_count: number;
  last_received_at: Date;
}

/**
 * Moves every study in `receiving` whose last instance arrived at or before `quietSince` to `complete`,
 * with the reason, and returns them. One UPDATE, so two schedulers never complete a study twice.
 */
export async function completeQuietStudiesReturningThem(
  manager: EntityManager,
  quietSince: Date,
  now: Date,
  quietPeriodSeconds: number,
): Promise<CompletedStudyRow[]> {
  return queryRows<CompletedStudyRow>(
    manager,
    `UPDATE study
        SET state = 'complete',
            completed_at = $2,
            updated_at = $2,
            state_reason = 'no instance received for ' || $3::text || ' s (quiet period); last instance at '
              || to_char(last_received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      WHERE state = 'receiving' AND last_received_at <= $1
      RETURNING id, study_instance_uid, instance_count, last_received_at`,
    [quietSince, now, String(quietPeriodSeconds)],
  );
}
