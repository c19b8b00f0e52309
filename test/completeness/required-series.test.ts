import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { describeRule, seriesMatchesRule, unmatchedRules, type SeriesForRules } from '../../src/completeness/required-series.ts';

const AXIAL: SeriesForRules = {
  seriesInstanceUid: '1.2.3.1',
  modality: 'CT',
  seriesDescription: 'Thorax 1.0 B31f',
  imageTypes: [
    ['ORIGINAL', 'PRIMARY', 'AXIAL'],
    ['DERIVED', 'SECONDARY', 'MPR'],
  ],
};
const DOSE: SeriesForRules = { seriesInstanceUid: '1.2.3.2', modality: 'SR', seriesDescription: 'Dose Report', imageTypes: [] };

describe('required series', () => {
  it('matches modality without regard to case', () => {
    assert.equal(seriesMatchesRule(AXIAL, { modality: 'ct' }), true);
    assert.equal(seriesMatchesRule(DOSE, { modality: 'CT' }), false);
  });

  it('matches SeriesDescription as a case-insensitive pattern', () => {
    assert.equal(seriesMatchesRule(AXIAL, { seriesDescription: 'thorax.*b31' }), true);
    assert.equal(seriesMatchesRule(AXIAL, { seriesDescription: '^B31' }), false);
  });

  it('needs every ImageType value on one instance', () => {
    assert.equal(seriesMatchesRule(AXIAL, { imageType: ['ORIGINAL', 'AXIAL'] }), true);
    // ORIGINAL and MPR appear only on different instances.
    assert.equal(seriesMatchesRule(AXIAL, { imageType: ['ORIGINAL', 'MPR'] }), false);
  });

  it('needs all criteria of a rule on the same series', () => {
    assert.equal(seriesMatchesRule(AXIAL, { modality: 'CT', seriesDescription: 'dose' }), false);
  });

  it('lists the rules no series matches', () => {
    const rules = [{ modality: 'CT', imageType: ['AXIAL'] }, { seriesDescription: 'dose' }, { modality: 'PT' }];
    assert.deepEqual(unmatchedRules(rules, [AXIAL, DOSE]), [{ modality: 'PT' }]);
    assert.equal(describeRule(rules[0]!), 'Modality CT, ImageType AXIAL');
  });
});
