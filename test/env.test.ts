/**
 * Environment values: the quick reading of plain scalars (integers, fractions, booleans, nulls,
 * words) gives exactly what `yaml` gives, so skipping `yaml` at startup changes no value.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseEnvValue } from '../src/index.js';

/** The reading before the quick path: every value through `yaml` (core schema). */
function viaYaml(raw: string): unknown {
  if (raw.trim() === '') return raw;
  let value: unknown;
  try {
    value = parseYaml(raw, { schema: 'core', strict: true, uniqueKeys: true, maxAliasCount: 0, logLevel: 'error' });
  } catch {
    return raw;
  }
  if (value !== null && typeof value === 'object') return /^\s*[[{]/.test(raw) ? value : raw;
  return value;
}

describe('parseEnvValue', () => {
  it('reads the common shapes like yaml does', () => {
    const samples = ['9000', '0', '-0', '-17', '007', '+5', '1.5', '-0.25', '10.0', '1e3', '0x1F', '0o17', '.5', '5.', '.inf', '.NaN',
      'true', 'True', 'TRUE', 'tRue', 'false', 'FALSE', 'yes', 'no', 'on', 'off', 'null', 'Null', 'NULL', '~', 'nULL',
      'info', 'db.internal', 'a/b', 'postgres://db:5432/x', 'a: b', 'a #b', '"9000"', "'x'", '[1, 2]', '{a: 1}', ' 42', '42 ',
      '123456789012345', '1234567890123456', '99999999999999999999', '1.123456789012345', 'x-', 'A_B', '-', '-a', '*a', '&a', '!x', '%x', '@x', '`x'];
    for (const raw of samples) expect([raw, parseEnvValue(raw)]).toEqual([raw, viaYaml(raw)]);
  });

  it('agrees with yaml on generated values', () => {
    const alphabet = 'aZtTrRuUeEfFlLsSnN019.-+_/~:# \'"[]{}xX';
    const value = fc.array(fc.constantFrom(...alphabet.split('')), { maxLength: 12 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.oneof(value, fc.integer().map(String), fc.double().map(String), fc.string()), (raw) => {
        const got = parseEnvValue(raw);
        const want = viaYaml(raw);
        expect(Object.is(got, want) || JSON.stringify(got) === JSON.stringify(want)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});
