/**
 * Environment values (SPEC, Configuration): typed only where that is unambiguous — a JSON number
 * within a double's precision, `true`/`false`, `null`, a JSON array or object — and otherwise the
 * exact string given, so nothing a shell passes is cut at a `#`, read as an anchor or a block
 * indicator, or rounded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseEnvValue } from '../src/index.js';
import { schemaDeclaresString } from '../src/schema/paths.js';

describe('parseEnvValue', () => {
  it('types numbers, booleans, null and JSON collections', () => {
    const typed: Array<[string, unknown]> = [
      ['9000', 9000], ['0', 0], ['-17', -17], ['1.5', 1.5], ['-0.25', -0.25], ['10.0', 10], ['1e3', 1000], ['2E-2', 0.02],
      ['123456789012345', 123456789012345], ['9007199254740991', 9007199254740991],
      ['true', true], ['false', false], ['null', null],
      ['["a",2,true]', ['a', 2, true]], ['{"x":1,"y":{"z":null}}', { x: 1, y: { z: null } }], ['[]', []], ['{}', {}],
    ];
    for (const [raw, value] of typed) expect([raw, parseEnvValue(raw)]).toEqual([raw, value]);
    expect(Object.is(parseEnvValue('-0'), -0)).toBe(true);
  });

  it('keeps everything else as the exact string (the cases YAML parsing lost)', () => {
    const exact = [
      'p@ss #1', 'a # b', '.inf', '-.inf', '.nan', '|', '>', '&a x', '*a', '!x', '%x', '@x', '`x', '~', '',
      'True', 'TRUE', 'False', 'Null', 'NULL', 'yes', 'no', 'on', 'off',
      '007', '+5', '.5', '5.', '0x1F', '0o17', '1_000', ' 42', '42 ', '1e400', '9007199254740993', '99999999999999999999',
      '"9000"', "'x'", '[a, b]', '{a: 1}', '[1, 2', 'a: b', '- x', 'postgres://db:5432/x', 'line\nbreak', '---',
    ];
    for (const raw of exact) expect([raw, parseEnvValue(raw)]).toEqual([raw, raw]);
  });

  it('a JSON object value keeps "__proto__" as plain data', () => {
    const value = parseEnvValue('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('on generated text: a typed value is exactly what JSON.parse reads, anything else is the text', () => {
    const alphabet = 'aZtTrRuUeEfFlLsSnN019.-+_/~:# \'"[]{}xX|&*!%@,';
    const text = fc.array(fc.constantFrom(...alphabet.split('')), { maxLength: 12 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.oneof(text, fc.integer().map(String), fc.double().map(String), fc.string()), (raw) => {
        const got = parseEnvValue(raw);
        if (typeof got === 'string') {
          expect(got).toBe(raw);
          return;
        }
        // Typed: the text is JSON, and reading it as JSON loses nothing a string would have kept.
        expect(got).toEqual(JSON.parse(raw));
        if (typeof got === 'number' && !/[.eE]/.test(raw)) expect(Number.isSafeInteger(got)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('schemaDeclaresString', () => {
  const schema = {
    type: 'object',
    $defs: { secret: { type: 'string' } },
    properties: {
      db: { type: 'object', properties: { password: { $ref: '#/$defs/secret' }, port: { type: 'integer' } } },
      tags: { type: 'array', items: { type: 'string' } },
      mode: { enum: ['a', 'b'] },
      either: { type: ['string', 'number'] },
      extra: { type: 'object', additionalProperties: { type: 'string' } },
      both: { allOf: [{ properties: { name: { type: 'string' } } }] },
    },
  };
  it('follows properties, $ref, items, additionalProperties and allOf', () => {
    expect(schemaDeclaresString(schema, ['db', 'password'])).toBe(true);
    expect(schemaDeclaresString(schema, ['db', 'port'])).toBe(false);
    expect(schemaDeclaresString(schema, ['tags', '0'])).toBe(true);
    expect(schemaDeclaresString(schema, ['mode'])).toBe(true);
    expect(schemaDeclaresString(schema, ['either'])).toBe(false);
    expect(schemaDeclaresString(schema, ['extra', 'anything'])).toBe(true);
    expect(schemaDeclaresString(schema, ['both', 'name'])).toBe(true);
    expect(schemaDeclaresString(schema, ['nope'])).toBe(false);
    expect(schemaDeclaresString(undefined, ['db'])).toBe(false);
  });
  it('a $ref cycle ends', () => {
    expect(schemaDeclaresString({ $defs: { a: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' }, ['x'])).toBe(false);
  });
});
