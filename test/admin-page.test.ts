/**
 * The web page as the server sends it (from the build, where the page's bundle is inlined): the
 * shell and its two assets without a token, the API still behind it, the CSP untouched (no inline
 * code anywhere), nothing in the bundle that reaches another machine, and the page's code loaded by
 * nothing but the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { request } from './helpers/admin-http.js';
import { serveExample, type Served } from './helpers/admin-page.js';
import { ROOT } from './helpers/tmp.js';

let served: Served;
beforeAll(async () => {
  served = await serveExample();
}, 60_000);
afterAll(async () => {
  await served?.close();
});

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

describe('the admin web page', () => {
  it('GET / is the HTML shell, without a token, under the strict CSP and with no inline script or style', async () => {
    const r = await request(served.server.url, 'GET', '/');
    expect(r.status, r.text).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/html/);
    expect(r.headers['content-security-policy']).toBe(CSP);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.text).toContain('<script type="module" src="/assets/app.js"></script>');
    expect(r.text).toContain('<link rel="stylesheet" href="/assets/app.css">');
    // Every script has a src and is empty; no <style> element, no style="" attribute, no on*="" handler.
    expect(r.text.match(/<script\b[^>]*>[^<]+<\/script>/g)).toBeNull();
    expect(r.text).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
    expect(r.text).toContain('lang="en"');
    expect(r.text).toContain('name="viewport"');
  });

  it('the assets need no token and come with their content types and the same headers', async () => {
    const js = await request(served.server.url, 'GET', '/assets/app.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['content-security-policy']).toBe(CSP);
    expect(js.headers['x-content-type-options']).toBe('nosniff');
    expect(js.text).toContain('config-persistence.token');
    const css = await request(served.server.url, 'GET', '/assets/app.css');
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(css.text).toContain(':focus-visible');
    expect((await request(served.server.url, 'GET', '/assets/other.js')).status).toBe(404);
    expect((await request(served.server.url, 'GET', '/assets/../api/v1/status')).status).not.toBe(200);
  });

  it('the page needs no token but the API still does, and both keep the Host check (DNS rebinding)', async () => {
    const url = served.server.url;
    expect((await request(url, 'GET', '/')).status).toBe(200);
    expect((await request(url, 'GET', '/api/v1/status')).status).toBe(401);
    expect((await request(url, 'GET', '/api/v1/status', { token: served.server.token })).status).toBe(200);
    const foreign = { host: `evil.example:${new URL(url).port}` };
    expect((await request(url, 'GET', '/', { headers: foreign })).status).toBe(403);
    expect((await request(url, 'GET', '/assets/app.js', { headers: foreign })).status).toBe(403);
    expect((await request(url, 'GET', '/', { headers: { host: `localhost:${new URL(url).port}` } })).status).toBe(200);
  });

  it('the bundle fetches nothing from elsewhere: no URL but XML namespace names, no eval, small', async () => {
    const [jsReply, cssReply] = await Promise.all([request(served.server.url, 'GET', '/assets/app.js'), request(served.server.url, 'GET', '/assets/app.css')]);
    expect([jsReply.status, cssReply.status]).toEqual([200, 200]);
    const [js, css] = [jsReply.text, cssReply.text];
    expect(js).toContain('/api/v1/');
    const urls = [...`${js}\n${css}`.matchAll(/(?:https?:|wss?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)]*/gi)].map((m) => m[0]);
    // preact names the SVG/MathML/XHTML namespaces; those are identifiers, never fetched.
    expect(urls.filter((u) => !/^http:\/\/www\.w3\.org\/(2000\/svg|1998\/Math\/MathML|1999\/xhtml|1999\/xlink|XML\/1998\/namespace)$/.test(u))).toEqual([]);
    expect(css).not.toMatch(/@import|url\(/);
    expect(js).not.toMatch(/\beval\(|new Function\(/);
    expect(js.length + css.length).toBeLessThan(100_000);
  });

  it('the page code sits in one chunk that only the server loads, on demand', async () => {
    const dist = path.join(ROOT, 'dist');
    const files = [...(await readdir(dist)).filter((f) => f.endsWith('.js')), ...(await readdir(path.join(dist, 'chunks'))).filter((f) => f.endsWith('.js')).map((f) => `chunks/${f}`)];
    const texts = new Map(await Promise.all(files.map(async (f) => [f, await readFile(path.join(dist, f), 'utf8')] as const)));
    const holders = files.filter((f) => texts.get(f)!.includes('config-persistence.token'));
    expect(holders).toHaveLength(1);
    const chunk = path.basename(holders[0]!);
    for (const [f, text] of texts) {
      if (f === holders[0]) continue;
      // A static import would load the page with the library; only a dynamic import(...) may name it.
      expect(text.replace(new RegExp(`import\\("\\./(chunks/)?${chunk.replace('.', '\\.')}"\\)`, 'g'), ''), f).not.toContain(chunk);
    }
  });
});

describe('the server from the TypeScript sources', () => {
  it('has no page bundle and says how to build it, while the API works', async () => {
    const { ConfigPersistence } = await import('../src/index.js');
    const { createAdminServer } = await import('../src/admin/index.js');
    const store = new ConfigPersistence({ baseDir: served.dir });
    const server = await createAdminServer({ store, port: 0 });
    try {
      const r = await request(server.url, 'GET', '/');
      expect(r.status).toBe(404);
      expect(r.json.error.message).toContain('npm run build');
      expect((await request(server.url, 'GET', '/api/v1/status', { token: server.token })).status).toBe(200);
    } finally {
      await server.close();
      await store.close();
    }
  });
});
