/**
 * How many round trips to etcd a save makes before other processes hear it, counted with a proxy
 * that delays every request by 30 ms (test/helpers/etcd-proxy.ts): after a save of its own, only
 * the commit (the reads before it answered from that save, src/storage/etcd/for-write.ts); before
 * that (no save of its own yet): no lock (an optimistic save:
 * its transaction compares the file's revision and that no other process holds the file's lock,
 * Store.optimistic), the document's read with its journal's stat, the backup name's and the
 * index's stats all together (changeset.ts, lookAhead), then the commit's transaction — staged on those reads (src/storage/etcd/recent.ts) instead of reading every key
 * again; and the member's own count of calls (lookups made together go as one transaction,
 * src/storage/etcd/batch.ts). The reads a commit is staged on are never trusted blindly: a key another process changed
 * in between fails the commit's compare and the commit is staged again on a fresh read.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { oneMember, twoStorages } from './helpers/etcd.js';
import { lossProxy } from './helpers/etcd-proxy.js';
import { tempDir } from './helpers/tmp.js';

const { etcd, opened } = oneMember();
const fresh = (): string => `rt-${randomBytes(6).toString('hex')}/`;
const DELAY = 30;

describe('a save on etcd', () => {
  it(`is heard by another process after 1 round trip (each delayed ${DELAY} ms) when this process wrote the file last, not 7`, async () => {
    const { endpoints } = await etcd();
    const proxy = await lossProxy(endpoints[0]!, { delayMs: DELAY });
    const prefix = fresh();
    const work = await tempDir('cp-etcd-rt-');
    const storage = new EtcdStorage({ endpoints: [proxy.url], prefix });
    const cp = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, storage });
    const watcher = new EtcdStorage({ endpoints, prefix });
    opened.push(cp, storage, watcher, proxy);
    let heard = 0;
    await watcher.watch(['current.json'], () => void (heard = performance.now()), (err) => { throw err; });
    for (let n = 0; n < 3; n++) await cp.saveConfig({ n }, 'current.json'); // connected, lease granted, history and backups exist
    const times: number[] = [];
    for (let n = 3; n < 8; n++) {
      const start = performance.now();
      await cp.saveConfig({ n }, 'current.json');
      const until = performance.now() + 2000;
      while (heard < start && performance.now() < until) await new Promise((r) => setTimeout(r, 2));
      times.push(heard - start);
    }
    const best = Math.min(...times);
    console.log(`save heard after ${times.map((t) => t.toFixed(0)).join(', ')} ms (${(best / DELAY).toFixed(1)} round trips at best)`);
    expect(best).toBeGreaterThan(0.8 * DELAY);
    // Was 2 (the read before the commit, now answered from this process's last commit: for-write.ts), and 7 before that: the lock, a second stat for a missing key's children, the backup's lookups after the read, the index after the backup name, a re-read of every key.
    expect(best).toBeLessThan(1.8 * DELAY);
  }, 60_000);
});

describe('the save that starts a history-pruning pass', () => {
  it(`resolves after its commit like any other (the pass's reads run after it, in the background), and the pass still prunes`, async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const work = await tempDir('cp-etcd-prune-');
    const options = { baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false };
    const direct = new ConfigPersistence({ ...options, storage: new EtcdStorage({ endpoints, prefix }) });
    opened.push(direct);
    for (let n = 1; n <= 101; n++) await direct.saveConfig({ n }, 'current.json'); // more versions than history keeps
    await direct.close();
    const proxy = await lossProxy(endpoints[0]!, { delayMs: DELAY });
    const cp = new ConfigPersistence({ ...options, storage: new EtcdStorage({ endpoints: [proxy.url], prefix }) });
    opened.push(cp, proxy);
    const times: number[] = [];
    // This process's 1st save of the file starts a pass (a full one), and so does its 51st (PRUNE_EVERY):
    // its stat of the journal, the listing of history/ and a stat of every journal, ~4 round trips.
    for (let n = 102; n <= 152; n++) {
      const start = performance.now();
      await cp.saveConfig({ n }, 'current.json');
      times.push(performance.now() - start);
    }
    const passAt = times[50]!;
    const usual = [...times.slice(40, 50)].sort((a, b) => a - b)[5]!;
    console.log(`the save starting a pass: ${passAt.toFixed(0)} ms; the saves before it: ${usual.toFixed(0)} ms (median)`);
    expect(passAt).toBeLessThan(usual + 1.5 * DELAY); // was ~4 round trips more
    await cp.close(); // waits for the pass and its removals
    const again = new ConfigPersistence({ ...options, storage: new EtcdStorage({ endpoints, prefix }) });
    opened.push(again);
    // The 51st save's pass found versions 3-52 out of the kept window (the newest 100 of 152).
    expect(await again.getVersion('current.json', 40).catch((err: { code?: string }) => err.code)).toBe('E_NOT_FOUND');
    expect(await again.getVersion('current.json', 60)).toEqual({ n: 60 });
  }, 60_000);
});

describe('the background history-pruning pass', () => {
  it('never reads the whole journal of the file being saved again, while the saves go on', async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const work = await tempDir('cp-etcd-prune-reads-');
    const options = { baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false };
    const direct = new ConfigPersistence({ ...options, storage: new EtcdStorage({ endpoints, prefix }) });
    opened.push(direct);
    for (let n = 1; n <= 101; n++) await direct.saveConfig({ n }, 'current.json'); // more versions than history keeps
    await direct.close();
    const storage = new EtcdStorage({ endpoints, prefix });
    const journalReads: number[] = [];
    let saves = 0;
    const readEntry = storage.readEntry.bind(storage);
    storage.readEntry = (key, opts) => {
      if (key.startsWith('history/current.json')) journalReads.push(saves);
      return readEntry(key, opts);
    };
    const cp = new ConfigPersistence({ ...options, storage });
    opened.push(cp);
    // Passes start at this process's 1st, 51st, 101st and 151st save of the file, each while the next saves commit.
    for (let n = 102; n <= 260; n++) {
      await cp.saveConfig({ n }, 'current.json');
      saves++;
    }
    await cp.close();
    // The first save reads the journal (this process has not seen it); a pass racing a save used to
    // see a length its cache did not know yet and read it all again (~30 ms at 1,000 versions).
    expect(journalReads).toEqual([0]);
  }, 60_000);
});

/** Unary gRPC calls member `url` has started, by method (its own /metrics). */
async function callsOn(url: string): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const line of (await (await fetch(`${url}/metrics`)).text()).split('\n')) {
    const m = /^grpc_server_started_total\{grpc_method="(\w+)",grpc_service="[\w.]+",grpc_type="unary"\} (\d+)/.exec(line);
    if (m) calls.set(m[1]!, Number(m[2]));
  }
  return calls;
}

