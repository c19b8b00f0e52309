import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { cleanGeneratedText, splitReportSections } from '../../src/model/report-text.ts';

describe('report sections', () => {
  const cases: Array<{ name: string; text: string; findings: string; impression: string }> = [
    {
      name: 'both markers',
      text: 'Findings: Lungs are clear. Impression: Normal study.',
      findings: 'Lungs are clear.',
      impression: 'Normal study.',
    },
    {
      name: 'upper-case markers on lines',
      text: 'FINDINGS:\nA 12 mm nodule.\n\nIMPRESSION:\nNodule, follow up.',
      findings: 'A 12 mm nodule.',
      impression: 'Nodule, follow up.',
    },
    { name: 'no markers', text: ' Lungs are clear. ', findings: 'Lungs are clear.', impression: '' },
    { name: 'findings marker only', text: 'Findings: Lungs are clear.', findings: 'Lungs are clear.', impression: '' },
    { name: 'impression marker only', text: 'Lungs clear. Impression: Normal.', findings: 'Lungs clear.', impression: 'Normal.' },
    {
      name: 'word without colon',
      text: 'Findings: The impression of a mass is not confirmed.',
      findings: 'The impression of a mass is not confirmed.',
      impression: '',
    },
    {
      name: 'title before findings',
      text: 'CT CHEST\nFindings: Clear. Impression: Normal.',
      findings: 'Clear.',
      impression: 'Normal.',
    },
    { name: 'empty text', text: '', findings: '', impression: '' },
  ];

  for (const testCase of cases) {
    it(`splits ${testCase.name}`, () => {
      const sections = splitReportSections(testCase.text);
      assert.equal(sections.findings, testCase.findings);
      assert.equal(sections.impression, testCase.impression);
    });
  }
});

describe('generated text cleaning', () => {
  const cases: [string, string, string][] = [
    ['keeps text, tabs and line feeds', 'Lungs clear.\n\tNo effusion.', 'Lungs clear.\n\tNo effusion.'],
    ['turns CR LF and CR into LF', 'a\r\nb\rc', 'a\nb\nc'],
    ['drops C0 controls', 'a\u0001b\u0010c\u001bd', 'abcd'],
    ['drops DEL and C1 controls', 'a\u007fb\u0085c', 'abc'],
    ['drops replacement characters', 'no\ufffdd\ufffdule', 'nodule'],
    ['keeps accented and CJK text', 'épanchement łagodny 结节', 'épanchement łagodny 结节'],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => {
      assert.equal(cleanGeneratedText(input), expected);
    });
  }
});
