/**
 * Distribution on a real 3-member etcd cluster (127.0.0.1), with real processes importing the
 * built package: concurrent update() from three processes, watchers in three processes following a
 * fourth, the leader killed mid-run, quorum lost and regained, a lock holder frozen past its lease,
 * and a watcher that reconnects after compaction.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { lossProxy } from './helpers/etcd-proxy.js';
import { DIST, ROOT, tempDir } from './helpers/tmp.js';

const DIST_ETCD = path.join(ROOT, 'dist', 'etcd.js');
let cluster: Promise<EtcdCluster> | undefined;
const etcd = (): Promise<EtcdCluster> => (cluster ??= startEtcd(3));
const fresh = (): string => `c-${randomBytes(6).toString('hex')}/`;

/** A child process running `body` with `cp` (a ConfigPersistence on etcd), `storage` and `endpoints` in scope. */
interface Child {
  proc: ChildProcess;
  lines: string[];
  done: Promise<{ code: number | null; stderr: string }>;
  waitLine(match: (line: string) => boolean, ms?: number): Promise<string>;
}

function child(endpoints: readonly string[], prefix: string, body: string, extra = ''): Child {
  const script = `
    import { ConfigPersistence } from ${JSON.stringify(DIST)};
    import { EtcdStorage } from ${JSON.stringify(DIST_ETCD)};
    const endpoints = ${JSON.stringify(endpoints)};
    const storage = new EtcdStorage({ endpoints, prefix: ${JSON.stringify(prefix)}, connectTimeoutMs: 2000, leaseTtlSeconds: 1 ${extra} });
    const cp = new ConfigPersistence({ baseDir: 'config', storage, validatorCache: false, lockTimeoutMs: 20000 });
    const say = (line) => process.stdout.write(line + '\\n');
    ${body}
    await cp.close();
  `;
  // A directory of its own: no schemas/ of the repository applies.
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'cp-etcd-child-'));
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  proc.on('close', () => rmSync(cwd, { recursive: true, force: true }));
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters) w();
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => proc.on('close', (code) => resolve({ code, stderr })));
  const waitLine = (match: (line: string) => boolean, ms = 20_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const line = lines.find(match);
        if (line === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(line);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no matching line within ${ms} ms; got ${lines.slice(-5).join(' | ')}; stderr ${stderr}`));
      }, ms);
      waiters.add(check);
      check();
      void done.then(() => setTimeout(check, 0));
    });
  return { proc, lines, done, waitLine };
}

/** Three processes each making `count` successful increments; E_IO (a member lost under a call) is retried and counted. */
const incrementer = (count: number): string => `
  let ok = 0, ambiguous = 0;
  while (ok < ${count}) {
    try {
      await cp.update('current.json', (c) => ({ n: (c?.n ?? 0) + 1 }));
      ok++;
      if (ok % 10 === 0) say('ok ' + ok);
    } catch (err) {
      if (err.code !== 'E_IO') { say('unexpected ' + err.constructor.name + ' ' + String(err.stack).split('\\n').slice(0, 12).join(' / ')); throw err; }
      ambiguous++;
    }
  }
  say('done ' + ambiguous);
`;

async function seed(endpoints: readonly string[], prefix: string): Promise<ConfigPersistence> {
  const work = await tempDir('cp-etcd-cluster-');
  const cp = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), storage: new EtcdStorage({ endpoints, prefix }), validatorCache: false });
  await cp.saveConfig({ n: 0 }, 'current.json');
  return cp;
}

async function ambiguousOf(children: Child[]): Promise<number> {
  let total = 0;
  for (const c of children) {
    const { code, stderr } = await c.done;
    expect(code, stderr).toBe(0);
    total += Number(c.lines.find((l) => l.startsWith('done '))!.slice(5));
  }
  return total;
}

describe('EtcdStorage on a 3-member cluster', () => {
  // A test that stopped members brings them back even when it fails, so the next one starts whole.
  afterEach(async () => {
    const c = await etcd();
    await Promise.all(c.members.map((m, i) => (m.process ? undefined : c.restart(i))));
  });

  it('3 processes × 100 update() increments: the exact count and a contiguous history', async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const cp = await seed(endpoints, prefix);
    const children = [0, 1, 2].map(() => child(endpoints, prefix, incrementer(100)));
    expect(await ambiguousOf(children)).toBe(0);
    expect(await cp.loadConfig('current.json')).toEqual({ n: 300 });
    const versions = (await cp.history('current.json')).map((v) => v.version);
    expect(versions[0]).toBe(301);
    expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => 301 - i));
    await cp.close();
  }, 90_000);

  it('a watcher in each of 3 processes sees every one of 200 saves by a fourth, in order, once', async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const watcher = `
      const seen = [];
      await storage.watch(['current.json'], (e) => { seen.push(e.revision); if (seen.length === 200) { say('seen ' + seen.join(',')); process.exit(0); } }, (err) => say('error ' + err.message));
      say('armed');
      await new Promise(() => {});
    `;
    const watchers = [0, 1, 2].map((i) => child([endpoints[i]!], prefix, watcher));
    await Promise.all(watchers.map((w) => w.waitLine((l) => l === 'armed')));
    // The key's own revision: appliedRevision may already include a later commit of the writer's
    // (a background history-pruning batch).
    const writer = child(endpoints, prefix, `
      const revisions = [];
      for (let n = 1; n <= 200; n++) { await cp.saveConfig({ n }, 'current.json'); revisions.push((await storage.stat('current.json')).revision); }
      say('wrote ' + revisions.join(','));
    `);
    const wrote = (await writer.waitLine((l) => l.startsWith('wrote '))).slice(6).split(',');
    expect(new Set(wrote).size).toBe(200);
    for (const w of watchers) expect((await w.waitLine((l) => l.startsWith('seen '))).slice(5).split(',')).toEqual(wrote);
    await writer.done;
  }, 60_000);
  it('the leader killed mid-run: the clients fail over, nothing is lost and the history stays contiguous', async () => {
    const c = await etcd();
    const prefix = fresh();
    const cp = await seed(c.endpoints, prefix);
    const children = [0, 1, 2].map(() => child(c.endpoints, prefix, incrementer(40)));
    await children[0]!.waitLine((l) => l === 'ok 10');
    await c.kill(await c.leader());
    const ambiguous = await ambiguousOf(children);
    // An update cut off by the kill reports E_IO and is retried: it may or may not have landed, never twice.
    const { n } = (await cp.loadConfig('current.json')) as { n: number };
    expect(n).toBeGreaterThanOrEqual(120);
    expect(n).toBeLessThanOrEqual(120 + ambiguous);
    const versions = (await cp.history('current.json')).map((v) => v.version);
    expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => n + 1 - i));
    await cp.close();
  }, 90_000);

  it('quorum lost: writes are E_IO with nothing written, reads answer flagged stale, and writes work again after', async () => {
    const c = await etcd();
    const prefix = fresh();
    const storage = new EtcdStorage({ endpoints: c.endpoints, prefix, connectTimeoutMs: 1500 });
    const put = (text: string): Promise<void> => storage.commit({ changes: [{ type: 'put', key: 'q.json', data: Buffer.from(text) }] });
    try {
      await put('before');
      // The member left alone must have applied it: a stale (serializable) read answers from what
      // that member has, and a follower may lag the leader's acknowledgement. A linearizable read
      // through it alone waits until it has caught up.
      const survivor = new EtcdStorage({ endpoints: [c.endpoints[0]!], prefix, connectTimeoutMs: 1500 });
      try {
        expect(Buffer.from((await survivor.read('q.json'))!).toString()).toBe('before');
      } finally {
        await survivor.close();
      }
      await Promise.all([c.kill(1), c.kill(2)]);
      const started = Date.now();
      // The first write may go straight to its transaction (staged on the storage's last reads and
      // commit, src/storage/etcd/recent.ts): the lone member may hold it in its log, so its outcome is
      // honestly unknown. A write that has to read first fails there: nothing was sent.
      const first = await put('during').catch((e: unknown) => e);
      expect(first).toMatchObject({ code: 'E_IO' });
      expect((first as Error).message).toContain(c.endpoints[0]!);
      expect((first as Error).message).toMatch(/nothing was written|the outcome is unknown/);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(Buffer.from((await storage.read('q.json'))!).toString()).toBe('before');
      expect(storage.lastReadStale).toBe(true);
      expect(await storage.read('missing.json')).toBeUndefined(); // was a raw gRPC error: the directory check was linearizable and unwrapped
      expect(storage.lastReadStale).toBe(true);
      // Listings are reads too (they were E_IO: an election outlasting the call's timeout failed them the same way).
      expect((await storage.list('')).map((e) => e.key)).toContain('q.json');
      expect(storage.lastReadStale).toBe(true);
      expect(await storage.fileNames('')).toContain('q.json');
      expect(storage.lastReadStale).toBe(true);
      const err = await put('during').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_IO' });
      expect((err as Error).message).toContain('nothing was written');
      await Promise.all([c.restart(1), c.restart(2)]);
      await put('after');
      expect(Buffer.from((await storage.read('q.json'))!).toString()).toBe('after');
      expect(storage.lastReadStale).toBe(false);
    } finally {
      await storage.close();
    }
  }, 60_000);

  it('a journal read whose quorum is lost between its header and its records answers flagged stale', async () => {
    const c = await etcd();
    const prefix = fresh();
    // Member 0 behind the proxy: the records' range is cut, and the other two members are paused
    // at that moment — after the header's linearizable read, before the records' retry.
    const proxy = await lossProxy(c.endpoints[0]!);
    const storage = new EtcdStorage({ endpoints: [proxy.url], prefix, connectTimeoutMs: 1500 });
    try {
      for (const line of ['one\n', 'two\n']) await storage.commit({ after: [{ type: 'append', key: 'log', data: Buffer.from(line) }] });
      // Member 0 must have applied both before it is left alone (see the quorum test above).
      expect(Buffer.from((await storage.read('log'))!).toString()).toBe('one\ntwo\n');
      expect(storage.lastReadStale).toBe(false);
      proxy.arm(`${prefix}j/log/`, 'dropped', () => {
        c.pause(1);
        c.pause(2);
      });
      const started = Date.now();
      // Was E_IO: the header fell back to one member when it had to, the records did not.
      expect(Buffer.from((await storage.read('log'))!).toString()).toBe('one\ntwo\n');
      expect(proxy.cuts).toBe(1);
      expect(storage.lastReadStale).toBe(true);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      c.resume(1);
      c.resume(2);
      await storage.close();
      await proxy.close();
    }
    // Back to a quorum (once the members have elected a leader again): answered by the cluster.
    const after = new EtcdStorage({ endpoints: c.endpoints, prefix, connectTimeoutMs: 1500 });
    try {
      for (const until = Date.now() + 20_000; ; ) {
        expect(Buffer.from((await after.read('log'))!).toString()).toBe('one\ntwo\n');
        if (!after.lastReadStale || Date.now() > until) break;
      }
      expect(after.lastReadStale).toBe(false);
    } finally {
      await after.close();
    }
  }, 60_000);

  it('a holder SIGSTOPped past its lease cannot overwrite the newer value: its commit is E_LOCKED', async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const holder = child(endpoints, prefix, `
      await storage.lock('fenced.json');
      say('locked');
      // Wall-clock wait: while the process is stopped no timer runs, so this ends after the resume.
      for (const start = Date.now(); Date.now() - start < 4000; ) await new Promise((r) => setTimeout(r, 50));
      try {
        await storage.commit({ changes: [{ type: 'put', key: 'fenced.json', data: Buffer.from('stale holder') }] });
        say('wrote');
      } catch (err) {
        say('refused ' + err.code);
      }
    `);
    await holder.waitLine((l) => l === 'locked');
    holder.proc.kill('SIGSTOP');
    const other = new EtcdStorage({ endpoints, prefix, leaseTtlSeconds: 1 });
    try {
      const release = await other.lock('fenced.json', { timeoutMs: 15_000 }); // only once the frozen holder's lease expired
      await other.commit({ changes: [{ type: 'put', key: 'fenced.json', data: Buffer.from('new holder') }] });
      await release();
      holder.proc.kill('SIGCONT');
      expect(await holder.waitLine((l) => l === 'wrote' || l.startsWith('refused '))).toBe('refused E_LOCKED');
      expect(Buffer.from((await other.read('fenced.json'))!).toString()).toBe('new holder');
    } finally {
      holder.proc.kill('SIGCONT');
      await holder.done;
      await other.close();
    }
  }, 60_000);

  it('compaction while a watcher is cut off: it reloads one snapshot and reaches the final state, skipping nothing after', async () => {
    const c = await etcd();
    const prefix = fresh();
    // The watcher's member is a follower: killing the leader would fail the writer's next put ("leader changed", ambiguous).
    const leader = await c.leader();
    const cut = leader === 2 ? 1 : 2;
    const writerEndpoints = c.endpoints.filter((_, i) => i !== cut);
    const watcher = child([c.endpoints[cut]!], prefix, `
      await storage.watch(['a.json', 'b.json'], (e) => say('event ' + e.key + ' ' + e.type + ' ' + e.revision), (err) => say('error ' + err.message));
      say('armed');
      await new Promise(() => {});
    `);
    const writer = new EtcdStorage({ endpoints: writerEndpoints, prefix });
    const put = (key: string, text: string): Promise<void> => writer.commit({ changes: [{ type: 'put', key, data: Buffer.from(text) }] });
    try {
      await watcher.waitLine((l) => l === 'armed');
      await put('a.json', 'a1');
      await watcher.waitLine((l) => l.startsWith('event a.json change'));
      await c.kill(cut);
      for (let i = 2; i <= 5; i++) await put('a.json', `a${i}`);
      await put('b.json', 'b1');
      await writer.compact();
      await c.restart(cut);
      const reloaded = await watcher.waitLine((l) => l.startsWith('event b.json change'), 30_000);
      await put('a.json', 'a6');
      const final = writer.appliedRevision;
      await watcher.waitLine((l) => l === `event a.json change ${final}`, 30_000);
      const events = watcher.lines.filter((l) => l.startsWith('event ')).map((l) => l.split(' '));
      const revisions = events.map((e) => BigInt(e[3]!));
      expect(revisions).toEqual([...revisions].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
      // The reload reports both keys at one revision; the change after it arrives on its own.
      const snapshot = reloaded.split(' ')[3]!;
      expect(events.filter((e) => e[3] === snapshot).map((e) => e[1]).sort()).toEqual(['a.json', 'b.json']);
      expect(events.at(-1)).toEqual(['event', 'a.json', 'change', final]);
      expect(watcher.lines.filter((l) => l.startsWith('error '))).toEqual([]);
    } finally {
      watcher.proc.kill('SIGKILL');
      await writer.close();
    }
  }, 90_000);
});
