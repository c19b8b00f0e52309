import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import type { OrderRow } from '../../../src/db/queries/orders.ts';
import { decodeHl7Bytes, Hl7MessageError, parseHl7Message } from '../../../src/orders/hl7-message.ts';
import { matchOrder } from '../../../src/orders/match-order.ts';
import { OrderMessageError, readOrderHeader, readOrders } from '../../../src/orders/order-message.ts';
import { sharedData } from '../../helpers/shared-data.ts';
import { ormO01, type OrmOptions } from './order-fixtures.ts';

function read(text: string | Buffer) {
  const message = parseHl7Message(typeof text === 'string' ? text : decodeHl7Bytes(text).text);
  const header = readOrderHeader(message, ['P']);
  return { header, orders: readOrders(message, header.messageType) };
}

function rejection(options: OrmOptions): OrderMessageError {
  try {
    read(ormO01(options));
  } catch (error) {
    assert.ok(error instanceof OrderMessageError, `expected an OrderMessageError, got ${String(error)}`);
    return error;
  }
  assert.fail('the message was accepted');
}

describe('order messages', () => {
  it('reads an ORM^O01 as IHE Scheduled Workflow places its fields', () => {
    const { header, orders } = read(ormO01());

    assert.equal(header.messageType, 'ORM^O01');
    assert.equal(header.messageControlId, 'ORM-1');
    assert.equal(header.sendingApplication, 'HIS');
    assert.deepEqual(orders, [
      {
        orderControl: 'NW',
        status: 'active',
        placerOrderNumber: 'PL-100',
        placerOrderNamespace: 'HIS',
        fillerOrderNumber: 'FI-200',
        fillerOrderNamespace: 'RIS',
        accessionNumber: 'ACC-100',
        requestedProcedureId: 'RP-100',
        studyInstanceUid: '1.2.826.0.1.3680043.8.498.777',
        procedureCode: 'CTCHEST',
        procedureText: 'CT chest without contrast',
        procedureCodingSystem: 'L',
        patient: { id: 'PAT-7', issuer: 'HOSP', familyName: 'Nowak', givenName: 'Ewa', birthDate: '19700102', sex: 'F' },
      },
    ]);
  });

  it('reads the dcm4che OMI^O23 sample in ISO 8859-1', () => {
    const bytes = readFileSync(sharedData('hl7/dcm4che_OMI_O23-ImagingOrder_v251.hl7'));
    const { characterSet } = decodeHl7Bytes(bytes);
    const { header, orders } = read(bytes);

    assert.equal(characterSet, '8859/1');
    assert.equal(header.messageType, 'OMI^O23');
    assert.equal(orders.length, 1);
    const [order] = orders;
    assert.equal(order!.placerOrderNumber, 'PlacerOrderNumberImagingServiceRequest');
    assert.equal(order!.fillerOrderNumber, 'FillerOrderNumberImagingServiceRequest');
    assert.equal(order!.accessionNumber, 'AccessionNumber');
    assert.equal(order!.requestedProcedureId, 'RequestedProcID');
    assert.equal(order!.studyInstanceUid, '1.2.392.200036.9125.0.198811291108.7');
    assert.equal(order!.procedureCode, '10637-7');
    assert.equal(order!.procedureCodingSystem, 'LN');
    assert.deepEqual(order!.patient, { id: 'PID_1', issuer: 'ADT1', familyName: 'Smith', givenName: 'Lucy', birthDate: '20141014', sex: 'F' });
  });

  it('decodes ISO 8859-2 names by MSH-18', () => {
    const text = ormO01({ pid: 'PID|1||PAT-8^^^HOSP^MR||Łęcka^Żaneta' }).replace('UNICODE UTF-8', '8859/2');
    // ISO 8859-2 has Ł at 0xA3, ę at 0xEA and Ż at 0xAF; 'latin1' writes U+00A3 as the byte 0xA3.
    const latin2 = Buffer.from(text.replace('Łęcka', '\u00a3\u00eacka').replace('Żaneta', '\u00afaneta'), 'latin1');
    const { orders } = read(latin2);
    assert.equal(orders[0]!.patient.familyName, 'Łęcka');
    assert.equal(orders[0]!.patient.givenName, 'Żaneta');
  });

  it('reads a cancel without an accession number', () => {
    const text = ormO01({ orderControl: 'CA', accessionNumber: '' });
    const { orders } = read(text);
    assert.equal(orders[0]!.status, 'cancelled');
    assert.equal(orders[0]!.accessionNumber, undefined);
  });

  describe('rejections', () => {
    const cases: Array<{ name: string; options: OrmOptions; ackCode: 'AE' | 'AR'; hl7ErrorCode: string; segment: string; field?: number }> = [
      { name: 'another message type', options: { messageType: 'ADT^A01' }, ackCode: 'AR', hl7ErrorCode: '200', segment: 'MSH', field: 9 },
      { name: 'another trigger event', options: { messageType: 'ORM^O02' }, ackCode: 'AR', hl7ErrorCode: '201', segment: 'MSH', field: 9 },
      { name: 'a training message', options: { processingId: 'T' }, ackCode: 'AR', hl7ErrorCode: '202', segment: 'MSH', field: 11 },
      { name: 'a version that is not v2', options: { version: '3.0' }, ackCode: 'AR', hl7ErrorCode: '203', segment: 'MSH', field: 12 },
      { name: 'an empty MSH-10', options: { messageControlId: '' }, ackCode: 'AR', hl7ErrorCode: '101', segment: 'MSH', field: 10 },
      { name: 'no PID', options: { pid: '' }, ackCode: 'AE', hl7ErrorCode: '100', segment: 'PID' },
      { name: 'an empty PID-3', options: { pid: 'PID|1||||Nowak^Ewa' }, ackCode: 'AE', hl7ErrorCode: '101', segment: 'PID', field: 3 },
      { name: 'an unknown ORC-1', options: { orderControl: 'ZZ' }, ackCode: 'AE', hl7ErrorCode: '103', segment: 'ORC', field: 1 },
      { name: 'no order number', options: { placer: '', filler: '' }, ackCode: 'AE', hl7ErrorCode: '101', segment: 'ORC', field: 2 },
      { name: 'no accession number', options: { accessionNumber: '' }, ackCode: 'AE', hl7ErrorCode: '101', segment: 'OBR', field: 18 },
    ];
    for (const testCase of cases) {
      it(`gives ${testCase.ackCode} ${testCase.hl7ErrorCode} for ${testCase.name}`, () => {
        const error = rejection(testCase.options);
        assert.equal(error.ackCode, testCase.ackCode);
        assert.equal(error.hl7ErrorCode, testCase.hl7ErrorCode);
        assert.equal(error.location.segment, testCase.segment);
        assert.equal(error.location.field, testCase.field);
      });
    }

    it('rejects text that is not HL7', () => {
      assert.throws(() => parseHl7Message('GET / HTTP/1.1\r\n'), (error: unknown) => error instanceof Hl7MessageError && error.hl7ErrorCode === '100');
    });

    it('rejects a character set it cannot decode', () => {
      const text = ormO01().replace('UNICODE UTF-8', 'ISO IR87');
      assert.throws(() => decodeHl7Bytes(Buffer.from(text)), (error: unknown) => error instanceof Hl7MessageError && error.hl7ErrorCode === '103');
    });
  });
});

