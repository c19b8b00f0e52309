import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { splitReportSections } from '../../src/model/report-text.ts';

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
