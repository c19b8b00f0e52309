/**
 * Builds the outgoing messages of one report: an ORU^R01 per HL7 destination and one Basic Text SR that
 * every DICOM destination receives. The messages are built once and stored with the delivery rows, so a
 * retry sends the same bytes with the same MSH-10 or SOPInstanceUID.
 *
 * The content of a message depends on facts that are read in the transaction that stores the report:
 * the RIS order matched to the study, whether the report corrects an earlier one, and the SR it replaces.
 * buildDeliveries therefore only captures the report; store-report.ts reads those facts and calls
 * buildDeliveryMessages. A message that cannot be built (for example a study without PatientID, which
 * PID-3 requires) becomes a dead delivery with the reason, so that it stays visible instead of missing.
 */
import { randomBytes } from 'node:crypto';

import type { AppConfig } from '../config/load.ts';
import type { Study } from '../db/entities/study.ts';
import type { DeliveryKind } from '../db/entities/delivery.ts';
import type { OrderRow } from '../db/queries/orders.ts';
import { buildOruR01, type OruR01Input } from '../delivery/hl7/oru-r01.ts';
import { MESSAGE_CONTROL_ID_MAX_LENGTH } from '../delivery/hl7/oru-r01-input.ts';
import { buildBasicTextSr, type SrInput, type SrPredecessor, type SrRequest } from '../delivery/sr/basic-text-sr.ts';
import type { ModelIdentity } from '../model/index.ts';

export interface ReportContent {
  study: Study;
  seriesInstanceUid: string;
  instances: { sopClassUid: string; sopInstanceUid: string }[];
  findings: string;
  impression: string;
  model: ModelIdentity;
  createdAt: Date;
}

/** A report whose messages are built when it is stored. */
export interface DeliveryPlan {
  config: AppConfig;
  content: ReportContent;
}

/** The earlier SR of the study that a corrected SR replaces and whose series it continues. */
export interface PredecessorSr extends SrPredecessor {
  seriesNumber?: number;
  instanceNumber?: number;
}

export interface MessageContext {
  /** The RIS order matched to the study. */
  order?: OrderRow;
  /** True when the report replaces an earlier report of the study. */
  correction: boolean;
  predecessorSr?: PredecessorSr;
  /** Patient and study module attributes read from an analysed instance. */
  sourceAttributes?: Record<string, unknown>;
}

export interface NewDelivery {
  kind: DeliveryKind;
  destination: string;
  controlId: string;
  payload: Buffer;
  /** `held` for destinations that require approval; `dead` when the message could not be built. */
  state: 'pending' | 'held' | 'dead';
  orderId: string | null;
  /** Set when the message could not be built. */
  buildError?: { code: string; message: string };
}

/** The software that writes the SR; the model is named separately as the device observer. */
const SR_MANUFACTURER = 'argus-gateway';

/** Captures a report for delivery; see the module comment for why nothing is built yet. */
export function buildDeliveries(config: AppConfig, content: ReportContent): DeliveryPlan {
  return { config, content };
}

/** Builds the message of every configured destination. A message that fails to build becomes a dead delivery. */
export function buildDeliveryMessages(plan: DeliveryPlan, context: MessageContext): NewDelivery[] {
  const { config, content } = plan;
  const orderId = context.order?.id ?? null;
  const deliveries: NewDelivery[] = [];

  for (const destination of config.hl7.destinations) {
    const messageControlId = newMessageControlId();
    const initialState = destination.requireApproval ? 'held' : 'pending';
    try {
      const message = buildOruR01({
        ...oruContent(content, context),
        messageControlId,
        createdAt: content.createdAt,
        sendingApplication: destination.sendingApplication,
        sendingFacility: destination.sendingFacility,
        receivingApplication: destination.receivingApplication,
        receivingFacility: destination.receivingFacility,
        processingId: destination.processingId,
        result: {
          status: context.correction ? 'C' : 'P',
          reportedAt: content.createdAt,
          findings: content.findings,
          impression: content.impression,
          valueType: destination.observationValueType,
          sectionLabels: destination.sectionLabels,
        },
      });
      const payload = Buffer.from(message, 'utf8');
      deliveries.push({ kind: 'hl7_oru', destination: destination.name, controlId: messageControlId, payload, state: initialState, orderId });
    } catch (error) {
      deliveries.push(unbuildable('hl7_oru', destination.name, messageControlId, orderId, error));
    }
  }

  if (config.dicom.destinations.length === 0) return deliveries;
  let sr: { part10: Buffer; sopInstanceUid: string } | undefined;
  let failure: unknown;
  try {
    sr = buildBasicTextSr(srInput(content, context));
  } catch (error) {
    failure = error;
  }
  for (const destination of config.dicom.destinations) {
    if (sr === undefined) {
      deliveries.push(unbuildable('dicom_sr', destination.name, '', orderId, failure));
      continue;
    }
    const state = destination.requireApproval ? 'held' : 'pending';
    deliveries.push({ kind: 'dicom_sr', destination: destination.name, controlId: sr.sopInstanceUid, payload: sr.part10, state, orderId });
  }
  return deliveries;
}

/** Returns a new MSH-10: random hexadecimal characters filling the 20-character limit of HL7 v2.5.1. */
export function newMessageControlId(): string {
  return randomBytes(MESSAGE_CONTROL_ID_MAX_LENGTH / 2).toString('hex').toUpperCase();
}

