/**
 * The header attributes the listener keeps from each received dataset, captured by the DatasetScanner
 * and decoded here into the keyword-named form that dcmjs's naturalized datasets use, so that
 * src/ingest reads them the same way. Person names and other texts are decoded with the dataset's
 * Specific Character Set (PS3.3 C.12.1.1.2) through the WHATWG encodings that Node's TextDecoder supports.
 */
import { TextDecoder } from 'node:util';

import type { CapturedValue } from './dataset-scanner.ts';
import type { NaturalDataset } from './part10.ts';

/** Tag, keyword and VR (PS3.6) of each attribute kept. The VR is used for Implicit VR datasets. */
const HEADER_ATTRIBUTES: readonly [number, string, string][] = [
  [0x00080005, 'SpecificCharacterSet', 'CS'],
  [0x00080008, 'ImageType', 'CS'],
  [0x00080016, 'SOPClassUID', 'UI'],
  [0x00080018, 'SOPInstanceUID', 'UI'],
  [0x00080020, 'StudyDate', 'DA'],
  [0x00080030, 'StudyTime', 'TM'],
  [0x00080050, 'AccessionNumber', 'SH'],
  [0x00080060, 'Modality', 'CS'],
  [0x00080090, 'ReferringPhysicianName', 'PN'],
  [0x00081030, 'StudyDescription', 'LO'],
  [0x0008103e, 'SeriesDescription', 'LO'],
  [0x00100010, 'PatientName', 'PN'],
  [0x00100020, 'PatientID', 'LO'],
  [0x00100021, 'IssuerOfPatientID', 'LO'],
  [0x00100030, 'PatientBirthDate', 'DA'],
  [0x00100040, 'PatientSex', 'CS'],
  [0x0020000d, 'StudyInstanceUID', 'UI'],
  [0x0020000e, 'SeriesInstanceUID', 'UI'],
  [0x00200010, 'StudyID', 'SH'],
  [0x00200011, 'SeriesNumber', 'IS'],
  [0x00200013, 'InstanceNumber', 'IS'],
  [0x00200032, 'ImagePositionPatient', 'DS'],
  [0x00200037, 'ImageOrientationPatient', 'DS'],
  [0x00280008, 'NumberOfFrames', 'IS'],
  [0x00280010, 'Rows', 'US'],
  [0x00280011, 'Columns', 'US'],
];

/** Tags for the DatasetScanner, with the VR to assume in Implicit VR. */
export const HEADER_TAGS: ReadonlyMap<number, string> = new Map(HEADER_ATTRIBUTES.map(([tag, , vr]) => [tag, vr]));

const KEYWORDS: ReadonlyMap<number, string> = new Map(HEADER_ATTRIBUTES.map(([tag, keyword]) => [tag, keyword]));

/** VRs whose text depends on the Specific Character Set; the others are plain ASCII (PS3.5 6.1.2.3). */
const CHARACTER_SET_VRS = new Set(['PN', 'LO', 'SH', 'LT', 'ST', 'UT', 'UC']);

/** Defined Terms of Specific Character Set (PS3.3 C.12.1.1.2) and their WHATWG encoding labels. */
const ENCODINGS: Readonly<Record<string, string>> = {
  'ISO_IR 6': 'latin1',
  'ISO_IR 100': 'latin1',
  'ISO_IR 101': 'iso-8859-2',
  'ISO_IR 109': 'iso-8859-3',
  'ISO_IR 110': 'iso-8859-4',
  'ISO_IR 144': 'iso-8859-5',
  'ISO_IR 127': 'iso-8859-6',
  'ISO_IR 126': 'iso-8859-7',
  'ISO_IR 138': 'iso-8859-8',
  'ISO_IR 148': 'iso-8859-9',
  'ISO_IR 203': 'iso-8859-15',
  'ISO_IR 13': 'shift_jis',
  'ISO_IR 166': 'windows-874',
  'ISO_IR 192': 'utf-8',
  GB18030: 'gb18030',
  GBK: 'gbk',
  'ISO 2022 IR 6': 'latin1',
  'ISO 2022 IR 100': 'latin1',
  'ISO 2022 IR 101': 'iso-8859-2',
  'ISO 2022 IR 109': 'iso-8859-3',
  'ISO 2022 IR 110': 'iso-8859-4',
  'ISO 2022 IR 144': 'iso-8859-5',
  'ISO 2022 IR 127': 'iso-8859-6',
  'ISO 2022 IR 126': 'iso-8859-7',
  'ISO 2022 IR 138': 'iso-8859-8',
  'ISO 2022 IR 148': 'iso-8859-9',
  'ISO 2022 IR 203': 'iso-8859-15',
  'ISO 2022 IR 13': 'shift_jis',
  'ISO 2022 IR 166': 'windows-874',
  'ISO 2022 IR 87': 'iso-2022-jp',
  'ISO 2022 IR 159': 'iso-2022-jp',
  'ISO 2022 IR 149': 'euc-kr',
  'ISO 2022 IR 58': 'gb18030',
};

