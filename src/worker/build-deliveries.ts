/**
 * Builds the outgoing messages of one report: an ORU^R01 per HL7 destination and one Basic Text SR that
 * every DICOM destination receives. The messages are built once and stored with the delivery rows, so a
 * retry sends the same bytes with the same MSH-10 or SOPInstanceUID. A message that cannot be built
 * (for example a study without PatientID, which PID-3 requires) becomes a failed delivery with the
 * reason, so that it stays visible instead of silently missing.
 */
import { randomBytes } from 'node:crypto';

import type { AppConfig } from '../config/load.ts';
import type { Study } from '../db/entities/study.ts';
import type { DeliveryKind } from '../db/entities/delivery.ts';
import { buildOruR01 } from '../delivery/hl7/oru-r01.ts';
import { buildBasicTextSr } from '../delivery/sr/basic-text-sr.ts';
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

export interface NewDelivery {
  kind: DeliveryKind;
  destination: string;
  controlId: string;
  payload: Buffer;
  /** Set when the message could not be built; the row is stored as failed with this reason. */
  buildError?: string;
}

/** The software that writes the SR; the model is named separately as the device observer. */
const SR_MANUFACTURER = 'argus-gateway';

export function buildDeliveries(config: AppConfig, content: ReportContent): NewDelivery[] {
  const deliveries: NewDelivery[] = [];
  for (const destination of config.hl7.destinations) {
    // MSH-10 is at most 20 characters in HL7 v2.5.1 (ST, length 20).
    const messageControlId = randomBytes(10).toString('hex').toUpperCase();
    try {
      const message = buildOruR01({
        messageControlId,
        createdAt: content.createdAt,
        sendingApplication: destination.sendingApplication,
        sendingFacility: destination.sendingFacility,
        receivingApplication: destination.receivingApplication,
        receivingFacility: destination.receivingFacility,
        patient: {
          id: content.study.patientId ?? '',
          issuer: content.study.issuerOfPatientId ?? undefined,
          ...splitPersonName(content.study.patientName),
          birthDate: content.study.patientBirthDate ?? undefined,
          sex: content.study.patientSex ?? undefined,
        },
        order: {
          accessionNumber: content.study.accessionNumber ?? undefined,
          procedureText: content.study.studyDescription ?? undefined,
          studyInstanceUid: content.study.studyInstanceUid,
        },
        result: { status: 'P', reportedAt: content.createdAt, findings: content.findings, impression: content.impression },
        model: content.model,
      });
      deliveries.push({ kind: 'hl7_oru', destination: destination.name, controlId: messageControlId, payload: Buffer.from(message, 'utf8') });
    } catch (error) {
      deliveries.push({ kind: 'hl7_oru', destination: destination.name, controlId: messageControlId, payload: Buffer.alloc(0), buildError: (error as Error).message });
    }
  }

  if (config.dicom.destinations.length > 0) {
    let sr: { part10: Buffer; sopInstanceUid: string } | undefined;
    let buildError: string | undefined;
    try {
      sr = buildBasicTextSr({
        study: {
          studyInstanceUid: content.study.studyInstanceUid,
          studyId: content.study.studyId ?? undefined,
          studyDate: content.study.studyDate ?? undefined,
          studyTime: content.study.studyTime ?? undefined,
          accessionNumber: content.study.accessionNumber ?? undefined,
          referringPhysicianName: content.study.referringPhysicianName ?? undefined,
          patientName: content.study.patientName ?? undefined,
          patientId: content.study.patientId ?? undefined,
          patientBirthDate: content.study.patientBirthDate ?? undefined,
          patientSex: content.study.patientSex ?? undefined,
          issuerOfPatientId: content.study.issuerOfPatientId ?? undefined,
        },
        evidence: { seriesInstanceUid: content.seriesInstanceUid, instances: content.instances },
        report: { findings: content.findings, impression: content.impression },
        model: { ...content.model, manufacturer: SR_MANUFACTURER },
        createdAt: content.createdAt,
      });
    } catch (error) {
      buildError = (error as Error).message;
    }
    for (const destination of config.dicom.destinations) {
      deliveries.push({
        kind: 'dicom_sr',
        destination: destination.name,
        controlId: sr?.sopInstanceUid ?? '',
        payload: sr?.part10 ?? Buffer.alloc(0),
        buildError,
      });
    }
  }
  return deliveries;
}

/** Splits a DICOM PN (Family^Given^Middle^Prefix^Suffix) into the parts PID-5 carries. */
function splitPersonName(name: string | null): { familyName?: string; givenName?: string } {
  if (!name) return {};
  const [familyName, givenName] = name.split('^');
  return { familyName: familyName || undefined, givenName: givenName || undefined };
}