/** Bytes the member has sent to its clients (its own counter). */
async function sentBytes(url: string): Promise<number> {
  const m = /^etcd_network_client_grpc_sent_bytes_total (\S+)$/m.exec(await (await fetch(`${url}/metrics`)).text());
  return Number(m![1]);
}

describe('a listing on etcd, counted by the member', () => {
  it('reads the values of what it lists, not of everything below it (backups and history contents of a large file)', async () => {
    const { endpoints } = await etcd();
    const work = await tempDir('cp-etcd-list-');
    const prefix = fresh();
    const cp = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, storage: new EtcdStorage({ endpoints, prefix }) });
    opened.push(cp);
    const big = (n: number): Record<string, unknown> => ({ n, blob: 'x'.repeat(300_000) });
    for (let n = 0; n < 6; n++) await cp.saveConfig(big(n), 'current.json'); // 5 backups of ~300 KB
    await cp.close();
    const storage = new EtcdStorage({ endpoints, prefix });
    opened.push(storage);
    await storage.stat('current.json'); // connected
    const before = await sentBytes(endpoints[0]!);
    const root = await storage.list('');
    const sent = (await sentBytes(endpoints[0]!)) - before;
    expect(root.map((e) => [e.name, e.kind])).toEqual(expect.arrayContaining([['current.json', 'file'], ['backups', 'directory'], ['history', 'directory']]));
    expect(root.find((e) => e.name === 'current.json')!.size).toBeGreaterThan(300_000);
    // current.json itself and each directory's newest entry (for its time); was every value below (~1.8 MB).
    expect(sent).toBeLessThan(4 * 310_000);
    // listBackups reconciles the records with the backups' names, not their contents (~1.5 MB).
    const reader = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, storage: new EtcdStorage({ endpoints, prefix }) });
    opened.push(reader);
    await reader.loadConfig('current.json');
    const before1 = await sentBytes(endpoints[0]!);
    expect(await reader.listBackups('current.json')).toHaveLength(5);
    expect((await sentBytes(endpoints[0]!)) - before1).toBeLessThan(100_000);
    const before2 = await sentBytes(endpoints[0]!);
    const history = await storage.list('history');
    expect(history.map((e) => e.name)).toContain('current.json.jsonl');
    expect((await sentBytes(endpoints[0]!)) - before2).toBeLessThan(2 * 310_000);
  }, 60_000);
});

