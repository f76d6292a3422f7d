/**
 * Encryption at rest through the public API, on LocalStorage and MemoryStorage: backups, history,
 * snapshots and bundles round-trip with a key and are stored without a byte of plaintext; a
 * missing or wrong key and every kind of tampering are E_CHECKSUM naming the object, with nothing
 * written; rotation; encryptFiles; a plain directory is encrypted by rotation, never half.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Configuration, ConfigPersistence } from '../src/index.js';
import { parseKey } from '../src/encryption/cipher.js';
import { createAdminServer } from '../src/admin/index.js';
import { request } from './helpers/admin-http.js';
import { BACKENDS, errorOf, isContentKey, keyIds, newKey, rawDump, snapshotOf, type Place } from './helpers/encryption.js';
import { tempDir } from './helpers/tmp.js';

const MARKER = 'hunter2-MARKER-7c1f';

const open: ConfigPersistence[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

function store(p: Place, opts: ConstructorParameters<typeof ConfigPersistence>[0] = {}): ConfigPersistence {
  const s = p.open(opts);
  open.push(s);
  return s;
}

/** No stored backup, snapshot or history content holds the marker; returns how many content keys there are. */
async function noPlaintext(p: Place, alsoLive = false): Promise<number> {
  let content = 0;
  for (const [key, bytes] of await rawDump(p.raw)) {
    if (isContentKey(key)) content++;
    if (isContentKey(key) || alsoLive) expect(bytes.includes(Buffer.from(MARKER)), `${key} holds plaintext`).toBe(false);
  }
  return content;
}

