/** SQL of volume assembly's outputs on the series row. */
import type { EntityManager } from 'typeorm';

import { queryRows } from '../sql.ts';

/** Records the folder of a series' previews, relative to the preview root. */
export async function recordPreviewDirectory(manager: EntityManager, seriesId: string, directory: string): Promise<void> {
  await queryRows(manager, `UPDATE series SET preview_directory = $2 WHERE id = $1 RETURNING id`, [seriesId, directory]);
}