/** ISO 2022 escape sequences: ESC, intermediate bytes 0x20-0x2F, a final byte 0x30-0x7E (ISO/IEC 2022 13.1). */
// eslint-disable-next-line no-control-regex
const ESCAPE_SEQUENCE = /\x1b[\x20-\x2f]+[\x30-\x7e]/g;

/**
 * Picks one decoder for the dataset's texts. Japanese datasets keep their escape sequences for the
 * iso-2022-jp decoder. Other code-extension datasets switch between ASCII and one other set, so the
 * escape sequences are dropped and the bytes decoded with that set's encoding.
 */
function textDecoderFor(specificCharacterSet: string[]): { decoder: TextDecoder; keepEscapes: boolean } {
  const terms = specificCharacterSet.map((term) => term.trim()).filter((term) => term !== '');
  const extended = terms.find((term) => term !== 'ISO 2022 IR 6' && ENCODINGS[term] !== undefined);
  let label = 'latin1';
  if (extended) label = ENCODINGS[extended]!;
  else if (terms[0] && ENCODINGS[terms[0]]) label = ENCODINGS[terms[0]]!;
  let decoder = DECODERS.get(label);
  if (!decoder) {
    decoder = new TextDecoder(label);
    DECODERS.set(label, decoder);
  }
  return { decoder, keepEscapes: label === 'iso-2022-jp' };
}

/** One decoder per encoding, reused: decode() without the stream option keeps no state between calls. */
const DECODERS = new Map<string, TextDecoder>();

/**
 * Decodes the captured attributes. Multi-valued strings keep their backslash separators, as in a
 * naturalized dataset read without splitting. US values become numbers, and a Person Name keeps its
 * alphabetic component group only.
 */
export function decodeHeaderAttributes(captured: ReadonlyMap<number, CapturedValue>): NaturalDataset {
  const charsetValue = captured.get(0x00080005);
  const charsets = charsetValue ? charsetValue.value.toString('latin1').split('\\') : [];
  // NOTE: datasets that switch among several extended sets in one value (ISO 2022 with more than one
  // non-ASCII set) are decoded with the first of them only.
  const { decoder, keepEscapes } = textDecoderFor(charsets);

  const dataset: NaturalDataset = {};
  for (const [tag, { vr, value, littleEndian }] of captured) {
    const keyword = KEYWORDS.get(tag);
    if (!keyword) continue;
    if (vr === 'US') {
      if (value.length >= 2) dataset[keyword] = littleEndian ? value.readUInt16LE(0) : value.readUInt16BE(0);
      continue;
    }
    let text: string;
    if (CHARACTER_SET_VRS.has(vr)) {
      const bytes = keepEscapes ? value : Buffer.from(value.toString('latin1').replace(ESCAPE_SEQUENCE, ''), 'latin1');
      text = decoder.decode(bytes);
    } else {
      text = value.toString('latin1');
    }
    text = text.replace(/[\0 ]+$/, '').replace(/^ +/, '');
    if (vr === 'PN') text = text.split('=')[0]!.trim();
    dataset[keyword] = text;
  }
  return dataset;
}
