/**
 * Watches spread over the members: each EtcdStorage starts its first watch on a random endpoint
 * and each further watch on the next one, so the watch streams of a fleet are not all held by the
 * first member listed. Observed from both sides on a real 3-member cluster: the storage's
 * `watchEndpoints`, and the watchers each member counts itself (its /metrics).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { startEtcd, type EtcdCluster } from './helpers/etcd.js';

let cluster: EtcdCluster | undefined;
afterAll(async () => cluster?.stop());

/** The watchers member `url` holds, from its own metrics (etcd 3.4: etcd_debugging_mvcc_watcher_total). */
async function watchersOn(url: string): Promise<number> {
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const line = metrics.split('\n').find((l) => l.startsWith('etcd_debugging_mvcc_watcher_total '));
  if (!line) throw new Error(`${url}/metrics has no etcd_debugging_mvcc_watcher_total`);
  return Number(line.split(' ')[1]);
}

it('6 watches of 2 storages on a 3-member cluster hold streams on every member, and each hears a save', async () => {
  cluster = await startEtcd(3);
  const { endpoints } = cluster;
  const prefix = `spread-${randomBytes(6).toString('hex')}/`;
  const storages = [0, 1].map(() => new EtcdStorage({ endpoints, prefix, connectTimeoutMs: 2000 }));
  const writer = new EtcdStorage({ endpoints, prefix });
  try {
    const heard: number[] = [];
    for (const [s, storage] of storages.entries()) {
      for (let w = 0; w < 3; w++) await storage.watch(['current.json'], () => heard.push(s * 3 + w), (err) => { throw err; });
    }
    // Round robin from a random start: each storage's 3 watches are on the 3 members, 2 per member.
    const perMember = await Promise.all(endpoints.map(watchersOn));
    expect(perMember).toEqual([2, 2, 2]);
    const used = storages.flatMap((s) => s.watchEndpoints);
    for (const s of storages) expect(new Set(s.watchEndpoints)).toEqual(new Set(endpoints));
    expect(perMember).toEqual(endpoints.map((e) => used.filter((u) => u === e).length));
    await writer.commit({ changes: [{ type: 'put', key: 'current.json', data: Buffer.from('{"n":1}') }] });
    const deadline = Date.now() + 5000;
    while (heard.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(heard.sort()).toEqual([0, 1, 2, 3, 4, 5]);
  } finally {
    await Promise.all([...storages, writer].map((s) => s.close()));
  }
}, 60_000);
