/**
 * Builds the DICOM audit message (PS3.15 A.5, the XML schema derived from RFC 3881) of one audit row:
 * EventIdentification with the DCM event code, the acting participant and this gateway as
 * ActiveParticipant, AuditSourceIdentification, and the study and patient as
 * ParticipantObjectIdentification. The message carries the PatientID and AccessionNumber because an
 * audit repository needs them to find who accessed a patient's data. It never carries names, birth
 * dates or report text.
 */
import type { AuditEventRow } from '../db/queries/audit.ts';
import { dicomAuditEvent } from './dicom-audit-events.ts';

export interface AuditSource {
  /** AuditSourceID: the name of this gateway in the audit repository. */
  auditSourceId: string;
  /** AuditEnterpriseSiteID, when configured. */
  enterpriseSiteId?: string;
}

/** EventOutcomeIndicator values of PS3.15 A.5.1: 0 success, 4 minor failure. */
const OUTCOME_INDICATORS: Record<string, string> = { success: '0', failure: '4' };

/** RoleIDCode of the peer that sent instances (PS3.16 CID 402 "Audit Active Participant Role ID Code"). */
const SOURCE_ROLE = { code: '110153', meaning: 'Source Role ID' };
const APPLICATION_ROLE = { code: '110150', meaning: 'Application' };

export function buildDicomAuditMessage(row: AuditEventRow, source: AuditSource): string {
  const event = dicomAuditEvent(row.action);
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<AuditMessage>'];

  lines.push(
    `  <EventIdentification EventActionCode="${event.actionCode}" EventDateTime="${row.occurredAt}" EventOutcomeIndicator="${OUTCOME_INDICATORS[row.outcome] ?? '4'}">`,
    `    ${codedValue('EventID', event.code, 'DCM', event.meaning)}`,
    '  </EventIdentification>',
  );

  const actorRole = row.actorType === 'peer' && row.action.startsWith('dicom_') ? SOURCE_ROLE : undefined;
  lines.push(...activeParticipant({ userId: row.actor, requestor: true, address: row.sourceAddress, role: actorRole }));
  if (row.actor !== source.auditSourceId) {
    lines.push(...activeParticipant({ userId: source.auditSourceId, requestor: false, address: null, role: APPLICATION_ROLE }));
  }

  const site = source.enterpriseSiteId === undefined ? '' : ` AuditEnterpriseSiteID="${escapeXml(source.enterpriseSiteId)}"`;
  lines.push(
    `  <AuditSourceIdentification AuditSourceID="${escapeXml(source.auditSourceId)}"${site}>`,
    // RFC 3881 audit source type 4: application server process tier.
    '    <AuditSourceTypeCode csd-code="4" codeSystemName="RFC-3881" originalText="Application Server"/>',
    '  </AuditSourceIdentification>',
  );

  if (row.studyInstanceUid !== null) {
    lines.push(
      `  <ParticipantObjectIdentification ParticipantObjectID="${escapeXml(row.studyInstanceUid)}" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3">`,
      `    ${codedValue('ParticipantObjectIDTypeCode', '110180', 'DCM', 'Study Instance UID')}`,
    );
    if (row.accessionNumber !== null) lines.push(`    <Accession Number="${escapeXml(row.accessionNumber)}"/>`);
    lines.push('  </ParticipantObjectIdentification>');
  }
  if (row.patientId !== null) {
    lines.push(
      `  <ParticipantObjectIdentification ParticipantObjectID="${escapeXml(row.patientId)}" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1">`,
      `    ${codedValue('ParticipantObjectIDTypeCode', '2', 'RFC-3881', 'Patient Number')}`,
      '  </ParticipantObjectIdentification>',
    );
  }

  lines.push('</AuditMessage>');
  return lines.join('\n');
}

function activeParticipant(participant: { userId: string; requestor: boolean; address: string | null; role?: { code: string; meaning: string } }): string[] {
  // NetworkAccessPointTypeCode 2 is an IP address.
  const network = participant.address === null ? '' : ` NetworkAccessPointID="${escapeXml(participant.address)}" NetworkAccessPointTypeCode="2"`;
  const open = `  <ActiveParticipant UserID="${escapeXml(participant.userId)}" UserIsRequestor="${participant.requestor}"${network}`;
  if (participant.role === undefined) return [`${open}/>`];
  return [`${open}>`, `    ${codedValue('RoleIDCode', participant.role.code, 'DCM', participant.role.meaning)}`, '  </ActiveParticipant>'];
}

function codedValue(element: string, code: string, scheme: string, meaning: string): string {
  return `<${element} csd-code="${code}" codeSystemName="${scheme}" originalText="${escapeXml(meaning)}"/>`;
}

/** Escapes text for an XML attribute value; control characters that XML 1.0 forbids become spaces. */
export function escapeXml(value: string): string {
  return value
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
