/**
 * A commit whose answer is lost, with a real fault: a TCP proxy between the client and a real
 * member (test/helpers/etcd-proxy.ts) cuts the connection when the commit's transaction passes,
 * after etcd applied it, before it reached etcd, or while holding it to deliver it later. The
 * commit's marker (src/storage/etcd/outcome.ts) tells the client what happened: applied → the
 * commit resolves, once; not applied → `E_IO` "nothing was written" (and a transaction delivered
 * after that can no longer apply); no member answers the question → the outcome stays unknown.
 */
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import type { StorageWatchEvent } from '../src/storage/types.js';
import { oneMember } from './helpers/etcd.js';
import { lossProxy, type LossProxy } from './helpers/etcd-proxy.js';
import { tempDir } from './helpers/tmp.js';

const { etcd, opened } = oneMember();

const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString());

/** A storage through a fresh proxy, one straight to the member (another process), on one new prefix. */
async function setup(connectTimeoutMs = 1500): Promise<{ proxy: LossProxy; cut: EtcdStorage; direct: EtcdStorage; needle: string }> {
  const { endpoints } = await etcd();
  const proxy = await lossProxy(endpoints[0]!);
  const prefix = `lost-${randomBytes(6).toString('hex')}/`;
  const cut = new EtcdStorage({ endpoints: [proxy.url], prefix, connectTimeoutMs });
  const direct = new EtcdStorage({ endpoints, prefix });
  opened.push(cut, direct, proxy);
  // Warm: connected, the marker lease granted, a first version and a first journal record.
  await cut.commit({ changes: [{ type: 'put', key: 'a.json', data: Buffer.from('{"v":1}') }, { type: 'append', key: 'log', data: Buffer.from('one\n') }] });
  return { proxy, cut, direct, needle: `LOSE-${randomBytes(8).toString('hex')}` };
}

const second = (needle: string) => ({ changes: [{ type: 'put' as const, key: 'a.json', data: Buffer.from(`{"v":2,"m":"${needle}"}`) }, { type: 'append' as const, key: 'log', data: Buffer.from('two\n') }] });

describe('a commit whose answer was lost', () => {
  it('applied by etcd: the commit resolves as if the answer had arrived, written once, heard once', async () => {
    const { proxy, cut, direct, needle } = await setup();
    const events: StorageWatchEvent[] = [];
    const watch = await direct.watch(['a.json'], (e) => events.push(e), (err) => events.push({ type: 'remove', key: `error ${err.message}`, revision: '' }));
    proxy.arm(needle, 'applied');
    await cut.commit(second(needle));
    expect(proxy.cuts).toBe(1);
    expect(text(await direct.read('a.json'))).toBe(`{"v":2,"m":"${needle}"}`);
    expect(text(await direct.read('log'))).toBe('one\ntwo\n');
    const revision = (await direct.stat('a.json'))!.revision;
    expect(cut.appliedRevision).toBe(revision);
    await new Promise((r) => setTimeout(r, 300));
    expect(events.map((e) => `${e.type} ${e.key} ${e.revision}`)).toEqual([`change a.json ${revision}`]);
    await watch.close();
  }, 30_000);

  it('that never reached etcd: E_IO saying nothing was written; a retry then writes it', async () => {
    const { proxy, cut, direct, needle } = await setup();
    proxy.arm(needle, 'dropped');
    const err = await cut.commit(second(needle)).catch((e: unknown) => e);
    expect(proxy.cuts).toBe(1);
    expect(err).toMatchObject({ code: 'E_IO' });
    expect((err as Error).message).toContain('confirmed that it was not applied');
    expect((err as Error).message).toContain('nothing was written, and retrying is safe');
    expect(text(await direct.read('a.json'))).toBe('{"v":1}');
    await cut.commit(second(needle));
    expect(text(await direct.read('log'))).toBe('one\ntwo\n');
  }, 30_000);

  it('still in flight when the client asked: E_IO nothing was written, and the transaction delivered afterwards changes nothing', async () => {
    const { proxy, cut, direct, needle } = await setup();
    proxy.arm(needle, 'held');
    const err = await cut.commit(second(needle)).catch((e: unknown) => e);
    expect(proxy.cuts).toBe(1);
    expect((err as Error).message).toContain('nothing was written, and retrying is safe');
    const before = (await direct.stat('a.json'))!.revision;
    await proxy.deliver(); // the late transaction reaches etcd now: its marker's compare fails
    expect(text(await direct.read('a.json'))).toBe('{"v":1}');
    expect(text(await direct.read('log'))).toBe('one\n');
    expect((await direct.stat('a.json'))!.revision).toBe(before);
  }, 30_000);

  it('(the proxy itself) a held request delivered late is applied: the test above is not vacuous', async () => {
    const { endpoints } = await etcd();
    const proxy = await lossProxy(endpoints[0]!);
    opened.push(proxy);
    const key = `lost-ctl-${randomBytes(6).toString('hex')}`;
    const needle = `LOSE-${randomBytes(8).toString('hex')}`;
    const raw = new Etcd3({ hosts: [proxy.url], faultHandling: { global: { execute: (fn: () => Promise<unknown>) => fn() } as never } });
    const direct = new Etcd3({ hosts: endpoints });
    try {
      await raw.put(`${key}/warm`).value('1');
      proxy.arm(needle, 'held');
      await expect(raw.put(key).value(needle)).rejects.toThrow();
      expect(await direct.get(key).string()).toBeNull();
      await proxy.deliver();
      expect(await direct.get(key).string()).toBe(needle);
    } finally {
      raw.close();
      direct.close();
    }
  }, 30_000);

  it('when no member can answer the question: E_IO saying the outcome is unknown, after a bounded wait', async () => {
    const { proxy, cut, direct, needle } = await setup(500);
    proxy.arm(needle, 'blackhole');
    const started = Date.now();
    const err = await cut.commit(second(needle)).catch((e: unknown) => e);
    expect(proxy.cuts).toBe(1);
    expect(err).toMatchObject({ code: 'E_IO' });
    expect((err as Error).message).toContain('no member could tell within 4 tries whether etcd applied it (the outcome is unknown)');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(text(await direct.read('a.json'))).toBe('{"v":1}');
    proxy.open();
  }, 30_000);
});

