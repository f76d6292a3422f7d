/**
 * The storage contract (test/storage/contract.ts) on EtcdStorage against a real etcd member, and
 * what only etcd shows: its limits, errors when the cluster is unreachable, compaction under a
 * watch, lease-backed locks.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { RANGE_PAGE } from '../src/storage/etcd/client.js';
import { ctl, startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { codeOf, storageContract, type Backend } from './storage/contract.js';

let member: Promise<EtcdCluster> | undefined;
const etcd = (): Promise<EtcdCluster> => (member ??= startEtcd(1));
const fresh = (): string => `t-${randomBytes(6).toString('hex')}/`;

const backend: Backend = {
  name: 'EtcdStorage',
  watchLatencyMs: 3000,
  injects: false,
  async open() {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const others: EtcdStorage[] = [];
    return {
      storage: new EtcdStorage({ endpoints, prefix }),
      other: () => {
        const s = new EtcdStorage({ endpoints, prefix });
        others.push(s);
        return s;
      },
      dispose: async () => void (await Promise.all(others.map((s) => s.close()))),
    };
  },
};

storageContract(backend);

const enc = (text: string): Uint8Array => Buffer.from(text);

describe('EtcdStorage on a real member', () => {
  it('refuses a commit over the request limit or the transaction limit with E_TOO_LARGE, writing nothing', async () => {
    const { endpoints } = await etcd();
    const s = new EtcdStorage({ endpoints, prefix: fresh() });
    try {
      const err = await s.commit({ changes: [{ type: 'put', key: 'big.json', data: new Uint8Array(1.6 * 1024 * 1024) }] }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_TOO_LARGE' });
      expect((err as Error).message).toContain('request limit');
      const many = Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: `k/${i}`, data: enc(String(i)) }));
      const tooMany = await s.commit({ changes: many }).catch((e: unknown) => e);
      expect(tooMany).toMatchObject({ code: 'E_TOO_LARGE' });
      expect((tooMany as Error).message).toContain('--max-txn-ops');
      expect(await s.list('')).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('an unreachable cluster is E_IO naming the endpoints, after the connect timeout', async () => {
    const s = new EtcdStorage({ endpoints: ['http://127.0.0.1:1'], prefix: fresh(), connectTimeoutMs: 500 });
    const started = Date.now();
    const err = await s.read('current.json').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_IO' });
    expect((err as Error).message).toContain('http://127.0.0.1:1');
    expect(Date.now() - started).toBeLessThan(10_000);
    await s.close();
  });

  it('a watch whose revision is compacted away reloads its keys and goes on from there', async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const s = new EtcdStorage({ endpoints, prefix });
    const seen: string[] = [];
    const watcher = await s.watch(['a'], (e) => seen.push(e.type), () => undefined);
    await s.commit({ changes: [{ type: 'put', key: 'a', data: enc('1') }] });
    await s.compact();
    await s.commit({ changes: [{ type: 'put', key: 'a', data: enc('2') }] });
    for (const deadline = Date.now() + 3000; seen.length < 2 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(Buffer.from((await s.read('a'))!).toString()).toBe('2');
    expect(BigInt(s.appliedRevision)).toBeGreaterThan(0n);
    await watcher.close();
    await s.close();
  });

  it('reads and lists past the client\'s 4 MiB message limit: a long journal, large documents, more keys than one page', async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const s = new EtcdStorage({ endpoints, prefix });
    const fresh2 = new EtcdStorage({ endpoints, prefix }); // nothing recent in memory: every byte read from etcd
    try {
      // A journal of 48 records of 100 KB (4.8 MB together), as a history of ~20,000 saves is.
      const line = (i: number): Buffer => Buffer.from(`${String(i).padStart(6, '0')}${'x'.repeat(100_000)}\n`);
      for (let i = 0; i < 48; i++) await s.commit({ after: [{ type: 'append', key: 'history/a.jsonl', data: line(i) }] });
      const journal = Buffer.from((await fresh2.read('history/a.jsonl'))!);
      expect(journal.length).toBe(48 * line(0).length);
      expect(journal.equals(Buffer.concat(Array.from({ length: 48 }, (_, i) => line(i))))).toBe(true);
      // Four documents of 1.2 MB in one directory (backups of a large file).
      const doc = (i: number): Uint8Array => new Uint8Array(1_200_000).fill(65 + i);
      for (let i = 0; i < 4; i++) await s.commit({ changes: [{ type: 'put', key: `backups/big.${i}.json`, data: doc(i) }] });
      const listed = await fresh2.list('backups');
      expect(listed.map((e) => [e.name, e.size])).toEqual([0, 1, 2, 3].map((i) => [`big.${i}.json`, 1_200_000]));
      // More records than one page of a range, in the order they were appended.
      const small = Array.from({ length: RANGE_PAGE + 300 }, (_, i) => `${i}\n`);
      for (const l of small) await s.commit({ after: [{ type: 'append', key: 'audit.log', data: enc(l) }] });
      const audit = Buffer.from((await fresh2.read('audit.log'))!).toString().split('\n').filter(Boolean);
      expect(audit).toEqual(small.map((l) => l.trim()));
    } finally {
      await fresh2.close();
      await s.close();
    }
  });

  it('a holder whose lease expired cannot commit under its lock: E_LOCKED, nothing written', async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const s = new EtcdStorage({ endpoints, prefix, leaseTtlSeconds: 1 });
    const other = new EtcdStorage({ endpoints, prefix });
    await s.lock('current.json');
    expect(await codeOf(other.lock('current.json', { timeoutMs: 100 }))).toBe('E_LOCKED');
    await s.close(); // revokes the lease: as if it had expired
    const s2 = new EtcdStorage({ endpoints, prefix, leaseTtlSeconds: 1 });
    await s2.lock('x');
    const release = await other.lock('current.json', { timeoutMs: 3000 });
    await release();
    await s2.close();
    await other.close();
  });
});

describe('EtcdStorage on a member with a smaller request limit than it was told', () => {
  it('a commit etcd refuses as too large is E_TOO_LARGE naming both limits, not a lost answer or "no quorum"; nothing written', async () => {
    const cluster = await startEtcd(1, { flags: ['--max-request-bytes', String(64 * 1024)] });
    const s = new EtcdStorage({ endpoints: cluster.endpoints, prefix: fresh() }); // believes the default 1.5 MiB
    try {
      const err = await s.commit({ changes: [{ type: 'put', key: 'big.json', data: new Uint8Array(200_000) }] }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_TOO_LARGE' });
      expect((err as Error).message).toContain('request is too large');
      expect((err as Error).message).toContain('--max-request-bytes');
      expect((err as Error).message).not.toMatch(/quorum|answer was lost/);
      expect(await s.read('big.json')).toBeUndefined();
    } finally {
      await s.close();
      await cluster.stop();
    }
  });
});

describe('EtcdStorage on a member with authentication on', () => {
  it('wrong credentials are E_IO saying etcd refused them (EACCES); the right ones work', async () => {
    const secured = await startEtcd(1);
    try {
      const { endpoints } = secured;
      await ctl(endpoints, ['user', 'add', 'root:rootpw']);
      await ctl(endpoints, ['auth', 'enable']);
      const wrong = new EtcdStorage({ endpoints, prefix: fresh(), auth: { username: 'root', password: 'nope' }, connectTimeoutMs: 2000 });
      const err = await wrong.read('current.json').catch((e: unknown) => e);
      await wrong.close();
      expect(err).toMatchObject({ code: 'E_IO' });
      expect((err as Error).message).toContain('refused the credentials');
      expect((err as { cause?: { code?: string } }).cause?.code).toBe('EACCES');
      const right = new EtcdStorage({ endpoints, prefix: fresh(), auth: { username: 'root', password: 'rootpw' } });
      await right.commit({ changes: [{ type: 'put', key: 'current.json', data: enc('{}') }] });
      expect(Buffer.from((await right.read('current.json'))!).toString()).toBe('{}');
      await right.close();
    } finally {
      await secured.stop();
    }
  }, 30_000);
});
