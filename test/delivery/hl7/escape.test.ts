import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { escapeHl7Text, unescapeHl7Text } from '../../../src/delivery/hl7/escape.ts';
import { buildOruR01 } from '../../../src/delivery/hl7/oru-r01.ts';
import { oruInput } from './fixtures.ts';
import { parseWithPythonHl7, unescapeWithPythonHl7 } from '../../helpers/python-hl7.ts';

const CASES: Array<{ name: string; text: string }> = [
  { name: 'plain text', text: 'No acute findings.' },
  { name: 'field separator', text: 'a|b' },
  { name: 'component separator', text: 'T1^T2' },
  { name: 'repetition separator', text: '~5 mm' },
  { name: 'escape character', text: 'C:\\path\\F\\' },
  { name: 'subcomponent separator', text: 'heart & lungs' },
  { name: 'all delimiters', text: '|^~\\&' },
  { name: 'CR', text: 'line one\rline two' },
  { name: 'LF', text: 'line one\nline two' },
  { name: 'CR LF', text: 'line one\r\nline two' },
  { name: 'blank lines', text: '\nfirst\n\n\nlast\n' },
  { name: 'non-ASCII', text: 'épanchement, złamanie żebra, 肺结节 3 mm' },
  { name: 'mixed', text: 'Größe ~12|15 mm^\\E\\ &\r\nnächste Zeile 中' },
];

const DELIMITERS = /[|^~&]/;
const LINE_BREAKS = /[\r\n]/;
/** Removes the escape sequences escapeHl7Text writes, leaving only what would reach a parser raw. */
const ESCAPE_SEQUENCES = /\\(?:[FSTRE]|X[0-9A-F]+)\\/g;

describe('HL7 escaping', () => {
  for (const { name, text } of CASES) {
    it(`round-trips ${name}`, () => {
      const escaped = escapeHl7Text(text);
      const bare = escaped.replace(ESCAPE_SEQUENCES, '');

      assert.ok(!LINE_BREAKS.test(escaped), `no raw CR or LF in ${JSON.stringify(escaped)}`);
      assert.ok(!DELIMITERS.test(bare), `no raw delimiter in ${JSON.stringify(escaped)}`);
      assert.ok(!bare.includes('\\'), `no lone escape character in ${JSON.stringify(escaped)}`);
      assert.equal(unescapeHl7Text(escaped), text);
    });
  }

  it('matches python-hl7 unescaping', () => {
    const escaped = CASES.map(({ text }) => escapeHl7Text(text));

    assert.deepEqual(
      unescapeWithPythonHl7(escaped),
      CASES.map(({ text }) => text),
    );
  });

  it('round-trips through ORU^R01 fields', () => {
    for (const { name, text } of CASES) {
      const input = oruInput({
        patient: { ...oruInput().patient, familyName: text },
        result: { ...oruInput().result, findings: text },
      });
      const parsed = parseWithPythonHl7(buildOruR01(input));
      const findingRows = parsed.observations.filter((row) => row.code === '59776-5').map((row) => row.value);

      assert.equal(parsed.fields['PID.F5.R1.C1'], text, `PID-5.1 of ${name}`);
      assert.deepEqual(findingRows, text.split(/\r\n|\r|\n/), `OBX-5 rows of ${name}`);
    }
  });

  it('leaves unknown sequences as they are', () => {
    assert.equal(unescapeHl7Text('\\H\\bold\\N\\ and \\.br\\'), '\\H\\bold\\N\\ and \\.br\\');
    assert.equal(unescapeHl7Text('unterminated \\F'), 'unterminated \\F');
  });

  it('decodes multi-byte hex escapes as UTF-8', () => {
    assert.equal(unescapeHl7Text('\\XC3A9\\t\\X0D0A\\'), 'ét\r\n');
  });
});
