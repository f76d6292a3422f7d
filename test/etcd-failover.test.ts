/**
 * Failover on a real 3-member cluster: a watch whose member is frozen (SIGSTOP) or cut off goes
 * deaf in etcd (no leader is required on watch streams), so the watch checks its member with a
 * linearizable read and moves to the next endpoint, resuming from the last revision it delivered
 * + 1; reads retry the transient errors of a leader election; a write whose answer was lost is
 * never applied twice.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { startEtcd, type EtcdCluster } from './helpers/etcd.js';

let cluster: Promise<EtcdCluster> | undefined;
const etcd = (): Promise<EtcdCluster> => (cluster ??= startEtcd(3));
const fresh = (): string => `fo-${randomBytes(6).toString('hex')}/`;
afterAll(async () => {
  if (cluster) await (await cluster).stop();
});

const opened: EtcdStorage[] = [];
afterEach(async () => {
  const c = await etcd();
  for (let i = 0; i < c.members.length; i++) c.resume(i);
  await Promise.all(c.members.map((m, i) => (m.process ? undefined : c.restart(i))));
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

function storage(endpoints: readonly string[], prefix: string, extra: Partial<ConstructorParameters<typeof EtcdStorage>[0]> = {}): EtcdStorage {
  const s = new EtcdStorage({ endpoints, prefix, connectTimeoutMs: 2000, ...extra });
  opened.push(s);
  return s;
}

async function waitFor(what: string, done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A follower's index (freezing it leaves the writer's members a quorum with their leader). */
async function follower(c: EtcdCluster): Promise<number> {
  const leader = await c.leader();
  return leader === 0 ? 1 : 0;
}

describe('a watch on a frozen member fails over', () => {
  it('SIGSTOP the member the watch is on: every save made through the others arrives within 10 s, in order, once', async () => {
    const c = await etcd();
    const prefix = fresh();
    const frozen = await follower(c);
    const rest = c.endpoints.filter((_, i) => i !== frozen);
    const watcher = storage(c.endpoints, prefix);
    const writer = storage(rest, prefix);
    const seen: string[] = [];
    const errors: Error[] = [];
    // Watches start on endpoints in turn from a random one: keep the one on the member to freeze.
    let handle: Awaited<ReturnType<EtcdStorage['watch']>> | undefined;
    for (let w = 0; w < c.endpoints.length && !handle; w++) {
      const h = await watcher.watch(['current.json'], (e) => void seen.push(`${e.revision} ${Buffer.from(e.value ?? []).toString()}`), (err) => errors.push(err));
      if (watcher.watchEndpoints.at(-1) === c.endpoints[frozen]) handle = h;
      else await h.close();
    }
    if (!handle) throw new Error(`no watch started on ${c.endpoints[frozen]}: ${watcher.watchEndpoints.join(',')}`);
    const wrote: string[] = [];
    const save = async (n: number): Promise<void> => {
      await writer.commit({ changes: [{ type: 'put', key: 'current.json', data: Buffer.from(String(n)) }] });
      wrote.push(`${(await writer.stat('current.json'))!.revision} ${n}`);
    };
    for (let n = 1; n <= 5; n++) await save(n);
    await waitFor('the saves before the freeze', () => seen.length === 5, 5000);
    c.pause(frozen);
    for (let n = 6; n <= 30; n++) await save(n);
    const lastWrite = Date.now();
    await waitFor(`all 30 saves (seen ${seen.length})`, () => seen.length >= 30, 10_000);
    const lag = Date.now() - lastWrite;
    await new Promise((r) => setTimeout(r, 300)); // anything delivered twice would show up by now
    expect(seen).toEqual(wrote);
    expect(errors).toEqual([]);
    console.log(`watch failover: all 25 saves after the freeze heard ${lag} ms after the last one`);
    await handle.close();
  }, 60_000);
});
