/**
 * Series selection over header summaries that pydicom reads from real studies, and over variations of
 * those summaries for rules the studies do not cover (mixed-in localizers, coronal planes, ties).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { selectSeries, type SeriesDecision, type SeriesSummary } from '../../src/selection/index.ts';
import { sharedData } from '../helpers/shared-data.ts';

const run = promisify(execFile);

const SUMMARY_SCRIPT = fileURLToPath(new URL('./pydicom-summaries.py', import.meta.url));
const DCM_QA_CT = sharedData('dcm_qa_ct');
const PHILIPS_STUDY = `${DCM_QA_CT}/Philips_Ingenuity_study_S21570`;
const TILTED_STUDY = `${DCM_QA_CT}/Philips_Ingenuity_study_S21610`;
const TINY_STUDY = sharedData('pydicom_testfiles/dicomdir_tiny_studies/98892001');
const RULES = { minSlices: 3 };

async function summarise(...directories: string[]): Promise<SeriesSummary[]> {
  const { stdout } = await run('/usr/bin/python3', [SUMMARY_SCRIPT, ...directories], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as SeriesSummary[];
}

/** Returns the SeriesInstanceUID of the only series in `directory`. */
async function seriesUidOf(directory: string): Promise<string> {
  const series = await summarise(directory);
  assert.equal(series.length, 1, `${directory} contains ${series.length} series`);
  return series[0]!.seriesInstanceUid;
}

function decisionFor(decisions: SeriesDecision[], seriesInstanceUid: string): SeriesDecision {
  const decision = decisions.find((candidate) => candidate.seriesInstanceUid === seriesInstanceUid);
  assert.ok(decision, `no decision for ${seriesInstanceUid}`);
  return decision;
}

function copySeries(series: SeriesSummary, seriesInstanceUid: string): SeriesSummary {
  return {
    ...series,
    seriesInstanceUid,
    instances: series.instances.map((instance) => ({
      ...instance,
      sopInstanceUid: `${seriesInstanceUid}.${instance.sopInstanceUid}`,
    })),
  };
}

describe('series selection on real studies', () => {
  it('Philips study picks the axial series', async () => {
    const [localizer, axial, secondaryCapture] = await Promise.all(
      ['S1000', 'S2010', 'S4010'].map((name) => seriesUidOf(path.join(PHILIPS_STUDY, name))),
    );
    const study = await summarise(PHILIPS_STUDY);
    const result = selectSeries(study, RULES);

    assert.equal(result.selected, axial);
    assert.equal(result.decisions.length, 3);
    assert.equal(result.decisions.filter((decision) => decision.selected).length, 1);

    const selected = decisionFor(result.decisions, axial!);
    assert.equal(selected.reasonCode, 'selected');
    assert.equal(selected.usableInstanceCount, 28);
    assert.match(selected.reason, /28 ORIGINAL axial CT slices/);
    assert.equal(result.usableInstances.get(axial!)?.length, 28);

    const scout = decisionFor(result.decisions, localizer!);
    assert.equal(scout.reasonCode, 'no_original_axial');
    assert.match(scout.reason, /skipped 1 localizer/);
    assert.equal(scout.usableInstanceCount, 0);

    const summary = decisionFor(result.decisions, secondaryCapture!);
    assert.equal(summary.reasonCode, 'not_ct');
    assert.match(summary.reason, /6 instances that are not CT Image Storage \(6 Secondary Capture Image Storage\)/);
  });

  it('gantry-tilted series count as axial', async () => {
    const [minusTilt, plusTilt] = await Promise.all(
      ['S2010', 'S3010'].map((name) => seriesUidOf(path.join(TILTED_STUDY, name))),
    );
    const result = selectSeries(await summarise(TILTED_STUDY), RULES);

    assert.equal(result.selected, plusTilt);
    assert.equal(decisionFor(result.decisions, plusTilt!).usableInstanceCount, 58);
    const other = decisionFor(result.decisions, minusTilt!);
    assert.equal(other.reasonCode, 'fewer_slices_than_selected');
    assert.equal(other.usableInstanceCount, 54);
    assert.match(other.reason, /fewer than the 58 of the selected series/);
  });

  it('pydicom tiny study skips the scout series', async () => {
    const [scout, axial] = await Promise.all(['CT2N', 'CT5N'].map((name) => seriesUidOf(path.join(TINY_STUDY, name))));
    const result = selectSeries(await summarise(TINY_STUDY), RULES);

    assert.equal(result.selected, axial);
    assert.equal(decisionFor(result.decisions, axial!).usableInstanceCount, 5);
    const scoutDecision = decisionFor(result.decisions, scout!);
    assert.equal(scoutDecision.reasonCode, 'no_original_axial');
    assert.match(scoutDecision.reason, /skipped 2 localizers/);
  });

  it('no series qualifies below minSlices', async () => {
    const result = selectSeries(await summarise(TINY_STUDY), { minSlices: 6 });
    assert.equal(result.selected, undefined);
    const tooFew = result.decisions.find((decision) => decision.reasonCode === 'too_few_slices');
    assert.ok(tooFew, JSON.stringify(result.decisions));
    assert.match(tooFew.reason, /5 ORIGINAL axial CT slices, fewer than the 6 required/);
  });
});