describe('an update() whose lock release is lost after its commit landed', () => {
  it('resolves (the change is made: a retry would make it twice), and the lock goes with the lease', async () => {
    const { endpoints } = await etcd();
    const proxy = await lossProxy(endpoints[0]!);
    const prefix = `rel-${randomBytes(6).toString('hex')}/`;
    const cut = new EtcdStorage({ endpoints: [proxy.url], prefix, connectTimeoutMs: 400, leaseTtlSeconds: 2 });
    const direct = new EtcdStorage({ endpoints, prefix });
    const work = await tempDir('cp-etcd-release-');
    const cp = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, storage: cut });
    const other = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, storage: direct });
    opened.push(cp, other, proxy);
    await cp.update('counter.json', () => ({ n: 1 }));
    // update() resolves once its commit landed, before its lock is released: wait for that release.
    await (await direct.lock('counter.json', { timeoutMs: 5000 }))();
    // The release's own bytes: a DeleteRangeRequest of the lock's key inside a RequestOp (field 3).
    const lockKey = Buffer.from(`${prefix}l/counter.json`);
    const needle = Buffer.concat([Buffer.from([0x1a, lockKey.length + 2, 0x0a, lockKey.length]), lockKey]).toString();
    const result = await cp
      .update('counter.json', (d) => {
        proxy.arm(needle, 'blackhole'); // armed while the lock is held: the commit passes, its release does not
        return { n: (d as { n: number }).n + 1 };
      })
      .catch((e: unknown) => e);
    expect(proxy.cuts).toBe(1);
    expect(result).not.toBeInstanceOf(Error);
    expect(await other.loadConfig('counter.json')).toEqual({ n: 2 });
    proxy.open();
    // Taken by another process once the lease is gone (dropped after the release failed, or its TTL).
    await other.update('counter.json', (d) => ({ n: (d as { n: number }).n + 1 }));
    expect(await other.loadConfig('counter.json')).toEqual({ n: 3 });
  }, 60_000);
});

