/**
 * The presentation-context part of accepting an association: each proposed context gets its result from
 * the listener policy, and the negotiated parameters that dcmjs-dimse would otherwise get wrong are set
 * on the association before the A-ASSOCIATE-AC is written.
 */
import dcmjsDimse from 'dcmjs-dimse';

import { decidePresentationContext, type ListenerPolicy } from './association-policy.ts';
import type { SopClassRole } from './conformance.ts';

const { constants } = dcmjsDimse;
type Association = InstanceType<typeof dcmjsDimse.association.Association>;

export interface AcceptedContext {
  abstractSyntaxUid: string;
  transferSyntaxUid: string;
  role: SopClassRole | 'verification';
}

/** Sets the result of every proposed context and returns the accepted ones by presentation context ID. */
export function acceptPresentationContexts(association: Association, policy: ListenerPolicy): Map<number, AcceptedContext> {
  const accepted = new Map<number, AcceptedContext>();
  for (const proposed of association.getPresentationContexts()) {
    const context = association.getPresentationContext(proposed.id);
    const decision = decidePresentationContext(policy, context.getAbstractSyntaxUid(), context.getTransferSyntaxUids());
    if (decision.accepted) {
      context.setResult(constants.PresentationContextResult.Accept, decision.transferSyntaxUid);
      accepted.set(proposed.id, { abstractSyntaxUid: context.getAbstractSyntaxUid(), transferSyntaxUid: decision.transferSyntaxUid, role: decision.role });
    } else if (decision.reason === 'abstract_syntax_not_supported') {
      context.setResult(constants.PresentationContextResult.RejectAbstractSyntaxNotSupported);
    } else {
      context.setResult(constants.PresentationContextResult.RejectTransferSyntaxesNotSupported);
    }
    // SCP/SCU role selection (PS3.7 D.3.3.4): we are never the SCP of a C-STORE we would send.
    if (context.getProviderRole()) context.setProviderRole(false);
  }
  // dcmjs-dimse announces min(requestor's, our) maximum PDU length, but the A-ASSOCIATE-AC item is the
  // acceptor's own receive limit (PS3.8 D.1). Announcing ours spares DCMTK senders (16 KiB by default)
  // 30 PDUs per CT slice. Asynchronous operations are not offered: one C-STORE at a time.
  association.setMaxPduLength(dcmjsDimse.Implementation.getMaxPduLength());
  association.setNegotiateAsyncOps(false);
  return accepted;
}