describe('series selection rules', () => {
  let axial: SeriesSummary;
  let scout: SeriesSummary;
  let secondaryCapture: SeriesSummary;

  before(async () => {
    const study = await summarise(PHILIPS_STUDY);
    axial = study.find((series) => series.instances.length === 28)!;
    scout = study.find((series) => series.instances.length === 1)!;
    secondaryCapture = study.find((series) => series.instances.length === 6)!;
  });

  it('skips localizers and non-CT inside a series', () => {
    const mixed: SeriesSummary = {
      ...axial,
      instances: [...axial.instances, ...scout.instances, ...secondaryCapture.instances.slice(0, 2)],
    };
    const result = selectSeries([mixed], RULES);
    const decision = result.decisions[0]!;
    assert.equal(decision.reasonCode, 'selected');
    assert.equal(decision.usableInstanceCount, 28);
    assert.match(decision.reason, /skipped 1 localizer, 2 instances that are not CT Image Storage/);
    assert.deepEqual(
      result.usableInstances.get(axial.seriesInstanceUid),
      axial.instances.map((instance) => instance.sopInstanceUid),
    );
  });

  it('counts a resent instance once', () => {
    const resent: SeriesSummary = { ...axial, instances: [...axial.instances, axial.instances[0]!] };
    assert.equal(selectSeries([resent], RULES).decisions[0]!.usableInstanceCount, 28);
  });

  it('rejects DERIVED and coronal images', () => {
    const derived = copySeries(axial, '1.2.3.1');
    derived.instances = derived.instances.map((instance) => ({
      ...instance,
      imageType: ['DERIVED', 'SECONDARY', 'AXIAL'],
    }));
    const coronal = copySeries(axial, '1.2.3.2');
    coronal.instances = coronal.instances.map((instance) => ({
      ...instance,
      imageOrientationPatient: [1, 0, 0, 0, 0, -1],
    }));

    const result = selectSeries([derived, coronal], RULES);
    assert.equal(result.selected, undefined);
    assert.match(decisionFor(result.decisions, '1.2.3.1').reason, /28 images whose ImageType is not ORIGINAL/);
    assert.match(decisionFor(result.decisions, '1.2.3.2').reason, /28 images not in an axial plane/);
  });

  it('axial limit follows maxAxialAngleDegrees', () => {
    // Column direction tilted 40° out of the coronal plane: the slice normal is 40° from the feet-head axis.
    const radians = (40 * Math.PI) / 180;
    const tilted = copySeries(axial, '1.2.3.3');
    tilted.instances = tilted.instances.map((instance) => ({
      ...instance,
      imageOrientationPatient: [1, 0, 0, 0, Math.cos(radians), -Math.sin(radians)],
    }));
    assert.equal(selectSeries([tilted], RULES).selected, '1.2.3.3');
    assert.equal(selectSeries([tilted], { ...RULES, maxAxialAngleDegrees: 30 }).selected, undefined);
  });

  it('breaks a tie by SeriesInstanceUID', () => {
    const first = copySeries(axial, '1.2.3.10');
    const second = copySeries(axial, '1.2.3.9');
    const result = selectSeries([first, second], RULES);
    assert.equal(result.selected, '1.2.3.10');
    assert.equal(decisionFor(result.decisions, '1.2.3.9').reasonCode, 'tied_with_selected');
  });

  it('series without instances', () => {
    const decision = selectSeries([{ seriesInstanceUid: '1.2.3.4', instances: [] }], RULES).decisions[0]!;
    assert.equal(decision.reasonCode, 'no_instances');
    assert.equal(decision.selected, false);
  });
});
