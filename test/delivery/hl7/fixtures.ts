/** A complete ORU^R01 input for tests. Each test overrides the values it checks. */
import type { OruR01Input } from '../../../src/delivery/hl7/oru-r01.ts';

export function oruInput(overrides: Partial<OruR01Input> = {}): OruR01Input {
  return {
    messageControlId: 'ARGUS-0000000001',
    createdAt: new Date('2024-05-01T10:20:30.900Z'),
    sendingApplication: 'ARGUS',
    sendingFacility: 'RADIOLOGY',
    receivingApplication: 'RIS',
    receivingFacility: 'HOSPITAL',
    patient: {
      id: 'PAT-001',
      issuer: 'HOSPITAL_MRN',
      familyName: 'Kowalski',
      givenName: 'Jan',
      birthDate: '19610315',
      sex: 'M',
    },
    order: {
      placerOrderNumber: 'PL-77',
      fillerOrderNumber: 'FI-88',
      accessionNumber: 'ACC-2024-0042',
      procedureCode: 'CTCHEST',
      procedureText: 'CT chest without contrast',
      studyInstanceUid: '1.2.826.0.1.3680043.8.498.1',
      observationAt: new Date('2024-05-01T09:05:00Z'),
    },
    result: {
      status: 'P',
      reportedAt: new Date('2024-05-01T10:19:59Z'),
      findings: 'Lungs: 8 mm nodule in the left lower lobe.\n\nHeart: normal size.',
      impression: 'Left lower lobe nodule, follow-up CT advised.',
    },
    // Declared for clinical use, so that the messages carry no not-for-clinical-use labels.
    model: { name: 'argus-demo', version: '0.1.0', deviceUid: '2.25.987654321', clinicalUse: true },
    ...overrides,
  };
}
