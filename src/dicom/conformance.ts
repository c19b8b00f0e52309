/**
 * The Storage SCP's conformance: which SOP classes it accepts (processed by the model, or stored only)
 * and which transfer syntaxes, in the order it prefers them. UIDs and names are from PS3.6 Annex A.
 * docs/dicom-conformance-statement.md states the same tables for PACS administrators.
 */

export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

/** Storage SOP classes whose instances the report pipeline reads. */
export const PROCESSABLE_SOP_CLASSES = {
  '1.2.840.10008.5.1.4.1.1.2': 'CT Image Storage',
  '1.2.840.10008.5.1.4.1.1.2.1': 'Enhanced CT Image Storage',
  '1.2.840.10008.5.1.4.1.1.2.2': 'Legacy Converted Enhanced CT Image Storage',
} as const;

export type ProcessableSopClassUid = keyof typeof PROCESSABLE_SOP_CLASSES;

/**
 * Storage SOP classes that a PACS sends along with a CT study and that are stored without processing:
 * Secondary Capture (dose sheets, screen captures), the SR classes (dose reports, measurements, prior
 * reports) and Grayscale Softcopy Presentation State.
 */
export const DEFAULT_STORED_ONLY_SOP_CLASSES = {
  '1.2.840.10008.5.1.4.1.1.7': 'Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.7.1': 'Multi-frame Single Bit Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.7.2': 'Multi-frame Grayscale Byte Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.7.3': 'Multi-frame Grayscale Word Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.7.4': 'Multi-frame True Color Secondary Capture Image Storage',
  '1.2.840.10008.5.1.4.1.1.11.1': 'Grayscale Softcopy Presentation State Storage',
  '1.2.840.10008.5.1.4.1.1.88.11': 'Basic Text SR Storage',
  '1.2.840.10008.5.1.4.1.1.88.22': 'Enhanced SR Storage',
  '1.2.840.10008.5.1.4.1.1.88.33': 'Comprehensive SR Storage',
  '1.2.840.10008.5.1.4.1.1.88.34': 'Comprehensive 3D SR Storage',
  '1.2.840.10008.5.1.4.1.1.88.35': 'Extensible SR Storage',
  '1.2.840.10008.5.1.4.1.1.88.67': 'X-Ray Radiation Dose SR Storage',
  '1.2.840.10008.5.1.4.1.1.88.73': 'Patient Radiation Dose SR Storage',
  '1.2.840.10008.5.1.4.1.1.88.76': 'Enhanced X-Ray Radiation Dose SR Storage',
} as const;

/** How a transfer syntax encodes the dataset; what the dataset scanner needs to walk it. */
export interface DatasetEncoding {
  explicitVr: boolean;
  littleEndian: boolean;
  /** The whole dataset is deflated (RFC 1951) after the file meta. */
  deflated: boolean;
  /** Pixel Data is encapsulated in fragments (a compressed transfer syntax). */
  encapsulated: boolean;
}

interface TransferSyntaxInfo extends DatasetEncoding {
  name: string;
  lossy: boolean;
}

const NATIVE_LE = { explicitVr: true, littleEndian: true, deflated: false, encapsulated: false };
const ENCAPSULATED = { explicitVr: true, littleEndian: true, deflated: false, encapsulated: true };

export const TRANSFER_SYNTAXES = {
  '1.2.840.10008.1.2': { name: 'Implicit VR Little Endian', ...NATIVE_LE, explicitVr: false, lossy: false },
  '1.2.840.10008.1.2.1': { name: 'Explicit VR Little Endian', ...NATIVE_LE, lossy: false },
  '1.2.840.10008.1.2.1.99': { name: 'Deflated Explicit VR Little Endian', ...NATIVE_LE, deflated: true, lossy: false },
  '1.2.840.10008.1.2.2': { name: 'Explicit VR Big Endian (retired)', ...NATIVE_LE, littleEndian: false, lossy: false },
  '1.2.840.10008.1.2.4.50': { name: 'JPEG Baseline (Process 1)', ...ENCAPSULATED, lossy: true },
  '1.2.840.10008.1.2.4.51': { name: 'JPEG Extended (Process 2 & 4)', ...ENCAPSULATED, lossy: true },
  '1.2.840.10008.1.2.4.57': { name: 'JPEG Lossless, Non-Hierarchical (Process 14)', ...ENCAPSULATED, lossy: false },
  '1.2.840.10008.1.2.4.70': { name: 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])', ...ENCAPSULATED, lossy: false },
  '1.2.840.10008.1.2.4.80': { name: 'JPEG-LS Lossless Image Compression', ...ENCAPSULATED, lossy: false },
  '1.2.840.10008.1.2.4.81': { name: 'JPEG-LS Lossy (Near-Lossless) Image Compression', ...ENCAPSULATED, lossy: true },
  '1.2.840.10008.1.2.4.90': { name: 'JPEG 2000 Image Compression (Lossless Only)', ...ENCAPSULATED, lossy: false },
  '1.2.840.10008.1.2.4.91': { name: 'JPEG 2000 Image Compression', ...ENCAPSULATED, lossy: true },
  '1.2.840.10008.1.2.5': { name: 'RLE Lossless', ...ENCAPSULATED, lossy: false },
} as const satisfies Record<string, TransferSyntaxInfo>;

export type SupportedTransferSyntaxUid = keyof typeof TRANSFER_SYNTAXES;

export const SUPPORTED_TRANSFER_SYNTAX_UIDS = Object.keys(TRANSFER_SYNTAXES) as SupportedTransferSyntaxUid[];

/**
 * Default preference order. Uncompressed syntaxes come first, so the pipeline reads most studies without
 * a decoder. Lossless compression comes before lossy, so a sender that offers both never has to
 * compress lossy for us; a lossy syntax is chosen only when the sender offers nothing else.
 */
export const DEFAULT_TRANSFER_SYNTAX_ORDER: readonly SupportedTransferSyntaxUid[] = [
  '1.2.840.10008.1.2.1',
  '1.2.840.10008.1.2',
  '1.2.840.10008.1.2.1.99',
  '1.2.840.10008.1.2.2',
  '1.2.840.10008.1.2.4.80',
  '1.2.840.10008.1.2.4.70',
  '1.2.840.10008.1.2.4.57',
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.5',
  '1.2.840.10008.1.2.4.81',
  '1.2.840.10008.1.2.4.91',
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
];

/** Verification (C-ECHO) is answered in the uncompressed syntaxes only: a command set has no pixels. */
export const VERIFICATION_TRANSFER_SYNTAXES: readonly string[] = ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2'];

export function datasetEncoding(transferSyntaxUid: string): DatasetEncoding | undefined {
  return (TRANSFER_SYNTAXES as Record<string, TransferSyntaxInfo>)[transferSyntaxUid];
}

export function transferSyntaxName(transferSyntaxUid: string): string {
  return (TRANSFER_SYNTAXES as Record<string, TransferSyntaxInfo>)[transferSyntaxUid]?.name ?? transferSyntaxUid;
}

/** What the listener does with an instance of an accepted SOP class. */
export type SopClassRole = 'processed' | 'stored_only';

/** Accepted storage SOP classes and their role, built from the configuration. */
export type AcceptedSopClasses = ReadonlyMap<string, SopClassRole>;

export function acceptedSopClasses(processed: readonly string[], storedOnly: readonly string[]): AcceptedSopClasses {
  const accepted = new Map<string, SopClassRole>();
  for (const uid of storedOnly) accepted.set(uid, 'stored_only');
  for (const uid of processed) accepted.set(uid, 'processed');
  return accepted;
}
