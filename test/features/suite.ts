/**
 * The feature suite written once through the public API and run on every storage backend
 * (test/features-*.test.ts): save/load/update, profiles, backups and snapshots, history/diff/rollback,
 * bundles, verify/repair, watch, Configuration with layers, and the directory settings file read at
 * open. A backend passes it or a feature does not work on it.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Configuration, ConfigPersistence } from '../../src/index.js';
import type { WatchEvent } from '../../src/index.js';
import type { Storage } from '../../src/storage/index.js';
import { codeOf, dump } from '../storage/contract.js';
import { tempDir } from '../helpers/tmp.js';

/** A backend under test: `make()` gives a fresh, empty store and a way to open more instances on it. */
export interface FeatureBackend {
  name: string;
  make(): Promise<{ storage: Storage; other: () => Storage }>;
}

/** Registers the feature suite for `backend`. */
export function featureSuite(backend: FeatureBackend): void {
  const opened: Storage[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close?.()));
  });

  async function open(extra: ConstructorParameters<typeof ConfigPersistence>[0] = {}): Promise<{ cp: ConfigPersistence; storage: Storage; other: () => Storage; base: Record<string, unknown> }> {
    const made = await backend.make();
    const work = await tempDir('cp-features-');
    const base = { baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false as const };
    opened.push(made.storage);
    const cp = new ConfigPersistence({ ...base, storage: made.storage, ...extra });
    const other = (): Storage => {
      const s = made.other();
      opened.push(s);
      return s;
    };
    return { cp, storage: made.storage, other, base };
  }

  describe(`ConfigPersistence on ${backend.name}`, () => {
    it('saves, loads, updates and deletes with versions, backups and an audit log', async () => {
      const { cp, storage } = await open();
      expect((await cp.saveConfig({ port: 80 }, 'current.json')).version).toBe(1);
      await cp.saveConfig({ log: 'info' }, 'default.json');
      await cp.saveProfile('dev', { port: 1 });
      expect(await cp.listConfigs()).toEqual(['current.json', 'default.json']);
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

  describe(`Configuration on ${backend.name}`, () => {
    it('opens layered, saves, hot-reloads a change made by another process', async () => {
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
      await cp.close();
    });

    it('reads the directory settings file (config-persistence.json) from the storage at open', async () => {
      const { cp, other, base } = await open();
      const o = other();
      await o.commit({ changes: [{ type: 'put', key: 'config-persistence.json', data: Buffer.from('{"maxBackups": 2}') }] });
      const reader = new ConfigPersistence({ ...base, storage: other() });
      for (let n = 0; n < 5; n++) await reader.saveConfig({ n }, 'current.json');
      expect(await reader.listBackups('current.json')).toHaveLength(2);
      await o.commit({ changes: [{ type: 'put', key: 'config-persistence.json', data: Buffer.from('{"nonsense": 1}') }] });
      // A backend with synchronous reads refuses it in the constructor, etcd at first use: E_VALIDATION either way.
      expect(await codeOf((async () => new ConfigPersistence({ ...base, storage: other() }).saveConfig({ n: 1 }, 'current.json'))())).toBe('E_VALIDATION');
      await reader.close();
      await o.close();
      await cp.close();
    });

    it('migrations: two processes open an old store, it is migrated once in one commit; a newer one is refused', async () => {
      const { cp, other, base } = await open();
      await cp.saveConfig({ port: '80' }, 'current.json');
      await cp.saveProfile('dev', { port: '81' } as never, { description: 'laptop' });
      const steps = [
        { version: 1, up: (d: { port?: string }) => ({ ...d, port: Number(d.port) }) },
        { version: 2, up: ({ port, ...rest }: { port?: number }) => ({ ...rest, server: { port } }) },
      ];
      const a = new ConfigPersistence({ ...base, storage: other(), migrations: steps });
      const b = new ConfigPersistence({ ...base, storage: other(), migrations: steps });
      const [x, y] = await Promise.all([a.loadConfig('current.json'), b.loadProfile('dev')]);
      expect(x).toEqual({ server: { port: 80 } });
      expect(y.data).toEqual({ server: { port: 81 } });
      expect(y.meta).toEqual({ description: 'laptop' });
      expect((await cp.history('current.json')).filter((v) => v.reason === 'migrate to 2')).toHaveLength(1);
      expect(await cp.schemaVersion()).toBe(2);
      const old = new ConfigPersistence({ ...base, storage: other(), migrations: steps.slice(0, 1) });
      expect(await codeOf(old.saveConfig({ port: 1 }, 'current.json'))).toBe('E_CONFLICT');
      await Promise.all([a.close(), b.close(), old.close(), cp.close()]);
    });
  });
}

async function waitFor(what: string, done: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
