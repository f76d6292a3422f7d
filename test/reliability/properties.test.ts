/**
 * Property-based tests (fast-check): the codecs round-trip any JSON-like document (also when
 * editing an existing text), the merge rules obey their laws, a diff applied to its source gives
 * its target, and no accepted name ever resolves outside the base directory.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DIST, tempDir } from '../helpers/tmp.js';
import { walkFiles } from './lib.js';

const lib = (await import(DIST)) as typeof import('../../src/index.js');
const { jsonCodec, yamlCodec, mergeDocuments, diffDocuments, setPath, deletePath, ConfigPersistence } = lib;

/** Runs per property; the stress suite raises it with CP_PROPERTY_RUNS. */
const RUNS = Number(process.env.CP_PROPERTY_RUNS ?? 150);

/** JSON values as they come back from a JSON text (no -0, which JSON cannot tell from 0). */
const jsonValue = fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
/** Keys that are safe in a dot path: non-empty, no dot. Includes prototype names on purpose. */
const key = fc.oneof(
  fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !k.includes('.')),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'yes', 'null', '0x10', '1e3', '~', '-', '#', 'a: b'),
);
/** Nested plain documents with such keys. */
const doc: fc.Arbitrary<Record<string, unknown>> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 12 }),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n)),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.constant(null)), { maxLength: 4 }),
    tie('object'),
  ),
  object: fc.dictionary(key, tie('value'), { maxKeys: 5 }).map((o) => JSON.parse(JSON.stringify(o)) as Record<string, unknown>),
})).object as fc.Arbitrary<Record<string, unknown>>;

/** A document with own `__proto__` keys built safely (JSON.parse makes them own data). */
function fromJson<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

const opts = { numRuns: RUNS };

