import { readdir, readFile, writeFile, mkdir, chmod, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { tempDir } from './helpers/tmp.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('ConfigPersistence core', () => {
  it('saves and loads current.* in the default format, returning version and checksum', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    const first = await store.saveConfig({ api: { port: 8080 } });
    expect(first.path.endsWith('current.json')).toBe(true);
    expect(first.version).toBe(1);
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(first.backup).toBeUndefined();
    const second = await store.saveConfig({ api: { port: 9090 } });
    expect(second.version).toBe(2);
    expect(second.backup?.trigger).toBe('overwrite');
    expect(await store.loadConfig()).toEqual({ api: { port: 9090 } });
    await store.close();
  });

  it('uses the format of default.* for new files and keeps an existing current.yaml', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'default.yaml'), 'a: 1\n');
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    const saved = await store.saveConfig({ a: 2 });
    expect(saved.path.endsWith('current.yaml')).toBe(true);
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('a: 2\n');
    const named = await store.saveConfig({ b: 1 }, 'extra');
    expect(named.path.endsWith('extra.yaml')).toBe(true);
    await store.close();
    const json = new ConfigPersistence({ baseDir: dir, schemaDir: dir, defaultFormat: 'json' });
    expect((await json.saveConfig({ a: 3 })).path.endsWith('current.yaml')).toBe(true);
    await json.close();
  });

  it('keeps comments of a YAML file when saving new data over it', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'current.yaml'), '# top\nserver:\n  port: 80 # http\n\n# db\ndb: x\n');
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.saveConfig({ server: { port: 8080 }, db: 'x' });
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('# top\nserver:\n  port: 8080 # http\n\n# db\ndb: x\n');
    await store.close();
  });

  it('does not create a version or backup when the content is unchanged', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.saveConfig({ a: 1 });
    const again = await store.saveConfig({ a: 1 });
    expect(again.version).toBe(1);
    expect(again.backup).toBeUndefined();
    await store.close();
  });

  it('loadConfig reports a missing file with E_NOT_FOUND and a malformed one with E_PARSE', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    expect(await codeOf(store.loadConfig())).toBe('E_NOT_FOUND');
    await writeFile(path.join(dir, 'current.json'), '{"a": }');
    expect(await codeOf(store.loadConfig())).toBe('E_PARSE');
    await store.close();
  });

  it('backs up an unparsable file before overwriting it, instead of wiping it', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'current.json'), '{"broken": ');
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    const saved = await store.saveConfig({ fixed: true });
    expect(saved.backup).toBeDefined();
    expect(await readFile(path.join(dir, 'backups', saved.backup!.id), 'utf8')).toBe('{"broken": ');
    await store.close();
  });

  it('validates before saving: an invalid save changes nothing', async () => {
    const dir = await tempDir();
    const schema = { type: 'object', properties: { port: { type: 'integer', maximum: 65535 } } };
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir, schema });
    await store.saveConfig({ port: 80 });
    const err = await store.saveConfig({ port: 70000 }).catch((e: unknown) => e as { code: string; issues: unknown[] });
    expect(err).toMatchObject({ code: 'E_VALIDATION' });
    expect(await store.loadConfig()).toEqual({ port: 80 });
    await store.close();
  });

  it('serializes saves in call order and coalesces bursts', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => store.saveConfig({ n: i })));
    expect(await store.loadConfig()).toEqual({ n: 499 });
    const versions = results.map((r) => r.version);
    // Versions never go backwards in call order, and far fewer writes than calls happened.
    for (let i = 1; i < versions.length; i++) expect(versions[i]!).toBeGreaterThanOrEqual(versions[i - 1]!);
    expect(new Set(versions).size).toBeLessThan(50);
    await store.close();
  });

  it('snapshots the data at call time', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence<{ n: number }>({ baseDir: dir, schemaDir: dir });
    const data = { n: 1 };
    const pending = store.saveConfig(data);
    data.n = 2;
    await pending;
    expect(await store.loadConfig()).toEqual({ n: 1 });
    await store.close();
  });

  it('rejects a stale ifVersion with E_CONFLICT and accepts the current one', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    const v1 = await store.saveConfig({ a: 1 });
    const v2 = await store.saveConfig({ a: 2 }, undefined, { ifVersion: v1.version });
    expect(v2.version).toBe(2);
    const err = await store.saveConfig({ a: 3 }, undefined, { ifVersion: v1.version }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_CONFLICT', expectedVersion: 1, actualVersion: 2 });
    expect(await store.loadConfig()).toEqual({ a: 2 });
    await store.close();
  });

  it('detects an external edit: ifVersion conflicts and history records it', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    const v1 = await store.saveConfig({ a: 1 });
    await writeFile(path.join(dir, 'current.json'), '{"a": 100}\n');
    expect(await codeOf(store.saveConfig({ a: 2 }, undefined, { ifVersion: v1.version }))).toBe('E_CONFLICT');
    const saved = await store.saveConfig({ a: 2 });
    expect(saved.version).toBe(3); // 2 = the external edit, 3 = this save
    const journal = (await readFile(path.join(dir, 'history', 'current.json.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(journal.map((l: { by: string }) => l.by)).toEqual(['user', 'external', 'user']);
    await store.close();
  });

  it('deleteConfig backs up first and records a version', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.saveConfig({ keep: 'me' }, 'app.json');
    await store.deleteConfig('app.json');
    expect(await codeOf(store.loadConfig('app.json'))).toBe('E_NOT_FOUND');
    const backups = (await readdir(path.join(dir, 'backups'))).filter((n) => n.startsWith('app.'));
    expect(backups).toHaveLength(1);
    expect(JSON.parse(await readFile(path.join(dir, 'backups', backups[0]!), 'utf8'))).toEqual({ keep: 'me' });
    expect(await codeOf(store.deleteConfig('app.json'))).toBe('E_NOT_FOUND');
    await store.close();
  });

  it('update() reads, modifies and writes under the lock', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence<{ n: number }>({ baseDir: dir, schemaDir: dir });
    await Promise.all(Array.from({ length: 50 }, () => store.update('counter.json', (d) => ({ n: (d?.n ?? 0) + 1 }))));
    expect(await store.loadConfig('counter.json')).toEqual({ n: 50 });
    await store.close();
  });

  it('update() propagates errors from the callback and writes nothing', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence<{ n: number }>({ baseDir: dir, schemaDir: dir });
    await store.saveConfig({ n: 1 }, 'c.json');
    await expect(store.update('c.json', () => { throw new Error('nope'); })).rejects.toThrow('nope');
    expect(await store.loadConfig('c.json')).toEqual({ n: 1 });
    await store.close();
  });

  it('refuses hostile file names with E_INVALID_NAME and writes nothing outside', async () => {
    const parent = await tempDir();
    const dir = path.join(parent, 'config');
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    for (const name of ['../x.json', '/etc/passwd', 'a/b.json', 'x\0.json', '..', '.hidden', 'backups', 'audit.log', 'a'.repeat(300)]) {
      expect(await codeOf(store.saveConfig({ a: 1 }, name))).toBe('E_INVALID_NAME');
      expect(await codeOf(store.loadConfig(name))).toBe('E_INVALID_NAME');
    }
    expect(await readdir(parent)).toEqual([]);
    await store.close();
  });

  it('never pollutes prototypes through document keys', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    const evil = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 2}}}');
    await store.saveConfig(evil, 'evil.json');
    const loaded = await store.loadConfig('evil.json');
    expect(Object.keys(loaded)).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await store.update('evil.json', (d) => d!);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await store.close();
  });

  it('refuses files over maxFileBytes on load and on save', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir, maxFileBytes: 1000 });
    expect(await codeOf(store.saveConfig({ big: 'x'.repeat(2000) }))).toBe('E_TOO_LARGE');
    await writeFile(path.join(dir, 'current.json'), JSON.stringify({ big: 'y'.repeat(2000) }));
    expect(await codeOf(store.loadConfig())).toBe('E_TOO_LARGE');
    await store.close();
  });

  it('writes into a read-only directory fail with E_IO and keep the old file', async () => {
    if (process.getuid?.() === 0) {
      // Root ignores directory permissions; the read-only remount test in test/reliability covers root.
      const dir = await tempDir();
      const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
      await store.saveConfig({ a: 1 });
      expect(await store.loadConfig()).toEqual({ a: 1 });
      await store.close();
      return;
    }
    const dir = await tempDir();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.saveConfig({ a: 1 });
    await chmod(dir, 0o500);
    try {
      expect(await codeOf(store.saveConfig({ a: 2 }))).toBe('E_IO');
    } finally {
      await chmod(dir, 0o700);
    }
    expect(await store.loadConfig()).toEqual({ a: 1 });
    await store.close();
  });

  it('keeps the permission bits of the file and makes backups no more readable', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.saveConfig({ a: 1 });
    await chmod(path.join(dir, 'current.json'), 0o600);
    const saved = await store.saveConfig({ a: 2 });
    expect((await stat(path.join(dir, 'current.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(dir, 'backups', saved.backup!.id))).mode & 0o777).toBe(0o600);
    await store.close();
  });

  it('fails calls after close()', async () => {
    const dir = await tempDir();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.close();
    expect(() => store.saveConfig({})).toThrow(/closed/);
  });

  it('treats nested directories under the base as not config names', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'current.json'));
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    expect(await codeOf(store.loadConfig('current.json'))).toBe('E_IO');
    await store.close();
  });
});
