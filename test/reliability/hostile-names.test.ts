/**
 * Rules: "names (profiles, files, backup ids) can never reach outside the base directory: no
 * separators, `..`, absolute paths, NUL, or symlinks that escape. Bad names get E_INVALID_NAME" and
 * "keys __proto__, constructor, prototype in documents or dot paths never pollute any prototype".
 * Every public method that takes a name is called with every hostile name; symlinks that escape
 * (file and directory links) are planted in each place the library writes to.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIST, tempDir } from '../helpers/tmp.js';
import { walkFiles } from './lib.js';

const lib = (await import(DIST)) as typeof import('../../src/index.js');
const { ConfigPersistence, Configuration, getPath, setPath, deletePath, hasPath, mergeDocuments } = lib;

/** Names that are unsafe wherever a name is taken. */
export const UNSAFE_NAMES = [
  '../x',
  '../../etc/passwd',
  '/etc/passwd',
  '/tmp',
  'a\0b',
  '\0',
  '..',
  '.',
  '',
  'a/b',
  'a\\b',
  '..\\..\\x',
  'x'.repeat(300),
  'é'.repeat(150), // 300 bytes: over NAME_MAX
  '.hidden',
  '..json',
  'a/../../b',
  'profiles/../../x',
  ' lead',
  'trail ',
  'C:evil',
  'bell\u0007',
  'x.', // would become x..json, which no later call accepts
  'new\nline',
];

const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();
afterEach(() => {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeys);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

function hashTree(dir: string): Map<string, string> {
  return new Map(walkFiles(dir).map((f) => [f, createHash('sha256').update(readFileSync(path.join(dir, f))).digest('hex')]));
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'resolved';
  } catch (err) {
    return (err as { code?: string }).code ?? `uncoded ${String(err)}`;
  }
}

describe('hostile names', () => {
  it('every method that takes a name refuses every unsafe name with E_INVALID_NAME and writes nothing outside', async () => {
    const root = await tempDir('cp-names-');
    const base = path.join(root, 'config');
    const sentinel = path.join(root, 'outside.json');
    writeFileSync(sentinel, '{"outside":true}');
    const cp = new ConfigPersistence({ baseDir: base, schemaDir: path.join(root, 'no-schemas') });
    await cp.saveConfig({ a: 1 }, 'current.json');
    await cp.saveProfile('dev', { a: 2 });
    const passwd = createHash('sha256').update(readFileSync('/etc/passwd')).digest('hex');
    const calls: Array<[string, (name: string) => Promise<unknown>]> = [
      ['saveConfig', (n) => cp.saveConfig({ evil: true }, n)],
      ['loadConfig', (n) => cp.loadConfig(n)],
      ['deleteConfig', (n) => cp.deleteConfig(n)],
      ['update', (n) => cp.update(n, () => ({ evil: true }))],
      ['createBackup', (n) => cp.createBackup(n)],
      ['listBackups', (n) => cp.listBackups(n)],
      ['restoreBackup', (n) => cp.restoreBackup(n)],
      ['deleteBackup', (n) => cp.deleteBackup(n)],
      ['history', (n) => cp.history(n)],
      ['getVersion', (n) => cp.getVersion(n, 1)],
      ['rollback', (n) => cp.rollback(n, 1)],
      ['saveProfile', (n) => cp.saveProfile(n, { evil: true })],
      ['loadProfile', (n) => cp.loadProfile(n)],
      ['deleteProfile', (n) => cp.deleteProfile(n)],
      ['profileExists', (n) => cp.profileExists(n)],
      ['copyProfile from', (n) => cp.copyProfile(n, 'copy')],
      ['copyProfile to', (n) => cp.copyProfile('dev', n)],
      ['renameProfile to', (n) => cp.renameProfile('dev', n)],
      ['setActiveProfile', (n) => cp.setActiveProfile(n)],
    ];
    let checked = 0;
    for (const name of UNSAFE_NAMES) {
      for (const [method, call] of calls) {
        const code = await codeOf(() => call(name));
        expect(code, `${method}(${JSON.stringify(name)})`).toBe('E_INVALID_NAME');
        checked++;
      }
    }
    console.log(`hostile names: ${checked} calls refused`);
    expect(walkFiles(root).filter((f) => !f.startsWith('config/'))).toEqual(['outside.json']);
    expect(readFileSync(sentinel, 'utf8')).toBe('{"outside":true}');
    expect(createHash('sha256').update(readFileSync('/etc/passwd')).digest('hex')).toBe(passwd);
    // The store is untouched and still works.
    expect(await cp.loadConfig('current.json')).toEqual({ a: 1 });
    expect((await cp.loadProfile('dev')).data).toEqual({ a: 2 });
    await cp.close();
  }, 60_000);

  it('reserved top-level names cannot be used as config files', async () => {
    const root = await tempDir('cp-names-');
    const cp = new ConfigPersistence({ baseDir: path.join(root, 'config'), schemaDir: path.join(root, 'no-schemas') });
    for (const name of ['backups', 'history', 'quarantine', 'profiles', 'audit.log']) {
      expect(await codeOf(cp.saveConfig({ x: 1 }, name)), name).toBe('E_INVALID_NAME');
    }
    await cp.close();
  });

  it('names that flatten alike (profiles/dev, profiles__dev, profiles~dev) share no lock: multi-file operations never wait for themselves', async () => {
    const root = await tempDir('cp-names-');
    const cp = new ConfigPersistence({ baseDir: path.join(root, 'config'), schemaDir: path.join(root, 'no-schemas'), lockTimeoutMs: 2_000 });
    try {
      for (const [i, name] of ['profiles/dev.json', 'profiles__dev.json', 'profiles~dev.json'].entries()) await cp.saveConfig({ i }, name);
      const { id } = await cp.createSnapshot({ label: 'alike' });
      expect((await cp.repair()).actions).toEqual([]);
      const bundle = await cp.exportBundle();
      await cp.importBundle(bundle, { onConflict: 'overwrite' });
      await cp.saveConfig({ i: 9 }, 'profiles__dev.json');
      await cp.restoreBackup(id);
      expect(await cp.loadConfig('profiles__dev.json')).toEqual({ i: 1 });
      expect(await cp.loadConfig('profiles/dev.json')).toEqual({ i: 0 });
    } finally {
      await cp.close();
    }
  }, 60_000);
});

