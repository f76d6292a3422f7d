/**
 * The public API end to end on `new ConfigPersistence({ storage: new MemoryStorage() })`: every
 * feature (save, load, update, profiles, backups, snapshots, history/diff/rollback, bundles,
 * verify/repair, watch, Configuration) runs without touching the disk — no file appears under the
 * base directory or the working directory.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Configuration, ConfigPersistence } from '../src/index.js';
import type { WatchEvent } from '../src/index.js';
import { MemoryStorage } from '../src/storage/index.js';
import type { Storage } from '../src/storage/index.js';
import { codeOf, dump } from './storage/contract.js';
import { tempDir } from './helpers/tmp.js';

let work: string;
let baseDir: string;
let cwdBefore: string[];

beforeEach(async () => {
  work = await tempDir('cp-memory-');
  baseDir = path.join(work, 'config');
  cwdBefore = readdirSync(process.cwd()).sort();
});

afterEach(() => {
  // Nothing reached the disk: no base directory, nothing new in the working directory or beside it.
  expect(existsSync(baseDir)).toBe(false);
  expect(readdirSync(work)).toEqual([]);
  expect(readdirSync(process.cwd()).sort()).toEqual(cwdBefore);
});

function store(storage = new MemoryStorage(), extra: ConstructorParameters<typeof ConfigPersistence>[0] = {}): { cp: ConfigPersistence; storage: MemoryStorage } {
  const cp = new ConfigPersistence({ baseDir, schemaDir: path.join(work, 'schemas'), validatorCache: false, storage, ...extra });
  return { cp, storage: storage as MemoryStorage };
}

async function waitFor(what: string, done: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('ConfigPersistence on MemoryStorage', () => {
  it('saves, loads, updates and deletes with versions, backups and an audit log', async () => {
    const { cp, storage } = store();
    const first = await cp.saveConfig({ port: 80 }, 'current.json');
    expect(first).toMatchObject({ version: 1 });
    expect(first.path).toContain('current.json');
    const second = await cp.saveConfig({ port: 81 }, 'current.json', { changedBy: 'user', reason: 'bump' });
    expect(second.version).toBe(2);
    expect(second.backup).toMatchObject({ file: 'current.json', trigger: 'overwrite' });
    expect(await cp.loadConfig('current.json')).toEqual({ port: 81 });
    expect(await codeOf(cp.saveConfig({ port: 1 }, 'current.json', { ifVersion: 1 }))).toBe('E_CONFLICT');
    await Promise.all(Array.from({ length: 5 }, () => cp.update('current.json', (c) => ({ port: ((c as { port: number }).port ?? 0) + 1 }))));
    expect(await cp.loadConfig('current.json')).toEqual({ port: 86 });
    await cp.deleteConfig('current.json');
    expect(await codeOf(cp.loadConfig('current.json'))).toBe('E_NOT_FOUND');
    const audit = Buffer.from((await storage.read('audit.log'))!).toString().trim().split('\n');
    expect(audit.length).toBeGreaterThanOrEqual(8);
    expect((await cp.listBackups('current.json')).map((b) => b.trigger)).toContain('delete');
    await cp.close();
  });

  it('profiles: save with extends, load resolved, list, copy, rename, activate, delete', async () => {
    const { cp } = store();
    await cp.saveProfile('base', { log: 'warn', server: { port: 1 } });
    await cp.saveProfile('dev', { server: { port: 3000 } }, { extends: 'base', description: 'local' });
    expect((await cp.loadProfile('dev')).data).toEqual({ log: 'warn', server: { port: 3000 } });
    expect((await cp.listProfiles()).map((p) => [p.name, p.extends])).toEqual([
      ['base', undefined],
      ['dev', 'base'],
    ]);
    await cp.copyProfile('dev', 'staging');
    await cp.renameProfile('staging', 'qa');
    expect(await cp.profileExists('staging')).toBe(false);
    await cp.setActiveProfile('qa');
    expect(await cp.getActiveProfile()).toBe('qa');
    expect(await codeOf(cp.deleteProfile('base'))).toBe('E_CONFLICT'); // dev and qa extend it
    await cp.setActiveProfile(null);
    await cp.deleteProfile('qa');
    expect((await cp.listProfiles()).map((p) => p.name)).toEqual(['base', 'dev']);
    await cp.close();
  });

  it('backups and snapshots: create, list, restore (with a safety backup), delete, clean up', async () => {
    const { cp } = store();
    await cp.saveConfig({ a: 1 }, 'current.json');
    await cp.saveProfile('dev', { b: 1 });
    const manual = await cp.createBackup('current.json', { label: 'before' });
    const snapshot = await cp.createSnapshot({ label: 'all' });
    expect(snapshot).toMatchObject({ kind: 'snapshot', file: '*' });
    await cp.saveConfig({ a: 2 }, 'current.json');
    await cp.saveProfile('dev', { b: 2 });
    const restored = await cp.restoreBackup(manual.id);
    expect(restored.safetyBackup).toBeDefined();
    expect(await cp.loadConfig('current.json')).toEqual({ a: 1 });
    await cp.saveConfig({ a: 3 }, 'current.json');
    const whole = await cp.restoreBackup(snapshot.id);
    expect(whole.files?.sort()).toEqual(['current.json', 'profiles/dev.json']);
    expect(await cp.loadConfig('current.json')).toEqual({ a: 1 });
    expect((await cp.loadProfile('dev')).data).toEqual({ b: 1 });
    const listed = await cp.listBackups();
    expect(listed.length).toBeGreaterThanOrEqual(4);
    await cp.deleteBackup(manual.id);
    expect((await cp.listBackups()).some((b) => b.id === manual.id)).toBe(false);
    const { removed } = await cp.cleanupBackups({ maxBackups: 0 });
    expect(removed.every((b) => !b.label)).toBe(true);
    expect((await cp.listBackups()).map((b) => b.label)).toEqual(['all']); // labelled: pinned
    await cp.close();
  });

  it('history: versions, getVersion, diff and rollback', async () => {
    const { cp } = store();
    await cp.saveConfig({ a: 1, b: { c: 1 } }, 'current.json', { changedBy: 'user' });
    await cp.saveConfig({ a: 2, b: { c: 1 }, d: true }, 'current.json', { changedBy: 'optimizer', reason: 'tune' });
    const versions = await cp.history('current.json');
    expect(versions.map((v) => [v.version, v.changedBy])).toEqual([
      [2, 'optimizer'],
      [1, 'user'],
    ]);
    expect(await cp.getVersion('current.json', 1)).toEqual({ a: 1, b: { c: 1 } });
    expect(await cp.diff('current.json', 1, 2)).toEqual([
      { path: 'a', type: 'changed', oldValue: 1, newValue: 2 },
      { path: 'd', type: 'added', newValue: true },
    ]);
    const back = await cp.rollback('current.json', 1);
    expect(back.version).toBe(3);
    expect(await cp.loadConfig('current.json')).toEqual({ a: 1, b: { c: 1 } });
    await cp.close();
  });

  it('bundles: export from one store, import into another with conflicts, all-or-nothing', async () => {
    const { cp: source } = store();
    await source.saveConfig({ a: 1 }, 'current.json');
    await source.saveProfile('dev', { b: 1 });
    const bundle = await source.exportBundle();
    expect(bundle.items.map((i) => i.name).sort()).toEqual(['current', 'dev']);
    const { cp: target } = store();
    await target.saveProfile('dev', { b: 'mine' });
    const dry = await target.importBundle(bundle, { onConflict: 'rename', dryRun: true });
    expect(dry.renamed.map((i) => i.originalName)).toEqual(['dev']);
    expect(await target.listProfiles()).toHaveLength(1);
    const report = await target.importBundle(bundle, { onConflict: 'overwrite' });
    expect(report.created.map((i) => i.name)).toEqual(['current']);
    expect(report.overwritten.map((i) => i.name)).toEqual(['dev']);
    expect((await target.loadProfile('dev')).data).toEqual({ b: 1 });
    const tampered = { ...bundle, items: bundle.items.map((i) => ({ ...i, data: { evil: true } })) };
    expect(await codeOf(target.importBundle(tampered, { onConflict: 'overwrite' }))).toBe('E_CHECKSUM');
    await source.close();
    await target.close();
  });

  it('verify and repair: an unparsable file written by another process is found and quarantined, never deleted', async () => {
    const { cp, storage } = store();
    await cp.saveConfig({ a: 1 }, 'current.json');
    expect(await cp.verify()).toEqual({ ok: true, problems: [] });
    const other = new MemoryStorage({ volume: storage.shared });
    await other.commit({ changes: [{ type: 'put', key: 'profiles/broken.json', data: Buffer.from('{ not json') }] });
    const found = await cp.verify();
    expect(found.ok).toBe(false);
    expect(found.problems.map((p) => [p.path, p.kind])).toEqual([['profiles/broken.json', 'unparsable']]);
    const report = await cp.repair();
    expect(report.actions.map((a) => a.action)).toEqual(['quarantine']);
    expect(await cp.verify()).toEqual({ ok: true, problems: [] });
    const files = await dump(storage);
    expect(Object.entries(files).some(([key, text]) => key.startsWith('quarantine/') && text === '{ not json')).toBe(true);
    const stats = await cp.stats();
    expect(stats.configs).toBe(1);
    expect(stats.history.entries).toBeGreaterThanOrEqual(1);
    await cp.close();
  });

  it('watch: another writer on the same volume is reported, own writes are not echoed, invalid content goes to onError', async () => {
    const { cp, storage } = store();
    await cp.saveConfig({ a: 1 }, 'current.json');
    const events: WatchEvent<unknown>[] = [];
    const errors: Error[] = [];
    const handle = await cp.watch('current.json', (e) => void events.push(e), { onError: (e) => errors.push(e), debounceMs: 20 });
    await cp.saveConfig({ a: 2 }, 'current.json');
    const other = new MemoryStorage({ volume: storage.shared });
    await other.commit({ changes: [{ type: 'put', key: 'current.json', data: Buffer.from('{"a": 3}') }] });
    await waitFor('the other writer', () => events.length > 0);
    expect(events.map((e) => e.data)).toEqual([{ a: 3 }]);
    expect(events[0]!.changes).toEqual([{ path: 'a', type: 'changed', oldValue: 2, newValue: 3 }]);
    await other.commit({ changes: [{ type: 'put', key: 'current.json', data: Buffer.from('{ torn') }] });
    await waitFor('the parse error', () => errors.length > 0);
    expect((errors[0] as { code?: string }).code).toBe('E_PARSE');
    await handle.close();
    await cp.close();
  });

  it('schema, YAML layout, compressed backups with retention, limits, names and auto-backup work the same', async () => {
    const schema = { type: 'object', properties: { port: { type: 'integer', maximum: 65535 } } };
    const { cp, storage } = store(new MemoryStorage(), { schema, compressBackups: true, maxBackups: 2, maxFileBytes: 200 });
    const other = new MemoryStorage({ volume: storage.shared });
    await other.commit({ changes: [{ type: 'put', key: 'current.yaml', data: Buffer.from('# the port\nport: 80 # http\n') }] });
    await cp.saveConfig({ port: 81 }, 'current.yaml');
    expect(Buffer.from((await storage.read('current.yaml'))!).toString()).toBe('# the port\nport: 81 # http\n');
    const invalid = await cp.saveConfig({ port: 70000 }, 'current.yaml').catch((e: unknown) => e);
    expect(invalid).toMatchObject({ code: 'E_VALIDATION' });
    for (let port = 82; port < 87; port++) await cp.saveConfig({ port }, 'current.yaml');
    const backups = await cp.listBackups('current.yaml');
    expect(backups).toHaveLength(2);
    expect(backups.every((b) => b.compressed)).toBe(true);
    expect(await codeOf(cp.saveConfig({ port: 1, pad: 'x'.repeat(300) } as never, 'current.yaml'))).toBe('E_TOO_LARGE');
    expect(await codeOf(cp.saveConfig({ port: 1 }, '../escape.yaml'))).toBe('E_INVALID_NAME');
    expect(await codeOf(cp.saveProfile('a/../../b', {}))).toBe('E_INVALID_NAME');
    const stop = cp.startAutoBackup({ intervalMs: 20 });
    await cp.saveConfig({ port: 90 }, 'current.yaml');
    let scheduled = false;
    for (const deadline = Date.now() + 3000; !scheduled && Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
      scheduled = (await cp.listBackups()).some((b) => b.trigger === 'scheduled');
    }
    await stop();
    expect(scheduled).toBe(true);
    await cp.close();
  });

  it('a failure injected in the middle of a save leaves file, history and backups as they were', async () => {
    const { cp, storage } = store();
    await cp.saveConfig({ a: 1 }, 'current.json');
    await cp.saveConfig({ a: 2 }, 'current.json');
    const before = await dump(storage);
    const steps = storage.lastCommitSteps;
    expect(steps).toBeGreaterThan(2);
    for (let step = 1; step <= steps; step++) {
      storage.failAt(step);
      expect(await codeOf(cp.saveConfig({ a: 99 }, 'current.json')), `step ${step}`).toBe('E_IO');
      expect(await dump(storage), `step ${step}`).toEqual(before);
    }
    expect(await cp.loadConfig('current.json')).toEqual({ a: 2 });
    expect((await cp.saveConfig({ a: 3 }, 'current.json')).version).toBe(3);
    await cp.close();
  });

  it('a snapshot restore failing at any operation brings back all of the snapshot or none of it', async () => {
    let count = 0;
    let failAt = 0;
    const storage = new MemoryStorage({ fault: () => ++count === failAt });
    const { cp } = store(storage);
    await cp.saveConfig({ a: 1 }, 'current.json');
    await cp.saveProfile('dev', { b: 1 });
    const snapshot = await cp.createSnapshot();
    const documents = async (): Promise<string> => JSON.stringify([await cp.loadConfig('current.json'), (await cp.loadProfile('dev')).data]);
    const snapshotState = await documents();
    let failures = 0;
    for (let n = 1; ; n++) {
      await cp.saveConfig({ a: 2 }, 'current.json');
      await cp.saveProfile('dev', { b: 2 });
      const changed = await documents();
      count = 0;
      failAt = n;
      const code = await codeOf(cp.restoreBackup(snapshot.id));
      failAt = 0;
      const now = await documents();
      if (code === undefined && count < n) break; // every operation of the restore has been failed once
      if (code !== undefined) failures++;
      expect(code === undefined ? [snapshotState] : [changed, snapshotState], `operation ${n}: ${code}`).toContain(now);
      if (code !== undefined) expect(code).toBe('E_IO');
    }
    expect(failures).toBeGreaterThan(3);
    console.log(`snapshot restore on memory: ${failures} operations failed one at a time, each all-or-nothing`);
    expect(await cp.verify()).toMatchObject({ ok: true });
    await cp.close();
  });
});

describe('Configuration on MemoryStorage', () => {
  it('opens layered (default ← profile chain ← current ← env), saves, switches profile and hot-reloads', async () => {
    const storage = new MemoryStorage();
    const { cp } = store(storage);
    await cp.saveConfig({ server: { port: 1, host: 'h' }, log: 'info' }, 'default.json');
    await cp.saveProfile('base', { log: 'warn' });
    await cp.saveProfile('dev', { server: { port: 3000 } }, { extends: 'base' });
    const config = await Configuration.open({ baseDir, storage, profile: 'dev', envPrefix: 'APP', env: { APP__SERVER__HOST: 'envhost' }, watch: true, validatorCache: false, schemaDir: path.join(work, 'schemas') });
    try {
      expect(config.data).toEqual({ server: { port: 3000, host: 'envhost' }, log: 'warn' });
      config.set('server.port', 4000);
      await config.save();
      expect(await cp.loadConfig('current.json')).toEqual({ server: { port: 4000 } });
      const reloads: string[] = [];
      config.on('change', (e) => reloads.push(e.source));
      const other = new MemoryStorage({ volume: storage.shared });
      await other.commit({ changes: [{ type: 'put', key: 'profiles/base.json', data: Buffer.from('{"log":"error"}') }] });
      await waitFor('the hot reload', () => config.get('log') === 'error');
      expect(reloads).toContain('reload');
      await config.useProfile(null);
      expect(config.get('log')).toBe('info');
    } finally {
      await config.close();
    }
    const sync = Configuration.openSync({ baseDir, storage, profile: 'dev', validatorCache: false, schemaDir: path.join(work, 'schemas') });
    expect(sync.get('server.port')).toBe(4000);
    await sync.close();
    await cp.close();
  });

  it('openSync on a storage without readSync fails with E_UNSUPPORTED; open() still works', async () => {
    const inner = new MemoryStorage();
    const asyncOnly: Storage = {
      location: inner.location,
      durable: inner.durable,
      read: (k, o) => inner.read(k, o),
      readEntry: (k, o) => inner.readEntry(k, o),
      stat: (k) => inner.stat(k),
      list: (p) => inner.list(p),
      commit: (c) => inner.commit(c),
      lock: (n, o) => inner.lock(n, o),
      watch: (k, e, r) => inner.watch(k, e, r),
      describe: (k) => inner.describe(k),
      close: () => inner.close(),
    };
    const options = { baseDir, storage: asyncOnly, validatorCache: false as const, schemaDir: path.join(work, 'schemas') };
    expect(() => Configuration.openSync(options)).toThrow(expect.objectContaining({ code: 'E_UNSUPPORTED' }));
    const config = await Configuration.open(options);
    expect(config.data).toEqual({});
    await config.close();
  });
});
