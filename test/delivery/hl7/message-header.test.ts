import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { OruR01InputError } from '../../../src/delivery/hl7/errors.ts';
import { renewMessageHeader } from '../../../src/delivery/hl7/message-header.ts';
import { buildOruR01 } from '../../../src/delivery/hl7/oru-r01.ts';
import { parseWithPythonHl7 } from '../../helpers/python-hl7.ts';
import { oruInput } from './fixtures.ts';

describe('MSH renewal for a resend', () => {
  it('replaces MSH-7 and MSH-10 only', () => {
    const original = buildOruR01(oruInput());
    const renewed = renewMessageHeader(original, 'NEW0000000000000001', new Date('2024-06-01T08:00:00Z'));
    const parsed = parseWithPythonHl7(renewed);

    assert.equal(parsed.fields['MSH.F10'], 'NEW0000000000000001');
    assert.equal(renewed.split('|')[6], '20240601080000+0000');
    assert.equal(renewed.slice(renewed.indexOf('\r')), original.slice(original.indexOf('\r')));
    assert.equal(renewed.split('|').length, original.split('|').length);
  });

  it('rejects an invalid MSH-10', () => {
    assert.throws(() => renewMessageHeader(buildOruR01(oruInput()), 'A|B', new Date()), OruR01InputError);
  });

  it('rejects a message without MSH', () => {
    assert.throws(() => renewMessageHeader('PID|1\r', 'ID1', new Date()), OruR01InputError);
  });
});
