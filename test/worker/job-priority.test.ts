/**
 * Report job priorities: the order priority read from an ORM^O01 (TQ1-9 in v2.5, ORC-7.6 or OBR-27.6
 * before it) and the rule that turns it, or a StudyDescription pattern, into urgent or routine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseHl7Message } from '../../src/orders/hl7-message.ts';
import { readOrders } from '../../src/orders/order-message.ts';
import { jobPriority } from '../../src/worker/job-scheduling.ts';
import { ormO01 } from '../delivery/orders/order-fixtures.ts';

/** Inserts `segment` after the ORC segment, or replaces the ORC segment when `segment` starts with ORC. */
function withSegment(message: string, segment: string): string {
  const segments = message.split('\r');
  const orc = segments.findIndex((candidate) => candidate.startsWith('ORC|'));
  if (segment.startsWith('ORC|')) segments[orc] = segment;
  else segments.splice(orc + 1, 0, segment);
  return segments.join('\r');
}

function priorityOf(message: string): string | undefined {
  return readOrders(parseHl7Message(message), 'ORM^O01')[0]!.priority;
}

describe('order priority', () => {
  it('reads TQ1-9 of a v2.5 order', () => {
    assert.equal(priorityOf(withSegment(ormO01(), 'TQ1|1||||||||S^Stat^HL70485')), 'S');
  });

  it('reads ORC-7.6 of an older order', () => {
    assert.equal(priorityOf(withSegment(ormO01({ version: '2.3' }), 'ORC|NW|PL-100^HIS|FI-200^RIS||SC||^^^^^A')), 'A');
  });

  it('prefers TQ1-9 to ORC-7.6', () => {
    const message = withSegment(withSegment(ormO01(), 'ORC|NW|PL-100^HIS|FI-200^RIS||SC||^^^^^R'), 'TQ1|1||||||||S');
    assert.equal(priorityOf(message), 'S');
  });

  it('is absent when the order names none', () => {
    assert.equal(priorityOf(ormO01()), undefined);
  });
});

describe('report job priority', () => {
  const rule = { urgentOrderPriorities: ['S', 'A'], urgentStudyDescriptionPattern: 'stroke|trauma' };
  const cases: { name: string; orderPriorities: string[]; studyDescription: string | null; expected: 'urgent' | 'routine' }[] = [
    { name: 'stat order', orderPriorities: ['S'], studyDescription: 'CT CHEST', expected: 'urgent' },
    { name: 'ASAP order in lower case', orderPriorities: ['a'], studyDescription: null, expected: 'urgent' },
    { name: 'routine order', orderPriorities: ['R'], studyDescription: 'CT CHEST', expected: 'routine' },
    { name: 'no order', orderPriorities: [], studyDescription: null, expected: 'routine' },
    { name: 'description match', orderPriorities: ['R'], studyDescription: 'CT HEAD STROKE PROTOCOL', expected: 'urgent' },
    { name: 'one urgent order of two', orderPriorities: ['R', 'S'], studyDescription: null, expected: 'urgent' },
  ];
  for (const { name, orderPriorities, studyDescription, expected } of cases) {
    it(`is ${expected} for ${name}`, () => {
      assert.equal(jobPriority(rule, { orderPriorities, studyDescription }), expected);
    });
  }

  it('is routine for a matching description when no pattern is set', () => {
    assert.equal(jobPriority({ urgentOrderPriorities: ['S'] }, { orderPriorities: [], studyDescription: 'CT HEAD STROKE' }), 'routine');
  });
});