describe('symbolic links that escape the base directory', () => {
  async function setup() {
    const root = await tempDir('cp-links-');
    const base = path.join(root, 'config');
    const outside = path.join(root, 'outside');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'secret.json'), '{"secret":true}');
    const cp = new ConfigPersistence({ baseDir: base, schemaDir: path.join(root, 'no-schemas') });
    await cp.saveConfig({ a: 1 }, 'current.json');
    return { root, base, outside, cp };
  }

  it('a file link: load, save, delete, backup and update refuse it; the outside file is untouched', async () => {
    const { base, outside, cp } = await setup();
    symlinkSync(path.join(outside, 'secret.json'), path.join(base, 'escape.json'));
    const before = hashTree(outside);
    for (const [what, call] of [
      ['load', () => cp.loadConfig('escape.json')],
      ['save', () => cp.saveConfig({ evil: true }, 'escape.json')],
      ['delete', () => cp.deleteConfig('escape.json')],
      ['backup', () => cp.createBackup('escape.json')],
      ['update', () => cp.update('escape.json', () => ({ evil: true }))],
    ] as const) {
      expect(await codeOf(call), what).toBe('E_INVALID_NAME');
    }
    expect(hashTree(outside)).toEqual(before);
    await cp.close();
  });

  it('directory links in place of profiles/, backups/ and history/: nothing is written through them', async () => {
    for (const dirName of ['profiles', 'backups', 'history']) {
      const { base, outside, cp } = await setup();
      const target = path.join(outside, dirName);
      mkdirSync(target);
      writeFileSync(path.join(target, 'dev.json'), '{"planted":true}');
      const fs = await import('node:fs');
      fs.rmSync(path.join(base, dirName), { recursive: true, force: true });
      symlinkSync(target, path.join(base, dirName));
      const before = hashTree(outside);
      // Which operations go through which directory: those must be refused.
      const attempts: Array<[string, () => Promise<unknown>, string[]]> = [
        ['saveProfile', () => cp.saveProfile('dev', { evil: true }), ['profiles', 'history']],
        ['loadProfile', () => cp.loadProfile('dev'), ['profiles']],
        ['saveConfig', () => cp.saveConfig({ a: 2 }, 'current.json'), ['backups', 'history']],
        ['createBackup', () => cp.createBackup('current.json'), ['backups']],
      ];
      for (const [what, attempt, through] of attempts) {
        const code = await codeOf(attempt);
        if (through.includes(dirName)) expect(code, `${what} with ${dirName}/ linked outside`).toBe('E_INVALID_NAME');
        else expect(['E_INVALID_NAME', 'E_NOT_FOUND', 'resolved'], `${what} with ${dirName}/ linked outside: ${code}`).toContain(code);
      }
      expect(hashTree(outside), `${dirName}: nothing outside changed`).toEqual(before);
      await cp.close();
    }
  });

  for (const file of ['audit.log', '.locks']) {
    it(`${file} linked outside: a save is refused before anything changes, nothing is written outside`, async () => {
      const { base, outside, cp } = await setup();
      const fs = await import('node:fs');
      const target = path.join(outside, file === '.locks' ? 'locks' : 'audit.log');
      if (file === '.locks') fs.mkdirSync(target);
      else writeFileSync(target, '');
      fs.rmSync(path.join(base, file), { recursive: true, force: true });
      symlinkSync(target, path.join(base, file));
      const fresh = new ConfigPersistence({ baseDir: base, schemaDir: path.join(base, 'no-schemas') });
      const before = hashTree(outside);
      const current = readFileSync(path.join(base, 'current.json'), 'utf8');
      const versions = (await fresh.history('current.json')).length;
      for (const attempt of [() => fresh.saveConfig({ a: 2 }, 'current.json'), () => fresh.update('current.json', () => ({ a: 3 }))]) {
        expect(await codeOf(attempt)).toBe('E_INVALID_NAME');
      }
      // Nothing happened that a retry would repeat: same content, no new version, nothing outside.
      expect(readFileSync(path.join(base, 'current.json'), 'utf8')).toBe(current);
      expect((await fresh.history('current.json')).length).toBe(versions);
      expect(hashTree(outside)).toEqual(before);
      await fresh.close();
      await cp.close();
    });
  }

  it('a link that stays inside the base directory is followed', async () => {
    const { base, cp } = await setup();
    writeFileSync(path.join(base, 'real.json'), '{"real":true}');
    symlinkSync(path.join(base, 'real.json'), path.join(base, 'alias.json'));
    expect(await cp.loadConfig('alias.json')).toEqual({ real: true });
    await cp.close();
  });
});

