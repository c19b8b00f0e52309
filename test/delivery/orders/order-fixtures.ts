/** ORM^O01 messages as a RIS following IHE Scheduled Workflow sends them; each test changes what it checks. */

export interface OrmOptions {
  messageControlId?: string;
  orderControl?: string;
  placer?: string;
  filler?: string;
  accessionNumber?: string;
  patientId?: string;
  procedure?: string;
  processingId?: string;
  version?: string;
  messageType?: string;
  /** Replaces the PID segment; an empty string drops it. */
  pid?: string;
}

export function ormO01(options: OrmOptions = {}): string {
  const pid = options.pid ?? `PID|1||${options.patientId ?? 'PAT-7'}^^^HOSP^MR~X99^^^OTHER^PI||Nowak^Ewa^Maria||19700102|F`;
  const segments = [
    `MSH|^~\\&|HIS|HOSPITAL|ARGUS|RADIOLOGY|20240501101500||${options.messageType ?? 'ORM^O01^ORM_O01'}|${options.messageControlId ?? 'ORM-1'}|${options.processingId ?? 'P'}|${options.version ?? '2.5.1'}||||||UNICODE UTF-8`,
    pid,
    'PV1|1|O',
    `ORC|${options.orderControl ?? 'NW'}|${options.placer ?? 'PL-100^HIS'}|${options.filler ?? 'FI-200^RIS'}||SC`,
    `OBR|1|${options.placer ?? 'PL-100^HIS'}|${options.filler ?? 'FI-200^RIS'}|${options.procedure ?? 'CTCHEST^CT chest without contrast^L'}||||||||||||||${options.accessionNumber ?? 'ACC-100'}|RP-100`,
    'ZDS|1.2.826.0.1.3680043.8.498.777^^Application^DICOM',
  ].filter((segment) => segment !== '');
  return `${segments.join('\r')}\r`;
}
