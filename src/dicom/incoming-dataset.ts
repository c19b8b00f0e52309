/**
 * One C-STORE dataset on its way in. Every fragment goes to the spool file and through the
 * DatasetScanner as it arrives, so that when the last fragment is in, the structure check and the header
 * attributes are ready without reading the file back. No content hash is computed here: the sink needs
 * one only for a SOPInstanceUID it has already stored, and then reads it from the files.
 * A deflated dataset is inflated for the scan only; the spool file keeps the bytes as received.
 */
import { createInflateRaw, type InflateRaw } from 'node:zlib';

import type { DatasetEncoding } from './conformance.ts';
import { decodeHeaderAttributes, HEADER_TAGS } from './dataset-attributes.ts';
import { DatasetScanner, DatasetStructureError } from './dataset-scanner.ts';
import type { SpoolFile } from './instance-sink.ts';
import type { NaturalDataset } from './part10.ts';

export type ScanOutcome =
  | { ok: true; attributes: NaturalDataset; sizeBytes: number }
  | { ok: false; error: DatasetStructureError };

export class IncomingDataset {
  private readonly scanner: DatasetScanner;
  private readonly inflater: InflateRaw | undefined;
  private readonly inflated: Promise<void> | undefined;
  private structureError: DatasetStructureError | undefined;
  private bytes = 0;

  constructor(
    readonly spool: SpoolFile,
    fileMetaHeader: Buffer,
    encoding: DatasetEncoding,
  ) {
    this.bytes += fileMetaHeader.length;
    spool.write(fileMetaHeader);
    this.scanner = new DatasetScanner(encoding, HEADER_TAGS);

    if (encoding.deflated) {
      const inflater = createInflateRaw();
      this.inflater = inflater;
      inflater.on('data', (chunk: Buffer) => this.scan(chunk));
      this.inflated = new Promise((resolve) => {
        inflater.once('end', resolve);
        inflater.once('error', (error) => {
          this.structureError ??= new DatasetStructureError(`the deflated dataset cannot be inflated: ${error.message}`, 0);
          resolve();
        });
      });
    }
  }

  /** Bytes of the Part 10 file so far: file meta plus dataset. */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** Takes the next dataset fragment; returns false when the spool file asks the caller to wait. */
  write(fragment: Buffer): boolean {
    this.bytes += fragment.length;
    if (this.inflater) this.inflater.write(fragment);
    else this.scan(fragment);
    return this.spool.write(fragment);
  }

  /** Ends the scan once the last fragment is in. The spool file stays open for the sink to finish. */
  async complete(): Promise<ScanOutcome> {
    if (this.inflater) {
      this.inflater.end();
      await this.inflated;
    }
    if (!this.structureError) {
      try {
        this.scanner.end();
      } catch (error) {
        this.structureError = error as DatasetStructureError;
      }
    }
    if (this.structureError) return { ok: false, error: this.structureError };
    return { ok: true, attributes: decodeHeaderAttributes(this.scanner.captured), sizeBytes: this.bytes };
  }

  private scan(chunk: Buffer): void {
    if (this.structureError) return;
    try {
      this.scanner.write(chunk);
    } catch (error) {
      if (!(error instanceof DatasetStructureError)) throw error;
      this.structureError = error;
    }
  }
}
