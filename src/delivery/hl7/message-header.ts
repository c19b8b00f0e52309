/**
 * Rewrites the MSH of a stored message for an explicit resend. A resend that an administrator requests
 * is a new message. It gets a new MSH-10, so the receiver does not drop it as a duplicate of the first
 * one, and MSH-7 becomes the time of the resend.
 */
import { OruR01InputError } from './errors.ts';
import { formatHl7DateTime } from './hl7-datetime.ts';
import { isValidMessageControlId } from './oru-r01-input.ts';

/** Returns `message` with MSH-7 set to `createdAt` and MSH-10 set to `messageControlId`. */
export function renewMessageHeader(message: string, messageControlId: string, createdAt: Date): string {
  if (!isValidMessageControlId(messageControlId)) throw new OruR01InputError(`MSH-10 "${messageControlId}" is invalid`);
  const end = message.indexOf('\r');
  const msh = end === -1 ? message : message.slice(0, end);
  if (!msh.startsWith('MSH') || msh.length < 8) throw new OruR01InputError('the stored message does not start with MSH');

  // Split on MSH-1: element 0 is "MSH", element n is field n + 1, so MSH-7 is element 6 and MSH-10 element 9.
  const fields = msh.split(msh.charAt(3));
  while (fields.length < 10) fields.push('');
  fields[6] = formatHl7DateTime(createdAt);
  fields[9] = messageControlId;
  return fields.join(msh.charAt(3)) + (end === -1 ? '' : message.slice(end));
}
