/**
 * A commit over etcd's operation limit (src/storage/etcd/split.ts), against a real member started
 * with `--max-txn-ops 32`: a snapshot restore or a bundle import over more files than one
 * transaction holds writes its new backups first and still changes every file in one transaction;
 * when that last transaction fails or never lands nothing changes, the writer takes its early
 * parts back itself, or verify reports them and repair removes them; a commit whose last part
 * alone is over the limit is refused with E_TOO_LARGE, nothing written.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { EtcdStorage, type EtcdStorageOptions } from '../src/storage/etcd/index.js';
import { abandonedParts, ABANDONED_AFTER_MS } from '../src/storage/etcd/split.js';
import { encodeValue } from '../src/storage/etcd/layout.js';
import { oneMember } from './helpers/etcd.js';
import { lossProxy } from './helpers/etcd-proxy.js';
import { newKey } from './helpers/encryption.js';
import { tempDir } from './helpers/tmp.js';

const LIMIT = 32;
/** Files in a commit that fits only split at LIMIT (6 still fit one transaction; 12 do not fit even split). */
const N = 8;
const { etcd, opened } = oneMember({ flags: ['--max-txn-ops', String(LIMIT)] });

interface Opened {
  cp: ConfigPersistence;
  storage: EtcdStorage;
  /** Another process's view of the same store. */
  other: () => Promise<{ cp: ConfigPersistence; storage: EtcdStorage }>;
}

async function open(opts: Partial<EtcdStorageOptions> = {}, prefix = `s-${randomBytes(6).toString('hex')}/`, store: Partial<ConstructorParameters<typeof ConfigPersistence>[0]> = {}): Promise<Opened> {
  const { endpoints } = await etcd();
  const work = await tempDir('cp-etcd-split-');
  const base = { baseDir: path.join(work, 'config'), schemaDir: path.join(work, 'schemas'), validatorCache: false as const };
  const make = (o: Partial<EtcdStorageOptions>): { cp: ConfigPersistence; storage: EtcdStorage } => {
    const storage = new EtcdStorage({ endpoints, prefix, maxTxnOps: LIMIT, ...o });
    const cp = new ConfigPersistence({ ...base, ...store, storage });
    opened.push(cp); // closes its storage too
    return { cp, storage };
  };
  const { cp, storage } = make(opts);
  return { cp, storage, other: async () => make({}) };
}

const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;
const files = (n: number): string[] => Array.from({ length: n }, (_, i) => `f${i}.json`);

/** Every file saved with `tag`; what each holds. */
async function saveAll(cp: ConfigPersistence, n: number, tag: string): Promise<void> {
  for (const [i, file] of files(n).entries()) await cp.saveConfig({ i, tag }, file);
}

async function contents(cp: ConfigPersistence, n: number): Promise<unknown[]> {
  return Promise.all(files(n).map((f) => cp.loadConfig(f)));
}

