/**
 * Reads imaging orders from ORM^O01 and OMI^O23 messages, with the checks that decide the ACK. The field
 * places follow IHE Radiology Scheduled Workflow: in ORM^O01 the accession number is OBR-18, the
 * requested procedure ID OBR-19 and the Study Instance UID ZDS-1; in OMI^O23 they are IPC-1, IPC-2 and
 * IPC-3. Both carry the patient in PID, the order numbers in ORC-2 and ORC-3 (OBR-2 and OBR-3 as a
 * fallback) and the procedure in OBR-4.
 */
import type { Hl7Message, Hl7Segment } from './hl7-message.ts';

export type OrderMessageType = 'ORM^O01' | 'OMI^O23';

/** An order as the RIS sent it; values are unescaped. */
export interface ReceivedOrder {
  /** ORC-1 (HL7 table 0119). */
  orderControl: string;
  status: 'active' | 'cancelled';
  placerOrderNumber?: string;
  placerOrderNamespace?: string;
  fillerOrderNumber?: string;
  fillerOrderNamespace?: string;
  accessionNumber?: string;
  requestedProcedureId?: string;
  studyInstanceUid?: string;
  procedureCode?: string;
  procedureText?: string;
  procedureCodingSystem?: string;
  /** Priority (HL7 table 0027: S stat, A ASAP, R routine): TQ1-9, else ORC-7.6 or OBR-27.6 of pre-2.5 messages. */
  priority?: string;
  patient: {
    id: string;
    issuer?: string;
    familyName?: string;
    givenName?: string;
    /** PID-7 cut to its date, YYYYMMDD. */
    birthDate?: string;
    sex?: string;
  };
}

export interface OrderMessageHeader {
  messageType: OrderMessageType;
  messageControlId: string;
  sendingApplication: string;
  sendingFacility: string;
  processingId: string;
  version: string;
}

/**
 * A message that is read but not accepted. `ackCode` is AR when the message as a whole is not for us
 * (type, version, processing ID) and AE when its content is wrong. `hl7ErrorCode` is the HL7 table 0357
 * code of the ERR segment.
 */
export class OrderMessageError extends Error {
  readonly code = 'hl7_order_invalid';

  constructor(
    message: string,
    readonly ackCode: 'AE' | 'AR',
    readonly hl7ErrorCode: string,
    readonly location: { segment: string; sequence?: number; field?: number },
  ) {
    super(message);
    this.name = 'OrderMessageError';
  }
}

/** ORC-1 values that create or update an order, and those that cancel it (HL7 table 0119). */
const ACTIVE_ORDER_CONTROLS = new Set(['NW', 'XO', 'SC']);
const CANCELLING_ORDER_CONTROLS = new Set(['CA', 'CR', 'DC', 'DR', 'OC', 'OD']);

/** Reads and checks MSH. Throws OrderMessageError with AR for a message this listener does not take. */
export function readOrderHeader(message: Hl7Message, acceptedProcessingIds: readonly string[]): OrderMessageHeader {
  const msh = message.msh;
  const messageControlId = msh.value(10);
  if (messageControlId === '') {
    throw new OrderMessageError('MSH-10 (message control ID) is empty', 'AR', '101', { segment: 'MSH', sequence: 1, field: 10 });
  }

  const code = msh.value(9, 1);
  const event = msh.value(9, 2);
  if (code !== 'ORM' && code !== 'OMI') {
    throw new OrderMessageError(`message type ${code || '(empty)'} is not supported; send ORM^O01 or OMI^O23`, 'AR', '200', {
      segment: 'MSH',
      sequence: 1,
      field: 9,
    });
  }
  const messageType = `${code}^${event}`;
  if (messageType !== 'ORM^O01' && messageType !== 'OMI^O23') {
    throw new OrderMessageError(`trigger event ${messageType} is not supported; send ORM^O01 or OMI^O23`, 'AR', '201', {
      segment: 'MSH',
      sequence: 1,
      field: 9,
    });
  }

  const processingId = msh.value(11, 1);
  if (!acceptedProcessingIds.includes(processingId)) {
    const accepted = acceptedProcessingIds.join(', ');
    throw new OrderMessageError(`MSH-11 processing ID "${processingId}" is not accepted (accepted: ${accepted})`, 'AR', '202', {
      segment: 'MSH',
      sequence: 1,
      field: 11,
    });
  }

  const version = msh.value(12, 1);
  if (!/^2\.\d+(\.\d+)?$/.test(version)) {
    throw new OrderMessageError(`MSH-12 version "${version}" is not an HL7 v2 version`, 'AR', '203', {
      segment: 'MSH',
      sequence: 1,
      field: 12,
    });
  }

  return {
    messageType,
    messageControlId,
    sendingApplication: msh.value(3),
    sendingFacility: msh.value(4),
    processingId,
    version,
  };
}

/**
 * Returns one order per ORC group of the message. Throws OrderMessageError with AE naming the first
 * missing segment or field.
 */
export function readOrders(message: Hl7Message, messageType: OrderMessageType): ReceivedOrder[] {
  const pid = message.segments.find((segment) => segment.name === 'PID');
  if (pid === undefined) throw new OrderMessageError('the PID segment is missing', 'AE', '100', { segment: 'PID' });
  const patient = readPatient(pid);

  const groups = orderGroups(message.segments);
  if (groups.length === 0) throw new OrderMessageError('the ORC segment is missing', 'AE', '100', { segment: 'ORC' });
  return groups.map((group, index) => readOrderGroup(group, index + 1, messageType, patient));
}

