/**
 * HL7 v2 timestamps (DTM). The service writes every time in UTC with an explicit `+0000` offset, so a
 * receiver never has to guess the time zone of the gateway host.
 */

/** Formats `date` as an HL7 DTM `YYYYMMDDHHMMSS+0000`. Fractions of a second are truncated, not rounded. */
export function formatHl7DateTime(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new RangeError('HL7 timestamp: the Date is invalid');

  const twoDigits = (value: number): string => String(value).padStart(2, '0');
  return (
    String(date.getUTCFullYear()).padStart(4, '0') +
    twoDigits(date.getUTCMonth() + 1) +
    twoDigits(date.getUTCDate()) +
    twoDigits(date.getUTCHours()) +
    twoDigits(date.getUTCMinutes()) +
    twoDigits(date.getUTCSeconds()) +
    '+0000'
  );
}
