import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { OruR01InputError } from '../../../src/delivery/hl7/errors.ts';
import { AI_DRAFT_NOTICE, buildOruR01 } from '../../../src/delivery/hl7/oru-r01.ts';
import { oruInput } from './fixtures.ts';
import { parseWithPythonHl7, type PythonObservation } from '../../helpers/python-hl7.ts';

function valuesOf(observations: PythonObservation[], code: string): string[] {
  return observations.filter((row) => row.code === code).map((row) => row.value);
}

describe('ORU^R01 builder', () => {
  it('writes MSH fields python-hl7 reads back', () => {
    const parsed = parseWithPythonHl7(buildOruR01(oruInput()));

    assert.deepEqual(parsed.segments.slice(0, 5), ['MSH', 'PID', 'PV1', 'ORC', 'OBR']);
    assert.equal(parsed.fields['MSH.F9.R1.C1'], 'ORU');
    assert.equal(parsed.fields['MSH.F9.R1.C2'], 'R01');
    assert.equal(parsed.fields['MSH.F9.R1.C3'], 'ORU_R01');
    assert.equal(parsed.fields['MSH.F10'], 'ARGUS-0000000001');
    assert.equal(parsed.fields['MSH.F11'], 'P');
    assert.equal(parsed.fields['MSH.F12'], '2.5.1');
    assert.equal(parsed.fields['MSH.F18'], 'UNICODE UTF-8');
  });

  it('writes PID, ORC and OBR fields', () => {
    const parsed = parseWithPythonHl7(buildOruR01(oruInput()));

    assert.equal(parsed.fields['PID.F3.R1.C1'], 'PAT-001');
    assert.equal(parsed.fields['PID.F3.R1.C4'], 'HOSPITAL_MRN');
    assert.equal(parsed.fields['PID.F5.R1.C1'], 'Kowalski');
    assert.equal(parsed.fields['PID.F5.R1.C2'], 'Jan');
    assert.equal(parsed.fields['PID.F7'], '19610315');
    assert.equal(parsed.fields['PID.F8'], 'M');
    assert.equal(parsed.fields['PV1.F2'], 'U');
    assert.equal(parsed.fields['ORC.F1'], 'RE');
    assert.equal(parsed.fields['ORC.F2'], 'PL-77');
    assert.equal(parsed.fields['ORC.F3'], 'FI-88');
    assert.equal(parsed.fields['OBR.F2'], 'PL-77');
    assert.equal(parsed.fields['OBR.F3'], 'FI-88');
    assert.equal(parsed.fields['OBR.F4.R1.C1'], 'CTCHEST');
    assert.equal(parsed.fields['OBR.F4.R1.C2'], 'CT chest without contrast');
    assert.equal(parsed.fields['OBR.F7'], '20240501090500+0000');
    assert.equal(parsed.fields['OBR.F18'], 'ACC-2024-0042');
    assert.equal(parsed.fields['OBR.F22'], '20240501101959+0000');
    assert.equal(parsed.fields['OBR.F25'], 'P');
  });

  it('writes one TX row per line, empty lines included', () => {
    const findings = 'Lungs: 8 mm nodule.\n\nHeart: normal.\r\nBones: no lesion.\rEnd.';
    const impression = 'Nodule.\n\n';
    const input = oruInput({ result: { ...oruInput().result, findings, impression } });
    const parsed = parseWithPythonHl7(buildOruR01(input));

    assert.deepEqual(valuesOf(parsed.observations, '59776-5'), [
      'Lungs: 8 mm nodule.',
      '',
      'Heart: normal.',
      'Bones: no lesion.',
      'End.',
    ]);
    assert.deepEqual(valuesOf(parsed.observations, '19005-8'), ['Nodule.', '', '']);
    const textRows = parsed.observations.filter((row) => row.code === '59776-5' || row.code === '19005-8');
    for (const row of textRows) {
      assert.equal(row.valueType, 'TX');
      assert.equal(row.codingSystem, 'LN');
    }
  });

  it('sets OBX-1 and OBX-11 on every row', () => {
    const input = oruInput({ result: { ...oruInput().result, status: 'C' } });
    const parsed = parseWithPythonHl7(buildOruR01(input));

    assert.equal(parsed.fields['OBR.F25'], 'C');
    assert.ok(parsed.observations.length > 0);
    parsed.observations.forEach((row, index) => {
      assert.equal(row.setId, String(index + 1));
      assert.equal(row.status, 'C');
    });
  });

  it('identifies the study, the model and the AI draft', () => {
    const parsed = parseWithPythonHl7(buildOruR01(oruInput()));

    assert.deepEqual(valuesOf(parsed.observations, '113014'), ['1.2.826.0.1.3680043.8.498.1']);
    assert.deepEqual(valuesOf(parsed.observations, '111001'), ['argus-demo']);
    assert.deepEqual(valuesOf(parsed.observations, '111003'), ['0.1.0']);
    assert.deepEqual(valuesOf(parsed.observations, '121012'), ['2.25.987654321']);
    assert.deepEqual(valuesOf(parsed.observations, '121106'), [AI_DRAFT_NOTICE]);
    const notice = parsed.observations.findIndex((row) => row.code === '121106');
    const firstFinding = parsed.observations.findIndex((row) => row.code === '59776-5');
    assert.ok(notice < firstFinding, 'the AI draft notice precedes the report text');
  });

  it('ends every segment with a single CR', () => {
    const message = buildOruR01(oruInput());

    assert.ok(message.endsWith('\r'));
    assert.ok(!message.includes('\n'));
    assert.ok(!message.includes('\r\r'));
    assert.ok(message.startsWith('MSH|^~\\&|ARGUS|RADIOLOGY|RIS|HOSPITAL|20240501102030+0000||ORU^R01^ORU_R01|'));
  });

  it('leaves optional fields empty', () => {
    const input = oruInput({
      patient: { id: 'PAT-002' },
      order: { studyInstanceUid: '1.2.3' },
    });
    const parsed = parseWithPythonHl7(buildOruR01(input));

    assert.equal(parsed.fields['PID.F3.R1.C1'], 'PAT-002');
    assert.equal(parsed.fields['PID.F5.R1.C1'], '');
    assert.equal(parsed.fields['PID.F7'], '');
    assert.equal(parsed.fields['OBR.F18'], '');
    assert.equal(parsed.fields['OBR.F25'], 'P');
    assert.equal(parsed.fields['MSH.F18'], 'UNICODE UTF-8');
  });

  it('writes order namespaces, OBR-19, OBR-4.3 and MSH-11', () => {
    const base = oruInput();
    const message = buildOruR01({
      ...base,
      processingId: 'T',
      order: {
        ...base.order,
        placerOrderNamespace: 'HIS',
        fillerOrderNamespace: 'RIS',
        requestedProcedureId: 'RP-5',
        procedureCodingSystem: 'L',
        observationAt: '20150206092815.672',
      },
    });
    const segments = message.split('\r');
    const orc = segments.find((segment) => segment.startsWith('ORC|'))!.split('|');
    const obr = segments.find((segment) => segment.startsWith('OBR|'))!.split('|');

    assert.equal(orc[2], 'PL-77^HIS');
    assert.equal(orc[3], 'FI-88^RIS');
    assert.equal(obr[2], 'PL-77^HIS');
    assert.equal(obr[3], 'FI-88^RIS');
    assert.equal(obr[4], 'CTCHEST^CT chest without contrast^L');
    assert.equal(obr[7], '20150206092815.672');
    assert.equal(obr[19], 'RP-5');
    const parsed = parseWithPythonHl7(message);
    assert.equal(parsed.fields['MSH.F11'], 'T');
  });

  it('rejects an OBR-7 that is not an HL7 DTM', () => {
    const base = oruInput();
    assert.throws(
      () => buildOruR01({ ...base, order: { ...base.order, observationAt: '2015-02-06' } }),
      (error: unknown) => error instanceof OruR01InputError && /OBR-7/.test(error.message),
    );
  });

  it('rejects invalid input with hl7_input_invalid', () => {
    const cases: Array<[string, ReturnType<typeof oruInput>]> = [
      ['empty MSH-10', oruInput({ messageControlId: '' })],
      ['MSH-10 over 20 characters', oruInput({ messageControlId: '123456789012345678901' })],
      ['MSH-10 with a delimiter', oruInput({ messageControlId: 'A|B' })],
      ['empty PID-3', oruInput({ patient: { id: '' } })],
      ['empty Study Instance UID', oruInput({ order: { studyInstanceUid: '' } })],
      ['birth date not YYYYMMDD', oruInput({ patient: { id: 'P', birthDate: '1961-03-15' } })],
      ['invalid MSH-7 date', oruInput({ createdAt: new Date('not a date') })],
    ];
    for (const [name, input] of cases) {
      assert.throws(
        () => buildOruR01(input),
        (error: unknown) => error instanceof OruR01InputError && error.code === 'hl7_input_invalid',
        name,
      );
    }
  });
});
