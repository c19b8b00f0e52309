/**
 * Generates DICOM UIDs for the objects this service creates (SR series and instances). Without a
 * configured root a UID is `2.25.` followed by the decimal value of a random UUID, the UUID-derived form
 * of PS3.5 Annex B.2, which needs no registered root. With a root the random part is appended to it.
 */
import { randomBytes, randomUUID } from 'node:crypto';

/** PS3.5 6.2: a UI value is at most 64 characters. */
const MAX_UID_LENGTH = 64;

/**
 * Minimum number of random decimal digits after a configured root. 20 digits are about 66 bits, so a
 * collision among a billion UIDs under one root has a probability below 1e-2 (birthday bound).
 */
const MIN_RANDOM_DIGITS = 20;

/** PS3.5 9.1: components of digits separated by dots, no leading zero in a multi-digit component. */
const UID_PATTERN = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

export class InvalidUidRootError extends Error {
  readonly code = 'invalid_uid_root';

  constructor(root: string, reason: string) {
    super(`Invalid UID root "${root}": ${reason}`);
    this.name = 'InvalidUidRootError';
  }
}

/** Returns true if `value` is a syntactically valid UID (PS3.5 9.1) of at most 64 characters. */
export function isValidUid(value: string): boolean {
  return value.length <= MAX_UID_LENGTH && UID_PATTERN.test(value);
}

/**
 * Generates a new UID: `2.25.<UUID as decimal>` when `root` is omitted, else `<root>.<random digits>`
 * filling the UID up to 64 characters. Throws InvalidUidRootError when the root is not a valid UID or
 * leaves room for fewer than 20 random digits.
 */
export function generateUid(root?: string): string {
  if (root === undefined) return `2.25.${uuidToDecimal(randomUUID())}`;

  if (!UID_PATTERN.test(root)) throw new InvalidUidRootError(root, 'expected digits separated by dots');
  const randomDigits = MAX_UID_LENGTH - root.length - 1;
  if (randomDigits < MIN_RANDOM_DIGITS) {
    const maxRootLength = MAX_UID_LENGTH - 1 - MIN_RANDOM_DIGITS;
    throw new InvalidUidRootError(root, `longer than ${maxRootLength} characters, no room for random digits`);
  }
  return `${root}.${randomDecimal(randomDigits)}`;
}

function uuidToDecimal(uuid: string): string {
  return BigInt(`0x${uuid.replaceAll('-', '')}`).toString(10);
}

/**
 * Returns a random non-negative integer with at most `maxDigits` decimal digits and no leading zero.
 * 128 random bits cover 38 digits; beyond that 128 bits are plenty, so the value is not widened.
 */
function randomDecimal(maxDigits: number): string {
  const value = BigInt(`0x${randomBytes(16).toString('hex')}`);
  return (value % 10n ** BigInt(Math.min(maxDigits, 38))).toString(10);
}
