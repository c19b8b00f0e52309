import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';

import { HL7_ACK_CODES, parseHl7Ack } from '../../../src/delivery/hl7/ack.ts';
import { Hl7AckInvalidError } from '../../../src/delivery/hl7/errors.ts';
import { buildOruR01 } from '../../../src/delivery/hl7/oru-r01.ts';
import { oruInput } from './fixtures.ts';

const MSH = 'MSH|^~\\&|RIS|HOSPITAL|ARGUS|RADIOLOGY|20240501102031||ACK^R01^ACK|ACK-1|P|2.5.1';

function isInvalidAck(error: unknown): boolean {
  return error instanceof Hl7AckInvalidError && error.code === 'hl7_ack_invalid' && error.retryable;
}

describe('HL7 ACK parser', () => {
  for (const [name, ending] of [
    ['CR', '\r'],
    ['LF', '\n'],
    ['CR LF', '\r\n'],
  ] as const) {
    it(`reads MSA with ${name} segment endings`, () => {
      const raw = [MSH, 'MSA|AA|ARGUS-0000000001|Message accepted'].join(ending) + ending;
      const ack = parseHl7Ack(raw);

      assert.equal(ack.code, 'AA');
      assert.equal(ack.messageControlId, 'ARGUS-0000000001');
      assert.equal(ack.text, 'Message accepted');
      assert.equal(ack.raw, raw);
    });
  }

  it('reads every table 0008 code', () => {
    for (const code of HL7_ACK_CODES) {
      assert.equal(parseHl7Ack(`${MSH}\rMSA|${code}|ID-1\r`).code, code);
    }
  });

  it('unescapes MSA-2 and MSA-3', () => {
    const ack = parseHl7Ack(`${MSH}\rMSA|AE|ID\\F\\1|Field PID\\S\\3 invalid\r`);

    assert.equal(ack.messageControlId, 'ID|1');
    assert.equal(ack.text, 'Field PID^3 invalid');
  });

  it('takes the text from ERR when MSA-3 is empty', () => {
    const err = 'ERR||PID^1^3|101^Required field missing^HL70357|E';
    const withUserMessage = parseHl7Ack(`${MSH}\rMSA|AE|ID-1\r${err}||||Patient ID missing\r`);
    const withErrorCode = parseHl7Ack(`${MSH}\rMSA|AR|ID-1\r${err}\r`);
    const withoutText = parseHl7Ack(`${MSH}\rMSA|AA|ID-1\r`);

    assert.equal(withUserMessage.text, 'Patient ID missing');
    assert.equal(withErrorCode.text, 'Required field missing');
    assert.equal(withoutText.text, undefined);
  });

  it('uses the delimiters MSH declares', () => {
    const ack = parseHl7Ack('MSH#$%\\*#RIS#H#A#R#20240501##ACK#1#P#2.5.1\rMSA#AA#ID|1#ok\\F\\\r');

    assert.equal(ack.messageControlId, 'ID|1');
    assert.equal(ack.text, 'ok#');
  });

  it('reads an ACK made by python-hl7', () => {
    const oru = buildOruR01(oruInput());
    const script = [
      'import sys, hl7',
      "message = hl7.parse(sys.stdin.buffer.read().decode('utf-8'))",
      "sys.stdout.write(str(message.create_ack('AE', message_id='PYACK1')))",
    ].join('\n');
    const raw = execFileSync('/usr/bin/python3', ['-c', script], { input: oru }).toString('utf8');
    const ack = parseHl7Ack(raw);

    assert.equal(ack.code, 'AE');
    assert.equal(ack.messageControlId, 'ARGUS-0000000001');
  });

  it('rejects frames that are not ACKs', () => {
    const cases: Array<[string, string]> = [
      ['empty frame', ''],
      ['no MSH', 'MSA|AA|ID-1\r'],
      ['no MSA', `${MSH}\r`],
      ['MSA-1 outside table 0008', `${MSH}\rMSA|OK|ID-1\r`],
      ['empty MSA-1', `${MSH}\rMSA||ID-1\r`],
      ['empty MSA-2', `${MSH}\rMSA|AA|\r`],
      ['missing MSA-2', `${MSH}\rMSA|AA\r`],
    ];
    for (const [name, raw] of cases) {
      assert.throws(() => parseHl7Ack(raw), isInvalidAck, name);
    }
  });
});
