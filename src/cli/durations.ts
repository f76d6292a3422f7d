/**
 * Durations and counts typed on the command line: `--max-age 30d`, `--keep 5`.
 */
import { usageError } from './errors.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90s`, `15m`, `12h`, `30d`, `2w` → milliseconds. A unit is required: a bare number is ambiguous. */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
  if (!match) throw usageError(`${option} ${JSON.stringify(text)} is not a duration`, 'write it with a unit: 90s, 15m, 12h, 30d or 2w');
  return Math.round(Number(match[1]) * UNIT_MS[match[2]!]!);
}

/** A whole number ≥ `min` given for `what` (a version, a count). */
export function parseCount(text: string, what: string, min = 0): number {
  if (!/^\d+$/.test(text.trim())) throw usageError(`${what} must be a whole number, not ${JSON.stringify(text)}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) throw usageError(`${what} must be at least ${min}, not ${text}`);
  return n;
}