describe('a commit over --max-txn-ops', () => {
  it('a snapshot restore over 8 files: its backups go first, every file changes in one transaction, nothing is left over', async () => {
    const { cp, storage } = await open();
    await saveAll(cp, N, 'old');
    const snap = await cp.createSnapshot({ label: 'before' });
    await saveAll(cp, N, 'new');
    const { safetyBackup } = await cp.restoreBackup(snap.id);
    expect(await contents(cp, N)).toEqual(files(N).map((_, i) => ({ i, tag: 'old' })));
    // One transaction changed the files: they share its revision; the backups landed before it.
    const revisions = await Promise.all(files(N).map(async (f) => (await storage.stat(f))!.revision));
    expect(new Set(revisions).size).toBe(1);
    const taken = (await cp.listBackups()).filter((b) => b.trigger === 'pre-restore');
    expect(taken.map((b) => b.file).sort()).toEqual(['*', ...files(N)].sort());
    expect(taken.map((b) => b.id)).toContain(safetyBackup!.id);
    for (const b of taken) expect(BigInt((await storage.stat(`backups/${b.id}`))!.revision)).toBeLessThan(BigInt(revisions[0]!));
    for (const f of files(N)) expect((await cp.history(f))[0]).toMatchObject({ reason: expect.anything() as unknown });
    expect(await storage.list('.parts')).toEqual([]);
    expect(await cp.verify()).toEqual({ ok: true, problems: [] });
  }, 60_000);

  it('encrypted: the sealed backups go first the same way', async () => {
    const M = N - 1; // its commit also expects each backup's source and the settings file: one file less fits
    const { cp, storage } = await open({}, undefined, { encryptionKey: newKey() });
    await saveAll(cp, M, 'old');
    const snap = await cp.createSnapshot({});
    await saveAll(cp, M, 'new');
    await cp.restoreBackup(snap.id);
    expect(await contents(cp, M)).toEqual(files(M).map((_, i) => ({ i, tag: 'old' })));
    const revision = (await storage.stat('f0.json'))!.revision;
    const taken = (await cp.listBackups()).filter((b) => b.trigger === 'pre-restore');
    expect(taken).toHaveLength(M + 1);
    for (const b of taken) expect(BigInt((await storage.stat(`backups/${b.id}`))!.revision)).toBeLessThan(BigInt(revision));
    expect((await cp.verify()).ok).toBe(true);
  }, 60_000);

  it('a bundle import overwriting 8 files is split the same way and is heard as one change set', async () => {
    const { cp, storage, other } = await open();
    await saveAll(cp, N, 'old');
    const bundle = await cp.exportBundle({});
    await saveAll(cp, N, 'new');
    const listener = await other();
    const heard: string[][] = [];
    const watches = await Promise.all(files(N).map((f) => listener.cp.watch(f, (e) => heard.push([e.file, String((e.data as { tag: string }).tag)]))));
    const report = await cp.importBundle(bundle, { onConflict: 'overwrite' });
    expect(report.overwritten).toHaveLength(N);
    expect(await contents(cp, N)).toEqual(files(N).map((_, i) => ({ i, tag: 'old' })));
    const revisions = await Promise.all(files(N).map(async (f) => (await storage.stat(f))!.revision));
    expect(new Set(revisions).size).toBe(1);
    const deadline = Date.now() + 5000;
    while (heard.length < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(heard.map(([f]) => f).sort()).toEqual(files(N).sort());
    expect(heard.every(([, tag]) => tag === 'old')).toBe(true);
    for (const w of watches) await w.close();
    expect(await storage.list('.parts')).toEqual([]);
  }, 60_000);

  it('the last part alone over the limit (12 files): E_TOO_LARGE naming its count and the limit, nothing written', async () => {
    const { cp, storage } = await open();
    await saveAll(cp, 12, 'old');
    const snap = await cp.createSnapshot({});
    await saveAll(cp, 12, 'new');
    const backups = (await cp.listBackups()).map((b) => b.id);
    const audit = (await storage.stat('audit.log'))!.revision;
    const index = (await storage.stat('backups/index.jsonl'))!.revision;
    const err = await cp.restoreBackup(snap.id).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('E_TOO_LARGE');
    expect((err as Error).message).toMatch(new RegExp(`its last transaction .* needs \\d+ operations, over etcd's limit of ${LIMIT} \\(--max-txn-ops\\); nothing was written`));
    expect(await contents(cp, 12)).toEqual(files(12).map((_, i) => ({ i, tag: 'new' })));
    expect((await cp.listBackups()).map((b) => b.id)).toEqual(backups);
    expect(await storage.list('.parts')).toEqual([]);
    // No record of it either (its locks are the only writes it made).
    expect((await storage.stat('audit.log'))!.revision).toBe(audit);
    expect((await storage.stat('backups/index.jsonl'))!.revision).toBe(index);
  }, 60_000);

  it('new files only (nothing can go ahead): E_TOO_LARGE for the one transaction', async () => {
    const { cp, storage } = await open();
    const other = await open();
    await saveAll(other.cp, 12, 'elsewhere');
    const bundle = await other.cp.exportBundle({});
    const err = await cp.importBundle(bundle, { onConflict: 'overwrite' }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('E_TOO_LARGE');
    // The import's safety snapshot could go ahead; its files and their records cannot.
    expect((err as Error).message).toMatch(new RegExp(`its last transaction .* needs \\d+ operations, over etcd's limit of ${LIMIT}`));
    // Nothing was written, the safety snapshot included (it is part of the import's commit).
    expect((await storage.list('')).filter((e) => e.name.endsWith('.json'))).toEqual([]);
    expect(await cp.listBackups()).toEqual([]);
    expect(await storage.list('.parts')).toEqual([]);
  }, 60_000);

  it('the last transaction lost and found not applied: nothing changes, the writer takes its backups back, a late delivery changes nothing', async () => {
    const { endpoints } = await etcd();
    const proxy = await lossProxy(endpoints[0]!);
    opened.push(proxy);
    const prefix = `s-${randomBytes(6).toString('hex')}/`;
    const writer = await open({ endpoints: [proxy.url], connectTimeoutMs: 1500 }, prefix);
    const needle = `NEEDLE-${randomBytes(8).toString('hex')}`;
    await saveAll(writer.cp, N, needle); // the snapshot's content: only the final transaction carries it raw
    const snap = await writer.cp.createSnapshot({});
    await saveAll(writer.cp, N, 'new');
    const before = (await writer.cp.listBackups()).map((b) => b.id);
    proxy.arm(needle, 'held');
    const err = await writer.cp.restoreBackup(snap.id).catch((e: unknown) => e);
    expect(proxy.cuts).toBe(1);
    expect(codeOf(err)).toBe('E_IO');
    expect((err as Error).message).toContain('nothing was written, and retrying is safe');
    const reader = await open({}, prefix);
    await proxy.deliver(); // the held final transaction reaches etcd now: its compares fail
    expect(await contents(reader.cp, N)).toEqual(files(N).map((_, i) => ({ i, tag: 'new' })));
    expect((await reader.cp.listBackups()).map((b) => b.id)).toEqual(before);
    expect(await reader.storage.list('.parts')).toEqual([]);
    expect(await reader.cp.verify()).toEqual({ ok: true, problems: [] });
  }, 60_000);

  /** A writer through a loss proxy, whose current files (what the early parts back up) carry `needle`. */
  async function earlyLoss(mode: 'applied' | 'held'): Promise<{ err: unknown; reader: Opened; before: string[]; proxy: Awaited<ReturnType<typeof lossProxy>> }> {
    const { endpoints } = await etcd();
    const proxy = await lossProxy(endpoints[0]!);
    opened.push(proxy);
    const prefix = `s-${randomBytes(6).toString('hex')}/`;
    const writer = await open({ endpoints: [proxy.url], connectTimeoutMs: 1500 }, prefix);
    await saveAll(writer.cp, N, 'old');
    const snap = await writer.cp.createSnapshot({});
    const needle = `NEEDLE-${randomBytes(8).toString('hex')}`;
    await saveAll(writer.cp, N, needle); // the restore's safety backups copy these: the first early part carries it
    const before = (await writer.cp.listBackups()).map((b) => b.id);
    proxy.arm(needle, mode);
    const err = await writer.cp.restoreBackup(snap.id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(proxy.cuts).toBe(1);
    return { err, reader: await open({}, prefix), before, proxy };
  }

  it('an early part applied but its answer lost: the commit goes on and lands whole, nothing left over', async () => {
    const { err, reader } = await earlyLoss('applied');
    expect(err).toBeUndefined();
    expect(await contents(reader.cp, N)).toEqual(files(N).map((_, i) => ({ i, tag: 'old' })));
    expect(await reader.storage.list('.parts')).toEqual([]);
    expect(await reader.cp.verify()).toEqual({ ok: true, problems: [] });
  }, 60_000);

  it('an early part delivered after its writer gave up on it: E_IO nothing was written, and it changes nothing when it arrives', async () => {
    const { err, reader, before, proxy } = await earlyLoss('held');
    expect(codeOf(err)).toBe('E_IO');
    expect((err as Error).message).toContain('nothing was written, and retrying is safe');
    await proxy.deliver();
    expect(await contents(reader.cp, N)).toEqual(files(N).map(() => expect.objectContaining({ tag: expect.stringMatching(/^NEEDLE-/) as unknown })));
    expect((await reader.cp.listBackups()).map((b) => b.id)).toEqual(before);
    expect(await reader.storage.list('.parts')).toEqual([]);
    expect(await reader.cp.verify()).toEqual({ ok: true, problems: [] });
  }, 60_000);

  it('the writer gone before its last transaction: nothing changes; verify reports the early parts once its lease is gone, repair removes them', async () => {
    const { endpoints } = await etcd();
    const proxy = await lossProxy(endpoints[0]!);
    opened.push(proxy);
    const prefix = `s-${randomBytes(6).toString('hex')}/`;
    const writer = await open({ endpoints: [proxy.url], connectTimeoutMs: 800, leaseTtlSeconds: 2 }, prefix);
    const needle = `NEEDLE-${randomBytes(8).toString('hex')}`;
    await saveAll(writer.cp, N, needle);
    const snap = await writer.cp.createSnapshot({});
    await saveAll(writer.cp, N, 'new');
    const before = (await writer.cp.listBackups()).map((b) => b.id);
    proxy.arm(needle, 'blackhole'); // the final transaction never arrives, and no member answers afterwards
    const err = await writer.cp.restoreBackup(snap.id).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('E_IO'); // (reported by the release of its locks, which cannot reach etcd either)
    const reader = await open({}, prefix);
    expect(await contents(reader.cp, N)).toEqual(files(N).map((_, i) => ({ i, tag: 'new' })));
    expect((await reader.storage.list('.parts')).length).toBeGreaterThan(0); // the early parts landed
    // Its lease (2 s, no longer kept alive through the dead proxy) expires: the parts are abandoned.
    let problems: Array<{ path: string; kind: string; message: string }> = [];
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      problems = (await reader.cp.verify()).problems;
      if (problems.length > 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.kind === 'stray-temp' && p.path.startsWith('.parts/'))).toBe(true);
    expect(problems.map((p) => p.message).join(' ')).toContain('backups/f0.');
    // Listings still show the leftover backups (recovered from their files) until repair runs.
    expect((await reader.cp.listBackups()).length).toBeGreaterThan(before.length);
    const report = await reader.cp.repair();
    expect(report.actions.map((a) => a.action)).toEqual(problems.map(() => 'remove-temp'));
    expect(report.remaining).toEqual([]);
    expect(await reader.cp.verify()).toEqual({ ok: true, problems: [] });
    expect((await reader.cp.listBackups()).map((b) => b.id)).toEqual(before);
    expect(await reader.storage.list('.parts')).toEqual([]);
    expect(await contents(reader.cp, N)).toEqual(files(N).map((_, i) => ({ i, tag: 'new' })));
    proxy.open();
  }, 90_000);
});

describe('which early parts are abandoned (split.ts)', () => {
  const record = (t: number): Buffer => {
    const body = Buffer.from(JSON.stringify({ commit: 'c1', part: 0, keys: ['backups/a.json', 'backups/b.json'], t }));
    return encodeValue({ s: body.length, m: 0o600, t }, body);
  };
  const view = (t: number, alive: boolean, revisions: Record<string, string>) => ({
    records: [{ key: '.parts/c1.0', revision: '7', value: record(t) }],
    revisionOf: async (k: string) => revisions[k],
    alive: async () => alive,
  });

  it('not while its writer\'s lease lives and it is young; once the lease is gone, or when old; only keys still as the part wrote them', async () => {
    const now = Date.now();
    expect(await abandonedParts(view(now, true, {}), (k) => k, now)).toEqual([]);
    const gone = await abandonedParts(view(now, false, { 'backups/a.json': '7', 'backups/b.json': '9' }), (k) => k, now);
    expect(gone).toHaveLength(1);
    expect(gone[0]!.fix!.commit.changes).toEqual([{ type: 'remove', key: '.parts/c1.0' }, { type: 'remove', key: 'backups/a.json' }]);
    expect(gone[0]!.fix!.commit.expect).toEqual([{ key: '.parts/c1.0', revision: '7' }, { key: 'backups/a.json', revision: '7' }]);
    expect(await abandonedParts(view(now - ABANDONED_AFTER_MS - 1, true, {}), (k) => k, now)).toHaveLength(1);
  });
});

describe('best-effort removals over --max-txn-ops', () => {
  it('a save after maxBackups was lowered from 40 to 2 saves and removes what fits; cleanupBackups and the history pass remove the rest', async () => {
    const prefix = `r-${randomBytes(6).toString('hex')}/`;
    const before = await open({}, prefix, { maxBackups: 40 });
    for (let n = 0; n < 45; n++) await before.cp.saveConfig({ n }, 'current.json');
    expect(await before.cp.listBackups('current.json')).toHaveLength(40);
    await before.cp.close();

    const { cp } = await open({}, prefix, { maxBackups: 2 });
    // 38 expired backups, each a removal and its history content: far over 32 operations.
    await cp.saveConfig({ n: 'lowered' }, 'current.json');
    const left = (await cp.listBackups('current.json')).length;
    expect(left).toBeLessThan(41);
    const { removed } = await cp.cleanupBackups();
    expect(removed.length).toBe(left - 2);
    expect(await cp.listBackups('current.json')).toHaveLength(2);
    expect(await cp.loadConfig('current.json')).toEqual({ n: 'lowered' });
    expect((await cp.history('current.json')).map((v) => v.version)).toEqual(Array.from({ length: 46 }, (_, i) => 46 - i));
    expect((await cp.verify()).problems).toEqual([]);
  }, 60_000);
});

describe('history pruning over --max-txn-ops', () => {
  it('removes every content past the kept window though one pass finds more than a transaction holds', async () => {
    const prefix = `p-${randomBytes(6).toString('hex')}/`;
    const { cp } = await open({}, prefix, { maxBackups: 2 });
    for (let n = 0; n < 151; n++) await cp.saveConfig({ n }, 'current.json');
    await cp.close(); // waits for the passes and their removals
    // 151 versions, the newest 100 keep their content (HISTORY_KEEP_VERSIONS): the 2 newest in
    // backups, the others as history objects. The pass of the 151st save (PRUNE_EVERY) found the
    // 50 that left the window at once: over 32 operations in one transaction.
    const reopened = new EtcdStorage({ endpoints: (await etcd()).endpoints, prefix, maxTxnOps: LIMIT });
    opened.push(reopened);
    const objects = await reopened.list('history/objects');
    expect(objects.length).toBeLessThanOrEqual(100);
    expect(objects.length).toBeGreaterThanOrEqual(97);
  }, 60_000);
});
