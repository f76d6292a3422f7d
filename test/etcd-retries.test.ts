/**
 * EtcdStorage across a leader election on a real 3-member cluster: reads (list, read, stat, and
 * the read a commit starts with) retry transient failures instead of surfacing them, while a
 * transaction is never resent blindly (its error says the outcome is unknown; etcd-cluster.test.ts
 * checks that update() increments are never applied twice across a leader kill).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { startEtcd, type EtcdCluster } from './helpers/etcd.js';

let cluster: EtcdCluster | undefined;
afterAll(async () => cluster?.stop());

it('reads never fail with a transient error while the leader is killed and a new one is elected', async () => {
  cluster = await startEtcd(3);
  const c = cluster;
  const storage = new EtcdStorage({ endpoints: c.endpoints, prefix: `r-${randomBytes(6).toString('hex')}/`, connectTimeoutMs: 2000 });
  try {
    for (const name of ['a.json', 'b.json', 'sub/c.json']) await storage.commit({ changes: [{ type: 'put', key: name, data: Buffer.from(`{"n":"${name}"}`) }] });
    const failures: string[] = [];
    let reads = 0;
    let stop = false;
    const reader = (async () => {
      while (!stop) {
        await Promise.all([
          storage.list('').then((l) => expect(l.map((e) => e.key)).toEqual(expect.arrayContaining(['a.json', 'b.json']))),
          storage.read('a.json').then((b) => expect(Buffer.from(b!).toString()).toBe('{"n":"a.json"}')),
          storage.stat('sub'),
          storage.read('missing.json').then((b) => expect(b).toBeUndefined()),
        ]).then(
          () => reads++,
          (err: unknown) => failures.push(String((err as Error).message ?? err)),
        );
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    await c.kill(await c.leader());
    await new Promise((r) => setTimeout(r, 4000));
    stop = true;
    await reader;
    expect(failures).toEqual([]);
    expect(reads).toBeGreaterThan(10);
  } finally {
    await storage.close();
  }
}, 60_000);
