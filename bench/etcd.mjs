/**
 * etcd backend (#22): on a single etcd member started here (127.0.0.1, data in the work directory),
 * `saveConfig` on an EtcdStorage against a bare etcd3 put of the same bytes, and `update()` against
 * a bare compare-and-set transaction (get, then a txn comparing the key's mod revision). Both bare
 * calls are what the store's own work costs at the least: a save is one transaction too, but it
 * also writes the backup and the history records and reads the keys it compares first.
 * Candidates alternate within each round; ratios are per round, then the median. Needs the etcd
 * binary (ETCD_BIN, /usr/bin/etcd or etcd on the PATH).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST, makeConfig, median, now, percentile, progress, round } from './lib.mjs';

export const description = 'saveConfig / update() on etcd against a bare etcd3 put / compare-and-set transaction';

const ETCD_BIN = process.env.ETCD_BIN ?? (existsSync('/usr/bin/etcd') ? '/usr/bin/etcd' : 'etcd');

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

/** One member; resolves with its client URL once it answers, and a stop(). */
async function startMember(workDir) {
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const child = spawn(ETCD_BIN, ['--name', 'bench', '--data-dir', path.join(workDir, 'etcd'), '--listen-client-urls', url, '--advertise-client-urls', url, '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `bench=${peerUrl}`, '--log-level', 'error', '--logger', 'zap'], { stdio: 'ignore' });
  for (const deadline = Date.now() + 20_000; ; ) {
    if (spawnSync('etcdctl', ['--endpoints', url, 'endpoint', 'health'], { env: { ...process.env, ETCDCTL_API: '3' } }).status === 0) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`etcd (${ETCD_BIN}) did not start at ${url}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, stop: () => child.kill('SIGKILL') };
}

/** Why this machine cannot start a member (no etcd or etcdctl binary), or undefined when it can. */
function missingBinary() {
  for (const [bin, hint] of [[ETCD_BIN, 'ETCD_BIN'], ['etcdctl', 'PATH']]) {
    const probe = spawnSync(bin, ['version'], { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' } });
    if (probe.error) return `${bin} not found (${hint}; on Debian: apt-get install etcd-server etcd-client)`;
  }
  return undefined;
}

/**
 * ETCD_ENDPOINTS (comma-separated client URLs) measures that cluster instead of a member started
 * here; the scenario writes under the keys bench/ and bare/ there. Without it and without the etcd
 * binaries the scenario is skipped with a note, so `npm run bench` works on a fresh machine.
 */
export async function run({ quick, rounds, workDir }) {
  const given = process.env.ETCD_ENDPOINTS?.split(',').map((u) => u.trim()).filter(Boolean) ?? [];
  const missing = given.length === 0 ? missingBinary() : undefined;
  if (missing) {
    progress(`etcd skipped: ${missing}`);
    return { name: 'etcd', description, rows: [], notes: [`skipped: ${missing}; or set ETCD_ENDPOINTS to a running cluster.`] };
  }
  const member = given.length > 0 ? { url: given[0], stop: () => undefined } : await startMember(workDir);
  try {
    const result = await measureAll(member.url, quick, rounds);
    const propagation = await measurePropagation(member.url, quick ? 5 : 40 * rounds, quick ? 1 : rounds);
    result.rows.push(...propagation.rows);
    result.notes.push(propagation.note);
    return result;
  } finally {
    member.stop();
  }
}

const LISTENERS = 3;
/** Writes heard by each block's fresh listeners before the measured ones. */
const WARM_WRITES = 5;

/** Starts the listener processes of one mode; resolves once every one is armed. */
async function startListeners(mode, url) {
  const script = path.join(path.dirname(new URL(import.meta.url).pathname), 'etcd-listener.mjs');
  const listeners = [];
  for (let i = 0; i < LISTENERS; i++) {
    const child = spawn(process.execPath, [script, mode, url, path.dirname(DIST)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const heard = new Map();
    const waiters = new Set();
    let buffer = '';
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const m = /^got (\d+) ([\d.]+)$/.exec(line);
        if (m) heard.set(Number(m[1]), Number(m[2]));
        else if (line === 'ready') heard.set('ready', 0);
        for (const w of waiters) w();
      }
    });
    const until = (key) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`etcd listener (${mode}) did not hear ${key} in 10 s`)), 10_000);
        const check = () => {
          if (!heard.has(key)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(heard.get(key));
        };
        waiters.add(check);
        check();
      });
    listeners.push({ child, until });
  }
  await Promise.all(listeners.map((l) => l.until('ready')));
  return listeners;
}

/**
 * Watch propagation: a save (or a bare put) in this process, heard by listeners in three other
 * processes; each delivery's delay from just before the write, on the shared epoch clock. `count`
 * writes of each, in `rounds` alternating blocks.
 */
async function measurePropagation(url, count, rounds) {
  const { ConfigPersistence } = await import(pathToFileURL(DIST).href);
  const { EtcdStorage } = await import(pathToFileURL(path.join(path.dirname(DIST), 'etcd.js')).href);
  const { Etcd3 } = await import('etcd3');
  const bare = new Etcd3({ hosts: [url] });
  const cp = new ConfigPersistence({ baseDir: path.join(process.cwd(), 'config'), storage: new EtcdStorage({ endpoints: [url], prefix: 'bench/' }), validatorCache: false });
  const pad = 'x'.repeat(1500);
  // Past the first saves (journals created, backup retention at work), then one save's transaction as etcd applied it.
  for (let i = 0; i < 15; i++) await cp.saveConfig({ seq: -i, pad }, 'prop.json');
  const shape = await saveShape(bare, () => cp.saveConfig({ seq: 1, pad }, 'prop.json')); // a change: an unchanged save writes nothing
  const modes = [
    { mode: 'bare', write: (seq) => bare.put('bare/prop.json').value(JSON.stringify({ seq, pad })) },
    { mode: 'store', write: (seq) => cp.saveConfig({ seq, pad }, 'prop.json') },
    { mode: 'shape', listen: 'bare', write: (seq) => shapedWrite(bare, shape, seq, JSON.stringify({ seq, pad })) },
  ];
  const delays = { bare: [], store: [], shape: [] };
  /** The same delays block by block: how far the ratio moves between blocks is the noise a single run carries. */
  const byBlock = [];
  /** The same deliveries timed from the write's acknowledgement: the watch path alone, without the write's own round trips. */
  const afterAck = { bare: [], store: [], shape: [] };
  // Bare and store alternate in blocks (the order flipped each block), so that a slow spell of a
  // shared machine lands on both instead of on whichever ran second.
  const blocks = Math.max(1, Math.min(rounds, Math.floor(count / 5)));
  let seq = 0;
  try {
    for (let block = 0; block < blocks; block++) {
      const inBlock = { bare: [], store: [], shape: [] };
      byBlock.push(inBlock);
      for (const { mode, listen, write } of block % 2 === 0 ? modes : [...modes].reverse()) {
        await write(++seq);
        const listeners = await startListeners(listen ?? mode, url);
        try {
          // The first deliveries of fresh listener processes are cold (JIT, first GC): not measured.
          for (let i = -WARM_WRITES; i < Math.ceil(count / blocks); i++) {
            const s = ++seq;
            const start = performance.timeOrigin + performance.now();
            await write(s);
            const acked = performance.timeOrigin + performance.now();
            const heard = await Promise.all(listeners.map((l) => l.until(s)));
            if (i < 0) continue;
            for (const at of heard) {
              delays[mode].push(at - start);
              inBlock[mode].push(at - start);
              // Heard before the acknowledgement arrived counts as 0: the change was out already.
              afterAck[mode].push(Math.max(0, at - acked));
            }
          }
        } finally {
          for (const l of listeners) l.child.kill('SIGKILL');
        }
      }
      progress(`etcd watch propagation, block ${block + 1}/${blocks}`);
    }
  } finally {
    await cp.close();
    bare.close();
  }
  const p95 = (mode) => percentile(delays[mode], 95);
  const row = (label, mode) => ({ label, p50_ms: round(median(delays[mode])), p95_ms: round(p95(mode)) });
  const ackRow = (label, mode) => ({ label, p50_ms: round(median(afterAck[mode])), p95_ms: round(percentile(afterAck[mode], 95)) });
  const ratios = byBlock.map((b) => percentile(b.store, 95) / Math.max(percentile(b.bare, 95), 0.01)).sort((a, b) => a - b);
  const shapeRatios = byBlock.map((b) => percentile(b.shape, 95) / Math.max(percentile(b.bare, 95), 0.01)).sort((a, b) => a - b);
  const note = `Watch propagation, p95 of the save's deliveries over the bare watch's block by block (${blocks} blocks of ${Math.ceil(count / blocks)} writes each, ${LISTENERS} listeners): ${ratios.map((r) => `${round(r, 2)}×`).join(', ')}; the target judges all blocks together. A bare transaction of a save's shape (${shape.puts.length} puts of ${shape.bytes} bytes, ${shape.deletes} delete(s), ${shape.compares} compares) in the same blocks: ${shapeRatios.map((r) => `${round(r, 2)}×`).join(', ')}.`;
  const rows = [
    { ...ackRow('reference — bare: heard after the put was acknowledged (the watch path alone)', 'bare'), kind: 'reference' },
    { ...ackRow('reference — config-persistence: heard after saveConfig resolved (the watch path alone)', 'store'), kind: 'reference', ratio: round(percentile(afterAck.store, 95) / Math.max(percentile(afterAck.bare, 95), 0.01), 2) },
    { ...row(`bare etcd3 watch: a put here, heard in ${LISTENERS} other processes`, 'bare'), kind: 'baseline' },
    { ...row(`reference — a bare etcd3 transaction of a save's shape (the same puts, deletes and compares), heard the same way (p95 vs the bare p95)`, 'shape'), kind: 'reference', ratio: round(p95('shape') / p95('bare'), 2) },
    { ...row(`config-persistence watch on EtcdStorage: a saveConfig here, heard in ${LISTENERS} other processes (p95 vs the bare p95)`, 'store'), ratio: round(p95('store') / p95('bare'), 2), target: { metric: 'ratio', max: 2, text: '≤ 2× the bare watch (p95)' } },
    { ...row('the same deliveries, p95 on loopback', 'store'), target: { metric: 'p95_ms', max: 100, text: 'p95 ≤ 100 ms' } },
  ];
  return { rows, note };
}

/**
 * What one save's transaction wrote, from a watch over the store's keys while it ran: the sizes of
 * its puts (the document's first), how many keys it deleted, and its compares (one per key it
 * wrote, as a save compares each key it read).
 */
async function saveShape(bare, save) {
  const watcher = await bare.watch().prefix('bench/').create();
  const events = [];
  const heard = new Promise((resolve) => watcher.on('data', (res) => (events.push(...res.events), resolve())));
  await save();
  await heard;
  await watcher.cancel();
  const puts = events.filter((e) => e.type === 'Put').map((e) => ({ doc: e.kv.key.toString() === 'bench/d/prop.json', size: e.kv.value.length }));
  const sizes = [...puts.filter((p) => p.doc), ...puts.filter((p) => !p.doc)].map((p) => p.size);
  const deletes = events.length - puts.length;
  return { puts: sizes, deletes, compares: events.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}

/**
 * A bare etcd3 transaction shaped like a save's: the document (`doc`, what the listeners parse)
 * and the other puts at their sizes under `shape/`, deletes of keys put 10 writes before (the
 * largest other put is keyed by `seq`, as a save's new backup is), one compare per key.
 */
let shaped = 0;
function shapedWrite(bare, shape, seq, doc) {
  const n = ++shaped;
  const [, biggest, ...rest] = shape.puts;
  const keys = ['bare/prop.json', ...(biggest === undefined ? [] : [`shape/b/${n}`]), ...rest.map((_, i) => `shape/${i}`)];
  let txn = bare.if(keys[0], 'Version', '<', 1e9);
  for (const key of keys.slice(1)) txn = txn.and(key, 'Version', '<', 1e9);
  for (let i = keys.length; i < shape.compares; i++) txn = txn.and(`shape/b/${n - 10 - i}`, 'Version', '<', 1e9);
  const ops = [bare.put(keys[0]).value(doc.padEnd(shape.puts[0] ?? 0))];
  if (biggest !== undefined) ops.push(bare.put(keys[1]).value('b'.repeat(biggest)));
  rest.forEach((size, i) => ops.push(bare.put(`shape/${i}`).value('r'.repeat(size))));
  for (let i = 0; i < shape.deletes; i++) ops.push(bare.delete().key(`shape/b/${n - 10 - i}`));
  return txn.then(...ops).commit();
}

async function measureAll(url, quick, rounds) {
  const { ConfigPersistence } = await import(pathToFileURL(DIST).href);
  const { EtcdStorage } = await import(pathToFileURL(path.join(path.dirname(DIST), 'etcd.js')).href);
  const { Etcd3 } = await import('etcd3');
  const bare = new Etcd3({ hosts: [url] });
  const cp = new ConfigPersistence({ baseDir: path.join(process.cwd(), 'config'), storage: new EtcdStorage({ endpoints: [url], prefix: 'bench/' }), validatorCache: false });
  const perRound = quick ? 5 : 100;
  const base = makeConfig(2048);
  let n = 0;
  const doc = () => ({ ...base, app: { ...base.app, revision: ++n } });
  const candidates = [
    { label: 'bare etcd3 put (2 KB)', kind: 'baseline', op: () => bare.put('bare/current.json').value(JSON.stringify(doc())) },
    { label: 'config-persistence saveConfig on EtcdStorage', target: { metric: 'ratio', max: 5, text: '≤ 5× a bare put (backup + history in the same txn)' }, op: () => cp.saveConfig(doc(), 'current.json') },
    {
      label: 'bare compare-and-set: get + txn on mod revision',
      kind: 'baseline',
      op: async () => {
        const got = await bare.get('bare/counter.json').exec();
        const kv = got.kvs[0];
        const next = String(Number(kv?.value.toString() ?? '0') + 1);
        await bare.if('bare/counter.json', 'Mod', '==', kv ? kv.mod_revision : '0').then(bare.put('bare/counter.json').value(next)).commit();
      },
    },
    { label: 'config-persistence update() on EtcdStorage', target: { metric: 'ratio', max: 5, text: '≤ 5× a bare compare-and-set' }, op: () => cp.update('counter.json', (c) => ({ n: (c?.n ?? 0) + 1 })) },
  ];
  for (const c of candidates) for (let i = 0; i < 3; i++) await c.op(); // connections, first keys
  const samples = candidates.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of candidates.entries()) {
      for (let k = 0; k < perRound; k++) {
        const start = now();
        await c.op();
        samples[i].push(now() - start);
      }
    }
    progress(`etcd round ${r + 1}/${rounds}`);
  }
  await cp.close();
  bare.close();
  const rows = candidates.map((c, i) => {
    const reference = samples[c.kind ? i : i - 1];
    const row = { label: c.label, p50_ms: round(median(samples[i])), p95_ms: round(percentile(samples[i], 95)), ratio: round(median(samples[i]) / median(reference), 2) };
    if (c.kind) row.kind = c.kind;
    if (c.target) row.target = c.target;
    return row;
  });
  return {
    name: 'etcd',
    description,
    rows,
    notes: [`${perRound} calls per candidate per round, ${rounds} round(s), one etcd member on loopback; a ratio compares p50 latencies with the bare call above it. Watch propagation: bare puts and saves alternate in blocks (order flipped each block); each write waits until all listener processes heard it; the delay runs from just before the write to each delivery (one epoch clock on this machine).`],
  };
}
