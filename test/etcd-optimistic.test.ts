/**
 * Optimistic saves on etcd (Storage.optimistic, Store.optimistic): a saveConfig takes no lock; its
 * transaction compares the file's revision and that no other process holds the file's lock. A
 * save that loses a race reads again and retries; one that meets a held lock waits for it like any
 * locked writer. Real etcd member, real concurrent stores.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { oneMember } from './helpers/etcd.js';
import { tempDir } from './helpers/tmp.js';

const { etcd, opened } = oneMember();

async function stores(n: number): Promise<{ prefix: string; endpoints: string[]; list: ConfigPersistence[] }> {
  const { endpoints } = await etcd();
  const prefix = `opt-${randomBytes(6).toString('hex')}/`;
  const work = await tempDir('cp-etcd-opt-');
  const list = Array.from({ length: n }, () => {
    const storage = new EtcdStorage({ endpoints, prefix });
    const cp = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, storage });
    opened.push(cp, storage);
    return cp;
  });
  return { prefix, endpoints, list };
}

describe('optimistic saves on etcd', () => {
  it('two stores saving one file at once: every save lands once, versions contiguous, nothing refused', async () => {
    const { list } = await stores(2);
    const [a, b] = list as [ConfigPersistence, ConfigPersistence];
    await a.saveConfig({ by: 'seed', n: 0 }, 'shared.json');
    const results = await Promise.all([
      ...Array.from({ length: 30 }, (_, n) => a.saveConfig({ by: 'a', n }, 'shared.json')),
      ...Array.from({ length: 30 }, (_, n) => b.saveConfig({ by: 'b', n }, 'shared.json')),
    ]);
    const history = await a.history('shared.json');
    const versions = history.map((v) => v.version).sort((x, y) => x - y);
    expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1)); // contiguous, no duplicates
    // Coalescing may merge a burst from one store; every acknowledged version is in the history.
    for (const r of results) expect(versions).toContain(r.version);
    const last = await a.loadConfig('shared.json');
    expect(['a', 'b']).toContain((last as { by: string }).by);
    expect((last as { n: number }).n).toBe(29);
  }, 60_000);

  it('a save meeting a lock another process holds waits for it, then lands', async () => {
    const { list, prefix, endpoints } = await stores(1);
    const [cp] = list as [ConfigPersistence];
    await cp.saveConfig({ n: 0 }, 'held.json');
    const holder = new EtcdStorage({ endpoints, prefix });
    opened.push(holder);
    const release = await holder.lock('held.json');
    let done = false;
    const saving = cp.saveConfig({ n: 1 }, 'held.json').then((r) => {
      done = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 600));
    expect(done).toBe(false); // not written past the holder
    expect(await cp.loadConfig('held.json')).toEqual({ n: 0 });
    await holder.commit({ changes: [{ type: 'put', key: 'held.json', data: Buffer.from('{"n":"holder"}') }] });
    await release();
    const saved = await saving;
    expect(done).toBe(true);
    expect(await cp.loadConfig('held.json')).toEqual({ n: 1 });
    expect(saved.backup).toBeDefined(); // the holder's content was backed up before being replaced
  }, 30_000);

  it('ifVersion still refuses a stale save (the race is not retried past it)', async () => {
    const { list } = await stores(2);
    const [a, b] = list as [ConfigPersistence, ConfigPersistence];
    const first = await a.saveConfig({ n: 1 }, 'cond.json');
    await b.saveConfig({ n: 2 }, 'cond.json');
    await expect(a.saveConfig({ n: 3 }, 'cond.json', { ifVersion: first.version })).rejects.toMatchObject({ code: 'E_CONFLICT' });
    expect(await a.loadConfig('cond.json')).toEqual({ n: 2 });
  }, 30_000);
});
