/**
 * Fidelity over generated documents (issue #20): through the codecs, a save that changes one value
 * changes exactly one line, and removing or adding a key only removes or adds lines — for YAML with
 * aligned comments and JSON, compact or indented, with strings full of JSON syntax. The cases one by
 * one, through the library and the CLI: test/fidelity.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonCodec, yamlCodec } from '../src/codecs/index.js';
import { deletePath, setPath } from '../src/document/tree.js';

describe('property: changing one value changes one line', () => {
  const leaf = fc.oneof(fc.integer({ min: -999, max: 999 }), fc.stringMatching(/^[a-z][a-z ]{0,6}[a-z]$/), fc.boolean(), fc.constant(null));
  const { tree } = fc.letrec((tie) => ({
    tree: fc.dictionary(fc.stringMatching(/^[a-z]{1,6}$/), fc.oneof({ depthSize: 'small' }, leaf, leaf, tie('tree'), fc.array(leaf, { minLength: 1, maxLength: 3 })), { minKeys: 1, maxKeys: 5 }),
  }));

  function leaves(value: unknown, at: string[] = []): string[][] {
    if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, [...at, String(i)]));
    if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => leaves(v, [...at, k]));
    return [at];
  }

  it('YAML (with aligned comments) and JSON, through the codecs', () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.integer({ min: 1000, max: 9999 }), (data, pick, value) => {
        const paths = leaves(data);
        const target = paths[pick % paths.length]!;
        const next = setPath(data, target, value);
        const yamlText = yamlCodec
          .stringify(data)
          .split('\n')
          .map((l, i) => (l === '' || l.endsWith(':') ? l : `${l}${' '.repeat(1 + (i % 4))}# note ${i}`))
          .join('\n');
        for (const [codec, text] of [[yamlCodec, yamlText], [jsonCodec, JSON.stringify(data, null, 2)]] as const) {
          const out = codec.stringify(next, text);
          expect(codec.parse(out)).toEqual(next);
          const before = text.split('\n');
          const after = out.split('\n');
          expect(after.length, out).toBe(before.length);
          expect(after.filter((l, i) => l !== before[i]).length, `${text}\n→\n${out}`).toBe(1);
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** Whether `small`'s lines appear in `big` in order (lines were only removed from `big`). */
function isSubsequence(small: string[], big: string[]): boolean {
  let j = 0;
  for (const line of big) if (j < small.length && small[j] === line) j++;
  return j === small.length;
}

describe('property: removing or adding a key only removes or adds lines', () => {
  const leaf = fc.oneof(fc.integer({ min: -999, max: 999 }), fc.stringMatching(/^[a-z][a-z ]{0,6}[a-z]$/), fc.boolean());
  const { tree } = fc.letrec((tie) => ({
    tree: fc.dictionary(fc.stringMatching(/^[a-z]{1,6}$/), fc.oneof({ depthSize: 'small' }, leaf, tie('tree'), fc.array(leaf, { minLength: 1, maxLength: 3 })), { minKeys: 2, maxKeys: 5 }),
  }));

  it('YAML and JSON', () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.boolean(), (data, pick, remove) => {
        const keys = Object.keys(data);
        const next = remove ? deletePath(data, [keys[pick % keys.length]!]) : setPath(data, ['zzadded'], { x: [1, 2], y: 'new value' });
        const yamlText = yamlCodec.stringify(data).replace(/\n/g, '   # c\n');
        for (const [codec, text] of [[yamlCodec, yamlText], [jsonCodec, JSON.stringify(data, null, 2)]] as const) {
          const out = codec.stringify(next, text);
          expect(codec.parse(out)).toEqual(next);
          const [a, b] = remove ? [out, text] : [text, out];
          // JSON moves a comma when the last member goes or one is added: compare without them.
          const lines = (t: string) => (codec === jsonCodec ? t.replace(/,$/gm, '') : t).split('\n');
          expect(isSubsequence(lines(a), lines(b)), `${text}\n→\n${out}`).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('property: JSON values found past strings full of syntax', () => {
  const text = fc.string({ unit: fc.constantFrom('"', '\\', '{', '}', '[', ']', ':', ',', ' ', 'a', '\n', 'é') , maxLength: 8 });
  const leaf = fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null));
  const { tree } = fc.letrec((tie) => ({
    tree: fc.dictionary(text, fc.oneof({ depthSize: 'small' }, leaf, tie('tree'), fc.array(leaf, { minLength: 1, maxLength: 3 })), { minKeys: 1, maxKeys: 5 }),
  }));
  function leaves(value: unknown, at: string[] = []): string[][] {
    if (Array.isArray(value)) return value.flatMap((v, i) => leaves(v, [...at, String(i)]));
    if (value !== null && typeof value === 'object') return Object.keys(value).flatMap((k) => leaves((value as Record<string, unknown>)[k], [...at, k]));
    return [at];
  }
  it('one changed value changes one line, compact or indented', () => {
    fc.assert(
      fc.property(tree, fc.nat(), leaf, fc.boolean(), (data, pick, value, compact) => {
        const paths = leaves(data).filter((p) => p.every((s) => s !== '__proto__'));
        fc.pre(paths.length > 0);
        const next = setPath(data, paths[pick % paths.length]!, value);
        const before = compact ? JSON.stringify(data) : JSON.stringify(data, null, 2);
        const out = jsonCodec.stringify(next, before);
        expect(JSON.parse(out)).toEqual(next);
        const changed = out.split('\n').filter((l, i) => l !== before.split('\n')[i]).length;
        expect(changed, `${before}\n→\n${out}`).toBeLessThanOrEqual(1);
      }),
      { numRuns: 500 },
    );
  });
});
