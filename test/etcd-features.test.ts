/**
 * The public API end to end on `new ConfigPersistence({ storage: new EtcdStorage(...) })` against a
 * real etcd member: the feature suites that run on MemoryStorage (test/memory-storage.test.ts) —
 * save/load/update, profiles, backups and snapshots, history/diff/rollback, bundles, verify/repair,
 * watch, Configuration with layers — and the directory settings file read at open.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Configuration, ConfigPersistence } from '../src/index.js';
import type { WatchEvent } from '../src/index.js';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { codeOf, dump } from './storage/contract.js';
import { tempDir } from './helpers/tmp.js';

let member: Promise<EtcdCluster> | undefined;
const etcd = (): Promise<EtcdCluster> => (member ??= startEtcd(1));

async function open(extra: ConstructorParameters<typeof ConfigPersistence>[0] = {}): Promise<{ cp: ConfigPersistence; storage: EtcdStorage; other: () => EtcdStorage; base: Record<string, unknown> }> {
  const { endpoints } = await etcd();
  const prefix = `f-${randomBytes(6).toString('hex')}/`;
  const work = await tempDir('cp-etcd-features-');
  const base = { baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false as const };
  const storage = new EtcdStorage({ endpoints, prefix });
  const cp = new ConfigPersistence({ ...base, storage, ...extra });
  opened.push(storage);
  const other = (): EtcdStorage => {
    const s = new EtcdStorage({ endpoints, prefix });
    opened.push(s);
    return s;
  };
  return { cp, storage, other, base };
}

/** Every storage a test made, closed after it even when the test failed or handed it to a store it never closed. */
const opened: EtcdStorage[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

async function waitFor(what: string, done: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('ConfigPersistence on EtcdStorage', () => {
  it('saves, loads, updates and deletes with versions, backups and an audit log', async () => {
    const { cp, storage } = await open();
    expect((await cp.saveConfig({ port: 80 }, 'current.json')).version).toBe(1);
    const second = await cp.saveConfig({ port: 81 }, 'current.json', { changedBy: 'user', reason: 'bump' });
    expect(second.version).toBe(2);
    expect(second.backup).toMatchObject({ file: 'current.json', trigger: 'overwrite' });
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

  it('update() from two stores on one prefix never loses an increment', async () => {
    const { cp, other, base } = await open();
    const cp2 = new ConfigPersistence({ ...base, storage: other() });
    await cp.saveConfig({ n: 0 }, 'current.json');
    const bump = (c: unknown): { n: number } => ({ n: (c as { n: number }).n + 1 });
    await Promise.all([...Array.from({ length: 10 }, () => cp.update('current.json', bump)), ...Array.from({ length: 10 }, () => cp2.update('current.json', bump))]);
    expect(await cp.loadConfig('current.json')).toEqual({ n: 20 });
    expect((await cp.history('current.json')).map((v) => v.version)).toEqual(Array.from({ length: 21 }, (_, i) => 21 - i));
    await cp2.close();
    await cp.close();
  });

  it('profiles, backups, snapshots, history, bundles', async () => {
    const { cp } = await open();
    await cp.saveProfile('base', { log: 'warn', server: { port: 1 } });
    await cp.saveProfile('dev', { server: { port: 3000 } }, { extends: 'base', description: 'local' });
    expect((await cp.loadProfile('dev')).data).toEqual({ log: 'warn', server: { port: 3000 } });
    expect((await cp.listProfiles()).map((p) => [p.name, p.extends])).toEqual([['base', undefined], ['dev', 'base']]);
    await cp.saveConfig({ a: 1, b: { c: 1 } }, 'current.json');
    const manual = await cp.createBackup('current.json', { label: 'before' });
    const snapshot = await cp.createSnapshot({ label: 'all' });
    await cp.saveConfig({ a: 2, b: { c: 1 }, d: true }, 'current.json', { changedBy: 'optimizer' });
    await cp.saveProfile('dev', { server: { port: 4000 } }, { extends: 'base' });
    expect(await cp.diff('current.json', 1, 2)).toEqual([
      { path: 'a', type: 'changed', oldValue: 1, newValue: 2 },
      { path: 'd', type: 'added', newValue: true },
    ]);
    expect((await cp.rollback('current.json', 1)).version).toBe(3);
    await cp.saveConfig({ a: 9 }, 'current.json');
    expect((await cp.restoreBackup(manual.id)).safetyBackup).toBeDefined();
    expect(await cp.loadConfig('current.json')).toEqual({ a: 1, b: { c: 1 } });
    await cp.saveConfig({ a: 10 }, 'current.json');
    await cp.restoreBackup(snapshot.id);
    expect(await cp.loadConfig('current.json')).toEqual({ a: 1, b: { c: 1 } });
    expect((await cp.loadProfile('dev')).data).toEqual({ log: 'warn', server: { port: 3000 } });
    const bundle = await cp.exportBundle();
    const { cp: target } = await open();
    await target.saveProfile('dev', { mine: true });
    const report = await target.importBundle(bundle, { onConflict: 'rename' });
    expect(report.renamed.map((i) => i.originalName)).toEqual(['dev']);
    const tampered = { ...bundle, items: bundle.items.map((i) => ({ ...i, data: { evil: true } })) };
    expect(await codeOf(target.importBundle(tampered, { onConflict: 'overwrite' }))).toBe('E_CHECKSUM');
    expect(await target.verify()).toEqual({ ok: true, problems: [] });
    await target.close();
    await cp.close();
  });

  it('verify and repair: an unparsable value put by another process is quarantined, never deleted', async () => {
    const { cp, storage, other } = await open();
    await cp.saveConfig({ a: 1 }, 'current.json');
    expect(await cp.verify()).toEqual({ ok: true, problems: [] });
    const o = other();
    await o.commit({ changes: [{ type: 'put', key: 'profiles/broken.json', data: Buffer.from('{ not json') }] });
    expect((await cp.verify()).problems.map((p) => [p.path, p.kind])).toEqual([['profiles/broken.json', 'unparsable']]);
    expect((await cp.repair()).actions.map((a) => a.action)).toEqual(['quarantine']);
    expect(await cp.verify()).toEqual({ ok: true, problems: [] });
    expect(Object.entries(await dump(storage)).some(([key, text]) => key.startsWith('quarantine/') && text === '{ not json')).toBe(true);
    await o.close();
    await cp.close();
  });

  it('watch: another process is reported, own writes are not echoed, invalid content goes to onError', async () => {
    const { cp, other } = await open();
    await cp.saveConfig({ a: 1 }, 'current.json');
    const events: WatchEvent<unknown>[] = [];
    const errors: Error[] = [];
    const handle = await cp.watch('current.json', (e) => void events.push(e), { onError: (e) => errors.push(e), debounceMs: 20 });
    await cp.saveConfig({ a: 2 }, 'current.json');
    const o = other();
    await o.commit({ changes: [{ type: 'put', key: 'current.json', data: Buffer.from('{"a": 3}') }] });
    await waitFor('the other writer', () => events.length > 0);
    expect(events.map((e) => e.data)).toEqual([{ a: 3 }]);
    await o.commit({ changes: [{ type: 'put', key: 'current.json', data: Buffer.from('{ torn') }] });
    await waitFor('the parse error', () => errors.length > 0);
    expect((errors[0] as { code?: string }).code).toBe('E_PARSE');
    await handle.close();
    await o.close();
    await cp.close();
  });
});

describe('a fleet on one etcd store: jitterMs and the applied revision', () => {
  it('jitterMs delays deliveries without reordering them; the watcher has applied the writer\'s revision; stats() shows it', async () => {
    const { cp, other } = await open();
    await cp.saveConfig({ n: 0 }, 'current.json');
    const seen: number[] = [];
    const handle = await cp.watch('current.json', (e) => void seen.push((e.data as { n: number }).n), { jitterMs: 50, debounceMs: 5 });
    const o = other();
    for (let n = 1; n <= 5; n++) await o.commit({ changes: [{ type: 'put', key: 'current.json', data: Buffer.from(JSON.stringify({ n })) }] });
    await waitFor('the last value', () => seen.at(-1) === 5, 10_000);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(new Set(seen).size).toBe(seen.length);
    expect(BigInt(cp.appliedRevision!)).toBeGreaterThanOrEqual(BigInt(o.appliedRevision));
    expect((await cp.stats()).appliedRevision).toBe(cp.appliedRevision);
    await handle.close();
    await o.close();
    await cp.close();
  });

  it('a jitterMs that is not a number of milliseconds >= 0 is E_VALIDATION before anything is armed', async () => {
    const { cp } = await open();
    for (const jitterMs of [-1, Number.NaN, '10' as unknown as number]) {
      expect(await codeOf(cp.watch('current.json', () => undefined, { jitterMs }))).toBe('E_VALIDATION');
    }
    await cp.close();
  });
});

describe('Configuration on EtcdStorage', () => {
  it('opens layered, saves, hot-reloads a change made by another process; openSync is E_UNSUPPORTED', async () => {
    const { cp, other, base } = await open();
    await cp.saveConfig({ server: { port: 1, host: 'h' }, log: 'info' }, 'default.json');
    await cp.saveProfile('base', { log: 'warn' });
    await cp.saveProfile('dev', { server: { port: 3000 } }, { extends: 'base' });
    const storage = other();
    const config = await Configuration.open({ ...base, storage, profile: 'dev', envPrefix: 'APP', env: { APP__SERVER__HOST: 'envhost' }, watch: true });
    try {
      expect(config.data).toEqual({ server: { port: 3000, host: 'envhost' }, log: 'warn' });
      config.set('server.port', 4000);
      await config.save();
      expect(await cp.loadConfig('current.json')).toEqual({ server: { port: 4000 } });
      await cp.saveProfile('base', { log: 'error' });
      await waitFor('the hot reload', () => config.get('log') === 'error');
    } finally {
      await config.close();
    }
    expect(() => Configuration.openSync({ ...base, storage: other() })).toThrow(expect.objectContaining({ code: 'E_UNSUPPORTED' }));
    await cp.close();
  });

  it('reads the directory settings file (config-persistence.json) from etcd at open', async () => {
    const { cp, other, base } = await open();
    const o = other();
    await o.commit({ changes: [{ type: 'put', key: 'config-persistence.json', data: Buffer.from('{"maxBackups": 2}') }] });
    const reader = new ConfigPersistence({ ...base, storage: other() });
    for (let n = 0; n < 5; n++) await reader.saveConfig({ n }, 'current.json');
    expect(await reader.listBackups('current.json')).toHaveLength(2);
    await o.commit({ changes: [{ type: 'put', key: 'config-persistence.json', data: Buffer.from('{"nonsense": 1}') }] });
    expect(await codeOf(new ConfigPersistence({ ...base, storage: other() }).saveConfig({ n: 1 }, 'current.json'))).toBe('E_VALIDATION');
    await reader.close();
    await o.close();
    await cp.close();
  });
});