/** PID, ORC and OBR values: the order's where one matched, the study's otherwise. */
function oruContent(content: ReportContent, context: MessageContext): Pick<OruR01Input, 'patient' | 'order' | 'model'> {
  const { study } = content;
  const order = context.order;
  const studyName = splitPersonName(study.patientName);
  return {
    patient: {
      id: order?.patientId ?? study.patientId ?? '',
      issuer: order?.patientIdIssuer ?? study.issuerOfPatientId ?? undefined,
      familyName: order ? (order.patientFamilyName ?? undefined) : studyName.familyName,
      givenName: order ? (order.patientGivenName ?? undefined) : studyName.givenName,
      birthDate: order?.patientBirthDate ?? study.patientBirthDate ?? undefined,
      sex: order?.patientSex ?? study.patientSex ?? undefined,
    },
    order: {
      placerOrderNumber: order?.placerOrderNumber ?? undefined,
      placerOrderNamespace: order?.placerOrderNamespace ?? undefined,
      fillerOrderNumber: order?.fillerOrderNumber ?? undefined,
      fillerOrderNamespace: order?.fillerOrderNamespace ?? undefined,
      accessionNumber: study.accessionNumber ?? order?.accessionNumber ?? undefined,
      requestedProcedureId: order?.requestedProcedureId ?? undefined,
      procedureCode: order?.procedureCode ?? undefined,
      procedureText: order?.procedureText ?? study.studyDescription ?? undefined,
      procedureCodingSystem: order?.procedureCode ? (order.procedureCodingSystem ?? undefined) : undefined,
      studyInstanceUid: study.studyInstanceUid,
      observationAt: dicomDateTimeToHl7(study.studyDate, study.studyTime),
    },
    model: content.model,
  };
}

function srInput(content: ReportContent, context: MessageContext): SrInput {
  const { study } = content;
  const predecessor = context.predecessorSr;
  return {
    study: {
      studyInstanceUid: study.studyInstanceUid,
      studyId: study.studyId ?? undefined,
      studyDate: study.studyDate ?? undefined,
      studyTime: study.studyTime ?? undefined,
      accessionNumber: study.accessionNumber ?? undefined,
      referringPhysicianName: study.referringPhysicianName ?? undefined,
      patientName: study.patientName ?? undefined,
      patientId: study.patientId ?? undefined,
      patientBirthDate: study.patientBirthDate ?? undefined,
      patientSex: study.patientSex ?? undefined,
      issuerOfPatientId: study.issuerOfPatientId ?? undefined,
    },
    sourceAttributes: context.sourceAttributes,
    evidence: { seriesInstanceUid: content.seriesInstanceUid, instances: content.instances },
    report: { findings: content.findings, impression: content.impression },
    model: { ...content.model, manufacturer: SR_MANUFACTURER },
    createdAt: content.createdAt,
    request: srRequest(study, context.order),
    ...(predecessor === undefined
      ? {}
      : {
          predecessor: {
            studyInstanceUid: predecessor.studyInstanceUid,
            seriesInstanceUid: predecessor.seriesInstanceUid,
            sopClassUid: predecessor.sopClassUid,
            sopInstanceUid: predecessor.sopInstanceUid,
          },
          // The corrected SR continues the series of the SR it replaces.
          seriesInstanceUid: predecessor.seriesInstanceUid,
          seriesNumber: predecessor.seriesNumber,
          instanceNumber: (predecessor.instanceNumber ?? 1) + 1,
        }),
  };
}

function srRequest(study: Study, order: OrderRow | undefined): SrRequest {
  const code = order?.procedureCode;
  return {
    accessionNumber: study.accessionNumber ?? order?.accessionNumber ?? undefined,
    requestedProcedureId: order?.requestedProcedureId ?? undefined,
    requestedProcedureDescription: order?.procedureText ?? study.studyDescription ?? undefined,
    requestedProcedureCode:
      code && order?.procedureCodingSystem
        ? { value: code, scheme: order.procedureCodingSystem, meaning: order.procedureText ?? code }
        : undefined,
    placerOrderNumber: order?.placerOrderNumber ?? undefined,
    fillerOrderNumber: order?.fillerOrderNumber ?? undefined,
  };
}

function unbuildable(kind: DeliveryKind, destination: string, controlId: string, orderId: string | null, error: unknown): NewDelivery {
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'message_build_failed';
  const message = `the message could not be built: ${error instanceof Error ? error.message : String(error)}`;
  return { kind, destination, controlId, payload: Buffer.alloc(0), state: 'dead', orderId, buildError: { code, message } };
}

/** Splits a DICOM PN (Family^Given^Middle^Prefix^Suffix) into the parts PID-5 carries. */
function splitPersonName(name: string | null): { familyName?: string; givenName?: string } {
  if (!name) return {};
  const [familyName, givenName] = name.split('^');
  return { familyName: familyName || undefined, givenName: givenName || undefined };
}

/**
 * Turns DICOM StudyDate (DA) and StudyTime (TM) into an HL7 DTM. DICOM gives no time zone, so none is
 * written and the RIS reads it as local time. The fraction is cut to the 4 digits DTM allows; the colons
 * of the retired ACR-NEMA TM form are dropped. Returns undefined when the values are not usable.
 */
export function dicomDateTimeToHl7(date: string | null, time: string | null): string | undefined {
  if (!date || !/^\d{8}$/.test(date.trim())) return undefined;
  const cleanTime = (time ?? '').trim().replaceAll(':', '');
  const match = /^(\d{2}(?:\d{2}(?:\d{2})?)?)(?:\.(\d{1,6}))?$/.exec(cleanTime);
  if (!match) return date.trim();
  const fraction = match[2] ? `.${match[2].slice(0, 4)}` : '';
  return `${date.trim()}${match[1]}${match[1]!.length === 6 ? fraction : ''}`;
}
