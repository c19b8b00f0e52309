/**
 * Stores a generated report, its deliveries and its audit row in the caller's transaction. The
 * messages are built here, because the order match and the correction they depend on are read in the
 * same transaction (see build-deliveries.ts).
 */
import { randomUUID } from 'node:crypto';

import type { EntityManager } from 'typeorm';

import { Delivery } from '../db/entities/delivery.ts';
import { Report } from '../db/entities/report.ts';
import { setStudyState } from '../db/queries/worker.ts';
import { recordAudit } from '../audit/record-audit.ts';
import type { ModelIdentity } from '../model/index.ts';
import { buildDeliveryMessages, type DeliveryPlan } from './build-deliveries.ts';
import { readMessageContext } from './message-context.ts';

export interface NewReport {
  id: string;
  studyId: string;
  seriesId: string;
  text: string;
  findings: string;
  impression: string;
  model: ModelIdentity;
  instanceUids: string[];
  timings: Record<string, number>;
  createdAt: Date;
  /** The study's report run (study.report_run); a second report of the same run and model version is refused. */
  studyRun?: number;
  /** The queue job that produced the report, when one did. */
  jobId?: string;
}

/** Returns the destinations that got a delivery row, so the caller can wake their senders in the same transaction. */
export async function insertReportWithDeliveries(
  manager: EntityManager,
  input: { report: NewReport; deliveries: DeliveryPlan; studyInstanceUid: string; seriesInstanceUid: string },
): Promise<string[]> {
  const { report } = input;
  // A study processed again (for example after late instances) gets a new report that replaces the last one.
  const previous = await manager.findOne(Report, { where: { studyId: report.studyId }, order: { createdAt: 'DESC' } });
  const supersedesReportId = previous?.id ?? null;
  await manager.insert(Report, {
    id: report.id,
    studyId: report.studyId,
    seriesId: report.seriesId,
    status: 'preliminary',
    text: report.text,
    findings: report.findings,
    impression: report.impression,
    modelName: report.model.name,
    modelVersion: report.model.version,
    modelDeviceUid: report.model.deviceUid,
    instanceUids: report.instanceUids,
    timings: report.timings,
    createdAt: report.createdAt,
    supersedesReportId,
    studyRun: report.studyRun ?? null,
    jobId: report.jobId ?? null,
  });

  const context = await readMessageContext(manager, input.deliveries, { id: report.id, supersedesReportId });
  const destinations = new Set<string>();
  for (const delivery of buildDeliveryMessages(input.deliveries, context)) {
    destinations.add(delivery.destination);
    await manager.insert(Delivery, {
      id: randomUUID(),
      reportId: report.id,
      kind: delivery.kind,
      destination: delivery.destination,
      controlId: delivery.controlId,
      payload: delivery.payload,
      state: delivery.state,
      attempts: 0,
      nextAttemptAt: report.createdAt,
      lastError: delivery.buildError?.message ?? null,
      lastErrorCode: delivery.buildError?.code ?? null,
      response: null,
      createdAt: report.createdAt,
      updatedAt: report.createdAt,
      deliveredAt: null,
      firstAttemptAt: null,
      orderId: delivery.orderId,
    });
  }

  await setStudyState(manager, report.studyId, 'reported', 'a preliminary report was generated', report.createdAt);
  await recordAudit(manager, {
    action: 'report_generated',
    outcome: 'success',
    actorType: 'system',
    actor: 'worker',
    studyInstanceUid: input.studyInstanceUid,
    seriesInstanceUid: input.seriesInstanceUid,
    accessionNumber: input.deliveries.content.study.accessionNumber ?? undefined,
    patientId: input.deliveries.content.study.patientId ?? undefined,
    reportId: report.id,
    details: {
      model: report.model.name,
      modelVersion: report.model.version,
      instanceCount: report.instanceUids.length,
      orderId: context.order?.id ?? null,
      correction: context.correction,
    },
  });
  return [...destinations];
}
