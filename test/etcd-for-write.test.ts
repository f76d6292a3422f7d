/**
 * Reads for a write (src/storage/etcd/for-write.ts): a save's reads answered from what this
 * process's own last commit wrote. A stale answer must never cost another process's write: the
 * commit staged on it fails its compare and is refused with StaleError (never staged again behind
 * its caller's back), and the optimistic save retries with fresh reads.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { oneMember, twoStorages } from './helpers/etcd.js';
import { runNode, tempDir } from './helpers/tmp.js';

const { etcd, opened } = oneMember();
const DIST = path.resolve('dist');
const fresh = (): string => `fw-${randomBytes(6).toString('hex')}/`;
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString());

async function store(endpoints: string[], prefix: string): Promise<{ cp: ConfigPersistence; storage: EtcdStorage }> {
  const work = await tempDir('cp-etcd-fw-');
  const storage = new EtcdStorage({ endpoints, prefix });
  const cp = new ConfigPersistence({ baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false, storage });
  opened.push(cp);
  return { cp, storage };
}

describe('reads for a write on etcd', () => {
  it('two stores racing: a save staged on a stale memory of its own last save loses nothing of the other store\'s write', async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const a = await store(endpoints, prefix);
    const b = await store(endpoints, prefix);
    await a.cp.saveConfig({ by: 'a', n: 1 }, 'current.json');
    await a.cp.saveConfig({ by: 'a', n: 2 }, 'current.json'); // a remembers what it wrote
    await b.cp.saveConfig({ by: 'b', n: 3 }, 'current.json'); // a's memory of the file, its journal and the index is now stale
    const saved = await a.cp.saveConfig({ by: 'a', n: 4 }, 'current.json');
    expect(saved.version).toBe(4);
    expect(await b.cp.loadConfig('current.json')).toEqual({ by: 'a', n: 4 });
    const history = await b.cp.history('current.json');
    expect(history.map((v) => v.version).sort((x, y) => x - y)).toEqual([1, 2, 3, 4]);
    expect(await b.cp.getVersion('current.json', 3)).toEqual({ by: 'b', n: 3 });
    // a's save backed up what b wrote, not what a remembered.
    expect(saved.backup).toBeDefined();
    expect(JSON.parse(text(await b.storage.read(`backups/${saved.backup!.id}`))!)).toEqual({ by: 'b', n: 3 });
    expect((await b.cp.verify()).ok).toBe(true);
  }, 30_000);

  it('a commit prepared on memory whose journal another process appended to is refused (StaleError), not staged again', async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const [a, b] = twoStorages(endpoints, prefix, opened);
    await a.commit({ changes: [{ type: 'put', key: 'x', data: Buffer.from('1') }], after: [{ type: 'append', key: 'log', data: Buffer.from('x=1\n') }] });
    await b.commit({ after: [{ type: 'append', key: 'log', data: Buffer.from('other\n') }] }); // the document stays as it was
    const err = await a
      .readForWrite(async (scoped) => {
        const [doc, log] = await Promise.all([scoped.readEntry('x'), scoped.stat('log')]);
        expect(log!.size).toBe(4); // answered from a's own commit: stale
        // A plan that rests on the stale size (a version number, say): it must not land.
        await scoped.commit({ expect: [{ key: 'x', revision: doc!.entry.revision }], changes: [{ type: 'put', key: 'x', data: Buffer.from('2') }], after: [{ type: 'append', key: 'log', data: Buffer.from(`x=2 after ${log!.size} bytes\n`) }] });
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_CONFLICT' });
    expect(err?.constructor.name).toBe('StaleError');
    expect(text(await b.read('x'))).toBe('1');
    expect(text(await b.read('log'))).toBe('x=1\nother\n');
    // Outside a scope the same commit is staged on fresh reads, as before.
    await a.commit({ changes: [{ type: 'put', key: 'x', data: Buffer.from('2') }] });
    expect(text(await b.read('x'))).toBe('2');
  });

  it('loads are never answered from memory: a read right after its own commit sees another process\'s newer write', async () => {
    const { endpoints } = await etcd();
    const prefix = fresh();
    const [a, b] = twoStorages(endpoints, prefix, opened);
    await a.commit({ changes: [{ type: 'put', key: 'x', data: Buffer.from('a') }] });
    await b.commit({ changes: [{ type: 'put', key: 'x', data: Buffer.from('b') }] });
    expect(text(await a.read('x'))).toBe('b');
    expect((await a.stat('x'))!.revision).toBe((await b.stat('x'))!.revision);
  });
  it('a process that saves on etcd keeps promise hooks off (no AsyncLocalStorage: every promise of the application would pay)', async () => {
    const { endpoints } = await etcd();
    // A fresh process (the test runner's own hooks must not count), saving through the built package.
    const work = await tempDir('cp-etcd-hooks-');
    const script = `
      const { ConfigPersistence } = await import(${JSON.stringify(pathToFileURL(path.join(DIST, 'index.js')).href)});
      const { EtcdStorage } = await import(${JSON.stringify(pathToFileURL(path.join(DIST, 'etcd.js')).href)});
      const hooked = () => Object.getOwnPropertySymbols(Promise.resolve()).map(String).filter((s) => s.includes('async_id'));
      const before = hooked();
      const cp = new ConfigPersistence({ baseDir: ${JSON.stringify(path.join(work, 'config'))}, schemaDir: ${JSON.stringify(path.join(work, 'schemas'))}, validatorCache: false, storage: new EtcdStorage({ endpoints: ${JSON.stringify(endpoints)}, prefix: ${JSON.stringify(fresh())} }) });
      for (let i = 0; i < 5; i++) await cp.saveConfig({ i }, 'current.json');
      const saved = await cp.loadConfig('current.json');
      console.log(JSON.stringify({ before, after: hooked(), saved }));
      await cp.close();
    `;
    const run = await runNode(script);
    if (run.code !== 0) throw new Error(`child exited ${run.code}: ${run.stderr}`);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { before: string[]; after: string[]; saved: unknown };
    expect(result.saved).toEqual({ i: 4 });
    expect(result.before).toEqual([]);
    expect(result.after).toEqual([]);
  }, 30_000);
});