describe('codec round trips', () => {
  it('JSON: parse(stringify(x)) = x', () => {
    fc.assert(
      fc.property(jsonValue, (x) => {
        expect(jsonCodec.parse(jsonCodec.stringify(x))).toEqual(x);
      }),
      opts,
    );
  });

  it('JSON: editing an existing text gives the new data and keeps its indentation', () => {
    fc.assert(
      fc.property(doc, doc, fc.constantFrom(2, 4, '\t'), (before, after, indent) => {
        const previous = `${JSON.stringify(before, null, indent)}\n`;
        const text = jsonCodec.stringify(after, previous);
        expect(jsonCodec.parse(text)).toEqual(after);
        const firstIndented = /\n([ \t]+)"/.exec(text)?.[1];
        if (firstIndented !== undefined && /\n[ \t]+"/.test(previous)) expect(firstIndented).toBe(typeof indent === 'number' ? ' '.repeat(indent) : indent);
      }),
      opts,
    );
  });

  it('YAML: parse(stringify(x)) = x, strings that look like other types included', () => {
    fc.assert(
      fc.property(fc.oneof(jsonValue, doc), (x) => {
        expect(yamlCodec.parse(yamlCodec.stringify(x))).toEqual(x);
      }),
      opts,
    );
  });

  it('YAML: editing an existing text gives the new data and keeps the header comment of the file', () => {
    fc.assert(
      fc.property(doc, doc, (before, after) => {
        const previous = `# written by a human\n\n${yamlCodec.stringify(before)}`;
        const text = yamlCodec.stringify(after, previous);
        expect(yamlCodec.parse(text)).toEqual(after);
        if (Object.keys(before).length > 0 && Object.keys(after).length > 0) expect(text.startsWith('# written by a human\n')).toBe(true);
      }),
      opts,
    );
  });

  it("YAML: a comment on a key survives any edit that keeps the key", () => {
    fc.assert(
      fc.property(doc, doc, fc.integer(), (before, after, v) => {
        fc.pre(!Object.hasOwn(before, 'kept'));
        const previous = yamlCodec.stringify({ kept: 1, ...fromJson(before) }).replace(/^kept: 1$/m, 'kept: 1 # keep me');
        const next = { ...fromJson(after), kept: v };
        const text = yamlCodec.stringify(next, previous);
        expect(yamlCodec.parse(text)).toEqual(next);
        expect(text).toContain('# keep me');
      }),
      opts,
    );
  });

  it('YAML: the fast parser and the full parser agree (fast path vs. a text that forces the full one)', () => {
    fc.assert(
      fc.property(doc, (x) => {
        const text = yamlCodec.stringify(x);
        // An anchor on an unused key makes the codec take the full parser for the same data.
        const forced = `${text}zz_anchor_probe: &probe 1\n`;
        const viaFull = yamlCodec.parse(Object.keys(x).length ? forced : text) as Record<string, unknown>;
        if (Object.keys(x).length) delete viaFull.zz_anchor_probe;
        expect(viaFull).toEqual(yamlCodec.parse(text));
      }),
      opts,
    );
  });
});

describe('merge laws (objects merge deeply; arrays and scalars replace; null is a value)', () => {
  it('identity: merging with {} changes nothing', () => {
    fc.assert(
      fc.property(doc, (a) => {
        expect(mergeDocuments({}, a)).toEqual(a);
        expect(mergeDocuments(a, {})).toEqual(a);
        expect(mergeDocuments(a)).toEqual(a);
      }),
      opts,
    );
  });

  it('associativity: (a ← b) ← c = a ← (b ← c), unless b replaces an object that c extends', () => {
    fc.assert(
      fc.property(doc, doc, doc, (a, b, c) => {
        fc.pre(!shadowsObject(a, b, c));
        const left = mergeDocuments(mergeDocuments(a, b), c);
        expect(mergeDocuments(a, mergeDocuments(b, c))).toEqual(left);
        expect(mergeDocuments(a, b, c)).toEqual(left);
      }),
      opts,
    );
  });

  it('the higher layer wins for scalars, arrays and null; lower keys survive; inputs are untouched', () => {
    fc.assert(
      fc.property(doc, doc, (a, b) => {
        const [ca, cb] = [fromJson(a), fromJson(b)];
        const m = mergeDocuments(a, b) as Record<string, unknown>;
        expect(a).toEqual(ca);
        expect(b).toEqual(cb);
        for (const k of Object.keys(b)) {
          const v = b[k];
          const isObject = v !== null && typeof v === 'object' && !Array.isArray(v);
          if (!isObject) expect(m[k]).toEqual(v); // null, arrays and scalars replace
        }
        for (const k of Object.keys(a)) if (!Object.hasOwn(b, k)) expect(m[k]).toEqual(a[k]);
      }),
      opts,
    );
  });

  it('layers apply left to right: a value that replaced an object is not merged back (why associativity has its exception)', () => {
    // Found by the associativity property: b replaces a's object with a scalar, c sets an object.
    const a = { k: { x: null } };
    const b = { k: '' };
    const c = { k: {} };
    expect(mergeDocuments(a, b, c)).toEqual({ k: {} });
    expect(mergeDocuments(mergeDocuments(a, b), c)).toEqual({ k: {} });
    expect(mergeDocuments(a, mergeDocuments(b, c))).toEqual({ k: { x: null } });
  });

  it('arrays replace, never concatenate; null replaces an object', () => {
    expect(mergeDocuments({ k: [1, 2, 3] }, { k: [4] })).toEqual({ k: [4] });
    expect(mergeDocuments({ k: { deep: 1 } }, { k: null })).toEqual({ k: null });
    expect(mergeDocuments({ k: null }, { k: { deep: 1 } })).toEqual({ k: { deep: 1 } });
  });
});

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Whether b, at some path, replaces an object of a with a non-object while c has an object there. */
function shadowsObject(a: unknown, b: unknown, c: unknown): boolean {
  if (!isObject(b)) return isObject(a) && isObject(c);
  if (!isObject(a) || !isObject(c)) return false;
  return Object.keys(b).some((k) => Object.hasOwn(a, k) && Object.hasOwn(c, k) && shadowsObject(a[k], b[k], c[k]));
}

/** Applies diffDocuments' changes to `a` with the library's own path helpers (segment arrays). */
function applyChanges(a: unknown, changes: ReturnType<typeof diffDocuments>): unknown {
  let out = a;
  for (const c of changes) {
    const segments = c.path === '' ? [] : c.path.split('.');
    if (c.type === 'removed') out = segments.length === 0 ? undefined : deletePath(out, segments);
    else out = setPath(out, segments, c.newValue);
  }
  return out;
}

describe('diff and apply', () => {
  it('applying diffDocuments(a, b) to a yields b', () => {
    fc.assert(
      fc.property(doc, doc, (a, b) => {
        const changes = diffDocuments(a, b);
        expect(applyChanges(a, changes)).toEqual(b);
        expect(diffDocuments(b, b)).toEqual([]);
      }),
      opts,
    );
  });

  it('the diff of a one-key change is exactly that path', () => {
    fc.assert(
      fc.property(doc, key, fc.integer(), (a, k, v) => {
        fc.pre(!Object.hasOwn(a, k) || a[k] !== v);
        const b = setPath(a, [k], v) as Record<string, unknown>;
        const changes = diffDocuments(a, b);
        expect(changes.map((c) => c.path)).toEqual([k]);
      }),
      opts,
    );
  });
});

describe('name validation', () => {
  const piece = fc.constantFrom('a', 'b', '.', '..', '/', '\\', '\0', '~', ' ', 'é', 'C:', '%2e', 'profiles', 'backups', 'current', '.json', '.yaml', 'x'.repeat(40), '\n', '*');
  const name = fc.oneof(fc.array(piece, { minLength: 0, maxLength: 6 }).map((p) => p.join('')), fc.string({ maxLength: 20 }));

  it('no accepted file or profile name ever leads outside the base directory; refusals are E_INVALID_NAME', async () => {
    const root = await tempDir('cp-prop-names-');
    const base = path.join(root, 'sandbox', 'config');
    mkdirSync(base, { recursive: true });
    const cp = new ConfigPersistence({ baseDir: base, schemaDir: path.join(root, 'no-schemas'), durable: false, backupOnWrite: false });
    let accepted = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(name, async (n) => {
        for (const attempt of [() => cp.saveConfig({ n }, n), () => cp.saveProfile(n, { n })]) {
          try {
            await attempt();
            accepted++;
          } catch (err) {
            const code = (err as { code?: string }).code;
            // A name the validator lets through may still be no config file (E_NOT_FOUND never occurs on save).
            expect(code, `${JSON.stringify(n)}: ${String(err)}`).toBe('E_INVALID_NAME');
            refused++;
          }
        }
        expect(readdirSync(root)).toEqual(['sandbox']);
        expect(readdirSync(path.join(root, 'sandbox'))).toEqual(['config']);
      }),
      { numRuns: Math.min(RUNS, 300) },
    );
    console.log(`name property: ${accepted} accepted, ${refused} refused`);
    expect(walkFiles(root).every((f) => f.startsWith('sandbox/config/'))).toBe(true);
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    await cp.close();
  }, 120_000);
});
