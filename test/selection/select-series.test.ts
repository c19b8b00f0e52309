/**
 * Series selection over header summaries that pydicom reads from real studies, and over variations of
 * those summaries for each configurable rule: Modality, ImageType, SliceThickness, ConvolutionKernel,
 * SeriesDescription, plane and slice count, and the tie-breaks between qualifying series.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { selectSeries, summarizeHeader, type SeriesDecision, type SeriesSummary } from '../../src/selection/index.ts';
import { readImageHeader } from '../../src/volume/index.ts';
import { sharedData } from '../helpers/shared-data.ts';

const run = promisify(execFile);

const SUMMARY_SCRIPT = fileURLToPath(new URL('./pydicom-summaries.py', import.meta.url));
const DCM_QA_CT = sharedData('dcm_qa_ct');
const PHILIPS_STUDY = `${DCM_QA_CT}/Philips_Ingenuity_study_S21570`;
const TILTED_STUDY = `${DCM_QA_CT}/Philips_Ingenuity_study_S21610`;
const TINY_STUDY = sharedData('pydicom_testfiles/dicomdir_tiny_studies/98892001');
const GE_SERIES = `${DCM_QA_CT}/GE_HiSpeedDual_tilt_irregular`;
const LCE_FILE = sharedData('converted/pixelmed_LCE_CT_from_dcm_qa_ct/Philips_S21570_S2010_LCE_28frames_EVRLE.dcm');
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
    assert.match(selected.reason, /Selected: 28 usable slices/);
    assert.equal(result.usableInstances.get(axial!)?.length, 28);

    const scout = decisionFor(result.decisions, localizer!);
    assert.equal(scout.reasonCode, 'no_usable_slices');
    assert.match(scout.reason, /skipped 1 localizer/);
    assert.equal(scout.usableInstanceCount, 0);

    const summary = decisionFor(result.decisions, secondaryCapture!);
    assert.equal(summary.reasonCode, 'no_usable_slices');
    assert.match(summary.reason, /6 instances that are not CT images \(6 Secondary Capture Image Storage\)/);
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
    assert.equal(scoutDecision.reasonCode, 'no_usable_slices');
    assert.match(scoutDecision.reason, /skipped 2 localizers/);
  });

  it('no series qualifies below minSlices', async () => {
    const result = selectSeries(await summarise(TINY_STUDY), { minSlices: 6 });
    assert.equal(result.selected, undefined);
    const tooFew = result.decisions.find((decision) => decision.reasonCode === 'too_few_slices');
    assert.ok(tooFew, JSON.stringify(result.decisions));
    assert.match(tooFew.reason, /5 usable slices, fewer than the 6 required/);
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
    assert.match(decision.reason, /skipped 1 localizer, 2 instances that are not CT images/);
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
    assert.match(decisionFor(result.decisions, '1.2.3.1').reason, /28 images whose ImageType does not fit the rules/);
    assert.match(decisionFor(result.decisions, '1.2.3.2').reason, /28 images in another plane/);
  });

  it('plane follows the largest component of the normal', () => {
    // Column direction tilted 40° out of the coronal plane: still closest to axial, as gantry tilts are.
    const radians = (40 * Math.PI) / 180;
    const tilted = copySeries(axial, '1.2.3.3');
    tilted.instances = tilted.instances.map((instance) => ({
      ...instance,
      imageOrientationPatient: [1, 0, 0, 0, Math.cos(radians), -Math.sin(radians)],
    }));
    assert.equal(selectSeries([tilted], RULES).selected, '1.2.3.3');
    const steep = copySeries(axial, '1.2.3.4');
    const past = (50 * Math.PI) / 180;
    steep.instances = steep.instances.map((instance) => ({
      ...instance,
      imageOrientationPatient: [1, 0, 0, 0, Math.cos(past), -Math.sin(past)],
    }));
    assert.equal(selectSeries([steep], RULES).decisions[0]!.reasonCode, 'no_usable_slices');
    assert.equal(selectSeries([steep], { ...RULES, orientations: ['coronal'] }).selected, '1.2.3.4');
  });

  it('orientation rule accepts sagittal when configured', () => {
    const sagittal = copySeries(axial, '1.2.3.5');
    sagittal.instances = sagittal.instances.map((instance) => ({ ...instance, imageOrientationPatient: [0, 1, 0, 0, 0, -1] }));
    assert.equal(selectSeries([sagittal], RULES).selected, undefined);
    assert.equal(selectSeries([sagittal], { ...RULES, orientations: ['axial', 'sagittal'] }).selected, '1.2.3.5');
  });

  it('Modality rule', () => {
    const mr = { ...copySeries(axial, '1.2.3.6'), modality: 'MR' };
    const decision = selectSeries([mr], RULES).decisions[0]!;
    assert.equal(decision.reasonCode, 'modality_excluded');
    assert.equal(decision.reason, 'The series has Modality MR, not CT.');
    assert.equal(selectSeries([mr], { ...RULES, modalities: ['CT', 'MR'] }).decisions[0]!.reasonCode, 'selected');
  });

  it('ImageType rules', () => {
    const secondary = copySeries(axial, '1.2.3.7');
    secondary.instances = secondary.instances.map((instance) => ({ ...instance, imageType: ['ORIGINAL', 'SECONDARY', 'AXIAL'] }));
    assert.equal(selectSeries([secondary], RULES).decisions[0]!.reasonCode, 'no_usable_slices');
    assert.equal(selectSeries([secondary], { ...RULES, requiredImageType: ['ORIGINAL'] }).selected, '1.2.3.7');
    assert.equal(selectSeries([axial], { ...RULES, excludedImageType: ['LOCALIZER', 'AXIAL'] }).selected, undefined);
  });

  it('SliceThickness range', async () => {
    const thin = { ...RULES, sliceThicknessMm: { min: 0.5, max: 3 } };
    const decision = selectSeries([axial], thin).decisions[0]!;
    assert.equal(decision.reasonCode, 'slice_thickness_out_of_range');
    assert.equal(decision.reason, '28 slices of the series have a SliceThickness outside 0.5 to 3 mm (values found: 5 mm).');
    assert.equal(selectSeries([axial], { ...RULES, sliceThicknessMm: { min: 5, max: 5 } }).selected, axial.seriesInstanceUid);

    const [ge] = await summarise(GE_SERIES);
    const mixed = selectSeries([ge!], { ...RULES, sliceThicknessMm: { min: 0.5, max: 5 } }).decisions[0]!;
    assert.equal(mixed.reason, '14 slices of the series have a SliceThickness outside 0.5 to 5 mm (values found: 4, 7 mm).');
  });

  it('ConvolutionKernel preference beats slice count', () => {
    const bone = copySeries(axial, '1.2.3.11');
    bone.instances = bone.instances.map((instance) => ({ ...instance, convolutionKernel: 'BONE' }));
    const soft = copySeries(axial, '1.2.3.12');
    soft.instances = soft.instances.slice(0, 20).map((instance) => ({ ...instance, convolutionKernel: 'STANDARD' }));
    const rules = { ...RULES, preferredKernels: ['^standard$', '^soft'] };

    const result = selectSeries([bone, soft], rules);
    assert.equal(result.selected, '1.2.3.12');
    const loser = decisionFor(result.decisions, '1.2.3.11');
    assert.equal(loser.reasonCode, 'kernel_less_preferred');
    assert.match(loser.reason, /ConvolutionKernel BONE; the selected series has ConvolutionKernel STANDARD, which the rules prefer/);
    // Without a preference the larger series wins.
    assert.equal(selectSeries([bone, soft], RULES).selected, '1.2.3.11');
  });

  it('SeriesDescription patterns', () => {
    const described = { ...copySeries(axial, '1.2.3.13'), seriesDescription: 'Dose Report' };
    const excluded = selectSeries([described], { ...RULES, excludedSeriesDescriptionPattern: 'dose|scout' }).decisions[0]!;
    assert.equal(excluded.reasonCode, 'description_excluded');
    assert.equal(excluded.reason, 'The SeriesDescription "Dose Report" matches the excluded pattern /dose|scout/.');
    const required = selectSeries([described], { ...RULES, seriesDescriptionPattern: '^abdomen' }).decisions[0]!;
    assert.equal(required.reasonCode, 'description_excluded');
    assert.equal(selectSeries([described], { ...RULES, seriesDescriptionPattern: 'report' }).selected, '1.2.3.13');
  });

  it('most slices wins among equal kernels', () => {
    const larger = copySeries(axial, '1.2.3.20');
    const smaller = copySeries(axial, '1.2.3.19');
    smaller.instances = smaller.instances.slice(0, 10);
    const result = selectSeries([smaller, larger], RULES);
    assert.equal(result.selected, '1.2.3.20');
    const decision = decisionFor(result.decisions, '1.2.3.19');
    assert.equal(decision.reasonCode, 'fewer_slices_than_selected');
    assert.equal(decision.reason, 'The series has 10 usable slices, fewer than the 28 of the selected series.');
  });

  it('Legacy Converted Enhanced CT counts its frames', async () => {
    const instance = summarizeHeader(await readImageHeader(LCE_FILE));
    assert.equal(instance.frames?.length, 28);
    const result = selectSeries([{ seriesInstanceUid: '1.2.3.30', modality: 'CT', instances: [instance] }], RULES);
    assert.equal(result.selected, '1.2.3.30');
    assert.equal(result.decisions[0]!.usableInstanceCount, 28);
    assert.deepEqual(result.usableInstances.get('1.2.3.30'), [instance.sopInstanceUid]);
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
