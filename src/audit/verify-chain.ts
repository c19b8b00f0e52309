/**
 * Walks the whole audit hash chain in seq order and stops at the first row that breaks it.
 *
 * A row breaks the chain in three ways. Its seq does not follow the previous one, because rows were
 * removed or inserted. Its prev_hash is not the previous row's row_hash, because one of the two rows was
 * replaced. Or its row_hash does not match its columns, because the row itself was changed. Removing rows from the end leaves a valid,
 * shorter chain, so that case shows only against a copy of the chain kept elsewhere, such as the
 * syslog export.
 */
import type { Database } from '../db/database.ts';
import { listAuditChainAfter, type AuditEventRow } from '../db/queries/audit.ts';
import { computeRowHash, GENESIS_HASH } from './hash-chain.ts';

/** Rows read per query. */
const VERIFY_PAGE_SIZE = 2000;

export interface ChainBreak {
  id: string;
  seq: number;
  problem: 'seq_gap' | 'prev_hash_mismatch' | 'row_hash_mismatch';
  /** Sentence that names the values that differ. */
  message: string;
}

export type ChainVerification = { valid: true; rowsVerified: number; headSeq: number } | { valid: false; rowsVerified: number; break: ChainBreak };

export async function verifyAuditChain(database: Database): Promise<ChainVerification> {
  let previous: { seq: number; rowHash: string } = { seq: 0, rowHash: GENESIS_HASH };
  let rowsVerified = 0;
  for (;;) {
    const rows = await database.run((manager) => listAuditChainAfter(manager, previous.seq, VERIFY_PAGE_SIZE));
    for (const row of rows) {
      const problem = checkLink(row, previous);
      if (problem) return { valid: false, rowsVerified, break: problem };
      rowsVerified += 1;
      previous = { seq: row.seq, rowHash: row.rowHash };
    }
    if (rows.length < VERIFY_PAGE_SIZE) return { valid: true, rowsVerified, headSeq: previous.seq };
  }
}

function checkLink(row: AuditEventRow, previous: { seq: number; rowHash: string }): ChainBreak | undefined {
  if (row.seq !== previous.seq + 1) {
    const message =
      previous.seq === 0
        ? `the chain starts at seq ${row.seq} instead of 1: rows before it are missing`
        : `seq ${row.seq} follows seq ${previous.seq}: rows between them are missing`;
    return { id: row.id, seq: row.seq, problem: 'seq_gap', message };
  }
  if (row.prevHash !== previous.rowHash) {
    return {
      id: row.id,
      seq: row.seq,
      problem: 'prev_hash_mismatch',
      message: `prev_hash ${row.prevHash} is not the row_hash ${previous.rowHash} of seq ${previous.seq}: one of the two rows was replaced`,
    };
  }
  const expected = computeRowHash({ ...row, occurredAt: new Date(row.occurredAt) });
  if (row.rowHash !== expected) {
    return {
      id: row.id,
      seq: row.seq,
      problem: 'row_hash_mismatch',
      message: `row_hash ${row.rowHash} does not match the row's columns (expected ${expected}): the row was changed after it was written`,
    };
  }
  return undefined;
}
