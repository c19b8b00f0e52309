/**
 * Decoding of native (uncompressed) little-endian pixel data into stored values. A CT Image has
 * BitsAllocated 16 (PS3.3 C.8.2.1.1.4) but often fewer BitsStored, and the bits above HighBit may
 * contain overlay data or garbage. Each value is therefore shifted down to its low bit and masked to
 * BitsStored bits. For PixelRepresentation 1 it is then sign-extended from bit BitsStored - 1.
 */

export interface PixelFormat {
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  /** 0 for unsigned, 1 for two's complement stored values. */
  pixelRepresentation: number;
}

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

/**
 * Decodes `count` 16-bit little-endian words from `bytes` into stored values. The caller checks the
 * format with findPixelFormatProblem and that `bytes` contains at least `count` words.
 */
export function decodeStoredValues(bytes: Uint8Array, count: number, format: PixelFormat): Int32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shift = format.highBit + 1 - format.bitsStored;
  const mask = 2 ** format.bitsStored - 1;
  const signBit = 2 ** (format.bitsStored - 1);
  const range = 2 ** format.bitsStored;
  const signed = format.pixelRepresentation === 1;

  const values = new Int32Array(count);
  for (let index = 0; index < count; index++) {
    const value = (view.getUint16(index * 2, true) >>> shift) & mask;
    values[index] = signed && value >= signBit ? value - range : value;
  }
  return values;
}
