/**
 * Left and right through the whole service: chest phantoms with a lesion in the patient's right or left
 * lung are written as DICOM CT series, pushed with storescu, and the demo model's stored report must
 * name the lesion's side. Each series uses another PatientPosition (HFS, FFS) and slice order, so the
 * pixel rows and the file order differ while the anatomy in patient space stays the same. A service that
 * dropped the direction of ImageOrientationPatient or sorted slices by InstanceNumber would read some
 * of these mirrored. The report command runs on one of the folders as well.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chestHu, type Side } from '../helpers/chest-phantom.ts';
import { freePort, storescu } from '../helpers/dcmtk.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { REPOSITORY, runCli, ServiceProcess, waitFor } from '../helpers/service-process.ts';
import { axialGeometry, writeCtSeries } from '../helpers/write-ct-series.ts';

const DEMO_MODEL = path.join(REPOSITORY, 'models', 'argus-demo');

interface PhantomCase {
  name: string;
  patientPosition: 'HFS' | 'FFS';
  reversed: boolean;
  side: Side;
  folder: string;
  studyInstanceUid: string;
}

interface ReportItem {
  studyInstanceUid: string;
  text: string;
  findings: string;
  impression: string;
  model: { name: string };
}

/** Returns the sides that `text` names, as whole words in any case. */
function sidesNamed(text: string): Side[] {
  return (['right', 'left'] as const).filter((side) => new RegExp(`\\b${side}\\b`, 'i').test(text));
}

