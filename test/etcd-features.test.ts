/**
 * What only the etcd backend has, through the public API against a real etcd member: jitterMs, the
 * applied revision, openSync refused. The feature suite shared by every backend runs on etcd in
 * test/features-etcd.test.ts.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Configuration, ConfigPersistence } from '../src/index.js';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { codeOf } from './storage/contract.js';
import { tempDir } from './helpers/tmp.js';

let member: Promise<EtcdCluster> | undefined;
const etcd = (): Promise<EtcdCluster> => (member ??= startEtcd(1));

async function open(extra: ConstructorParameters<typeof ConfigPersistence>[0] = {}): Promise<{ cp: ConfigPersistence; storage: EtcdStorage; other: () => EtcdStorage; base: Record<string, unknown> }> {
  const { endpoints } = await etcd();
  const prefix = `f-${randomBytes(6).toString('hex')}/`;
  const work = await tempDir('cp-etcd-features-');
  const base = { baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false as const };
  const storage = new EtcdStorage({ endpoints, prefix });
  const cp = new ConfigPersistence({ ...base, storage, ...extra });
  opened.push(storage);
  const other = (): EtcdStorage => {
    const s = new EtcdStorage({ endpoints, prefix });
    opened.push(s);
    return s;
  };
  return { cp, storage, other, base };
}

/** Every storage a test made, closed after it even when the test failed or handed it to a store it never closed. */
const opened: EtcdStorage[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

async function waitFor(what: string, done: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a fleet on one etcd store: jitterMs and the applied revision', () => {
  it('jitterMs delays deliveries without reordering them; the watcher has applied the writer\'s revision; stats() shows it', async () => {
    const { cp, other } = await open();
    await cp.saveConfig({ n: 0 }, 'current.json');
    const seen: number[] = [];
    const handle = await cp.watch('current.json', (e) => void seen.push((e.data as { n: number }).n), { jitterMs: 50, debounceMs: 5 });
    const o = other();
    for (let n = 1; n <= 5; n++) await o.commit({ changes: [{ type: 'put', key: 'current.json', data: Buffer.from(JSON.stringify({ n })) }] });
    await waitFor('the last value', () => seen.at(-1) === 5, 10_000);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(new Set(seen).size).toBe(seen.length);
    expect(BigInt(cp.appliedRevision!)).toBeGreaterThanOrEqual(BigInt(o.appliedRevision));
    expect((await cp.stats()).appliedRevision).toBe(cp.appliedRevision);
    await handle.close();
    await o.close();
    await cp.close();
  });

  it('a jitterMs that is not a number of milliseconds >= 0 is E_VALIDATION before anything is armed', async () => {
    const { cp } = await open();
    for (const jitterMs of [-1, Number.NaN, '10' as unknown as number]) {
      expect(await codeOf(cp.watch('current.json', () => undefined, { jitterMs }))).toBe('E_VALIDATION');
    }
    await cp.close();
  });
});

describe('Configuration on EtcdStorage', () => {
  it('openSync is E_UNSUPPORTED: etcd has no synchronous reads', async () => {
    const { cp, other, base } = await open();
    expect(() => Configuration.openSync({ ...base, storage: other() })).toThrow(expect.objectContaining({ code: 'E_UNSUPPORTED' }));
    await cp.close();
  });
});
