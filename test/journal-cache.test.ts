/**
 * The parsed history journals an instance keeps (history/journal.ts) stay valid while saves of
 * other files are in flight (#19): the background pruning pass reads every file's journal, and a
 * journal whose own save had appended its line but not yet resolved looked changed, so it was read
 * and parsed whole again — with 16 files saved together, every pass re-read all of them, a cost
 * that grew with every version ever saved. The backup index likewise: every other save read it
 * whole while the others' records were written but not yet taken into the view. Counted on the
 * real directory, reads through the storage.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { LocalStorage } from '../src/storage/index.js';
import { tempDir } from './helpers/tmp.js';

/** A LocalStorage whose reads of history journals are counted (everything else passes through). */
function countingStorage(dir: string): { storage: LocalStorage; journalReads: () => number; indexReads: () => number } {
  const storage = new LocalStorage(dir);
  let reads = 0;
  let indexReads = 0;
  for (const method of ['read', 'readEntry'] as const) {
    const original = storage[method].bind(storage) as (...args: unknown[]) => Promise<unknown>;
    (storage as unknown as Record<string, unknown>)[method] = (key: string, ...rest: unknown[]) => {
      if (/^history\/[^/]+\.jsonl$/.test(key)) reads++;
      if (key === 'backups/index.jsonl') indexReads++;
      return original(key, ...rest);
    };
  }
  return { storage, journalReads: () => reads, indexReads: () => indexReads };
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

  it('16 files saved together with their backups: the backup index is not read again, and every record is right', async () => {
    const dir = path.join(await tempDir('cp-jcache-'), 'base');
    const { storage, indexReads } = countingStorage(dir);
    const cp = new ConfigPersistence({ storage, schemaDir: path.join(dir, '..', 'none') });
    const files = Array.from({ length: 16 }, (_, i) => `service-${i}.json`);
    const batch = (n: number) => Promise.all(files.map((f, i) => cp.saveConfig({ file: i, n }, f)));
    for (let n = 0; n < 15; n++) await batch(n);
    const before = indexReads();
    for (let n = 15; n < 30; n++) await batch(n);
    expect(indexReads() - before).toBe(0); // 120 in these 240 saves on the code before
    // Retention kept the newest 10 of each file, and the index says so to a fresh reader too.
    const listed = await cp.listBackups();
    await cp.close();
    const fresh = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, '..', 'none') });
    const again = await fresh.listBackups();
    await fresh.close();
    expect(again.map((b) => b.id).sort()).toEqual(listed.map((b) => b.id).sort());
    for (const f of files) expect(again.filter((b) => b.file === f).length, f).toBe(10);
    expect(again.every((b) => b.trigger !== 'recovered')).toBe(true);
  });

  it('another process appending to the index meanwhile is still read', async () => {
    const dir = path.join(await tempDir('cp-jcache-'), 'base');
    const { storage, indexReads } = countingStorage(dir);
    const cp = new ConfigPersistence({ storage, schemaDir: path.join(dir, '..', 'none') });
    const other = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, '..', 'none') });
    const files = Array.from({ length: 8 }, (_, i) => `service-${i}.json`);
    for (let n = 0; n < 3; n++) await Promise.all(files.map((f, i) => cp.saveConfig({ file: i, n }, f)));
    const before = indexReads();
    // The other instance's backup of its own file lands while this one's saves are in flight.
    await Promise.all([...files.map((f, i) => cp.saveConfig({ file: i, n: 3 }, f)), other.saveConfig({ n: 1 }, 'other.json').then(() => other.saveConfig({ n: 2 }, 'other.json'))]);
    await Promise.all(files.map((f, i) => cp.saveConfig({ file: i, n: 4 }, f)));
    expect(indexReads() - before).toBeGreaterThan(0);
    const mine = await cp.listBackups('other.json');
    const theirs = await other.listBackups('other.json');
    expect(mine.map((b) => b.id)).toEqual(theirs.map((b) => b.id));
    expect(mine.length).toBe(1);
    await Promise.all([cp.close(), other.close()]);
  });

  it('the local storage tells of an append once the file holds it', async () => {
    const dir = path.join(await tempDir('cp-jcache-'), 'base');
    const storage = new LocalStorage(dir);
    await storage.commit({ changes: [{ type: 'put', key: 'a.json', data: Buffer.from('{}') }] });
    const sizes: Array<[string, number]> = [];
    const line = Buffer.from('{"op":"add"}\n');
    for (const sync of ['commit', 'soon', 'lazy'] as const) {
      await storage.commit({
        prepare: [{ type: 'append', key: 'backups/index.jsonl', data: line, sync }],
        changes: [{ type: 'put', key: 'a.json', data: Buffer.from(`{"sync":"${sync}"}`) }],
        after: [{ type: 'append', key: 'audit.log', data: line, sync }],
        appended: (key) => sizes.push([key, statSync(path.join(dir, key)).size]),
      });
    }
    await storage.close();
    // Each told while the file already held it: 1, 2, 3 lines.
    expect(sizes.filter(([k]) => k === 'backups/index.jsonl').map(([, n]) => n)).toEqual([1, 2, 3].map((n) => n * line.byteLength));
    expect(sizes.filter(([k]) => k === 'audit.log').map(([, n]) => n)).toEqual([1, 2, 3].map((n) => n * line.byteLength));
  });
});