for (const backend of BACKENDS) {
  describe(`encryption at rest on ${backend.name}`, () => {
    it('backups round-trip through restore; stored backups hold no plaintext; the settings file records the key id, never the key', async () => {
      const p = await backend.make();
      const key = newKey();
      const cp = store(p, { encryptionKey: key });
      await cp.saveConfig({ password: MARKER, port: 1 }, 'current.json');
      await cp.saveConfig({ password: 'other', port: 2 }, 'current.json');
      const manual = await cp.createBackup('current.json', { label: 'by hand' });
      const [overwrite] = (await cp.listBackups('current.json')).filter((b) => b.trigger === 'overwrite');
      expect(await noPlaintext(p)).toBeGreaterThanOrEqual(2);
      const ids = await keyIds(p.raw);
      expect([...ids.values()].every((id) => id === parseKey(key).id)).toBe(true);
      const settings = Buffer.from((await p.raw.read('config-persistence.json'))!).toString();
      expect(JSON.parse(settings)).toEqual({ encryption: { keyId: parseKey(key).id } });
      expect(settings).not.toContain(key);
      const restored = await cp.restoreBackup(overwrite!.id);
      expect(restored.restored.id).toBe(overwrite!.id);
      expect(await cp.loadConfig('current.json')).toEqual({ password: MARKER, port: 1 });
      await cp.restoreBackup(manual.id);
      expect(await cp.loadConfig('current.json')).toEqual({ password: 'other', port: 2 });
      expect(await cp.verify()).toEqual({ ok: true, problems: [] });
      expect(cp.encryptionKeyId).toBe(parseKey(key).id);
      // The live file stays plain for humans.
      expect(Buffer.from((await p.raw.read('current.json'))!).toString()).toContain('"port": 2');
    });

    it('compressed backups and snapshots: encrypted after gzip, restored all-or-nothing', async () => {
      const p = await backend.make();
      const cp = store(p, { encryptionKey: newKey(), compressBackups: true });
      await cp.saveConfig({ password: MARKER }, 'current.json');
      await cp.saveProfile('prod', { password: MARKER, tier: 'gold' });
      await cp.saveConfig({ password: 'changed' }, 'current.json');
      const snap = await cp.createSnapshot({ label: 'before' });
      await cp.saveProfile('prod', { tier: 'lead' });
      await cp.deleteConfig('current.json');
      expect(await noPlaintext(p)).toBeGreaterThanOrEqual(3);
      await cp.restoreBackup(snap.id);
      expect(await cp.loadConfig('current.json')).toEqual({ password: 'changed' });
      expect((await cp.loadProfile('prod')).data).toEqual({ password: MARKER, tier: 'gold' });
      const gz = (await cp.listBackups('current.json')).find((b) => b.trigger === 'overwrite')!;
      await cp.restoreBackup(gz.id);
      expect(await cp.loadConfig('current.json')).toEqual({ password: MARKER });
    });

    it('history: getVersion, diff and rollback read encrypted contents, also after the backups holding them expire', async () => {
      const p = await backend.make();
      const cp = store(p, { encryptionKey: newKey(), maxBackups: 1 });
      for (let i = 1; i <= 4; i++) await cp.saveConfig({ password: `${MARKER}-${i}`, n: i }, 'current.json');
      const keys = [...(await rawDump(p.raw)).keys()];
      expect(keys.some((k) => k.startsWith('history/objects/'))).toBe(true);
      await noPlaintext(p);
      expect(await cp.getVersion('current.json', 1)).toEqual({ password: `${MARKER}-1`, n: 1 });
      expect(await cp.diff('current.json', 1, 3)).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'n', type: 'changed', oldValue: 1, newValue: 3 })]));
      await cp.rollback('current.json', 2);
      expect(await cp.loadConfig('current.json')).toEqual({ password: `${MARKER}-2`, n: 2 });
      await noPlaintext(p);
      expect((await cp.verify()).ok).toBe(true);
    });

    it('bundles: written encrypted with a key, imported with it; a wrong or missing key is E_CHECKSUM before anything is written', async () => {
      const p = await backend.make();
      const key = newKey();
      const cp = store(p, { encryptionKey: key });
      await cp.saveConfig({ password: MARKER }, 'current.json');
      await cp.saveProfile('prod', { password: MARKER });
      const file = path.join(await tempDir('cp-enc-bundle-'), 'out.bundle.json');
      const written = await cp.writeBundle(file);
      expect(written.keyId).toBe(parseKey(key).id);
      const text = await readFile(file, 'utf8');
      expect(text).not.toContain(MARKER);
      expect(JSON.parse(text)).toMatchObject({ format: 'config-persistence-bundle-encrypted', version: 1, keyId: parseKey(key).id });
      // The object form, for the caller's own process, is plain unless asked.
      expect((await cp.exportBundle()).items).toHaveLength(2);
      const sealed = await cp.exportBundle({ encrypt: true });
      expect(JSON.stringify(sealed)).not.toContain(MARKER);

      const target = await backend.make();
      const same = store(target, { encryptionKey: key });
      for (const other of [store(target, { encryptionKey: newKey() }), store(target)]) {
        const before = await snapshotOf(target.raw);
        for (const source of [file, sealed]) {
          const err = await errorOf(other.importBundle(source));
          expect(err.code).toBe('E_CHECKSUM');
          expect(err.message).toContain(typeof source === 'string' ? file : 'the bundle');
          expect(err.reason).toBe(other.encryptionKeyId ? 'wrong-key' : 'no-key');
        }
        expect(await snapshotOf(target.raw)).toEqual(before);
      }
      const report = await same.importBundle(file);
      expect(report.created.map((c) => c.file).sort()).toEqual(['current.json', 'profiles/prod.json']);
      expect(await same.loadConfig('current.json')).toEqual({ password: MARKER });
      await same.importBundle(sealed, { onConflict: 'overwrite' });

      // A changed byte anywhere in the encrypted data: damaged, nothing imported.
      const data = Buffer.from(sealed.data, 'base64');
      data[data.byteLength - 20]! ^= 1;
      const fresh = store(await backend.make(), { encryptionKey: key });
      const err = await errorOf(fresh.importBundle({ ...sealed, data: data.toString('base64') }));
      expect([err.code, err.reason]).toEqual(['E_CHECKSUM', 'damaged']);
      expect(await fresh.listConfigs()).toEqual([]);
    });

    it('a wrong key or no key: E_CHECKSUM naming the backup or version, nothing written, never garbage', async () => {
      const p = await backend.make();
      const cp = store(p, { encryptionKey: newKey() });
      await cp.saveConfig({ password: MARKER }, 'current.json');
      await cp.saveConfig({ password: 'v2' }, 'current.json');
      const [backup] = await cp.listBackups('current.json');
      await cp.close();
      for (const opts of [{ encryptionKey: newKey() }, {}]) {
        const other = store(p, opts);
        const reason = 'encryptionKey' in opts ? 'wrong-key' : 'no-key';
        const before = await snapshotOf(p.raw);
        // The plain live file still loads: an application without the key can start.
        expect(await other.loadConfig('current.json')).toEqual({ password: 'v2' });
        const restore = await errorOf(other.restoreBackup(backup!.id));
        expect([restore.code, restore.reason]).toEqual(['E_CHECKSUM', reason]);
        expect(restore.message).toContain(backup!.id);
        const version = await errorOf(other.getVersion('current.json', 1));
        expect([version.code, version.reason]).toEqual(['E_CHECKSUM', reason]);
        expect(version.message).toContain('version 1 of');
        // A save would write a backup beside the others: refused before anything is written.
        const save = await errorOf(other.saveConfig({ password: 'v3' }, 'current.json'));
        expect([save.code, save.reason]).toEqual(['E_CHECKSUM', reason]);
        expect(await snapshotOf(p.raw)).toEqual(before);
        const verify = await other.verify();
        expect(verify.ok).toBe(false);
        expect(new Set(verify.problems.map((x) => x.kind))).toEqual(new Set(['undecryptable']));
        const repaired = await other.repair();
        expect(await snapshotOf(p.raw)).toEqual({ ...before, 'audit.log': (await snapshotOf(p.raw))['audit.log'] });
        expect(repaired.actions).toEqual([]);
        expect(repaired.remaining.map((x) => x.kind)).toContain('undecryptable');
      }
    });

    for (const [part, at] of [
      ['header (version byte)', (_n: number) => 4],
      ['nonce', (_n: number) => 15],
      ['ciphertext', (_n: number) => 30],
      ['tag', (n: number) => n - 3],
    ] as const) {
      it(`a changed byte in the ${part} of a backup or history content: E_CHECKSUM damaged, reported by verify, left alone by repair`, async () => {
        const p = await backend.make();
        const cp = store(p, { encryptionKey: newKey(), maxBackups: 0 });
        await cp.saveConfig({ password: MARKER }, 'current.json');
        await cp.saveConfig({ password: 'v2' }, 'current.json');
        const objects = [...(await rawDump(p.raw))].filter(([k]) => isContentKey(k));
        expect(objects).toHaveLength(1);
        const [key, bytes] = objects[0]!;
        const bad = Buffer.from(bytes);
        bad[at(bad.byteLength)]! ^= 0x10;
        await p.raw.commit({ changes: [{ type: 'put', key, data: bad }] });
        const before = await snapshotOf(p.raw);
        const err = await errorOf(cp.getVersion('current.json', 1));
        expect([err.code, err.reason]).toEqual(['E_CHECKSUM', 'damaged']);
        expect(err.message).toContain('version 1 of');
        const rollback = await errorOf(cp.rollback('current.json', 1));
        expect(rollback.code).toBe('E_CHECKSUM');
        expect(await cp.loadConfig('current.json')).toEqual({ password: 'v2' });
        const verify = await cp.verify();
        expect(verify.problems).toEqual([expect.objectContaining({ path: key, kind: 'undecryptable' })]);
        await cp.repair();
        expect((await snapshotOf(p.raw))[key]).toBe(before[key]);
      });
    }

    it('a tampered backup file: restore is E_CHECKSUM naming it and the live file is untouched', async () => {
      const p = await backend.make();
      const cp = store(p, { encryptionKey: newKey() });
      await cp.saveConfig({ v: 1 }, 'current.json');
      await cp.saveConfig({ v: 2 }, 'current.json');
      const [b] = await cp.listBackups('current.json');
      const key = `backups/${b!.id}`;
      const bytes = Buffer.from((await p.raw.read(key))!);
      bytes[bytes.byteLength - 1]! ^= 1;
      await p.raw.commit({ changes: [{ type: 'put', key, data: bytes }] });
      const before = await snapshotOf(p.raw);
      const err = await errorOf(cp.restoreBackup(b!.id));
      expect([err.code, err.reason]).toEqual(['E_CHECKSUM', 'damaged']);
      expect(err.message).toContain(b!.id);
      expect(await snapshotOf(p.raw)).toEqual(before);
    });

    it('rotation re-encrypts every backup, snapshot and history content in one commit; the old key is refused afterwards', async () => {
      const p = await backend.make();
      const oldKey = newKey();
      const nextKey = newKey();
      const cp = store(p, { encryptionKey: oldKey, maxBackups: 2 });
      for (let i = 1; i <= 5; i++) await cp.saveConfig({ password: `${MARKER}-${i}` }, 'current.json');
      await cp.createSnapshot();
      const stale = store(p, { encryptionKey: oldKey });
      expect(await stale.loadConfig('current.json')).toEqual({ password: `${MARKER}-5` });
      const result = await cp.rotateEncryptionKey(nextKey, { reason: 'yearly' });
      expect(result).toMatchObject({ keyId: parseKey(nextKey).id, previousKeyId: parseKey(oldKey).id, encryptFiles: false });
      const ids = await keyIds(p.raw);
      expect(ids.size).toBeGreaterThanOrEqual(4);
      expect([...ids.values()].every((id) => id === parseKey(nextKey).id)).toBe(true);
      expect(result.rewritten.sort()).toEqual([...ids.keys()].sort());
      await noPlaintext(p);
      // The rotating store goes on with the new key; a fresh one with the new key reads everything.
      await cp.saveConfig({ password: 'after' }, 'current.json');
      const fresh = store(p, { encryptionKey: nextKey });
      expect(await fresh.getVersion('current.json', 1)).toEqual({ password: `${MARKER}-1` });
      expect((await fresh.verify()).ok).toBe(true);
      // A process still holding the old key cannot write beside the new one, nor read.
      const before = await snapshotOf(p.raw);
      const err = await errorOf(stale.saveConfig({ password: 'stale' }, 'current.json'));
      expect([err.code, err.reason]).toEqual(['E_CHECKSUM', 'wrong-key']);
      expect((await errorOf(stale.getVersion('current.json', 2))).reason).toBe('wrong-key');
      expect(await snapshotOf(p.raw)).toEqual(before);
      const audit = Buffer.from((await p.raw.read('audit.log'))!).toString();
      expect(audit).toContain('"op":"rotate-key"');
    });

    it('a plain directory with backups: a key alone is refused (never plain beside encrypted); rotateEncryptionKey encrypts it, null decrypts it', async () => {
      const p = await backend.make();
      const plain = store(p);
      await plain.saveConfig({ password: MARKER }, 'current.json');
      await plain.saveConfig({ password: 'v2' }, 'current.json');
      await plain.close();
      const key = newKey();
      const keyed = store(p, { encryptionKey: key });
      const before = await snapshotOf(p.raw);
      const err = await errorOf(keyed.saveConfig({ password: 'v3' }, 'current.json'));
      expect(err.code).toBe('E_VALIDATION');
      expect(err.message).toContain('rotateEncryptionKey');
      expect(await snapshotOf(p.raw)).toEqual(before);
      // It can still read the plain backups it would encrypt.
      expect(await keyed.getVersion('current.json', 1)).toEqual({ password: MARKER });
      await keyed.rotateEncryptionKey(key);
      await noPlaintext(p);
      await keyed.saveConfig({ password: 'v3' }, 'current.json');
      expect(await keyed.getVersion('current.json', 1)).toEqual({ password: MARKER });
      const decrypted = await keyed.rotateEncryptionKey(null);
      expect(decrypted.keyId).toBeNull();
      expect([...(await keyIds(p.raw)).values()].every((id) => id === undefined)).toBe(true);
      expect(JSON.parse(Buffer.from((await p.raw.read('config-persistence.json'))!).toString())).toEqual({});
      const again = store(p);
      expect(await again.getVersion('current.json', 1)).toEqual({ password: MARKER });
      await again.saveConfig({ password: 'v4' }, 'current.json');
    });

    it('maxFileBytes counts the plaintext: an encrypted file at the limit loads, a plain one just over it is E_TOO_LARGE', async () => {
      const p = await backend.make();
      const cp = store(p, { encryptionKey: newKey(), encryptFiles: true, maxFileBytes: 200 });
      const fill = (n: number): string => JSON.stringify({ v: 'x'.repeat(n) }, null, 2);
      const atLimit = JSON.parse(fill(200 - fill(0).length - 1)) as unknown; // 200 bytes with the newline
      await cp.saveConfig(atLimit, 'current.json');
      expect(await cp.loadConfig('current.json')).toEqual(atLimit);
      await p.raw.commit({ changes: [{ type: 'put', key: 'other.json', data: Buffer.from(`${fill(200 - fill(0).length + 10)}\n`) }] });
      expect((await errorOf(cp.loadConfig('other.json'))).code).toBe('E_TOO_LARGE');
    });

    it('a migration on an encrypted directory: its backups are encrypted, the key record and the version sit side by side', async () => {
      const p = await backend.make();
      const key = newKey();
      const first = store(p, { encryptionKey: key, encryptFiles: true });
      await first.saveConfig({ password: MARKER, port: '80' }, 'current.json');
      await first.close();
      const migrations = [{ version: 1, up: (doc: Record<string, unknown>) => ({ ...doc, port: Number(doc.port) }) }];
      const migrated = store(p, { encryptionKey: key, migrations });
      expect(await migrated.loadConfig('current.json')).toEqual({ password: MARKER, port: 80 });
      await noPlaintext(p, true);
      const settings = JSON.parse(Buffer.from((await p.raw.read('config-persistence.json'))!).toString());
      expect(settings).toEqual({ encryption: { keyId: parseKey(key).id, files: true }, schemaVersion: 1 });
      expect(await migrated.getVersion('current.json', 1)).toEqual({ password: MARKER, port: '80' });
      expect((await migrated.verify()).ok).toBe(true);
    });

    it('encryptFiles: live files are encrypted too, recorded for every process; Configuration loads them with the key only', async () => {
      const p = await backend.make();
      const key = newKey();
      const cp = store(p, { encryptionKey: key, encryptFiles: true });
      await cp.saveConfig({ password: MARKER, port: 8080 }, 'current.json');
      await cp.saveConfig({ log: 'info' }, 'default.json');
      await cp.saveProfile('prod', { port: 443 });
      await cp.saveConfig({ password: MARKER, port: 8081 }, 'current.json');
      await noPlaintext(p, true);
      const live = await keyIds(p.raw, (k) => k === 'current.json' || k === 'profiles/prod.json');
      expect(live.get('current.json')).toBe(parseKey(key).id);
      expect(JSON.parse(Buffer.from((await p.raw.read('config-persistence.json'))!).toString()).encryption).toEqual({ keyId: parseKey(key).id, files: true });
      // Another process with the key but without the option follows the directory.
      const follower = store(p, { encryptionKey: key });
      await follower.saveConfig({ password: MARKER, port: 8082 }, 'current.json');
      await noPlaintext(p, true);
      const config = await Configuration.open({ baseDir: p.dir, storage: p.storage(), encryptionKey: key, profile: 'prod', validatorCache: false, schemaDir: path.join(p.dir, 'none') });
      expect(config.data).toEqual({ log: 'info', port: 8082, password: MARKER });
      await config.close();
      const sync = Configuration.openSync({ baseDir: p.dir, storage: p.storage(), encryptionKey: key, validatorCache: false, schemaDir: path.join(p.dir, 'none') });
      expect(sync.get('port')).toBe(8082);
      await sync.close();
      const keyless = await errorOf(Configuration.open({ baseDir: p.dir, storage: p.storage(), validatorCache: false, schemaDir: path.join(p.dir, 'none') }));
      expect([keyless.code, keyless.reason]).toEqual(['E_CHECKSUM', 'no-key']);
      expect(keyless.message).toContain('default.json');
      expect((await follower.verify()).ok).toBe(true);
    });
  });
}