describe('prototype keys in dot paths and documents', () => {
  const PATHS = ['__proto__.polluted', 'constructor.prototype.polluted', 'a.__proto__.polluted', 'prototype.polluted', 'a.constructor.prototype.polluted'];

  it('dot-path helpers refuse prototype keys with E_INVALID_NAME', async () => {
    for (const p of PATHS) {
      expect(await codeOf(() => getPath({ a: {} }, p)), p).toBe('E_INVALID_NAME');
      expect(await codeOf(() => setPath({ a: {} }, p, true)), p).toBe('E_INVALID_NAME');
      expect(await codeOf(() => deletePath({ a: {} }, p)), p).toBe('E_INVALID_NAME');
      expect(await codeOf(() => hasPath({ a: {} }, p)), p).toBe('E_INVALID_NAME');
    }
  });

  it('segment arrays (no parsing) still only create own data properties', () => {
    const doc = setPath({}, ['__proto__', 'polluted'], true) as Record<string, unknown>;
    expect(Object.hasOwn(doc, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(doc)).toBe(Object.prototype);
    const ctor = setPath({}, ['constructor', 'prototype', 'polluted'], true) as Record<string, unknown>;
    expect(Object.hasOwn(ctor, 'constructor')).toBe(true);
  });

  it('merging documents with prototype keys keeps them as data', () => {
    const evil = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}') as unknown;
    const merged = mergeDocuments({ a: 1 }, evil, JSON.parse('{"a": {"__proto__": {"polluted": 1}}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(Object.hasOwn(merged, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(merged.a)).toBe(Object.prototype);
  });

  it('Configuration.get/set/has/delete refuse prototype paths; documents with such keys load as data', async () => {
    const root = await tempDir('cp-proto-');
    const base = path.join(root, 'config');
    mkdirSync(base);
    writeFileSync(path.join(base, 'default.json'), '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "a": 1}');
    const config = await Configuration.open({ baseDir: base, schema: {} as object });
    for (const p of PATHS) {
      expect(await codeOf(() => config.set(p, true)), `set ${p}`).toBe('E_INVALID_NAME');
      expect(await codeOf(() => config.get(p)), `get ${p}`).toBe('E_INVALID_NAME');
      expect(await codeOf(() => config.has(p)), `has ${p}`).toBe('E_INVALID_NAME');
      expect(await codeOf(() => config.delete(p)), `delete ${p}`).toBe('E_INVALID_NAME');
    }
    expect(config.get('a')).toBe(1);
    await config.close();
  });
});
