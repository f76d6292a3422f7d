/**
 * Conditional edits of files that have no version: content changed outside config-persistence, or
 * a file written by hand and never saved through it. Before, `GET files/{file}` gave the newest
 * history version as ETag even when the content had been changed outside since, so every PUT with
 * it was refused with 409 and a reload gave the same tag again; and a hand-made file had no ETag,
 * so its first edit could not be made conditional at all. Now such content is tagged with its
 * sha256, and `If-Match` takes either form. Real server on loopback, real directory.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { createAdminServer, type AdminServer } from '../src/admin/index.js';
import { request } from './helpers/admin-http.js';
import { tempDir } from './helpers/tmp.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function serve(): Promise<{ dir: string; store: ConfigPersistence; srv: AdminServer; call: (method: string, p: string, body?: unknown, headers?: Record<string, string>) => ReturnType<typeof request> }> {
  const dir = await tempDir('cp-admin-etag-');
  const store = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'no-schemas') });
  const srv = await createAdminServer({ store, port: 0 });
  open.push(store, srv);
  const origin = new URL(srv.url).origin;
  const call = (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) =>
    request(srv.url, method, `/api/v1/${p}`, { token: srv.token, body, headers: { origin, ...headers } });
  return { dir, store, srv, call };
}

describe('ETag and If-Match for content without a version', () => {
  it('an edit outside is tagged by its sha256: a PUT with that tag succeeds, a stale one is 409', async () => {
    const { dir, store, call } = await serve();
    await store.saveConfig({ a: 1 }, 'current.json');
    await store.saveConfig({ a: 2 }, 'current.json');
    await writeFile(path.join(dir, 'current.json'), '{ "a": 3 }\n'); // an edit from outside

    const got = await call('GET', 'files/current.json');
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ version: null, data: { a: 3 } });
    expect(got.headers.etag).toMatch(/^"sha256:[0-9a-f]{64}"$/);
    expect(got.json.etag).toBe(got.headers.etag);

    const put = await call('PUT', 'files/current.json', { a: 4 }, { 'if-match': got.headers.etag! });
    expect(put.status, put.text).toBe(200);
    expect(put.headers.etag).toBe(`"${put.json.version}"`);
    expect(await store.loadConfig('current.json')).toEqual({ a: 4 });

    // The same tag again is stale now: refused, nothing written.
    const stale = await call('PUT', 'files/current.json', { a: 5 }, { 'if-match': got.headers.etag! });
    expect(stale.status).toBe(409);
    expect(stale.json.error.code).toBe('E_CONFLICT');
    expect(await store.loadConfig('current.json')).toEqual({ a: 4 });
  });

  it('a file written by hand and never saved gets a tag, so its first edit is conditional too', async () => {
    const { dir, call } = await serve();
    await writeFile(path.join(dir, 'current.json'), '{ "hand": true }\n');
    const got = await call('GET', 'files/current.json');
    expect(got.headers.etag).toMatch(/^"sha256:/);
    await writeFile(path.join(dir, 'current.json'), '{ "hand": "changed meanwhile" }\n');
    const put = await call('PUT', 'files/current.json', { hand: false }, { 'if-match': got.headers.etag! });
    expect(put.status).toBe(409);
    const again = await call('GET', 'files/current.json');
    expect((await call('PUT', 'files/current.json', { hand: false }, { 'if-match': again.headers.etag! })).status).toBe(200);
  });

  it('a version tag still works as before, and a malformed If-Match is 422', async () => {
    const { store, call } = await serve();
    await store.saveConfig({ a: 1 }, 'current.json');
    const got = await call('GET', 'files/current.json');
    expect(got.headers.etag).toBe('"1"');
    expect(got.json.version).toBe(1);
    await store.saveConfig({ a: 2 }, 'current.json');
    expect((await call('PUT', 'files/current.json', { a: 3 }, { 'if-match': got.headers.etag! })).status).toBe(409);
    const bad = await call('PUT', 'files/current.json', { a: 3 }, { 'if-match': '"sha256:nothex"' });
    expect(bad.status).toBe(422);
    expect(bad.json.error.code).toBe('E_VALIDATION');
    expect((await call('PUT', 'files/current.json', { a: 3 }, { 'if-match': '*' })).status).toBe(200);
  });
});

describe('the library underneath: loadVersioned and ifSha256', () => {
  it('loadVersioned tells the version of the content read, or null and its sha256', async () => {
    const dir = await tempDir('cp-etag-lib-');
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'no-schemas') });
    open.push(store);
    const saved = await store.saveConfig({ a: 1 }, 'current.json');
    expect(await store.loadVersioned('current.json')).toEqual({ data: { a: 1 }, version: saved.version, sha256: saved.sha256 });
    await writeFile(path.join(dir, 'current.json'), '{ "a": 2 }\n');
    const outside = await store.loadVersioned('current.json');
    expect(outside.version).toBeNull();
    expect(outside.data).toEqual({ a: 2 });

    const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code);
    expect(await code(store.saveConfig({ a: 3 }, 'current.json', { ifSha256: saved.sha256 }))).toBe('E_CONFLICT');
    expect(await code(store.saveConfig({ a: 3 }, 'current.json', { ifSha256: '' }))).toBe('E_CONFLICT');
    expect(await code(store.saveConfig({ a: 3 }, 'current.json', { ifSha256: outside.sha256 }))).toBe('ok');
    expect(await code(store.saveConfig({ n: 1 }, 'new.json', { ifSha256: '' }))).toBe('ok');
    expect(await code(store.deleteConfig('new.json', { ifSha256: outside.sha256 }))).toBe('E_CONFLICT');
    expect(await store.loadConfig('new.json')).toEqual({ n: 1 });
  });
});
