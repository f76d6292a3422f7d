/**
 * Watch delivery on EtcdStorage against a real member: a change's content travels with the etcd
 * watch event (one revision, complete), so the watcher delivers it without a debounce and without
 * re-reading — the re-read was most of the 5.7x gap to a bare etcd watch measured by bench/etcd.mjs.
 * Counting the watcher's reads (a real EtcdStorage, its read() only counted) proves the path taken.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import type { WatchEvent } from '../src/index.js';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { EtcdClient } from '../src/storage/etcd/client.js';
import { oneMember } from './helpers/etcd.js';
import { codeOf } from './storage/contract.js';
import { tempDir } from './helpers/tmp.js';

const { etcd, opened } = oneMember();

/** A watching store whose storage counts its reads, and a second storage on the same prefix (another process). */
async function pair(extra: ConstructorParameters<typeof ConfigPersistence>[0] = {}): Promise<{ cp: ConfigPersistence; reads: () => number; writer: EtcdStorage }> {
  const { endpoints } = await etcd();
  const prefix = `w-${randomBytes(6).toString('hex')}/`;
  const work = await tempDir('cp-etcd-watch-');
  const storage = new EtcdStorage({ endpoints, prefix });
  let count = 0;
  const read = storage.read.bind(storage);
  storage.read = (key, opts) => {
    count++;
    return read(key, opts);
  };
  const writer = new EtcdStorage({ endpoints, prefix });
  const cp = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, storage, ...extra });
  opened.push(cp, storage, writer);
  return { cp, reads: () => count, writer };
}

async function waitFor(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const put = (writer: EtcdStorage, text: string) => writer.commit({ changes: [{ type: 'put', key: 'current.json', data: Buffer.from(text) }] });

describe('EtcdStorage watch delivers the content its event carries', () => {
  it('a change by another process is delivered without re-reading the key, in order, ending at the final state', async () => {
    const { cp, reads, writer } = await pair();
    await put(writer, '{"n": 0}');
    const seen: number[] = [];
    const handle = await cp.watch('current.json', (e: WatchEvent<unknown>) => void seen.push((e.data as { n: number }).n));
    const armed = reads();
    for (let n = 1; n <= 20; n++) await put(writer, JSON.stringify({ n }));
    await waitFor('the last change', () => seen.at(-1) === 20);
    // A burst may coalesce (only the newest pending content is delivered), never reorder.
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(new Set(seen).size).toBe(seen.length);
    expect(reads() - armed).toBe(0);
    await handle.close();
  });

  it('pushed content is still judged: invalid content goes to onError, over maxFileBytes is refused with E_TOO_LARGE', async () => {
    const { cp, writer } = await pair({ maxFileBytes: 64 });
    await put(writer, '{"n": 0}');
    const errors: Error[] = [];
    const seen: unknown[] = [];
    const handle = await cp.watch('current.json', (e) => void seen.push(e.data), { onError: (e) => errors.push(e) });
    await put(writer, '{ torn');
    await waitFor('the parse error', () => errors.length > 0);
    expect((errors[0] as { code?: string }).code).toBe('E_PARSE');
    await put(writer, JSON.stringify({ pad: 'x'.repeat(100) }));
    await waitFor('the size error', () => errors.length > 1);
    expect((errors[1] as { code?: string }).code).toBe('E_TOO_LARGE');
    await put(writer, '{"n": 2}');
    await waitFor('the good change after them', () => seen.length > 0);
    expect(seen).toEqual([{ n: 2 }]);
    await handle.close();
  });

  it('a removal still goes through the confirmed path (E_NOT_FOUND)', async () => {
    const { cp, writer } = await pair();
    await put(writer, '{"n": 1}');
    const errors: Error[] = [];
    const handle = await cp.watch('current.json', () => undefined, { onError: (e) => errors.push(e) });
    await writer.commit({ changes: [{ type: 'remove', key: 'current.json' }] });
    await waitFor('the removal', () => errors.length > 0);
    expect((errors[0] as { code?: string }).code).toBe('E_NOT_FOUND');
    await handle.close();
  });
});

describe('EtcdStorage reads what a commit touches in one transaction, or in steps when it is too wide', () => {
  // maxTxnOps 8: five new keys need 5 reads + 5 "anything below?" counts (> 8, read in steps) but only 5 puts.
  for (const maxTxnOps of [128, 8]) {
    it(`maxTxnOps ${maxTxnOps}: the commit lands, a key with keys below it is refused (EISDIR as E_IO), nothing half-done`, async () => {
      const { endpoints } = await etcd();
      const s = new EtcdStorage({ endpoints, prefix: `r-${randomBytes(6).toString('hex')}/`, maxTxnOps });
      opened.push(s);
      const puts = (keys: string[]) => keys.map((key) => ({ type: 'put' as const, key, data: Buffer.from(`{"k": "${key}"}`) }));
      await s.commit({ changes: puts(['a/b.json', 'c.json', 'd.json', 'e.json', 'f.json']) });
      expect(Buffer.from((await s.read('f.json'))!).toString()).toBe('{"k": "f.json"}');
      const refused = await s.commit({ changes: puts(['g.json', 'h.json', 'i.json', 'j.json', 'a']) }).catch((err: unknown) => err);
      expect(await codeOf(Promise.reject(refused))).toBe('E_IO');
      expect(String((refused as Error).message) + String((refused as Error).cause)).toMatch(/EISDIR|directory/);
      expect(await s.read('g.json')).toBeUndefined();
    });
  }
});

describe('EtcdStorage watch after a compaction', () => {
  it('a snapshot reload that fails half-way (a member between leaders) is made again; the watch is not left deaf', async () => {
    const { endpoints } = await etcd();
    const prefix = `w-${randomBytes(6).toString('hex')}/`;
    const watcher = new EtcdStorage({ endpoints, prefix, watchHealthMs: 100 });
    const writer = new EtcdStorage({ endpoints, prefix });
    opened.push(watcher, writer);
    const put = (key: string, text: string): Promise<void> => writer.commit({ changes: [{ type: 'put', key, data: Buffer.from(text) }] });
    const events: string[] = [];
    const errors: string[] = [];
    const watch = await watcher.watch(['a.json'], (e) => events.push(`${e.key} ${e.type}`), (err) => errors.push(err.message));
    await put('a.json', 'a1');
    await waitFor('a1', () => events.length === 1);
    // Changes outside the watched range, then a compaction past the last revision this watch delivered.
    for (let i = 0; i < 3; i++) await put('b.json', `b${i}`);
    await writer.compact();
    // The reload's reads at the snapshot revision fail once, as they do while a restarted member
    // has no leader yet ("leader changed"); the health checks around them answer.
    const range = EtcdClient.prototype.range;
    let failures = 1;
    EtcdClient.prototype.range = function (this: EtcdClient, ...args: Parameters<EtcdClient['range']>) {
      const opts = args[1];
      if (opts?.keysOnly && opts.revision !== undefined && failures > 0) {
        failures--;
        return Promise.reject(new Error('14 UNAVAILABLE: etcdserver: leader changed'));
      }
      return range.apply(this, args);
    };
    try {
      await watch.update(['a.json', 'c.json']); // a new range, from the last delivered revision + 1: compacted
      await waitFor('the injected failure', () => failures === 0);
    } finally {
      EtcdClient.prototype.range = range;
    }
    await waitFor('the snapshot after the retry', () => events.includes('c.json remove'));
    await put('a.json', 'a2');
    await waitFor('a2 after the reload', () => events.filter((e) => e === 'a.json change').length >= 3);
    expect(errors).toEqual([]);
    await watch.close();
  }, 30_000);
});
