/**
 * Runs a Part 10 file's dataset through the listener's IncomingDataset as if it arrived over the network,
 * in chunks of an odd size so that element headers straddle chunk boundaries.
 */
import { readFile } from 'node:fs/promises';

import { datasetEncoding } from '../../src/dicom/conformance.ts';
import { IncomingDataset, type ScanOutcome } from '../../src/dicom/incoming-dataset.ts';
import type { SpoolFile } from '../../src/dicom/instance-sink.ts';

/** Chunk size: a prime, so chunk edges fall everywhere in the element structure. */
const CHUNK_BYTES = 7919;

export interface Part10File {
  transferSyntaxUid: string;
  fileMeta: Buffer;
  dataset: Buffer;
}

/** Splits a Part 10 file into its file meta (preamble included) and its dataset. */
export function splitPart10(bytes: Buffer): Part10File {
  if (bytes.toString('ascii', 128, 132) !== 'DICM') throw new Error('not a DICOM Part 10 file');
  const groupLength = bytes.readUInt32LE(140);
  const metaEnd = 144 + groupLength;
  const meta = bytes.subarray(132, metaEnd);
  let transferSyntaxUid = '';
  for (let offset = 12; offset < meta.length; ) {
    const element = meta.readUInt16LE(offset + 2);
    const vr = meta.toString('ascii', offset + 4, offset + 6);
    const long = ['OB', 'OW', 'UN', 'SQ', 'UT', 'UC', 'UR'].includes(vr);
    const length = long ? meta.readUInt32LE(offset + 8) : meta.readUInt16LE(offset + 6);
    const valueStart = offset + (long ? 12 : 8);
    if (element === 0x0010) transferSyntaxUid = meta.toString('ascii', valueStart, valueStart + length).replace(/[\0 ]+$/, '');
    offset = valueStart + length;
  }
  return { transferSyntaxUid, fileMeta: bytes.subarray(0, metaEnd), dataset: bytes.subarray(metaEnd) };
}

const discardingSpool: SpoolFile = {
  path: '/dev/null',
  write: () => true,
  drained: () => Promise.resolve(),
  discard: () => Promise.resolve(),
};

export async function scanDataset(dataset: Buffer, transferSyntaxUid: string): Promise<ScanOutcome> {
  const encoding = datasetEncoding(transferSyntaxUid);
  if (!encoding) throw new Error(`transfer syntax ${transferSyntaxUid} is not supported by the listener`);
  const incoming = new IncomingDataset(discardingSpool, Buffer.alloc(0), encoding);
  for (let offset = 0; offset < dataset.length; offset += CHUNK_BYTES) incoming.write(dataset.subarray(offset, offset + CHUNK_BYTES));
  return incoming.complete();
}

export async function scanFile(filePath: string): Promise<ScanOutcome & { part10: Part10File }> {
  const part10 = splitPart10(await readFile(filePath));
  return { ...(await scanDataset(part10.dataset, part10.transferSyntaxUid)), part10 };
}
