/**
 * The parsed history journals an instance keeps (history/journal.ts) stay valid while saves of
 * other files are in flight (#19): the background pruning pass reads every file's journal, and a
 * journal whose own save had appended its line but not yet resolved looked changed, so it was read
 * and parsed whole again — with 16 files saved together, every pass re-read all of them, a cost
 * that grew with every version ever saved. Counted on the real directory, reads of
 * `history/*.jsonl` through the storage.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { LocalStorage } from '../src/storage/index.js';
import { tempDir } from './helpers/tmp.js';

/** A LocalStorage whose reads of history journals are counted (everything else passes through). */
function countingStorage(dir: string): { storage: LocalStorage; journalReads: () => number } {
  const storage = new LocalStorage(dir);
  let reads = 0;
  for (const method of ['read', 'readEntry'] as const) {
    const original = storage[method].bind(storage) as (...args: unknown[]) => Promise<unknown>;
    (storage as unknown as Record<string, unknown>)[method] = (key: string, ...rest: unknown[]) => {
      if (/^history\/[^/]+\.jsonl$/.test(key)) reads++;
      return original(key, ...rest);
    };
  }
  return { storage, journalReads: () => reads };
}

describe('the journal cache beside concurrent saves', () => {
  it('16 files saved together 110 times: no journal is read again after the first saves', async () => {
    const dir = path.join(await tempDir('cp-jcache-'), 'base');
    const { storage, journalReads } = countingStorage(dir);
    const cp = new ConfigPersistence({ storage, schemaDir: path.join(dir, '..', 'none'), backupOnWrite: false });
    const files = Array.from({ length: 16 }, (_, i) => `service-${i}.json`);
    const batch = (n: number) => Promise.all(files.map((f, i) => cp.saveConfig({ file: i, n, pad: 'x'.repeat(300) }, f)));
    for (let n = 0; n < 3; n++) await batch(n);
    const before = journalReads();
    // Past two pruning passes of every file (one each 50 saves), each reading all 16 journals.
    for (let n = 3; n < 110; n++) await batch(n);
    await cp.close();
    expect(journalReads() - before).toBe(0);
    // And the history is whole: every save a version, in order.
    const check = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, '..', 'none') });
    const history = await check.history('service-7.json');
    expect(history.map((h) => h.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 110 }, (_, i) => i + 1));
    await check.close();
  });
});