describe('leaving the process and coming back', () => {
  it('admin POST export returns an encrypted bundle whatever the body asks; POST import opens it, a wrong key is E_CHECKSUM with nothing imported', async () => {
    const p = await BACKENDS[1]!.make();
    const key = newKey();
    const cp = store(p, { encryptionKey: key });
    await cp.saveConfig({ password: MARKER }, 'current.json');
    const server = await createAdminServer({ store: cp, port: 0 });
    try {
      const exported = await request(server.url, 'POST', '/api/v1/export', { token: server.token, body: { encrypt: false } });
      expect(exported.status).toBe(200);
      expect(exported.json.format).toBe('config-persistence-bundle-encrypted');
      expect(exported.text).not.toContain(MARKER);
      const target = store(await BACKENDS[1]!.make(), { encryptionKey: newKey() });
      const other = await createAdminServer({ store: target, port: 0 });
      try {
        const refused = await request(other.url, 'POST', '/api/v1/import', { token: other.token, body: exported.json });
        expect(refused.json.error.code).toBe('E_CHECKSUM');
        expect(await target.listConfigs()).toEqual([]);
      } finally {
        await other.close();
      }
      const back = await request(server.url, 'POST', '/api/v1/import?onConflict=overwrite', { token: server.token, body: exported.json });
      expect(back.status, back.text).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('hot reload of an encrypted live file: Configuration.open({ watch: true }) sees another process\'s save', async () => {
    const p = await BACKENDS[0]!.make();
    const key = newKey();
    const writer = store(p, { encryptionKey: key, encryptFiles: true });
    await writer.saveConfig({ port: 1 }, 'current.json');
    const config = await Configuration.open({ baseDir: p.dir, storage: p.storage(), encryptionKey: key, watch: true, validatorCache: false, schemaDir: path.join(p.dir, 'none') });
    try {
      const changed = new Promise<unknown>((resolve) => config.on('change', () => resolve(config.get('port'))));
      await writer.saveConfig({ port: 2 }, 'current.json');
      expect(await changed).toBe(2);
    } finally {
      await config.close();
    }
  }, 20_000);
});

describe('where the key comes from', () => {
  it('env CONFIG_PERSISTENCE_KEY, or a key file only its owner can read; a bad key is E_VALIDATION', async () => {
    const backend = BACKENDS[0]!;
    const p = await backend.make();
    const key = newKey();
    const saved = process.env.CONFIG_PERSISTENCE_KEY;
    process.env.CONFIG_PERSISTENCE_KEY = key;
    try {
      const cp = store(p);
      expect(cp.encryptionKeyId).toBe(parseKey(key).id);
      await cp.saveConfig({ password: MARKER }, 'current.json');
      await cp.saveConfig({ password: 'v2' }, 'current.json');
      process.env.CONFIG_PERSISTENCE_KEY = 'not a key';
      expect((await errorOf(Promise.resolve().then(() => p.open()))).code).toBe('E_VALIDATION');
    } finally {
      if (saved === undefined) delete process.env.CONFIG_PERSISTENCE_KEY;
      else process.env.CONFIG_PERSISTENCE_KEY = saved;
    }
    await noPlaintext(p);
    const file = path.join(await tempDir('cp-key-'), 'key');
    await writeFile(file, `${key}\n`, { mode: 0o644 });
    await chmod(file, 0o644);
    const loose = await errorOf(Promise.resolve().then(() => p.open({ encryptionKeyFile: file })));
    expect(loose.code).toBe('E_VALIDATION');
    expect(loose.message).toContain('chmod 600');
    await chmod(file, 0o600);
    const fromFile = store(p, { encryptionKeyFile: file });
    expect(await fromFile.getVersion('current.json', 1)).toEqual({ password: MARKER });
  });
});
