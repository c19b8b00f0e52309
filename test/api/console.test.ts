/**
 * The web console in real headless Chromium, Debian's chromium driven by playwright-core. The test
 * signs in with a token that `token create` made through the running service's control socket. It
 * finds a study that storescu pushed, opens its report and previews, replays its ORU^R01 and finds
 * the replay in the audit log. Screenshots go to test-artifacts/console/.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

import { freePort, startStorescp, storescu, type Storescp } from '../helpers/dcmtk.ts';
import { MllpPeer } from '../helpers/mllp-peer.ts';
import { REPOSITORY, runCli, ServiceProcess, waitFor } from '../helpers/service-process.ts';
import { sharedData } from '../helpers/shared-data.ts';

const STUDY_FOLDER = sharedData('dcm_qa_ct/Philips_Ingenuity_study_S21570');
const STUDY_INSTANCE_UID = '1.3.46.670589.33.1.27492712521914879309.27169771283235650014';
const PATIENT_ID = 'PLASTIC';
const ARTIFACTS = path.join(REPOSITORY, 'test-artifacts', 'console');

/** Launch flags for a sandbox-less container without a GPU and without any traffic beyond 127.0.0.1. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface DeliveryItem {
  id: string;
  kind: string;
  state: string;
}

describe('web console in headless Chromium', () => {
  let workDirectory: string;
  let configPath: string;
  let service: ServiceProcess;
  let ris: MllpPeer;
  let pacs: Storescp;
  let browser: BrowserContext;
  let userDataDirectory: string | undefined;
  let page: Page;
  let base: string;
  let token: string;
  /** The findings that the console showed, to look for in the service log. */
  let findingsText = '';
  /** Uncaught errors, console errors (a Content-Security-Policy violation, for one) and error responses of the page. */
  const pageErrors: string[] = [];

  before(async () => {
    workDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-console-'));
    await mkdir(ARTIFACTS, { recursive: true });
    ris = new MllpPeer();
    const { port: risPort } = await ris.start();
    pacs = await startStorescp('PACS');
    const dicomPort = await freePort();
    configPath = path.join(workDirectory, 'argus-gateway.json');
    await writeFile(
      configPath,
      JSON.stringify({
        dataDirectory: path.join(workDirectory, 'data'),
        dicom: {
          listener: { host: '127.0.0.1', port: dicomPort, aeTitle: 'ARGUS' },
          peers: [{ aeTitle: 'STORESCU', host: '127.0.0.1' }],
          destinations: [{ name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port: pacs.port }],
        },
        completeness: { studyQuietPeriodSeconds: 2, seriesQuietPeriodSeconds: 1, checkIntervalSeconds: 0.5 },
        worker: { pollIntervalSeconds: 0.5 },
        delivery: { pollIntervalSeconds: 0.5, retryBaseSeconds: 1 },
        model: { packagePath: path.join(REPOSITORY, 'test/fixtures/tiny-argus') },
        hl7: {
          destinations: [
            { name: 'ris', host: '127.0.0.1', port: risPort, sendingApplication: 'ARGUS', sendingFacility: 'RADIOLOGY', receivingApplication: 'RIS', receivingFacility: 'HOSPITAL' },
          ],
        },
      }),
    );
    service = new ServiceProcess(configPath);
    await service.waitForLog('service started');
    base = `http://127.0.0.1:${await service.apiPort()}`;

    const pushed = await storescu({ port: dicomPort, calledAeTitle: 'ARGUS', paths: [STUDY_FOLDER] });
    assert.equal(pushed.code, 0, pushed.stderr);

    // The service has the embedded database open, so the token command goes through its control socket.
    const created = await runCli(configPath, ['token', 'create', '--role', 'admin', '--name', 'console-admin']);
    assert.equal(created.code, 0, created.stderr);
    token = created.stdout.trim();

    await waitFor('both deliveries delivered', async () => {
      const response = await fetch(`${base}/api/v1/deliveries?studyInstanceUid=${STUDY_INSTANCE_UID}`, { headers: { authorization: `Bearer ${token}` } });
      const { deliveries } = (await response.json()) as { deliveries: DeliveryItem[] };
      return deliveries.length === 2 && deliveries.every((item) => item.state === 'delivered') ? deliveries : undefined;
    });

    userDataDirectory = await mkdtemp(path.join(os.tmpdir(), 'argus-chromium-'));
    browser = await chromium.launchPersistentContext(userDataDirectory, { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      // A failed resource load is also a response with its status, which the list below keeps with its path.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(message.text());
    });
    page.on('response', (response) => {
      if (response.status() >= 400) pageErrors.push(`${response.status()} ${response.request().method()} ${new URL(response.url()).pathname}`);
    });
    await page.setViewportSize({ width: 1400, height: 1000 });
  });

  after(async () => {
    await browser?.close();
    await service?.stop();
    await ris?.close();
    await pacs?.stop();
    await rm(workDirectory, { recursive: true, force: true });
    if (userDataDirectory) await rm(userDataDirectory, { recursive: true, force: true });
  });

  it('rejects an unknown token at sign-in', async () => {
    await page.goto(`${base}/console/`);
    await page.getByLabel('API token').fill(`argus_${'B'.repeat(43)}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('status').getByText('This token is unknown or revoked.').waitFor();
  });

  it('finds a study by patient ID', async () => {
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Studies' }).waitFor();
    await page.getByLabel('Search').fill(PATIENT_ID);
    await page.getByRole('button', { name: 'Find studies' }).click();
    const row = page.locator('#study-results tbody tr');
    await row.first().getByText('Delivered').waitFor();
    assert.equal(await row.count(), 1);
    assert.equal(await row.locator('td').nth(1).textContent(), PATIENT_ID);
    await page.screenshot({ path: path.join(ARTIFACTS, 'studies.png'), fullPage: true });
  });

  it('opens a study with report and previews', async () => {
    await page.locator('#study-results tbody tr a').first().click();
    await page.getByRole('heading', { name: 'Report' }).waitFor();
    const findings = page.locator('#report-findings');
    await findings.waitFor();
    findingsText = (await findings.textContent()) ?? '';
    assert.ok(findingsText.length > 0, 'the findings are empty');

    const previews = page.locator('img.preview');
    await previews.nth(2).waitFor();
    for (let index = 0; index < 3; index++) {
      const width = await previews.nth(index).evaluate((image: { decode(): Promise<void>; naturalWidth: number }) => image.decode().then(() => image.naturalWidth));
      assert.ok(width > 0, `preview ${index} did not decode`);
    }
    const selected = page.locator('section[aria-labelledby="series-title"] tbody tr', { hasText: 'selected' });
    assert.ok((await selected.count()) >= 1, 'no selected series is listed');
    await page.screenshot({ path: path.join(ARTIFACTS, 'study.png'), fullPage: true });
  });

  it('replays the ORU^R01 delivery', async () => {
    const messagesBefore = ris.messages.length;
    await page.getByRole('button', { name: 'Replay the HL7 ORU^R01 to ris' }).click();
    await page.getByRole('status').getByText(/Replay the HL7 ORU\^R01 to ris: done/).waitFor();
    await ris.waitForMessages(messagesBefore + 1, 30_000);
    assert.equal(ris.messages.length, messagesBefore + 1);
  });

  it('finds the replay in the audit log', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.getByLabel('Action').selectOption('delivery_replayed');
    await page.getByLabel('StudyInstanceUID').fill(STUDY_INSTANCE_UID);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('#audit-total').getByText('1 audit events match.').waitFor();
    const row = page.locator('#audit-results tbody tr');
    assert.equal(await row.locator('td').nth(1).textContent(), 'delivery_replayed');
    assert.equal(await row.locator('td').nth(3).textContent(), 'console-admin (token)');
    await page.screenshot({ path: path.join(ARTIFACTS, 'audit.png'), fullPage: true });
  });

  it('ran without script errors in the page', () => {
    assert.deepEqual(pageErrors, ['401 GET /api/v1/session']);
  });

  it('keeps patient data out of the service log', () => {
    assert.ok(service.output.length > 0, 'the service wrote no log');
    assert.ok(!service.output.includes(PATIENT_ID), 'the log contains the patient ID that the console searched for');
    assert.ok(!service.output.includes(token), 'the log contains the API token');
    assert.ok(!service.output.includes(findingsText), 'the log contains the report findings');
  });

  it('audits the study and report reads', async () => {
    const response = await fetch(`${base}/api/v1/audit-events?studyInstanceUid=${STUDY_INSTANCE_UID}&actor=console-admin`, { headers: { authorization: `Bearer ${token}` } });
    const { events } = (await response.json()) as { events: { action: string; sourceAddress: string }[] };
    const actions = new Set(events.map((event) => event.action));
    assert.ok(actions.has('study_viewed'), 'no study_viewed row');
    assert.ok(actions.has('report_viewed'), 'no report_viewed row');
    assert.ok(events.every((event) => event.sourceAddress === '127.0.0.1'), 'a row without the browser address');
  });
});