describe('an update() whose lock acquisition answer is lost', () => {
  // The acquisition's own bytes: the PutRequest of the lock's key with this process's pid as value.
  const acquisition = (prefix: string, name: string): string => {
    const key = Buffer.from(`${prefix}l/${name}`);
    const pid = Buffer.from(String(process.pid));
    return Buffer.concat([Buffer.from([0x0a, key.length]), key, Buffer.from([0x12, pid.length]), pid]).toString();
  };

  async function stores(): Promise<{ proxy: LossProxy; cp: ConfigPersistence; other: ConfigPersistence; direct: EtcdStorage; needle: string; release: string }> {
    const { endpoints } = await etcd();
    const proxy = await lossProxy(endpoints[0]!);
    const prefix = `acq-${randomBytes(6).toString('hex')}/`;
    const work = await tempDir('cp-etcd-acquire-');
    const options = { baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, lockTimeoutMs: 3000 };
    // Its lease outlives the test by far: a lock left held by it would never go by itself.
    const cp = new ConfigPersistence({ ...options, storage: new EtcdStorage({ endpoints: [proxy.url], prefix, connectTimeoutMs: 1500, leaseTtlSeconds: 60 }) });
    const direct = new EtcdStorage({ endpoints, prefix });
    const other = new ConfigPersistence({ ...options, storage: direct });
    opened.push(cp, other, proxy);
    await cp.update('counter.json', () => ({ n: 1 }));
    // update() resolves once its commit landed, before its lock is released: wait for that release.
    await (await direct.lock('counter.json', { timeoutMs: 5000 }))();
    // The release's own bytes: a DeleteRangeRequest of the lock's key inside a RequestOp (field 3).
    const lockKey = Buffer.from(`${prefix}l/counter.json`);
    const release = Buffer.concat([Buffer.from([0x1a, lockKey.length + 2, 0x0a, lockKey.length]), lockKey]).toString();
    return { proxy, cp, other, direct, needle: acquisition(prefix, 'counter.json'), release };
  }

  it('applied by etcd: the update goes on holding the lock it got, and releases it', async () => {
    const { proxy, cp, other, needle } = await stores();
    proxy.arm(needle, 'applied');
    await cp.update('counter.json', (d) => ({ n: (d as { n: number }).n + 1 }));
    expect(proxy.cuts).toBe(1);
    // Another process takes the lock at once: it was not left behind, held by a lease kept alive.
    await other.update('counter.json', (d) => ({ n: (d as { n: number }).n + 1 }));
    expect(await other.loadConfig('counter.json')).toEqual({ n: 3 });
    await cp.update('counter.json', (d) => ({ n: (d as { n: number }).n + 1 }));
    expect(await cp.loadConfig('counter.json')).toEqual({ n: 4 });
  }, 30_000);

  it('delivered after the client gave up on it: the try is made again, and the late one takes no lock', async () => {
    const { proxy, cp, other, needle } = await stores();
    proxy.arm(needle, 'held');
    // Known not applied (its marker blocked it), so taking the lock is simply tried again.
    await cp.update('counter.json', (d) => ({ n: (d as { n: number }).n + 1 }));
    expect(proxy.cuts).toBe(1);
    await proxy.deliver();
    await other.update('counter.json', (d) => ({ n: (d as { n: number }).n + 1 }));
    await cp.update('counter.json', (d) => ({ n: (d as { n: number }).n + 1 }));
    expect(await other.loadConfig('counter.json')).toEqual({ n: 4 });
  }, 30_000);

  it('a release delivered late does not delete the lock the same process took again', async () => {
    const { proxy, cp, direct, release } = await stores();
    proxy.arm(release, 'held');
    await cp.update('counter.json', (d) => ({ n: (d as { n: number }).n + 1 })); // its release is retried on a new connection
    expect(proxy.cuts).toBe(1);
    let during: unknown;
    await cp.update('counter.json', async (d) => {
      await proxy.deliver(); // the first release arrives while the lock is held again, by the same lease
      during = await direct.lock('counter.json', { timeoutMs: 300 }).then(
        (r) => r().then(() => 'taken by another process'),
        (e: unknown) => e,
      );
      return { n: (d as { n: number }).n + 1 };
    });
    expect(during).toMatchObject({ code: 'E_LOCKED' });
    expect(await cp.loadConfig('counter.json')).toEqual({ n: 3 });
  }, 30_000);
});
