/**
 * Stored values from 16-bit pixel words. A CT image has BitsAllocated 16 (PS3.3 C.8.2.1.1.4) but often
 * fewer BitsStored, and the bits above HighBit may hold overlay data or garbage. Each word is therefore
 * shifted down to its low bit and masked to BitsStored bits, and for PixelRepresentation 1 the value is
 * sign-extended from bit BitsStored - 1 (PS3.5 section 8.1.1).
 *
 * The words are converted in place: the buffers come from reading a file or from a codec and belong to
 * the caller alone, and a 300-slice series would otherwise need a second copy of every slice.
 */
import { endianness } from 'node:os';

export interface PixelFormat {
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  /** 0 for unsigned, 1 for two's complement stored values. */
  pixelRepresentation: number;
}

/** Stored values of one frame, Rows x Columns, row by row. Signed data gives Int16Array, unsigned Uint16Array. */
export type StoredValues = Int16Array | Uint16Array;

const PLATFORM_LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Returns the reason a pixel format cannot be decoded here, or undefined when it can. Only 16-bit
 * allocation is handled because the CT Image IOD requires it.
 */
export function findPixelFormatProblem(format: PixelFormat): string | undefined {
  const { bitsAllocated, bitsStored, highBit, pixelRepresentation } = format;
  if (bitsAllocated !== 16) {
    return `BitsAllocated is ${bitsAllocated}, but a CT image must have 16.`;
  }
  if (!Number.isInteger(bitsStored) || bitsStored < 1 || bitsStored > bitsAllocated) {
    return `BitsStored is ${bitsStored}, which is not between 1 and BitsAllocated (${bitsAllocated}).`;
  }
  if (!Number.isInteger(highBit) || highBit < bitsStored - 1 || highBit >= bitsAllocated) {
    return `HighBit is ${highBit}, which does not fit BitsStored ${bitsStored} in BitsAllocated ${bitsAllocated}.`;
  }
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) {
    return `PixelRepresentation is ${pixelRepresentation}, but only 0 (unsigned) and 1 (signed) exist.`;
  }
  return undefined;
}

/** Swaps the bytes of each 16-bit word in place, for Explicit VR Big Endian pixel data. */
export function swapWordBytes(bytes: Uint8Array): void {
  for (let index = 0; index + 1 < bytes.byteLength; index += 2) {
    const low = bytes[index]!;
    bytes[index] = bytes[index + 1]!;
    bytes[index + 1] = low;
  }
}

/** Returns a Uint16Array over `count` little-endian words of `bytes`, copying only when the bytes are unaligned or the platform is big-endian. */
function wordsOf(bytes: Uint8Array, count: number): Uint16Array {
  if (PLATFORM_LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words = new Uint16Array(count);
  for (let index = 0; index < count; index++) words[index] = view.getUint16(index * 2, true);
  return words;
}

/**
 * Clears the bits above `mask` in place, two words at a time through an Int32Array view when the words
 * are 4-byte aligned: half the iterations of a word loop, and no value leaves the int32 range.
 */
function maskInPlace(words: Uint16Array, mask: number): void {
  if (words.byteOffset % 4 !== 0) {
    for (let index = 0; index < words.length; index++) words[index] = words[index]! & mask;
    return;
  }
  const pairs = new Int32Array(words.buffer, words.byteOffset, words.length >>> 1);
  const pairMask = mask | (mask << 16);
  for (let index = 0; index < pairs.length; index++) pairs[index] = pairs[index]! & pairMask;
  if (words.length % 2 === 1) words[words.length - 1] = words[words.length - 1]! & mask;
}

/**
 * Converts `count` little-endian 16-bit words at the start of `bytes` into stored values, overwriting
 * the words. The caller has checked the format with findPixelFormatProblem and the length of `bytes`.
 */
export function toStoredValues(bytes: Uint8Array, count: number, format: PixelFormat): StoredValues {
  const words = wordsOf(bytes, count);
  const signed = format.pixelRepresentation === 1;
  const asSigned = () => new Int16Array(words.buffer, words.byteOffset, count);
  if (format.bitsStored === 16) return signed ? asSigned() : words;

  const shift = format.highBit + 1 - format.bitsStored;
  const mask = 2 ** format.bitsStored - 1;
  if (!signed) {
    if (shift === 0) {
      maskInPlace(words, mask);
      return words;
    }
    for (let index = 0; index < count; index++) words[index] = (words[index]! >>> shift) & mask;
    return words;
  }

  const signBit = 2 ** (format.bitsStored - 1);
  const range = 2 ** format.bitsStored;
  const values = asSigned();
  for (let index = 0; index < count; index++) {
    const value = (words[index]! >>> shift) & mask;
    values[index] = value >= signBit ? value - range : value;
  }
  return values;
}
