import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { ConfigPersistence } from '../src/index.js';
import { MemoryStorage } from '../src/storage/index.js';
import { createAdminServer, type AdminServer } from '../src/admin/index.js';
import { request } from './helpers/admin-http.js';

const schema = {
  type: 'object',
  properties: { port: { type: 'integer', minimum: 1 }, db: { type: 'object', properties: { password: { type: 'string', 'x-secret': true } } } },
} as const;

let dir: string;
let store: ConfigPersistence;
let server: AdminServer;
const api = (method: string, p: string, opts: { body?: unknown; headers?: Record<string, string> } = {}) => request(server.url, method, `/api/v1/${p}`, { token: server.token, ...opts });

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cp-admin-'));
  store = new ConfigPersistence({ baseDir: dir, schema });
  await store.saveConfig({ port: 80, db: { password: 'hunter2' } }, 'current.json');
  server = await createAdminServer({ store, port: 0 });
});
afterEach(async () => {
  await server.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('admin API over real HTTP', () => {
  it('starts on loopback with a token file of mode 0600, removed on close', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const file = path.join(dir, '.admin-token');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, 'utf8')).trim()).toBe(server.token);
  });

  it('status, stats, verify', async () => {
    const s = await api('GET', 'status');
    expect(s.status).toBe(200);
    expect(s.json.baseDir).toBe(dir);
    expect((await api('GET', 'stats')).json).toHaveProperty('configs');
    expect((await api('GET', 'verify')).json.ok).toBe(true);
    const audit = await api('GET', 'audit?limit=1');
    expect(audit.status).toBe(200);
    expect(audit.json.entries).toHaveLength(1);
    expect((await api('GET', 'audit?limit=-1')).status).toBe(422);
    const repair = await api('POST', 'repair?dryRun=1');
    expect(repair.status).toBe(200);
  });

  it('GET files redacts secrets and gives the version as ETag; PUT honours If-Match', async () => {
    const got = await api('GET', 'files/current.json');
    expect(got.status).toBe(200);
    expect(got.json.data).toEqual({ port: 80, db: { password: '***' } });
    expect(got.text).not.toContain('hunter2');
    const version = got.json.version as number;
    expect(got.headers.etag).toBe(`"${version}"`);
    const put = await api('PUT', 'files/current.json', { body: { port: 81, db: { password: 'x' } }, headers: { 'if-match': `"${version}"` } });
    expect(put.status).toBe(200);
    expect(put.json.version).toBeGreaterThan(version);
    const stale = await api('PUT', 'files/current.json', { body: { port: 82 }, headers: { 'if-match': `"${version}"` } });
    expect(stale.status).toBe(409);
    expect(stale.json.error.code).toBe('E_CONFLICT');
    expect(await store.loadConfig('current.json')).toEqual({ port: 81, db: { password: 'x' } });
  });

  it('PUT of an invalid document is 422 with issues, and changes nothing', async () => {
    const bad = await api('PUT', 'files/current.json', { body: { port: 0 } });
    expect(bad.status).toBe(422);
    expect(bad.json.error.code).toBe('E_VALIDATION');
    expect(Array.isArray(bad.json.error.issues)).toBe(true);
    expect((await store.loadConfig('current.json')).port).toBe(80);
    const notJson = await api('PUT', 'files/current.json', { body: '{nope' });
    expect(notJson.status).toBe(400);
    expect(notJson.json.error.code).toBe('E_PARSE');
  });

  it('missing files and endpoints are 404, hostile names 400 E_INVALID_NAME', async () => {
    expect((await api('GET', 'files/absent.json')).json.error.code).toBe('E_NOT_FOUND');
    expect((await api('GET', 'nothing-here')).status).toBe(404);
    for (const name of ['..%2F..%2Fetc%2Fpasswd', 'a%2F..%2F..%2Fx', 'a%00b']) {
      const r = await api('GET', `files/${name}`);
      expect(r.status, name).toBe(400);
      expect(r.json.error.code, name).toBe('E_INVALID_NAME');
    }
    const p = await api('PUT', 'profiles/..%2Fx', { body: { data: {} } });
    expect(p.json.error.code).toBe('E_INVALID_NAME');
  });

  it('effective config with the source of every value', async () => {
    await store.saveProfile('dev', { port: 3000 });
    await rm(path.join(dir, 'current.json'));
    const r = await api('GET', 'config?profile=dev&explain=1');
    expect(r.status).toBe(200);
    expect(r.json.profile).toBe('dev');
    expect(r.json.data.port).toBe(3000);
    const row = r.json.values.find((v: { path: string }) => v.path === 'port');
    expect(row.source).toBeDefined();
    expect(JSON.stringify(row.source)).toContain('dev');
  });

  it('profiles: put, get, list, activate, delete', async () => {
    const base = await api('PUT', 'profiles/base', { body: { data: { port: 1 } } });
    expect(base.status, base.text).toBe(200);
    const dev0 = await api('PUT', 'profiles/dev', { body: { data: { db: { password: 's3cret' } }, extends: 'base', description: 'd' } });
    expect(dev0.status, dev0.text).toBe(200);
    const dev = await api('GET', 'profiles/dev');
    expect(dev.json.data).toEqual({ port: 1, db: { password: '***' } });
    expect(dev.text).not.toContain('s3cret');
    const list = await api('GET', 'profiles');
    expect(list.json.profiles.map((p: { name: string }) => p.name).sort()).toEqual(['base', 'dev']);
    expect((await api('POST', 'profiles/dev/activate')).json.active).toBe('dev');
    expect(await store.getActiveProfile()).toBe('dev');
    expect((await api('POST', 'profiles/nope/activate')).status).toBe(404);
    expect((await api('PUT', 'profiles/x', { body: { nodata: 1 } })).status).toBe(422);
    const inUse = await api('DELETE', 'profiles/base');
    expect(inUse.status, inUse.text).toBe(409);
    expect(await store.profileExists('base')).toBe(true);
    await store.saveProfile('spare', { port: 2 });
    expect((await api('DELETE', 'profiles/spare')).status).toBe(200);
    expect(await store.profileExists('spare')).toBe(false);
    expect((await api('DELETE', 'profiles/spare')).status).toBe(404);
  });

  it('backups: create, snapshot, list, restore with the safety backup, delete, cleanup', async () => {
    const b = await api('POST', 'backups', { body: { file: 'current.json', label: 'before' } });
    expect(b.status).toBe(201);
    await store.saveConfig({ port: 99 }, 'current.json');
    const snap = await api('POST', 'backups', { body: { snapshot: true, label: 'all' } });
    expect(snap.status).toBe(201);
    const list = await api('GET', 'backups');
    expect(list.json.backups.map((x: { id: string }) => x.id)).toContain(b.json.id);
    const restored = await api('POST', `backups/${encodeURIComponent(b.json.id)}/restore`);
    expect(restored.status).toBe(200);
    expect(restored.json.safetyBackup).toBeDefined();
    expect((await store.loadConfig('current.json')).port).toBe(80);
    expect((await api('DELETE', `backups/${encodeURIComponent(snap.json.id)}`)).status).toBe(200);
    expect((await api('DELETE', `backups/${encodeURIComponent(snap.json.id)}`)).status).toBe(404);
    expect((await api('POST', 'backups', { body: { label: 'no file' } })).status).toBe(422);
    const cleanup = await api('POST', 'backups/cleanup', { body: { maxBackups: 1 } });
    expect(cleanup.status).toBe(200);
    expect(cleanup.json).toHaveProperty('removed');
  });

  it('history, version, diff, rollback', async () => {
    await store.saveConfig({ port: 81, db: { password: 'new' } }, 'current.json');
    const h = await api('GET', 'history/current.json');
    const versions = h.json.versions.map((v: { version: number }) => v.version).sort((a: number, b: number) => a - b);
    expect(versions.length).toBeGreaterThanOrEqual(2);
    const first = versions[0];
    const v = await api('GET', `history/current.json/${first}`);
    expect(v.json.data).toEqual({ port: 80, db: { password: '***' } });
    const d = await api('GET', `diff/current.json?from=${first}&to=${versions.at(-1)}`);
    expect(d.status).toBe(200);
    expect(d.json.changes.some((c: { path: string }) => c.path === 'port')).toBe(true);
    expect(d.text).not.toMatch(/hunter2|"new"/);
    expect((await api('GET', 'diff/current.json?from=abc')).status).toBe(422);
    expect((await api('GET', 'history/current.json/999')).status).toBe(404);
    const rb = await api('POST', 'history/current.json/rollback', { body: { version: first } });
    expect(rb.status).toBe(200);
    expect((await store.loadConfig('current.json')).port).toBe(80);
  });

  it('export and import with a dry-run preview, then rename', async () => {
    await store.saveProfile('dev', { port: 5 });
    const bundle = (await api('POST', 'export', { body: { profiles: ['dev'], configs: [] } })).json;
    expect(bundle.items.map((i: { name: string }) => i.name)).toEqual(['dev']); // the selection is honoured (a chunked body too)
    expect(bundle.format).toBe('config-persistence-bundle');
    await store.saveProfile('dev', { port: 6 }); // now the bundle's dev conflicts
    const preview = await api('POST', 'import?onConflict=rename&dryRun=1', { body: bundle });
    expect(preview.status, JSON.stringify(preview.json)).toBe(200);
    expect(preview.json.dryRun).toBe(true);
    expect(preview.json.renamed).toHaveLength(1);
    expect((await store.listProfiles()).length).toBe(1);
    const done = await api('POST', 'import?onConflict=rename', { body: bundle });
    expect(done.status).toBe(200);
    expect(done.json.renamed).toHaveLength(1);
    expect((await store.listProfiles()).length).toBe(2);
    const tampered = { ...bundle, checksum: '0'.repeat(64) };
    expect((await api('POST', 'import?onConflict=overwrite', { body: tampered })).json.error.code).toBe('E_CHECKSUM');
    expect((await store.listProfiles()).length).toBe(2);
    expect((await api('POST', 'import?onConflict=merge', { body: bundle })).status).toBe(422);
    expect((await api('POST', 'import', { body: [1] })).status).toBe(422);
  });

  it('events: one SSE message per committed change set', async () => {
    const got = await firstChangeEvent(server, () => writeFile(path.join(dir, 'current.json'), JSON.stringify({ port: 4242, db: { password: 'zzz' } })), '4242');
    expect(got).toContain('4242');
    expect(got).not.toContain('zzz');
  }, 30000);
});