interface OrderGroup {
  orc: Hl7Segment;
  obr?: Hl7Segment;
  tq1?: Hl7Segment;
  ipc?: Hl7Segment;
  zds?: Hl7Segment;
}

/** Splits the segments after the first ORC into groups that each start with an ORC. */
function orderGroups(segments: Hl7Segment[]): OrderGroup[] {
  const groups: OrderGroup[] = [];
  for (const segment of segments) {
    if (segment.name === 'ORC') {
      groups.push({ orc: segment });
      continue;
    }
    const group = groups[groups.length - 1];
    if (group === undefined) continue;
    if (segment.name === 'OBR') group.obr ??= segment;
    if (segment.name === 'TQ1') group.tq1 ??= segment;
    if (segment.name === 'IPC') group.ipc ??= segment;
    if (segment.name === 'ZDS') group.zds ??= segment;
  }
  return groups;
}

function readOrderGroup(group: OrderGroup, sequence: number, messageType: OrderMessageType, patient: ReceivedOrder['patient']): ReceivedOrder {
  const { orc, obr, ipc, zds, tq1 } = group;
  const orderControl = orc.value(1);
  if (orderControl === '') {
    throw new OrderMessageError('ORC-1 (order control) is empty', 'AE', '101', { segment: 'ORC', sequence, field: 1 });
  }
  const cancelled = CANCELLING_ORDER_CONTROLS.has(orderControl);
  if (!cancelled && !ACTIVE_ORDER_CONTROLS.has(orderControl)) {
    throw new OrderMessageError(`ORC-1 order control "${orderControl}" is not supported`, 'AE', '103', {
      segment: 'ORC',
      sequence,
      field: 1,
    });
  }

  const placer = entityIdentifier(orc, 2) ?? (obr === undefined ? undefined : entityIdentifier(obr, 2));
  const filler = entityIdentifier(orc, 3) ?? (obr === undefined ? undefined : entityIdentifier(obr, 3));
  if (placer === undefined && filler === undefined) {
    throw new OrderMessageError('ORC-2 and ORC-3 (placer and filler order numbers) are both empty', 'AE', '101', {
      segment: 'ORC',
      sequence,
      field: 2,
    });
  }

  const accessionNumber = messageType === 'OMI^O23' ? ipc?.value(1) : obr?.value(18);
  if (!cancelled) {
    if (obr === undefined) throw new OrderMessageError('the OBR segment is missing', 'AE', '100', { segment: 'OBR', sequence });
    if (messageType === 'OMI^O23' && ipc === undefined) {
      throw new OrderMessageError('the IPC segment is missing', 'AE', '100', { segment: 'IPC', sequence });
    }
    if (!accessionNumber) {
      // Studies are matched to orders by accession number, so an order without one could never be used.
      const location = messageType === 'OMI^O23' ? { segment: 'IPC', sequence, field: 1 } : { segment: 'OBR', sequence, field: 18 };
      throw new OrderMessageError(`${location.segment}-${location.field} (accession number) is empty`, 'AE', '101', location);
    }
  }

  const priority = optional(tq1?.value(9, 1) || orc.value(7, 6) || obr?.value(27, 6));
  return {
    orderControl,
    status: cancelled ? 'cancelled' : 'active',
    ...(placer === undefined ? {} : { placerOrderNumber: placer.id, placerOrderNamespace: placer.namespace }),
    ...(filler === undefined ? {} : { fillerOrderNumber: filler.id, fillerOrderNamespace: filler.namespace }),
    accessionNumber: optional(accessionNumber),
    requestedProcedureId: optional(messageType === 'OMI^O23' ? ipc?.value(2) : obr?.value(19)),
    studyInstanceUid: optional(messageType === 'OMI^O23' ? ipc?.value(3) : zds?.value(1)),
    procedureCode: optional(obr?.value(4, 1)),
    procedureText: optional(obr?.value(4, 2)),
    procedureCodingSystem: optional(obr?.value(4, 3)),
    ...(priority === undefined ? {} : { priority }),
    patient,
  };
}

function readPatient(pid: Hl7Segment): ReceivedOrder['patient'] {
  // A medical record number (CX-5 "MR") is what a PACS stores as PatientID; otherwise the first identifier.
  let repetition = 1;
  for (let candidate = 1; candidate <= pid.repetitions(3); candidate++) {
    if (pid.value(3, 5, candidate) === 'MR') {
      repetition = candidate;
      break;
    }
  }
  const id = pid.value(3, 1, repetition);
  if (id === '') {
    throw new OrderMessageError('PID-3 (patient identifier) is empty', 'AE', '101', { segment: 'PID', sequence: 1, field: 3 });
  }

  const birthDate = pid.value(7).slice(0, 8);
  return {
    id,
    issuer: optional(pid.value(3, 4, repetition)),
    familyName: optional(pid.value(5, 1)),
    givenName: optional(pid.value(5, 2)),
    birthDate: /^\d{4}(\d{2}){0,2}$/.test(birthDate) ? birthDate : undefined,
    sex: optional(pid.value(8)),
  };
}

/** Reads an EI field: entity identifier and namespace ID. Undefined when the identifier is empty. */
function entityIdentifier(segment: Hl7Segment, fieldNumber: number): { id: string; namespace?: string } | undefined {
  const id = segment.value(fieldNumber, 1);
  if (id === '') return undefined;
  const namespace = segment.value(fieldNumber, 2);
  return namespace === '' ? { id } : { id, namespace };
}

function optional(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
