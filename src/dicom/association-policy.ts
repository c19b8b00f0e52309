/**
 * Rules for the associations and presentation contexts the listener accepts, as pure functions so that
 * they can be tested without a network.
 */
import { SopClass, TransferSyntax } from './uids.ts';
import type { AssociationRejection } from './instance-sink.ts';

export interface ListenerPolicy {
  aeTitle: string;
  peers: { aeTitle: string; host: string }[];
}

/** PS3.8 9.3.4 A-ASSOCIATE-RJ fields for each rejection we send. */
export const REJECTION_FIELDS: Record<AssociationRejection, { result: number; source: number; reason: number; text: string }> = {
  // result 1 = rejected-permanent; source 1 = DICOM UL service-user; reason 7 = called-AE-title-not-recognized
  called_ae_not_recognized: { result: 1, source: 1, reason: 7, text: 'called AE title not recognized' },
  // reason 3 = calling-AE-title-not-recognized
  calling_ae_not_recognized: { result: 1, source: 1, reason: 3, text: 'calling AE title not recognized' },
};

/** Strips the IPv4-mapped IPv6 prefix that Node reports for IPv4 peers on dual-stack sockets. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

/**
 * Returns the rejection for an association request, or undefined to accept it. AE titles compare without
 * their trailing space padding (PS3.8 9.3.2: AE titles are padded to 16 bytes). The calling AE title and
 * the source address must match the same configured peer.
 */
export function checkAssociation(
  policy: ListenerPolicy,
  request: { calledAeTitle: string; callingAeTitle: string; remoteAddress: string },
): AssociationRejection | undefined {
  if (request.calledAeTitle.trim() !== policy.aeTitle.trim()) return 'called_ae_not_recognized';
  const calling = request.callingAeTitle.trim();
  const known = policy.peers.some((peer) => peer.aeTitle.trim() === calling && peer.host === request.remoteAddress);
  return known ? undefined : 'calling_ae_not_recognized';
}

/** Abstract syntaxes accepted, with the transfer syntaxes accepted for each in our order of preference. */
const ACCEPTED_CONTEXTS: ReadonlyMap<string, readonly string[]> = new Map([
  [SopClass.Verification, [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian]],
  [SopClass.CtImageStorage, [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian]],
]);

export type ContextDecision =
  | { accepted: true; transferSyntaxUid: string }
  | { accepted: false; reason: 'abstract_syntax_not_supported' | 'transfer_syntaxes_not_supported' };

/** Picks the first transfer syntax in our preference order that the requester proposed. */
export function decidePresentationContext(abstractSyntaxUid: string, proposedTransferSyntaxes: string[]): ContextDecision {
  const preferred = ACCEPTED_CONTEXTS.get(abstractSyntaxUid);
  if (!preferred) return { accepted: false, reason: 'abstract_syntax_not_supported' };
  const chosen = preferred.find((syntax) => proposedTransferSyntaxes.includes(syntax));
  return chosen ? { accepted: true, transferSyntaxUid: chosen } : { accepted: false, reason: 'transfer_syntaxes_not_supported' };
}
