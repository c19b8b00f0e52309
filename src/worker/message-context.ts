/**
 * Reads the facts that the messages of a new report depend on, in the transaction that stores the
 * report. They are the RIS order matched to the study, the SR of the report being corrected, and the
 * patient and study modules of an analysed instance. A fact that cannot be read is logged and left out,
 * so a report is never lost for want of a detail. An order with the study's accession number but
 * another patient is audited.
 */
import path from 'node:path';

import type { EntityManager } from 'typeorm';

import { recordAudit } from '../audit/record-audit.ts';
import { findInstanceFilePath, findPredecessorSr } from '../db/queries/delivery.ts';
import { findOrdersByAccession } from '../db/queries/orders.ts';
import { readPart10 } from '../delivery/sr/dcmjs-part10.ts';
import { readSourceAttributes } from '../delivery/sr/source-modules.ts';
import { getLogger } from '../logging/logger.ts';
import { matchOrder } from '../orders/match-order.ts';
import type { DeliveryPlan, MessageContext, PredecessorSr } from './build-deliveries.ts';

const logger = getLogger('report-delivery');

export async function readMessageContext(
  manager: EntityManager,
  plan: DeliveryPlan,
  report: { id: string; supersedesReportId: string | null },
): Promise<MessageContext> {
  const { config, content } = plan;
  const fields = { reportId: report.id, studyId: content.study.id };
  const context: MessageContext = { correction: report.supersedesReportId !== null };

  const candidates = content.study.accessionNumber ? await findOrdersByAccession(manager, content.study.accessionNumber) : [];
  const match = matchOrder(content.study, candidates);
  if (match.matched) {
    context.order = match.order;
    logger.info('study matched to a RIS order', { ...fields, orderId: match.order.id });
  } else if (match.reason === 'patient_differs' || match.reason === 'order_cancelled') {
    logger.warn('RIS order not used for the report', { ...fields, orderId: match.orderId, reason: match.reason });
    await recordAudit(manager, {
      action: 'hl7_order_not_matched',
      outcome: 'failure',
      actorType: 'system',
      actor: 'worker',
      studyInstanceUid: content.study.studyInstanceUid,
      accessionNumber: content.study.accessionNumber ?? undefined,
      patientId: content.study.patientId ?? undefined,
      reportId: report.id,
      details: { orderId: match.orderId ?? null, reason: match.reason },
    });
  }

  if (config.dicom.destinations.length === 0) return context;
  if (report.supersedesReportId !== null) {
    context.predecessorSr = await readPredecessorSr(manager, report.supersedesReportId, fields);
  }
  context.sourceAttributes = await readSourceModules(manager, config.instanceDirectory, content.instances[0]?.sopInstanceUid, fields);
  return context;
}

async function readPredecessorSr(
  manager: EntityManager,
  previousReportId: string,
  fields: Record<string, unknown>,
): Promise<PredecessorSr | undefined> {
  const payload = await findPredecessorSr(manager, previousReportId);
  if (payload === undefined) return undefined;
  try {
    const { dataset } = readPart10(payload);
    return {
      studyInstanceUid: String(dataset.StudyInstanceUID),
      seriesInstanceUid: String(dataset.SeriesInstanceUID),
      sopClassUid: String(dataset.SOPClassUID),
      sopInstanceUid: String(dataset.SOPInstanceUID),
      seriesNumber: integerOrUndefined(dataset.SeriesNumber),
      instanceNumber: integerOrUndefined(dataset.InstanceNumber),
    };
  } catch (error) {
    logger.warn('the SR of the corrected report cannot be read; the new SR names no predecessor', { ...fields, err: error });
    return undefined;
  }
}

async function readSourceModules(
  manager: EntityManager,
  instanceDirectory: string,
  sopInstanceUid: string | undefined,
  fields: Record<string, unknown>,
): Promise<Record<string, unknown> | undefined> {
  if (sopInstanceUid === undefined) return undefined;
  const relativePath = await findInstanceFilePath(manager, sopInstanceUid);
  if (relativePath === undefined) return undefined;
  try {
    return await readSourceAttributes(path.join(instanceDirectory, relativePath));
  } catch (error) {
    logger.warn('patient and study modules cannot be read from the instance; the SR uses the study row', {
      ...fields,
      sopInstanceUid,
      err: error,
    });
    return undefined;
  }
}

/** dcmjs gives IS values as numbers or numeric strings. */
function integerOrUndefined(value: unknown): number | undefined {
  const number = Number(value);
  return value !== undefined && value !== '' && Number.isInteger(number) ? number : undefined;
}
