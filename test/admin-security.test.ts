import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { ConfigPersistence } from '../src/index.js';
import { createAdminServer, type AdminServer } from '../src/admin/index.js';
import { request, type Reply } from './helpers/admin-http.js';

let dir: string;
let store: ConfigPersistence;
let server: AdminServer;
const MAX = 4096;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cp-admin-sec-'));
  store = new ConfigPersistence({ baseDir: dir, maxFileBytes: MAX, schema: { type: 'object' } });
  await store.saveConfig({ a: 1 }, 'current.json');
  server = await createAdminServer({ store, port: 0 });
});
afterAll(async () => {
  await server.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function expectRefused(r: Reply, status: number, code: string): void {
  expect(r.status, r.text).toBe(status);
  expect(r.json.error.code).toBe(code);
}

describe('admin security by default', () => {
  it('no token and wrong token are 401, and nothing is served', async () => {
    expectRefused(await request(server.url, 'GET', '/api/v1/files/current.json'), 401, 'E_UNAUTHORIZED');
    expectRefused(await request(server.url, 'GET', '/api/v1/files/current.json', { token: `${server.token}x` }), 401, 'E_UNAUTHORIZED');
    expectRefused(await request(server.url, 'GET', '/api/v1/status', { headers: { authorization: server.token } }), 401, 'E_UNAUTHORIZED');
    const put = await request(server.url, 'PUT', '/api/v1/files/current.json', { body: { a: 2 } });
    expectRefused(put, 401, 'E_UNAUTHORIZED');
    expect(await store.loadConfig('current.json')).toEqual({ a: 1 });
  });

  it('a foreign Host is 403 even with the token (DNS rebinding); localhost is accepted', async () => {
    const port = new URL(server.url).port;
    expectRefused(await request(server.url, 'GET', '/api/v1/status', { token: server.token, headers: { host: `evil.example:${port}` } }), 403, 'E_FORBIDDEN');
    expectRefused(await request(server.url, 'GET', '/api/v1/status', { token: server.token, headers: { host: '127.0.0.1:1' } }), 403, 'E_FORBIDDEN');
    expect((await request(server.url, 'GET', '/api/v1/status', { token: server.token, headers: { host: `localhost:${port}` } })).status).toBe(200);
  });

  it('a state-changing request from a foreign origin or cross-site is 403 and changes nothing', async () => {
    const foreign = await request(server.url, 'PUT', '/api/v1/files/current.json', { token: server.token, body: { a: 3 }, headers: { origin: 'http://evil.example' } });
    expectRefused(foreign, 403, 'E_FORBIDDEN');
    const post = await request(server.url, 'POST', '/api/v1/backups', { token: server.token, body: { file: 'current.json' }, headers: { origin: 'null' } });
    expectRefused(post, 403, 'E_FORBIDDEN');
    const site = await request(server.url, 'DELETE', '/api/v1/profiles/x', { token: server.token, headers: { 'sec-fetch-site': 'cross-site' } });
    expectRefused(site, 403, 'E_FORBIDDEN');
    expect(await store.loadConfig('current.json')).toEqual({ a: 1 });
    expect(await store.listBackups()).toEqual([]);
    const own = await request(server.url, 'PUT', '/api/v1/files/current.json', { token: server.token, body: { a: 4 }, headers: { origin: server.url.replace(/\/$/, ''), 'sec-fetch-site': 'same-origin' } });
    expect(own.status, own.text).toBe(200);
  });

  it('a body over maxFileBytes is 413 E_TOO_LARGE, declared or streamed without a length', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(MAX) });
    expectRefused(await request(server.url, 'PUT', '/api/v1/files/current.json', { token: server.token, body: big }), 413, 'E_TOO_LARGE');
    const chunked = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(new URL('/api/v1/files/current.json', server.url), { method: 'PUT', headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: JSON.parse(text) }));
      });
      req.on('error', reject);
      for (let i = 0; i < 8; i++) req.write(big.slice(i * 1024, (i + 1) * 1024));
      req.end(big.slice(8 * 1024));
    });
    expectRefused(chunked, 413, 'E_TOO_LARGE');
    expect(await store.loadConfig('current.json')).toEqual({ a: 4 });
  });

  it('every answer carries the security headers and no CORS header', async () => {
    for (const r of [await request(server.url, 'GET', '/api/v1/status', { token: server.token }), await request(server.url, 'GET', '/api/v1/status'), await request(server.url, 'OPTIONS', '/api/v1/status', { headers: { origin: 'http://evil.example', 'access-control-request-method': 'PUT' } })]) {
      expect(r.headers['content-security-policy']).toContain("default-src 'none'");
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['referrer-policy']).toBe('no-referrer');
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
    }
  });

  it('hostile names get the library codes, not a file outside the directory', async () => {
    for (const name of ['..%2Fescape.json', '%2Fetc%2Fpasswd', 'a%5C..%5Cb.json', 'a%00.json']) {
      const r = await request(server.url, 'PUT', `/api/v1/files/${name}`, { token: server.token, body: { a: 1 } });
      expect(r.status, `${name}: ${r.text}`).toBe(400);
      expect(r.json.error.code).toBe('E_INVALID_NAME');
    }
    const b = await request(server.url, 'POST', `/api/v1/backups/${encodeURIComponent('../../x')}/restore`, { token: server.token });
    expect([400, 404]).toContain(b.status);
    expect(['E_INVALID_NAME', 'E_NOT_FOUND']).toContain(b.json.error.code);
  });

  it('refuses a short token', async () => {
    await expect(createAdminServer({ store, port: 0, token: 'short' })).rejects.toMatchObject({ code: 'E_VALIDATION' });
  });
});

