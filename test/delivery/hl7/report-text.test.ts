import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { buildOruR01 } from '../../../src/delivery/hl7/oru-r01.ts';
import { encodeMllpFrame } from '../../../src/delivery/hl7/mllp-framing.ts';
import { sendMllpMessage } from '../../../src/delivery/hl7/mllp-client.ts';
import { parseWithPythonHl7 } from '../../helpers/python-hl7.ts';
import { MllpPeer } from '../../helpers/mllp-peer.ts';
import { oruInput } from './fixtures.ts';

/** Every HL7 delimiter, then a CR, an LF and a CR LF line break. */
const DELIMITER_TEXT = 'a|b^c~d\\e&f\rsecond\nthird\r\nlast';
const FINDINGS_CODE = '59776-5';
const IMPRESSIONS_CODE = '19005-8';

/** Returns the OBX-5 fields of the rows with this OBX-3 code, exactly as written in the message. */
function rawObx5(message: string, code: string): string[] {
  return message
    .split('\r')
    .filter((segment) => segment.startsWith('OBX|'))
    .map((segment) => segment.split('|'))
    .filter((fields) => (fields[3] ?? '').startsWith(`${code}^`))
    .map((fields) => fields[5] ?? '');
}

function oruWith(findings: string, options: { valueType?: 'TX' | 'FT'; sectionLabels?: boolean; impression?: string } = {}): string {
  const base = oruInput();
  return buildOruR01({
    ...base,
    result: {
      ...base.result,
      findings,
      impression: options.impression ?? 'Normal.',
      valueType: options.valueType,
      sectionLabels: options.sectionLabels,
    },
  });
}

describe('report text in OBX-5', () => {
  it('writes exact TX rows for delimiters and line breaks', () => {
    assert.deepEqual(rawObx5(oruWith(DELIMITER_TEXT), FINDINGS_CODE), ['a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f', 'second', 'third', 'last']);
  });

  it('writes one exact FT row with \\.br\\ line breaks', () => {
    assert.deepEqual(rawObx5(oruWith(DELIMITER_TEXT, { valueType: 'FT' }), FINDINGS_CODE), [
      'a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f\\.br\\second\\.br\\third\\.br\\last',
    ]);
  });

  it('starts each section with its label', () => {
    const tx = oruWith('Line 1\nLine 2', { sectionLabels: true, impression: 'Fine.' });
    assert.deepEqual(rawObx5(tx, FINDINGS_CODE), ['FINDINGS:', 'Line 1', 'Line 2']);
    assert.deepEqual(rawObx5(tx, IMPRESSIONS_CODE), ['IMPRESSION:', 'Fine.']);

    const ft = oruWith('Line 1\nLine 2', { sectionLabels: true, valueType: 'FT', impression: 'Fine.' });
    assert.deepEqual(rawObx5(ft, FINDINGS_CODE), ['FINDINGS:\\.br\\Line 1\\.br\\Line 2']);
    assert.deepEqual(rawObx5(ft, IMPRESSIONS_CODE), ['IMPRESSION:\\.br\\Fine.']);
  });

  it('never puts a raw CR, LF, VT or FS inside a segment', () => {
    const message = oruWith(`${DELIMITER_TEXT}\u000b\u001c\u0000end`, { valueType: 'FT' });
    const segments = message.split('\r').slice(0, -1);
    for (const segment of segments) {
      assert.doesNotMatch(segment, /[\n\u000b\u001c\u0000]/, segment);
      assert.match(segment, /^[A-Z0-9]{3}\|/);
    }
    assert.ok(message.includes('\\X0B\\\\X1C\\\\X00\\end'));
  });

  it('lets python-hl7 read the TX text back', () => {
    const parsed = parseWithPythonHl7(oruWith(DELIMITER_TEXT));
    const rows = parsed.observations.filter((row) => row.code === FINDINGS_CODE).map((row) => row.value);

    assert.equal(rows.join('\n'), DELIMITER_TEXT.replace(/\r\n|\r/g, '\n'));
    for (const row of parsed.observations) assert.ok(['ST', 'TX'].includes(row.valueType));
  });

  it('lets python-hl7 read the FT text back', () => {
    const parsed = parseWithPythonHl7(oruWith(DELIMITER_TEXT, { valueType: 'FT' }));
    const rows = parsed.observations.filter((row) => row.code === FINDINGS_CODE);

    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.valueType, 'FT');
    // python-hl7 0.4.5 turns \.br\ into CR.
    assert.equal(rows[0]!.value, DELIMITER_TEXT.replace(/\r\n|\n/g, '\r'));
  });

  describe('accented and CJK text', () => {
    const text = 'Épanchement pleural gauche, złamanie żebra; 左肺下叶结节 8 mm；肝臓に嚢胞。';

    it('is UTF-8 on the wire with MSH-18', async () => {
      const message = oruWith(text);
      const frame = encodeMllpFrame(message);
      assert.ok(frame.includes(Buffer.from('左肺下叶结节', 'utf8')));
      assert.ok(frame.includes(Buffer.from('złamanie żebra', 'utf8')));

      const peer = new MllpPeer();
      const { port } = await peer.start();
      try {
        await sendMllpMessage({ host: '127.0.0.1', port }, message, oruInput().messageControlId, { timeoutMs: 5000 });
        const [received] = await peer.waitForMessages(1, 5000);
        const parsed = parseWithPythonHl7(received!);
        assert.equal(parsed.fields['MSH.F18'], 'UNICODE UTF-8');
        assert.deepEqual(
          parsed.observations.filter((row) => row.code === FINDINGS_CODE).map((row) => row.value),
          [text],
        );
      } finally {
        await peer.close();
      }
    });

    it('keeps names in PID-5 intact', () => {
      const base = oruInput();
      const parsed = parseWithPythonHl7(buildOruR01({ ...base, patient: { ...base.patient, familyName: 'Żółć', givenName: '太郎' } }));
      assert.equal(parsed.fields['PID.F5.R1.C1'], 'Żółć');
      assert.equal(parsed.fields['PID.F5.R1.C2'], '太郎');
    });
  });
});
