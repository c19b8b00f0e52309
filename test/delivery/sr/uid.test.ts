import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { generateUid, InvalidUidRootError, isValidUid } from '../../../src/dicom/uid.ts';

describe('UID generation', () => {
  it('derives a 2.25 UID from a UUID', () => {
    const uid = generateUid();

    assert.match(uid, /^2\.25\.[1-9][0-9]*$/);
    assert.ok(uid.length <= 64, `${uid} is longer than 64 characters`);
    // A 128-bit UUID has at most 39 decimal digits.
    assert.ok(uid.length - '2.25.'.length <= 39);
  });

  it('never repeats in 10000 draws', () => {
    const uids = new Set(Array.from({ length: 10_000 }, () => generateUid()));

    assert.equal(uids.size, 10_000);
  });

  it('appends random digits to a root', () => {
    const root = '1.2.826.0.1.3680043.8.498';
    const uid = generateUid(root);

    assert.ok(uid.startsWith(`${root}.`));
    assert.ok(isValidUid(uid), `${uid} is not a valid UID`);
    assert.ok(uid.length <= 64);
    assert.notEqual(generateUid(root), uid);
  });

  it('rejects an invalid root', () => {
    for (const root of ['1.2.03', '1..2', '1.2.', 'abc', '']) {
      assert.throws(
        () => generateUid(root),
        (error: unknown) => error instanceof InvalidUidRootError && error.code === 'invalid_uid_root',
        `root "${root}" was accepted`,
      );
    }
  });

  it('rejects a root without room for 20 digits', () => {
    const root = `1.${'2'.repeat(42)}`; // 44 characters leave 19 after the dot

    assert.throws(() => generateUid(root), InvalidUidRootError);
    assert.doesNotThrow(() => generateUid(root.slice(0, -1)));
  });

  it('validates UID syntax', () => {
    assert.equal(isValidUid('1.2.840.10008.5.1.4.1.1.88.11'), true);
    assert.equal(isValidUid('0.0'), true);
    assert.equal(isValidUid('1.02'), false);
    assert.equal(isValidUid('1.2.'), false);
    assert.equal(isValidUid('1.2 '), false);
    assert.equal(isValidUid(`1.${'2'.repeat(63)}`), false);
  });
});