describe('secrets never leave the server', () => {
  const SECRET = 'hunter2-never-shown';
  let sdir: string;
  let sstore: ConfigPersistence;
  let sserver: AdminServer;
  const secretSchema = { type: 'object', properties: { port: { type: 'integer' }, db: { type: 'object', properties: { password: { type: 'string', 'x-secret': true } } } } };

  beforeAll(async () => {
    sdir = await mkdtemp(path.join(tmpdir(), 'cp-admin-secret-'));
    sstore = new ConfigPersistence({ baseDir: sdir, schema: secretSchema });
    await sstore.saveConfig({ port: 1, db: { password: 'first-secret' } }, 'current.json');
    await sstore.saveConfig({ port: 2, db: { password: SECRET } }, 'current.json');
    await sstore.saveProfile('dev', { db: { password: SECRET } });
    sserver = await createAdminServer({ store: sstore, port: 0 });
  });
  afterAll(async () => {
    await sserver.close();
    await sstore.close();
    await rm(sdir, { recursive: true, force: true });
  });

  it('no endpoint that returns data shows an x-secret value', async () => {
    const call = (method: string, p: string, body?: unknown) => request(sserver.url, method, `/api/v1/${p}`, { token: sserver.token, body });
    const history = await call('GET', 'history/current.json');
    expect(history.status, history.text).toBe(200);
    const versions = (history.json.versions ?? history.json.entries ?? history.json) as Array<{ version: number }>;
    const latest = Math.max(...versions.map((v) => v.version));
    const replies: Array<[string, Reply]> = [
      ['files', await call('GET', 'files/current.json')],
      ['config', await call('GET', 'config')],
      ['config explain', await call('GET', 'config?explain=1')],
      ['config dev', await call('GET', 'config?profile=dev&explain=1')],
      ['profiles', await call('GET', 'profiles')],
      ['profile', await call('GET', 'profiles/dev')],
      ['backup', await call('POST', 'backups', { file: 'current.json', label: 'b1' })],
      ['backups', await call('GET', 'backups')],
      ['history', history],
      ['version', await call('GET', `history/current.json/${latest}`)],
      ['diff', await call('GET', `diff/current.json?from=${latest - 1}&to=${latest}`)],
      ['export', await call('POST', 'export', {})],
      ['audit', await call('GET', 'audit')],
      ['stats', await call('GET', 'stats')],
      ['status', await call('GET', 'status')],
    ];
    for (const [name, r] of replies) {
      expect(r.status, `${name}: ${r.text}`).toBeLessThan(300);
      expect(r.text, name).not.toContain(SECRET);
      expect(r.text, name).not.toContain('first-secret');
    }
    expect(replies[0]![1].json.data.db.password).toBe('***');
  });
});
