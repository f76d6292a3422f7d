/**
 * The admin server on loopback: `GET /api/v1/config` and `PUT /api/v1/files/{file}`, one request at
 * a time (latency) and 8 in flight (requests per second), beside the library calls each request
 * makes (`Configuration.open` + `data` + close; `saveConfig`) timed in the same rounds. The ratio
 * is the HTTP figure over the library call's: what the server adds (routing, security checks,
 * JSON, redaction, the socket).
 */
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST, makeConfig, median, now, percentile, progress, round } from './lib.mjs';

export const description = 'admin server: GET config and PUT files on loopback, against the library calls';

/** One request on a keep-alive agent; resolves with the status after the whole body is read. */
function send(agent, url, method, token, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(url, { method, agent, headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(res.statusCode) : reject(new Error(`${method} ${url}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Times `n` sequential calls; returns each call's ms. */
async function sequential(n, fn) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const start = now();
    await fn(i);
    times.push(now() - start);
  }
  return times;
}

/** `n` calls with `width` in flight; returns calls per second. */
async function concurrent(n, width, fn) {
  let next = 0;
  const start = now();
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await fn(next++);
  }));
  return (n * 1000) / (now() - start);
}

export async function run({ quick, rounds, workDir }) {
  const [{ ConfigPersistence, Configuration }, { createAdminServer }] = await Promise.all([
    import(pathToFileURL(DIST).href),
    import(pathToFileURL(path.join(path.dirname(DIST), 'admin.js')).href),
  ]);
  const baseDir = path.join(workDir, 'config');
  await mkdir(baseDir, { recursive: true });
  const schema = { type: 'object' };
  const store = new ConfigPersistence({ baseDir, schema, validatorCache: false });
  const doc = makeConfig(2048);
  await store.saveConfig(doc, 'current.json');
  const server = await createAdminServer({ store, port: 0 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const perRound = quick ? 20 : 200;
  const configUrl = new URL('api/v1/config', server.url).href;
  const fileUrl = new URL('api/v1/files/current.json', server.url).href;
  let n = 0;
  const edited = () => ({ ...doc, app: { ...doc.app, revision: ++n } });
  const candidates = [
    { label: 'library: Configuration.open + data + close (what GET config does)', group: 'get', call: async () => { const c = await Configuration.open({ baseDir, schema, validatorCache: false }); void c.data; await c.close(); } },
    { label: 'HTTP GET /api/v1/config (keep-alive)', group: 'get', http: true, call: () => send(agent, configUrl, 'GET', server.token) },
    { label: 'library: saveConfig (what PUT files does)', group: 'put', call: () => store.saveConfig(edited(), 'current.json') },
    { label: 'HTTP PUT /api/v1/files/current.json (keep-alive)', group: 'put', http: true, call: () => send(agent, fileUrl, 'PUT', server.token, edited()) },
  ];
  const samples = candidates.map(() => ({ times: [], medians: [], rps: [] }));
  for (const c of candidates) await sequential(5, c.call); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const i = (k + r) % candidates.length;
      const times = await sequential(perRound, candidates[i].call);
      samples[i].times.push(...times);
      samples[i].medians.push(median(times));
      samples[i].rps.push(await concurrent(perRound, 8, candidates[i].call));
    }
    progress(`admin round ${r + 1}/${rounds}: GET ${median(samples[1].times).toFixed(2)} ms, PUT ${median(samples[3].times).toFixed(2)} ms`);
  }
  agent.destroy();
  await server.close();
  await store.close();
  const rows = candidates.map((c, i) => {
    const base = candidates.findIndex((o) => o.group === c.group && !o.http);
    const row = {
      label: c.label,
      p50_ms: round(median(samples[i].times)),
      p95_ms: round(percentile(samples[i].times, 95)),
      ratio: round(median(samples[i].medians.map((m, r) => m / samples[base].medians[r])), 2),
      note: `${Math.round(median(samples[i].rps))} per second with 8 in flight`,
    };
    return row;
  });
  return {
    name: 'admin',
    description,
    rows,
    notes: [
      `${perRound} sequential calls then ${perRound} with 8 in flight, per candidate per round, interleaved; ratio = the median per-round p50 over the library call's in the same round.`,
    ],
  };
}
