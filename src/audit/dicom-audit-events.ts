/**
 * The DICOM audit event (PS3.15 A.5.3; codes from PS3.16 CID 400 "Audit Event ID", scheme DCM) and the
 * EventActionCode (C create, R read, U update, D delete, E execute) of every audit action. Where no
 * event of the standard fits an action, it is reported as Application Activity (110100).
 */
import type { AuditAction } from './record-audit.ts';

export interface DicomAuditEvent {
  code: string;
  meaning: string;
  actionCode: 'C' | 'R' | 'U' | 'D' | 'E';
}

const APPLICATION_ACTIVITY = { code: '110100', meaning: 'Application Activity' } as const;
const AUDIT_LOG_USED = { code: '110101', meaning: 'Audit Log Used' } as const;
const INSTANCES_ACCESSED = { code: '110103', meaning: 'DICOM Instances Accessed' } as const;
const INSTANCES_TRANSFERRED = { code: '110104', meaning: 'DICOM Instances Transferred' } as const;
const EXPORT = { code: '110106', meaning: 'Export' } as const;
const ORDER_RECORD = { code: '110109', meaning: 'Order Record' } as const;
const SECURITY_ALERT = { code: '110113', meaning: 'Security Alert' } as const;
const USER_AUTHENTICATION = { code: '110114', meaning: 'User Authentication' } as const;

export const DICOM_AUDIT_EVENTS: Record<AuditAction, DicomAuditEvent> = {
  dicom_association_accepted: { ...USER_AUTHENTICATION, actionCode: 'E' },
  dicom_association_rejected: { ...SECURITY_ALERT, actionCode: 'E' },
  dicom_instances_transferred: { ...INSTANCES_TRANSFERRED, actionCode: 'C' },
  dicom_instance_conflict: { ...INSTANCES_TRANSFERRED, actionCode: 'C' },
  dicom_instance_replaced: { ...INSTANCES_TRANSFERRED, actionCode: 'U' },
  study_complete: { ...APPLICATION_ACTIVITY, actionCode: 'E' },
  study_forced_complete: { ...APPLICATION_ACTIVITY, actionCode: 'E' },
  study_reopened: { ...APPLICATION_ACTIVITY, actionCode: 'E' },
  late_arrival_decided: { ...APPLICATION_ACTIVITY, actionCode: 'E' },
  series_selected: { ...INSTANCES_ACCESSED, actionCode: 'R' },
  series_rejected: { ...INSTANCES_ACCESSED, actionCode: 'R' },
  report_generated: { ...INSTANCES_ACCESSED, actionCode: 'C' },
  report_failed: { ...INSTANCES_ACCESSED, actionCode: 'C' },
  delivery_succeeded: { ...EXPORT, actionCode: 'R' },
  delivery_failed: { ...EXPORT, actionCode: 'R' },
  delivery_approved: { ...EXPORT, actionCode: 'E' },
  delivery_replayed: { ...EXPORT, actionCode: 'E' },
  hl7_order_received: { ...ORDER_RECORD, actionCode: 'C' },
  hl7_order_rejected: { ...ORDER_RECORD, actionCode: 'C' },
  hl7_order_not_matched: { ...ORDER_RECORD, actionCode: 'R' },
  instance_files_missing: { ...SECURITY_ALERT, actionCode: 'E' },
  study_viewed: { ...INSTANCES_ACCESSED, actionCode: 'R' },
  report_viewed: { ...INSTANCES_ACCESSED, actionCode: 'R' },
  audit_log_viewed: { ...AUDIT_LOG_USED, actionCode: 'R' },
  audit_log_exported: { ...AUDIT_LOG_USED, actionCode: 'R' },
  api_token_created: { ...SECURITY_ALERT, actionCode: 'C' },
  api_token_revoked: { ...SECURITY_ALERT, actionCode: 'D' },
  job_retried: { ...APPLICATION_ACTIVITY, actionCode: 'E' },
  user_authentication_failed: { ...USER_AUTHENTICATION, actionCode: 'E' },
};

/** Returns the event of `action`, or Application Activity for an action this version does not know. */
export function dicomAuditEvent(action: string): DicomAuditEvent {
  return (DICOM_AUDIT_EVENTS as Record<string, DicomAuditEvent>)[action] ?? { ...APPLICATION_ACTIVITY, actionCode: 'E' };
}