describe('the first pruning pass of a process, counted by the member', () => {
  it('names the history contents from their keys, without reading them (104 contents of ~50 KB)', async () => {
    const { endpoints } = await etcd();
    const work = await tempDir('cp-etcd-prune-bytes-');
    const prefix = fresh();
    const options = { baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, backupOnWrite: false };
    const first = new ConfigPersistence({ ...options, storage: new EtcdStorage({ endpoints, prefix }) });
    opened.push(first);
    // More versions than history keeps (so the pass lists the contents); each old content kept as an object.
    for (let n = 0; n < 105; n++) await first.saveConfig({ n, blob: 'x'.repeat(50_000) }, 'current.json');
    await first.close();
    const storage = new EtcdStorage({ endpoints, prefix });
    // The first store's own passes may already have pruned to what history keeps (they run in the
    // background, on the journal as the later saves left it: 99 or 100 contents, the newest version
    // being the document itself). Reading even 20 of them would pass the bound below.
    expect((await storage.fileNames('history/objects')).length).toBeGreaterThanOrEqual(90);
    const cp = new ConfigPersistence({ ...options, storage });
    opened.push(cp);
    const before = await sentBytes(endpoints[0]!);
    await cp.saveConfig({ n: 105, blob: 'y'.repeat(50_000) }, 'current.json'); // the process's first save of it: a full pass
    await cp.close(); // waits for the pass
    // The document read before the save (~50 KB) and the journals; the contents were ~5 MB more.
    expect((await sentBytes(endpoints[0]!)) - before).toBeLessThan(1_000_000);
  }, 60_000);
});

describe('a save on etcd, counted by the member', () => {
  it.each([{ backupOnWrite: true }, { backupOnWrite: false }])('makes 1 call after a save of its own (%o): the commit (its reads answered from that save); a load still reads etcd', async ({ backupOnWrite }) => {
    const { endpoints } = await etcd();
    const work = await tempDir('cp-etcd-calls-');
    const storage = new EtcdStorage({ endpoints, prefix: fresh() });
    // Without a backup the old content is copied to its history object only if missing: that
    // object was never read, and made every such save read first (2 calls, one round trip more).
    const cp = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, storage, backupOnWrite });
    opened.push(cp, storage);
    for (let n = 0; n < 3; n++) await cp.saveConfig({ n }, 'current.json');
    const before = await callsOn(endpoints[0]!);
    await cp.saveConfig({ n: 3 }, 'current.json');
    const after = await callsOn(endpoints[0]!);
    const made = [...after].map(([method, n]) => [method, n - (before.get(method) ?? 0)] as const).filter(([, n]) => n > 0);
    // Was 2 (the read with its journal, the backup name and the index, then the commit), and 9
    // before: Range ×5 (a missing key's children apart), a re-read of every key, Txn ×3 (lock, commit, unlock).
    expect(Object.fromEntries(made)).toEqual({ Txn: 1 });
    const loaded = await callsOn(endpoints[0]!);
    expect(await cp.loadConfig('current.json')).toEqual({ n: 3 });
    const afterLoad = await callsOn(endpoints[0]!);
    const reads = [...afterLoad].reduce((n, [method, c]) => n + c - (loaded.get(method) ?? 0), 0);
    expect(reads).toBeGreaterThanOrEqual(1); // linearizable, never from memory
  }, 30_000);
});

describe('saves of different files issued together by one process, counted by the member', () => {
  it('make one transaction each, as one after another would: they share the audit log and the backup index', async () => {
    const { endpoints } = await etcd();
    const work = await tempDir('cp-etcd-together-');
    const storage = new EtcdStorage({ endpoints, prefix: fresh() });
    const cp = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, storage });
    opened.push(cp, storage);
    const names = Array.from({ length: 16 }, (_, i) => `f${i}.json`);
    for (const name of names) await cp.saveConfig({ n: 0 }, name);
    for (let round = 1; round <= 2; round++) {
      const before = await callsOn(endpoints[0]!);
      await Promise.all(names.map((name) => cp.saveConfig({ n: round }, name)));
      const after = await callsOn(endpoints[0]!);
      const made = [...after].map(([method, n]) => [method, n - (before.get(method) ?? 0)] as const).filter(([, n]) => n > 0);
      // Was 63-71 transactions and a dozen reads: planned together, each failed the others'
      // compares on the journals' heads and was planned again after a pause (180-216 ms for 16).
      expect(Object.fromEntries(made)).toEqual({ Txn: names.length });
    }
    for (const name of names) expect(await cp.loadConfig(name)).toEqual({ n: 2 });
    const history = await cp.history('f7.json');
    expect(history.map((v) => v.version)).toEqual([3, 2, 1]);
    const audit = (await storage.read('audit.log'))!;
    expect(Buffer.from(audit).toString().trim().split('\n').filter((l) => JSON.parse(l).op === 'save')).toHaveLength(3 * names.length);
  }, 60_000);
});

