/**
 * Rules: bad input always ends in a coded error or a correct result, never a crash, a hang or a
 * polluted prototype; "alias bombs and oversized files are refused"; keys `__proto__`,
 * `constructor`, `prototype` never pollute. Every file of test/corpus/ (see its generate.py and
 * manifest.json) is loaded through the public API; what loads is saved back and loaded again.
 */
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, ROOT, tempDir } from '../helpers/tmp.js';
import { walkFiles } from './lib.js';

const { ConfigPersistence } = (await import(DIST)) as typeof import('../../src/index.js');

const CORPUS = path.join(ROOT, 'test', 'corpus');
type Expectation = { code?: string; 'code-in'?: string[]; ok?: unknown; 'ok-or-code'?: string[] };
const manifest = JSON.parse(readFileSync(path.join(CORPUS, 'manifest.json'), 'utf8')) as Record<string, Expectation>;
const CODES = ['E_PARSE', 'E_VALIDATION', 'E_NOT_FOUND', 'E_INVALID_NAME', 'E_CONFLICT', 'E_LOCKED', 'E_CHECKSUM', 'E_TOO_LARGE', 'E_IO', 'E_CLOSED'];

const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();
afterEach(() => {
  // Nothing any case did may have reached Object.prototype.
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeys);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect((globalThis as Record<string, unknown>).pwned).toBeUndefined();
});

/** Checks for results too large or too special to spell out in the manifest. */
const NAMED: Record<string, (data: any) => void> = {
  'lone-surrogate': (d) => expect(d.a).toBe('\ud800'),
  'infinite-numbers': (d) => expect([d.a, d.b]).toEqual([Infinity, -Infinity]),
  'long-string': (d) => expect(d.a).toHaveLength(100_000),
  'long-line': (d) => expect(d.a).toHaveLength(100_000),
  'many-keys': (d) => expect(Object.keys(d)).toHaveLength(5000),
  'deep-200': (d) => {
    let depth = 0;
    for (let node = d; Array.isArray(node) && node.length > 0; node = node[0]) depth++;
    expect(depth).toBe(199);
  },
  'proto-own-key': (d) => {
    expect(Object.getPrototypeOf(d)).toBe(Object.prototype);
    expect(Object.hasOwn(d, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(d, '__proto__')!.value).toEqual({ polluted: true });
    expect(d.polluted).toBeUndefined();
  },
  'constructor-own-key': (d) => {
    expect(Object.hasOwn(d, 'constructor')).toBe(true);
    expect(d.constructor.prototype).toEqual({ polluted: true });
  },
  'nested-proto': (d) => {
    expect(Object.hasOwn(d.a, '__proto__')).toBe(true);
    expect(Object.hasOwn(d.b[0], '__proto__')).toBe(true);
    expect(d.a.polluted).toBeUndefined();
  },
};

/** Plain JSON-like data only: no functions, class instances or symbols slipped through a tag. */
function assertPlain(value: unknown, where = '$'): void {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return;
  if (Array.isArray(value)) return value.forEach((v, i) => assertPlain(v, `${where}[${i}]`));
  expect(typeof value, where).toBe('object');
  const proto = Object.getPrototypeOf(value);
  expect(proto === Object.prototype || proto === null, `${where} is a plain object`).toBe(true);
  for (const key of Object.getOwnPropertyNames(value)) assertPlain((value as Record<string, unknown>)[key], `${where}.${key}`);
}

describe('hostile input corpus', () => {
  const cases = Object.entries(manifest);

  it('has the corpus', () => {
    expect(cases.length).toBeGreaterThanOrEqual(75);
  });

  it.each(cases)('%s', async (file, expected) => {
    const root = await tempDir('cp-corpus-');
    const base = path.join(root, 'config');
    const cp = new ConfigPersistence({ baseDir: base, schemaDir: path.join(root, 'no-schemas') });
    const name = `case${path.extname(file)}`;
    await cp.saveConfig({ placeholder: true } as never, name); // creates the directory and a history
    copyFileSync(path.join(CORPUS, file), path.join(base, name));
    const outcome = await cp.loadConfig(name).then(
      (data) => ({ ok: true as const, data }),
      (err: unknown) => ({ ok: false as const, err: err as Error & { code?: string } }),
    );
    if (!outcome.ok) {
      expect(CODES, `${file}: ${outcome.err.stack}`).toContain(outcome.err.code);
      expect(outcome.err.message).toContain(name); // the message names the file
    }
    if (expected.code) expect(outcome.ok ? 'loaded' : outcome.err.code, file).toBe(expected.code);
    if (expected['code-in']) expect(expected['code-in'], file).toContain(outcome.ok ? 'loaded' : outcome.err.code);
    if (expected['ok-or-code'] && !outcome.ok) expect(expected['ok-or-code'], file).toContain(outcome.err.code);
    if ('ok' in expected) {
      expect(outcome.ok, outcome.ok ? '' : String(outcome.err)).toBe(true);
      if (typeof expected.ok === 'string') NAMED[expected.ok]!((outcome as { data: unknown }).data);
      else expect((outcome as { data: unknown }).data).toEqual(expected.ok);
    }
    if (outcome.ok) {
      assertPlain(outcome.data);
      // What loads can be saved back and loads again the same (JSON cannot hold ±Infinity: skip that one).
      if (file !== 'json/big-number.json' && outcome.data !== null) {
        await cp.saveConfig(outcome.data as never, name);
        expect(await cp.loadConfig(name)).toEqual(outcome.data);
      }
    } else {
      // A file that failed to load is never replaced behind the user's back.
      expect(readFileSync(path.join(base, name)).equals(readFileSync(path.join(CORPUS, file)))).toBe(true);
    }
    // Nothing was written outside the base directory.
    expect(walkFiles(root).every((f) => f.startsWith('config/'))).toBe(true);
    await cp.close();
  }, 30_000);

  it('a file over maxFileBytes is refused on load (E_TOO_LARGE) and a document over it on save, writing nothing', async () => {
    const root = await tempDir('cp-corpus-');
    const base = path.join(root, 'config');
    const cp = new ConfigPersistence({ baseDir: base, schemaDir: path.join(root, 'no-schemas') });
    await cp.saveConfig({ small: true } as never, 'huge.json');
    // 11 MiB of valid JSON: over the default limit of 10 MiB.
    writeFileSync(path.join(base, 'huge.json'), JSON.stringify({ blob: 'x'.repeat(11 * 1024 * 1024) }));
    await expect(cp.loadConfig('huge.json')).rejects.toMatchObject({ code: 'E_TOO_LARGE' });
    const before = readFileSync(path.join(base, 'huge.json'));
    await expect(cp.saveConfig({ blob: 'y'.repeat(11 * 1024 * 1024) } as never, 'huge.json')).rejects.toMatchObject({ code: 'E_TOO_LARGE' });
    expect(readFileSync(path.join(base, 'huge.json')).equals(before)).toBe(true);
    await cp.close();
    const tight = new ConfigPersistence({ baseDir: base, schemaDir: path.join(root, 'no-schemas'), maxFileBytes: 1024 });
    copyFileSync(path.join(CORPUS, 'json/long-string.json'), path.join(base, 'long.json'));
    await expect(tight.loadConfig('long.json')).rejects.toMatchObject({ code: 'E_TOO_LARGE' });
    await tight.close();
  }, 60_000);
});
