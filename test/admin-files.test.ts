/** `GET /api/v1/files`: the config files of the store (any backend), sorted, without profiles or bookkeeping. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { MemoryStorage } from '../src/storage/index.js';
import { createAdminServer, type AdminServer } from '../src/admin/index.js';
import { request } from './helpers/admin-http.js';

let store: ConfigPersistence;
let server: AdminServer;

beforeAll(async () => {
  store = new ConfigPersistence({ baseDir: 'config', storage: new MemoryStorage(), schema: { type: 'object' }, validatorCache: false });
  await store.saveConfig({ a: 1 }, 'current.json');
  await store.saveConfig({ a: 2 }, 'current.json'); // a backup and history, which are not files
  await store.saveConfig({ b: 1 }, 'default.yaml');
  await store.saveProfile('dev', { a: 3 });
  await store.setActiveProfile('dev');
  server = await createAdminServer({ store, port: 0 });
});
afterAll(async () => {
  await server.close();
  await store.close();
});

it('lists the config files, and needs the token like every /api/ request', async () => {
  const reply = await request(server.url, 'GET', '/api/v1/files', { token: server.token });
  expect(reply.status, reply.text).toBe(200);
  expect(reply.json).toEqual({ files: ['current.json', 'default.yaml'] });
  expect((await request(server.url, 'GET', '/api/v1/files')).status).toBe(401);
});