describe('order matching', () => {
  const order = (overrides: Partial<OrderRow>): OrderRow => ({
    id: 'order-1',
    placerOrderNumber: 'PL-1',
    placerOrderNamespace: null,
    fillerOrderNumber: 'FI-1',
    fillerOrderNamespace: null,
    accessionNumber: 'ACC-1',
    requestedProcedureId: null,
    studyInstanceUid: null,
    patientId: 'PAT-1',
    patientIdIssuer: 'HOSP',
    patientFamilyName: null,
    patientGivenName: null,
    patientBirthDate: null,
    patientSex: null,
    procedureCode: null,
    procedureText: null,
    procedureCodingSystem: null,
    status: 'active',
    updatedAt: new Date('2024-05-01T10:00:00Z'),
    ...overrides,
  });
  const study = { accessionNumber: 'ACC-1', patientId: 'PAT-1', issuerOfPatientId: null };

  it('matches accession number and patient ID', () => {
    const result = matchOrder(study, [order({})]);
    assert.ok(result.matched);
    assert.equal(result.order.id, 'order-1');
  });

  it('refuses an order of another patient', () => {
    assert.deepEqual(matchOrder(study, [order({ patientId: 'PAT-2' })]), { matched: false, reason: 'patient_differs', orderId: 'order-1' });
  });

  it('refuses a different issuer of the patient ID', () => {
    const result = matchOrder({ ...study, issuerOfPatientId: 'OTHER' }, [order({})]);
    assert.equal(result.matched, false);
  });

  it('takes the newest active order', () => {
    const result = matchOrder(study, [
      order({ id: 'old', updatedAt: new Date('2024-04-01T00:00:00Z') }),
      order({ id: 'cancelled', status: 'cancelled', updatedAt: new Date('2024-06-01T00:00:00Z') }),
      order({ id: 'new', updatedAt: new Date('2024-05-15T00:00:00Z') }),
    ]);
    assert.ok(result.matched);
    assert.equal(result.order.id, 'new');
  });

  it('does not use a cancelled order', () => {
    assert.deepEqual(matchOrder(study, [order({ status: 'cancelled' })]), { matched: false, reason: 'order_cancelled', orderId: 'order-1' });
  });

  it('needs an accession number', () => {
    assert.deepEqual(matchOrder({ ...study, accessionNumber: null }, [order({})]), { matched: false, reason: 'no_accession_number' });
  });
});
