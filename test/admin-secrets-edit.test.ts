/**
 * The admin API shows a secret as "***"; a client that GETs a file, changes one value and PUTs it
 * back must not write "***" over the password. The placeholder keeps the stored value, a real
 * value replaces it, and a placeholder with nothing to keep is refused (422) with nothing written.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { createAdminServer, type AdminServer } from '../src/admin/index.js';
import { request } from './helpers/admin-http.js';

const schema = { type: 'object', properties: { port: { type: 'integer' }, db: { type: 'object', properties: { password: { type: 'string', 'x-secret': true } } } } };
let dir: string;
let store: ConfigPersistence;
let server: AdminServer;
const call = (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => request(server.url, method, `/api/v1/${p}`, { token: server.token, body, headers });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cp-admin-secret-edit-'));
  store = new ConfigPersistence({ baseDir: dir, schema });
  await store.saveConfig({ port: 1, db: { password: 'hunter2' } }, 'current.json');
  await store.saveProfile('dev', { db: { password: 'dev-secret' } });
  server = await createAdminServer({ store, port: 0 });
});
afterAll(async () => {
  await server.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

it('PUT files/{file} with the "***" it was shown keeps the stored secret; a real value replaces it', async () => {
  const got = await call('GET', 'files/current.json');
  expect(got.json.data).toEqual({ port: 1, db: { password: '***' } });
  const put = await call('PUT', 'files/current.json', { ...got.json.data, port: 2 }, { 'If-Match': String(got.json.version) });
  expect(put.status, put.text).toBe(200);
  expect(await store.loadConfig('current.json')).toEqual({ port: 2, db: { password: 'hunter2' } });
  expect((await call('PUT', 'files/current.json', { port: 3, db: { password: 'new-one' } })).status).toBe(200);
  expect(await store.loadConfig('current.json')).toEqual({ port: 3, db: { password: 'new-one' } });
});

it('a "***" with no stored value to keep is 422 naming the path, and nothing is written', async () => {
  const reply = await call('PUT', 'files/other.json', { port: 1, db: { password: '***' } });
  expect(reply.status).toBe(422);
  expect(reply.json.error.code).toBe('E_VALIDATION');
  expect(reply.json.error.issues.map((i: { path: string }) => i.path)).toEqual(['db.password']);
  expect(await store.loadConfig('other.json').then(() => 'written', (e: { code?: string }) => e.code)).toBe('E_NOT_FOUND');
});

it('PUT profiles/{name} keeps a profile\'s secret the same way', async () => {
  const got = await call('GET', 'profiles/dev?resolve=0');
  expect(got.json.data).toEqual({ db: { password: '***' } });
  const put = await call('PUT', 'profiles/dev', { data: { ...got.json.data, port: 9 } });
  expect(put.status, put.text).toBe(200);
  expect((await store.loadProfile('dev', { resolve: false })).data).toEqual({ db: { password: 'dev-secret' }, port: 9 });
});