describe('lesion side through DICOM, volume and model', () => {
  let workDirectory: string;
  let configPath: string;
  let testDatabase: TestDatabase;
  let service: ServiceProcess;
  let dicomPort: number;
  const cases: PhantomCase[] = [];
  let reports: ReportItem[] = [];

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-orientation-'));
    testDatabase = await createTestDatabase('argus_orientation');
    dicomPort = await freePort();

    for (const patientPosition of ['HFS', 'FFS'] as const) {
      for (const reversed of [false, true]) {
        for (const side of ['right', 'left'] as const) {
          const name = `${patientPosition}-${reversed ? 'head-to-feet' : 'feet-to-head'}-${side}`;
          const folder = path.join(workDirectory, 'studies', name);
          // 64 x 64 pixels of 6.5 mm and 40 slices of 7.5 mm cover the phantom chest (416 x 416 x 300 mm).
          const geometry = axialGeometry({ patientPosition, reversed, size: 64, slices: 40, pixelSpacing: 6.5, sliceSpacing: 7.5 });
          const finding = { kind: 'lesion', side, lobe: 'upper', diameterMm: 35 } as const;
          const series = await writeCtSeries({ directory: folder, geometry, hu: (point) => chestHu(point, finding), patientId: name });
          cases.push({ name, patientPosition, reversed, side, folder, studyInstanceUid: series.studyInstanceUid });
        }
      }
    }

    configPath = path.join(workDirectory, 'argus-gateway.json');
    await writeFile(
      configPath,
      JSON.stringify({
        dataDirectory: path.join(workDirectory, 'data'),
        database: { url: testDatabase.url },
        dicom: {
          listener: { host: '127.0.0.1', port: dicomPort, aeTitle: 'ARGUS' },
          peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }],
        },
        completeness: { studyQuietPeriodSeconds: 1, checkIntervalSeconds: 0.5 },
        worker: { pollIntervalSeconds: 0.5 },
        volume: { previews: false },
        model: { packagePath: DEMO_MODEL },
      }),
    );
    service = new ServiceProcess(configPath);
    await service.waitForLog('service started');
  });

  after(async () => {
    await service?.stop();
    await testDatabase?.drop();
    await rm(workDirectory, { recursive: true, force: true });
  });

  it('receives every phantom study pushed by storescu', async () => {
    const result = await storescu({ port: dicomPort, calledAeTitle: 'ARGUS', paths: cases.map((item) => item.folder) });
    assert.equal(result.code, 0, result.stderr);
  });

  it('stores one report per study', async () => {
    reports = await waitFor('a report for every study', async () => {
      const listed = await runCli(configPath, ['reports', 'list', '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      const items = JSON.parse(listed.stdout) as ReportItem[];
      return items.length >= cases.length ? items : undefined;
    });
    assert.equal(reports.length, cases.length);
    assert.deepEqual(reports.map((report) => report.studyInstanceUid).sort(), cases.map((item) => item.studyInstanceUid).sort());
  });

  for (const patientPosition of ['HFS', 'FFS'] as const) {
    for (const reversed of [false, true]) {
      it(`names the lesion side for ${patientPosition}, slices ${reversed ? 'head to feet' : 'feet to head'}`, () => {
        for (const item of cases.filter((candidate) => candidate.patientPosition === patientPosition && candidate.reversed === reversed)) {
          const report = reports.find((candidate) => candidate.studyInstanceUid === item.studyInstanceUid);
          assert.ok(report, `no report for ${item.name}`);
          assert.deepEqual(sidesNamed(report.findings), [item.side], `${item.name} findings: ${report.findings}`);
          assert.deepEqual(sidesNamed(report.impression), [item.side], `${item.name} impression: ${report.impression}`);
          assert.match(report.findings, /upper lobe/, `${item.name} findings: ${report.findings}`);
        }
      });
    }
  }

  it('labels the stored demo reports as not for clinical use', () => {
    for (const report of reports) {
      assert.equal(report.model.name, 'argus-demo');
      assert.match(report.text, /^NOT FOR CLINICAL USE: generated by a demo or test model\.\n/);
    }
  });

  describe('report command', () => {
    it('names the right side for a right lung lesion', async () => {
      const item = cases.find((candidate) => candidate.name === 'FFS-head-to-feet-right')!;
      const result = await runCli(configPath, ['report', item.folder]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^NOT FOR CLINICAL USE/);
      assert.deepEqual(sidesNamed(result.stdout.replace(/^.*\n/, '')), ['right'], result.stdout);
      // stderr is not a terminal here, so no progress bar is drawn.
      assert.doesNotMatch(result.stderr, /\r/);
    });

    it('prints the report with timings as JSON', async () => {
      const item = cases.find((candidate) => candidate.name === 'HFS-feet-to-head-left')!;
      const result = await runCli(configPath, ['report', item.folder, '--json']);
      assert.equal(result.code, 0, result.stderr);
      const output = JSON.parse(result.stdout) as {
        report: { text: string; findings: string; impression: string };
        model: { name: string; version: string; deviceUid: string; clinicalUse: boolean };
        series: { seriesInstanceUid: string; instanceCount: number; decisions: { selected: boolean; reasonCode: string }[] };
        volume: { dimensions: number[]; spacing: number[] };
        timings: Record<string, number>;
      };
      assert.deepEqual(sidesNamed(output.report.findings), ['left']);
      assert.match(output.report.text, /^NOT FOR CLINICAL USE/);
      assert.equal(output.model.name, 'argus-demo');
      assert.equal(output.model.clinicalUse, false);
      assert.equal(output.series.instanceCount, 40);
      assert.deepEqual(
        output.series.decisions.map((decision) => [decision.selected, decision.reasonCode]),
        [[true, 'selected']],
      );
      assert.deepEqual(output.volume.dimensions, [64, 64, 40]);
      for (const key of ['headersMs', 'volumeMs', 'modelLoadMs', 'preprocessMs', 'visionMs', 'decodeMs', 'totalMs']) {
        assert.equal(typeof output.timings[key], 'number', key);
        assert.ok(output.timings[key]! >= 0, key);
      }
    });

    it('rejects an empty folder', async () => {
      const empty = path.join(workDirectory, 'empty');
      await mkdir(empty);
      const result = await runCli(configPath, ['report', empty]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /The folder .*empty contains no files\./);
      assert.equal(result.stdout, '');
    });
  });
});
