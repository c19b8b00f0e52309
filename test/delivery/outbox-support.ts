/**
 * Rows and configuration for the outbox tests: a study, a report and ORU^R01 deliveries in a real
 * PostgreSQL database, and an AppConfig whose HL7 destinations point at scripted MLLP peers.
 */
import { randomUUID } from 'node:crypto';

import { loadConfig, type AppConfig } from '../../src/config/load.ts';
import type { Database } from '../../src/db/database.ts';
import { Delivery, type DeliveryState } from '../../src/db/entities/delivery.ts';
import { Report } from '../../src/db/entities/report.ts';
import { Series } from '../../src/db/entities/series.ts';
import { Study } from '../../src/db/entities/study.ts';
import { buildOruR01 } from '../../src/delivery/hl7/oru-r01.ts';
import { newMessageControlId } from '../../src/worker/build-deliveries.ts';

type Hl7Destination = AppConfig['hl7']['destinations'][number];

/** An HL7 destination with every default filled in, pointing at 127.0.0.1:`port`. */
export function hl7Destination(name: string, port: number, overrides: Partial<Hl7Destination> = {}): Hl7Destination {
  return {
    name,
    host: '127.0.0.1',
    port,
    sendingApplication: 'ARGUS',
    sendingFacility: 'RAD',
    receivingApplication: 'RIS',
    receivingFacility: 'HOSP',
    // Long enough for loopback under load, short enough to keep the timeout cases quick.
    ackTimeoutSeconds: 1,
    processingId: 'P',
    observationValueType: 'TX',
    sectionLabels: false,
    rejectPolicy: 'park',
    keepAliveSeconds: 0,
    requireApproval: false,
    blockOnDead: false,
    ...overrides,
  };
}

/** The bundled configuration with these destinations and a fast retry policy. */
export function outboxConfig(destinations: Hl7Destination[], delivery: Partial<AppConfig['delivery']> = {}): AppConfig {
  const base = loadConfig(undefined, {});
  return {
    ...base,
    delivery: {
      ...base.delivery,
      maxAttempts: 3,
      // Retries are due within a tenth of a second here; production waits seconds.
      retryBaseSeconds: 0.05,
      retryMaxSeconds: 0.1,
      ...delivery,
    },
    hl7: { destinations },
  };
}

/** Inserts a study and a report; returns the report id. `createdAt` orders reports of one study. */
export async function insertReport(database: Database, options: { studyId?: string; createdAt?: Date } = {}): Promise<{ reportId: string; studyId: string }> {
  const studyId = options.studyId ?? randomUUID();
  const now = options.createdAt ?? new Date();
  const reportId = randomUUID();
  await database.transaction(async (manager) => {
    let seriesId: string;
    const existing = await manager.findOneBy(Series, { studyId });
    if (existing) {
      seriesId = existing.id;
    } else {
      const studyInstanceUid = `2.25.${BigInt(`0x${studyId.replaceAll('-', '')}`)}`;
      seriesId = randomUUID();
      await manager.insert(Study, { id: studyId, studyInstanceUid, state: 'reported', instanceCount: 1, firstReceivedAt: now, lastReceivedAt: now, updatedAt: now });
      await manager.insert(Series, { id: seriesId, studyId, seriesInstanceUid: `${studyInstanceUid}.1`, instanceCount: 1, lastReceivedAt: now });
    }
    await manager.insert(Report, {
      id: reportId,
      studyId,
      seriesId,
      status: 'preliminary',
      text: 'Findings: none',
      findings: 'none',
      impression: '',
      modelName: 'tiny',
      modelVersion: '1',
      modelDeviceUid: '2.25.1',
      instanceUids: [],
      timings: {},
      createdAt: now,
    });
  });
  return { reportId, studyId };
}

export interface InsertedDelivery {
  id: string;
  controlId: string;
  reportId: string;
  studyId: string;
}

/** Inserts a report (or uses `reportId`) with one ORU^R01 delivery to `destination`. */
export async function insertOruDelivery(
  database: Database,
  destination: string,
  options: { state?: DeliveryState; reportId?: string; studyId?: string; findings?: string } = {},
): Promise<InsertedDelivery> {
  const report = options.reportId ? { reportId: options.reportId, studyId: options.studyId ?? '' } : await insertReport(database);
  const id = randomUUID();
  const controlId = newMessageControlId();
  const now = new Date();
  const message = buildOruR01({
    messageControlId: controlId,
    createdAt: now,
    sendingApplication: 'ARGUS',
    sendingFacility: 'RAD',
    receivingApplication: 'RIS',
    receivingFacility: 'HOSP',
    patient: { id: 'P1' },
    order: { studyInstanceUid: '1.2.3' },
    result: { status: 'P', reportedAt: now, findings: options.findings ?? 'No acute finding.', impression: 'Normal.' },
    model: { name: 'tiny', version: '1', deviceUid: '2.25.1' },
  });
  await database.run((manager) =>
    manager.insert(Delivery, {
      id,
      reportId: report.reportId,
      kind: 'hl7_oru',
      destination,
      controlId,
      payload: Buffer.from(message, 'utf8'),
      state: options.state ?? 'pending',
      attempts: 0,
      nextAttemptAt: now,
      createdAt: now,
      updatedAt: now,
    }),
  );
  return { id, controlId, reportId: report.reportId, studyId: report.studyId };
}

export function readDelivery(database: Database, id: string): Promise<Delivery> {
  return database.run((manager) => manager.findOneByOrFail(Delivery, { id }));
}

/** Returns the MSH-10 of a received message. */
export function messageControlIdOf(message: string): string {
  return (message.split('\r')[0] ?? '').split('|')[9] ?? '';
}