describe('a commit staged on recent reads', () => {
  it('goes on when the history object it assumed missing exists (content saved before): staged again on a fresh read', async () => {
    const { endpoints } = await etcd();
    const work = await tempDir('cp-etcd-object-');
    const storage = new EtcdStorage({ endpoints, prefix: fresh() });
    const cp = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, storage, backupOnWrite: false });
    opened.push(cp, storage);
    for (const n of [1, 2, 1, 2, 1]) await cp.saveConfig({ n }, 'current.json'); // from the 4th on, the old content's object exists
    expect(await cp.loadConfig('current.json')).toEqual({ n: 1 });
    const versions = await cp.history('current.json');
    expect(versions.map((v) => v.version)).toEqual([5, 4, 3, 2, 1]);
    for (const v of versions) expect(await cp.getVersion('current.json', v.version)).toEqual({ n: v.version % 2 === 1 ? 1 : 2 });
  });

  it('copies what another process wrote in between, not what was read (the compare fails, the commit reads again)', async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const [a, b] = twoStorages(endpoints, prefix, opened);
    await a.commit({ changes: [{ type: 'put', key: 'x', data: Buffer.from('v1') }] });
    expect(Buffer.from((await a.read('x'))!).toString()).toBe('v1');
    await b.commit({ changes: [{ type: 'put', key: 'x', data: Buffer.from('v2') }] });
    await a.commit({ changes: [{ type: 'copy', from: 'x', to: 'y' }] });
    expect(Buffer.from((await b.read('y'))!).toString()).toBe('v2');
  });

  it('refuses a key that another process made a directory in between (EISDIR), writing nothing', async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const [a, b] = twoStorages(endpoints, prefix, opened);
    expect(await a.stat('d')).toBeUndefined();
    await b.commit({ changes: [{ type: 'put', key: 'd/child', data: Buffer.from('c') }] });
    const err = await a.commit({ changes: [{ type: 'put', key: 'd', data: Buffer.from('file') }] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_IO' });
    expect(String((err as Error).message) + String((err as Error).cause)).toMatch(/EISDIR|directory/);
    expect((await b.stat('d'))?.kind).toBe('directory');
  });
});

/** Watch events member `url` has sent, all watchers together (its own /metrics). */
async function eventsSent(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^etcd_debugging_mvcc_events_total (\d+(?:\.\d+)?(?:e\+\d+)?)/m.exec(text);
  if (!m) throw new Error('etcd_debugging_mvcc_events_total is not on /metrics');
  return Number(m[1]);
}

describe('a listener of one file, counted by the member', () => {
  it('is sent that file\'s event only, not the backup and journal headers its save also writes', async () => {
    const { endpoints } = await etcd();
    const work = await tempDir('cp-etcd-events-');
    const prefix = fresh();
    const storage = new EtcdStorage({ endpoints, prefix });
    const cp = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, storage });
    const listener = new EtcdStorage({ endpoints, prefix });
    opened.push(cp, listener);
    for (let n = 0; n < 2; n++) await cp.saveConfig({ n }, 'current.json'); // backups and journals exist
    const heard: string[] = [];
    const watch = await listener.watch(['current.json'], (e) => heard.push(e.key), (err) => { throw err; });
    const before = await eventsSent(endpoints[0]!);
    await cp.saveConfig({ n: 2 }, 'current.json'); // puts the file, its backup, the history, index and audit headers
    const deadline = Date.now() + 3000;
    while (heard.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 100)); // anything else on its way arrives too
    expect(heard).toEqual(['current.json']);
    expect((await eventsSent(endpoints[0]!)) - before).toBe(1); // was 5: a watch over every document of the store
    await watch.close();
  }, 30_000);
});