describe('admin API over a storage backend without a directory', () => {
  it('serves files, profiles and backups from MemoryStorage, and writes no token file', async () => {
    const mem = new ConfigPersistence({ storage: new MemoryStorage(), schema });
    const srv = await createAdminServer({ store: mem, port: 0 });
    try {
      const call = (method: string, p: string, body?: unknown) => request(srv.url, method, `/api/v1/${p}`, { token: srv.token, body });
      expect(srv.tokenFile).toBeUndefined();
      const put = await call('PUT', 'files/current.json', { port: 7, db: { password: 'in-memory' } });
      expect(put.status, put.text).toBeLessThan(300);
      const got = await call('GET', 'files/current.json');
      expect(got.json.data).toEqual({ port: 7, db: { password: '***' } });
      expect((await mem.loadConfig('current.json')).port).toBe(7);
      expect((await call('PUT', 'files/current.json', { port: 0 })).status).toBe(422);
      expect((await call('PUT', 'profiles/dev', { data: { port: 9 } })).status).toBe(200);
      expect((await call('GET', 'profiles')).json.profiles.map((p: { name: string }) => p.name)).toEqual(['dev']);
      expect((await call('POST', 'backups', { file: 'current.json', label: 'm' })).status).toBe(201);
      expect((await call('GET', 'verify')).json.ok).toBe(true);
      expect((await request(srv.url, 'GET', '/api/v1/status')).status).toBe(401);
      // The effective configuration and its events come from the store's storage, not from a
      // directory named like it.
      expect((await call('GET', 'config')).json.data).toEqual({ port: 7, db: { password: '***' } });
      const event = await firstChangeEvent(srv, () => mem.saveConfig({ port: 8, db: { password: 'in-memory' } }, 'current.json'), '"newValue":8');
      expect(event).toContain('"newValue":8');
      expect(event).not.toContain('in-memory');
    } finally {
      await srv.close();
      await mem.close();
    }
  });
});

/** Opens `GET /api/v1/events`, runs `trigger` once connected, and resolves with the stream up to the first change event. */
/**
 * The event stream from connection until a change event containing `until` (default: any): an
 * earlier change whose delivery was still under way when the stream connected may come first.
 */
function firstChangeEvent(srv: AdminServer, trigger: () => Promise<unknown>, until = 'event: change'): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = http.get(new URL('/api/v1/events', srv.url), { headers: { authorization: `Bearer ${srv.token}` } }, (res) => {
      expect(res.headers['content-type']).toContain('text/event-stream');
      let buf = '';
      let triggered = false;
      res.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        if (!triggered && buf.includes(': connected')) {
          triggered = true;
          trigger().catch(reject);
        }
        if (buf.includes('event: change') && buf.includes(until)) {
          req.destroy();
          resolve(buf);
        }
      });
    });
    req.on('error', reject);
    setTimeout(() => reject(new Error('no event within 20 s')), 20000);
  });
}
