/** Parsing of the --since and --until options: a duration back from now, or an ISO 8601 date and time. */

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Returns the moment `value` names. `90s`, `30m`, `24h`, `7d` and `2w` count back from `now`. Any other
 * value must be a date or date and time that Date.parse accepts (2026-12-01, 2026-12-01T08:00:00Z),
 * else it throws an error that names the option.
 */
export function parseTimeOption(value: string, option: string, now: Date = new Date()): Date {
  const duration = /^(\d+)([smhdw])$/.exec(value.trim());
  if (duration) return new Date(now.getTime() - Number(duration[1]) * UNIT_MS[duration[2]!]!);

  const parsed = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(parsed)) {
    throw new Error(`${option} must be a duration such as 30m, 24h or 7d, or an ISO 8601 date such as 2026-12-01T08:00:00Z; got "${value}"`);
  }
  return new Date(parsed);
}
