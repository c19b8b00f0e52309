/**
 * Matches a study to a RIS order by accession number and patient ID. Both must agree: an accession
 * number alone can be reused or mistyped, and filing a report under another patient's order is the one
 * mistake an interface must never make. When the issuer of the patient ID is known on both sides it must
 * agree too. Cancelled orders are not used.
 */
import type { OrderRow } from '../db/queries/orders.ts';

export interface StudyKeys {
  accessionNumber: string | null;
  patientId: string | null;
  issuerOfPatientId: string | null;
}

export type OrderMatch =
  | { matched: true; order: OrderRow }
  | { matched: false; reason: 'no_accession_number' | 'no_order' | 'patient_differs' | 'order_cancelled'; orderId?: string };

/** Picks the most recently updated active order among `candidates` (the orders with the study's accession number). */
export function matchOrder(study: StudyKeys, candidates: OrderRow[]): OrderMatch {
  const accessionNumber = study.accessionNumber?.trim() ?? '';
  if (accessionNumber === '') return { matched: false, reason: 'no_accession_number' };

  const sameAccession = candidates.filter((order) => order.accessionNumber?.trim() === accessionNumber);
  if (sameAccession.length === 0) return { matched: false, reason: 'no_order' };

  const samePatient = sameAccession.filter((order) => samePatientId(study, order));
  if (samePatient.length === 0) return { matched: false, reason: 'patient_differs', orderId: sameAccession[0]!.id };

  const newestFirst = [...samePatient].sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime());
  const active = newestFirst.find((order) => order.status === 'active');
  if (active === undefined) return { matched: false, reason: 'order_cancelled', orderId: newestFirst[0]!.id };
  return { matched: true, order: active };
}

function samePatientId(study: StudyKeys, order: OrderRow): boolean {
  if ((study.patientId?.trim() ?? '') !== order.patientId.trim()) return false;
  const studyIssuer = study.issuerOfPatientId?.trim();
  const orderIssuer = order.patientIdIssuer?.trim();
  return !studyIssuer || !orderIssuer || studyIssuer === orderIssuer;
}
