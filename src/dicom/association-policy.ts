/**
 * Rules for the associations and presentation contexts the listener accepts, as pure functions so that
 * they can be tested without a network.
 */
import { VERIFICATION_SOP_CLASS, VERIFICATION_TRANSFER_SYNTAXES, type AcceptedSopClasses, type SopClassRole } from './conformance.ts';
import type { AssociationRejection } from './instance-sink.ts';

export interface ListenerPolicy {
  aeTitle: string;
  peers: { aeTitle: string; host: string }[];
  /** Accepted storage SOP classes; every other abstract syntax except Verification is rejected. */
  sopClasses: AcceptedSopClasses;
  /** Accepted transfer syntaxes for storage, most preferred first. */
  transferSyntaxes: readonly string[];
}

export interface RejectionFields {
  /** 1 rejected-permanent, 2 rejected-transient. */
  result: 1 | 2;
  /** 1 DICOM UL service-user, 2 service-provider (ACSE), 3 service-provider (presentation). */
  source: 1 | 2 | 3;
  reason: number;
  text: string;
}

/** PS3.8 9.3.4 (Table 9-21) A-ASSOCIATE-RJ fields for each rejection we send. */
export const REJECTION_FIELDS: Record<AssociationRejection, RejectionFields> = {
  // Service-user reason 7: called-AE-title-not-recognized.
  called_ae_not_recognized: { result: 1, source: 1, reason: 7, text: 'called AE title not recognized' },
  // Service-user reason 3: calling-AE-title-not-recognized.
  calling_ae_not_recognized: { result: 1, source: 1, reason: 3, text: 'calling AE title not recognized' },
  // A peer is its AE title together with its address, so a known AE title from another address is an
  // unrecognized calling AE title too. The log and the association log keep the finer reason.
  calling_address_not_allowed: { result: 1, source: 1, reason: 3, text: 'calling AE title not allowed from this address' },
  // Service-user reason 2: application-context-name-not-supported.
  application_context_not_supported: { result: 1, source: 1, reason: 2, text: 'application context name not supported' },
  // Presentation-related service-provider reason 2: local-limit-exceeded. Transient: retry later.
  association_limit_reached: { result: 2, source: 3, reason: 2, text: 'too many associations (local limit exceeded)' },
  // Presentation-related service-provider reason 1: temporary-congestion. Transient: retry later.
  storage_unavailable: { result: 2, source: 3, reason: 1, text: 'instance store above its disk-use watermark (temporary congestion)' },
};

/** The DICOM Application Context Name (PS3.7 A.2.1); the only one defined. */
export const DICOM_APPLICATION_CONTEXT_NAME = '1.2.840.10008.3.1.1.1';

/** Strips the IPv4-mapped IPv6 prefix that Node reports for IPv4 peers on dual-stack sockets. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

/**
 * Returns the rejection for an association request, or undefined when the peer may associate. AE titles
 * compare without their trailing space padding (PS3.8 9.3.2: AE titles are padded to 16 bytes). The
 * calling AE title and the source address must match the same configured peer.
 */
export function checkAssociation(
  policy: Pick<ListenerPolicy, 'aeTitle' | 'peers'>,
  request: { calledAeTitle: string; callingAeTitle: string; remoteAddress: string; applicationContextName?: string },
): AssociationRejection | undefined {
  if (request.applicationContextName !== undefined && request.applicationContextName !== DICOM_APPLICATION_CONTEXT_NAME) {
    return 'application_context_not_supported';
  }
  if (request.calledAeTitle.trim() !== policy.aeTitle.trim()) return 'called_ae_not_recognized';
  const calling = request.callingAeTitle.trim();
  const sameTitle = policy.peers.filter((peer) => peer.aeTitle.trim() === calling);
  if (sameTitle.length === 0) return 'calling_ae_not_recognized';
  return sameTitle.some((peer) => peer.host === request.remoteAddress) ? undefined : 'calling_address_not_allowed';
}

export type ContextDecision =
  | { accepted: true; transferSyntaxUid: string; role: SopClassRole | 'verification' }
  | { accepted: false; reason: 'abstract_syntax_not_supported' | 'transfer_syntaxes_not_supported' };

/** Picks the first transfer syntax in our preference order that the requester proposed. */
export function decidePresentationContext(
  policy: Pick<ListenerPolicy, 'sopClasses' | 'transferSyntaxes'>,
  abstractSyntaxUid: string,
  proposedTransferSyntaxes: readonly string[],
): ContextDecision {
  const role = abstractSyntaxUid === VERIFICATION_SOP_CLASS ? 'verification' : policy.sopClasses.get(abstractSyntaxUid);
  if (!role) return { accepted: false, reason: 'abstract_syntax_not_supported' };
  const preferred = role === 'verification' ? VERIFICATION_TRANSFER_SYNTAXES : policy.transferSyntaxes;
  const chosen = preferred.find((syntax) => proposedTransferSyntaxes.includes(syntax));
  return chosen ? { accepted: true, transferSyntaxUid: chosen, role } : { accepted: false, reason: 'transfer_syntaxes_not_supported' };
}
