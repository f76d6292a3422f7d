/**
 * Backups: automatic (overwrite, delete), manual, scheduled; records, ids, listing, verified
 * restore, delete, retention and cleanup, permissions, 10,000 backups, crash safety (kill -9).
 */
import { appendFile, chmod, link, readFile, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import YAML from 'yaml';
import { ConfigPersistence } from '../src/index.js';
import type { BackupInfo } from '../src/index.js';
import { LocalStorage } from '../src/storage/index.js';
import type { Storage } from '../src/storage/index.js';
import { backupContent, backupFiles, killLoop, sha256 } from './helpers/kill.js';
import { DIST, tempDir } from './helpers/tmp.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return undefined;
}

async function open(extra: ConstructorParameters<typeof ConfigPersistence>[0] = {}): Promise<{ dir: string; cp: ConfigPersistence }> {
  const dir = await tempDir();
  return { dir, cp: new ConfigPersistence({ baseDir: dir, schemaDir: dir, ...extra }) };
}

async function auditOps(dir: string): Promise<Array<{ op: string; file: string; backup?: string; details?: Record<string, unknown> }>> {
  const text = await readFile(path.join(dir, 'audit.log'), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { op: string; file: string; backup?: string });
}

async function indexLines(dir: string): Promise<string[]> {
  return (await readFile(path.join(dir, 'backups', 'index.jsonl'), 'utf8')).split('\n').filter(Boolean);
}

/**
 * A real storage that counts directory listings (to prove the save path never scans) and can hold
 * back a commit that rewrites the backup index until `release()` (to prove no save waits for one).
 */
class CountingStorage implements Storage {
  readonly lists: string[] = [];
  /** Index rewrites seen (commits that put `backups/index.jsonl` whole). */
  rewrites = 0;
  private gate: Promise<void> | undefined;
  release: () => void = () => undefined;
  /** Index rewrites still to fail (as a full disk would fail them). */
  failRewrites = 0;
  constructor(private readonly inner: LocalStorage) {}
  holdRewrites(): void {
    this.gate = new Promise((resolve) => (this.release = resolve));
  }
  get location(): string {
    return this.inner.location;
  }
  get durable(): boolean {
    return this.inner.durable;
  }
  read: Storage['read'] = (k, o) => this.inner.read(k, o);
  readEntry: Storage['readEntry'] = (k, o) => this.inner.readEntry(k, o);
  readSync: Storage['readSync'] = (k, o) => this.inner.readSync(k, o);
  stat: Storage['stat'] = (k) => this.inner.stat(k);
  list: Storage['list'] = (p) => {
    this.lists.push(p);
    return this.inner.list(p);
  };
  commit: Storage['commit'] = async (c) => {
    if (c.changes?.some((op) => op.type === 'put' && op.key === 'backups/index.jsonl')) {
      this.rewrites++;
      await this.gate;
      if (this.failRewrites > 0) {
        this.failRewrites--;
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'E_IO' });
      }
    }
    return this.inner.commit(c);
  };
  lock: Storage['lock'] = (n, o) => this.inner.lock(n, o);
  describe: Storage['describe'] = (k) => this.inner.describe(k);
  watch: Storage['watch'] = (k, e, r) => this.inner.watch(k, e, r);
  close: Storage['close'] = () => this.inner.close();
}

afterEach(() => {
  vi.useRealTimers();
});

describe('automatic backups', () => {
  it('backs up the old content before an overwrite, as a hard link recorded with its checksum', async () => {
    const { dir, cp } = await open();
    await writeFile(path.join(dir, 'current.yaml'), '# hand-written\nport: 80 # http\n');
    const saved = await cp.saveConfig({ port: 8080 }, 'current.yaml');
    const backup = saved.backup!;
    expect(backup).toMatchObject({ file: 'current.yaml', trigger: 'overwrite', compressed: false, kind: 'file', size: 31 });
    expect(backup.id).toMatch(/^current\.\d{8}T\d{6}\.\d{3}Z\.yaml$/);
    expect(backup.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const bytes = await readFile(path.join(dir, 'backups', backup.id));
    expect(bytes.toString()).toBe('# hand-written\nport: 80 # http\n');
    expect(backup.sha256).toBe(sha256(bytes));
    // Kept by a link to the replaced inode (no copy); it serves as that version's history content
    // too, so there is no second link until it is removed (see test/history.test.ts).
    const st = await stat(path.join(dir, 'backups', backup.id));
    expect(st.nlink).toBe(1);
    expect(await cp.getVersion('current.yaml', 1)).toEqual({ port: 80 });
    expect(await cp.listBackups()).toEqual([backup]);
    await cp.close();
  });

  it('backs up before a delete (trigger delete) and the deleted file can be restored', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ a: 1 }, 'extra.json');
    await cp.deleteConfig('extra.json');
    const [backup] = await cp.listBackups('extra.json');
    expect(backup).toMatchObject({ file: 'extra.json', trigger: 'delete' });
    const result = await cp.restoreBackup(backup!.id);
    expect(result.safetyBackup).toBeUndefined(); // nothing existed to replace
    expect(JSON.parse(await readFile(path.join(dir, 'extra.json'), 'utf8'))).toEqual({ a: 1 });
    await cp.close();
  });

  it('takes no backup with backupOnWrite: false, and none for an unchanged save', async () => {
    const { cp } = await open({ backupOnWrite: false });
    await cp.saveConfig({ a: 1 });
    await cp.saveConfig({ a: 2 });
    expect(await cp.listBackups()).toEqual([]);
    await cp.close();
    const other = await open();
    await other.cp.saveConfig({ a: 1 });
    await other.cp.saveConfig({ a: 1 });
    expect(await other.cp.listBackups()).toEqual([]);
    await other.cp.close();
  });

  it('gzips backups with compressBackups and restores them byte-exact', async () => {
    const { dir, cp } = await open({ compressBackups: true });
    const original = '# keep me\nname: shop # inline\nlist:\n  - 1\n  - 2\n';
    await writeFile(path.join(dir, 'current.yaml'), original);
    const { backup } = await cp.saveConfig({ name: 'other', list: [3] }, 'current.yaml');
    expect(backup!.id.endsWith('.yaml.gz')).toBe(true);
    expect(backup!.compressed).toBe(true);
    expect(backup!.size).toBe(Buffer.byteLength(original));
    expect(gunzipSync(await readFile(path.join(dir, 'backups', backup!.id))).toString()).toBe(original);
    await cp.restoreBackup(backup!.id);
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe(original);
    await cp.close();
  });
});

describe('ids', () => {
  it('keeps every backup taken in the same millisecond, in order, with sortable ids', async () => {
    const { dir, cp } = await open({ maxBackups: 100 });
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-11-23T08:12:18.123Z') });
    await cp.saveConfig({ n: 0 }, 'current.json');
    for (let n = 1; n <= 3; n++) await cp.saveConfig({ n }, 'current.json');
    const manual = await cp.createBackup('current.json');
    await cp.saveConfig({ n: 0 }, 'profiles/dev.json');
    await cp.saveConfig({ n: 1 }, 'profiles/dev.json');
    vi.useRealTimers();
    const list = await cp.listBackups('current.json');
    expect(list.map((b) => b.id)).toEqual([
      'current.20261123T081218.123Z_003.json',
      'current.20261123T081218.123Z_002.json',
      'current.20261123T081218.123Z_001.json',
      'current.20261123T081218.123Z.json',
    ]);
    expect(manual.id).toBe(list[0]!.id);
    // Oldest first = id order: the names sort like the times they were taken.
    expect([...list].reverse().map((b) => b.id)).toEqual(list.map((b) => b.id).sort());
    const contents = await Promise.all(list.map(async (b) => JSON.parse((await backupContent(dir, b.id)).toString()).n));
    expect(contents).toEqual([3, 2, 1, 0]);
    expect((await cp.listBackups('profiles/dev')).map((b) => b.id)).toEqual(['profiles~dev.20261123T081218.123Z.json']);
    await cp.close();
  });

  it('restores and deletes backups of a file with a long name (ids longer than file names)', async () => {
    const { cp } = await open();
    const name = `${'n'.repeat(110)}.json`;
    await cp.saveConfig({ a: 1 }, name);
    const info = await cp.createBackup(name, { label: 'a label that is long enough to matter' });
    expect(Buffer.byteLength(info.id)).toBeGreaterThan(120);
    await cp.saveConfig({ a: 2 }, name);
    await cp.restoreBackup(info.id);
    expect(await cp.loadConfig(name)).toEqual({ a: 1 });
    await cp.deleteBackup(info.id);
    await cp.close();
  });

  it('puts a label into the id as a slug and keeps the label text in the record', async () => {
    const { cp } = await open();
    await cp.saveConfig({ a: 1 }, 'current.yaml');
    const info = await cp.createBackup('current', { label: 'Before Upgrade to v2!' });
    expect(info.id).toMatch(/^current\.\d{8}T\d{6}\.\d{3}Z\.before-upgrade-to-v2\.yaml$/);
    expect(info).toMatchObject({ label: 'Before Upgrade to v2!', trigger: 'manual', file: 'current.yaml' });
    await cp.close();
  });
});

describe('createBackup and listBackups', () => {
  it('copies the live file (no link), so an in-place edit later cannot change the backup', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ a: 1 }, 'current.json');
    const info = await cp.createBackup('current.json');
    expect((await stat(path.join(dir, 'backups', info.id))).nlink).toBe(1);
    await appendFile(path.join(dir, 'current.json'), '\n\n'); // an editor writing in place
    expect(sha256(await readFile(path.join(dir, 'backups', info.id)))).toBe(info.sha256);
    await cp.close();
  });

  it('fails with E_NOT_FOUND for a missing file and E_INVALID_NAME for a path', async () => {
    const { cp } = await open();
    expect(await codeOf(cp.createBackup('nope.json'))).toBe('E_NOT_FOUND');
    expect(await codeOf(cp.createBackup('../etc/passwd'))).toBe('E_INVALID_NAME');
    await cp.close();
  });

  it('lists newest first, by file, and snapshots under "*"', async () => {
    const { cp } = await open({ maxBackups: 50 });
    for (let n = 0; n < 4; n++) await cp.saveConfig({ n }, 'current.json');
    await cp.saveConfig({ x: 1 }, 'other.yaml');
    await cp.saveConfig({ x: 2 }, 'other.yaml');
    const snap = await cp.createSnapshot();
    const all = await cp.listBackups();
    expect(all).toHaveLength(5);
    expect(all[0]!.id).toBe(snap.id);
    for (let i = 1; i < all.length; i++) expect(all[i - 1]!.createdAt >= all[i]!.createdAt).toBe(true);
    expect((await cp.listBackups('current')).map((b) => b.file)).toEqual(['current.json', 'current.json', 'current.json']);
    expect((await cp.listBackups('other.yaml')).map((b) => b.file)).toEqual(['other.yaml']);
    expect((await cp.listBackups('*')).map((b) => b.id)).toEqual([snap.id]);
    await cp.close();
  });

  it('finds the backups of a deleted file by its name without extension', async () => {
    const { cp } = await open({ defaultFormat: 'json' });
    await cp.saveConfig({ a: 1 }, 'current.yaml');
    await cp.saveConfig({ a: 2 }, 'current.yaml');
    await cp.deleteConfig('current.yaml');
    expect((await cp.listBackups('current')).map((b) => b.trigger)).toEqual(['delete', 'overwrite']);
    expect(await cp.listBackups('current.json')).toEqual([]);
    await cp.close();
  });

  it('reconciles with the directory: hides records of vanished files, lists complete files without a record', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ n: 1 }, 'current.json');
    const { backup: gone } = await cp.saveConfig({ n: 2 }, 'current.json');
    const { backup: kept } = await cp.saveConfig({ n: 3 }, 'current.json');
    await unlink(path.join(dir, 'backups', gone!.id));
    // A backup whose record was lost (crash between link and index append).
    const orphanId = 'current.20200101T000000.000Z.json';
    await writeFile(path.join(dir, 'backups', orphanId), '{"n":0}');
    await writeFile(path.join(dir, 'backups', '.current.json.123-1-abcd.cp-tmp'), '{"n":'); // an interrupted temp: never listed
    const list = await cp.listBackups();
    expect(list.map((b) => b.id)).toEqual([kept!.id, orphanId]);
    expect(list[1]).toMatchObject({ trigger: 'recovered', file: 'current.json', createdAt: '2020-01-01T00:00:00.000Z', sha256: sha256('{"n":0}'), size: 7 });
    await cp.restoreBackup(orphanId);
    expect(await cp.loadConfig('current.json')).toEqual({ n: 0 });
    // cleanup drops the dead record for good
    await cp.cleanupBackups({ maxBackups: 100 });
    expect((await indexLines(dir)).some((l) => l.includes(`"remove","id":"${gone!.id}"`))).toBe(true);
    await cp.close();
  });

  it('survives a torn last line in the index and keeps the records appended after it', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ n: 1 }, 'current.json');
    await cp.saveConfig({ n: 2 }, 'current.json');
    await cp.close();
    await appendFile(path.join(dir, 'backups', 'index.jsonl'), '{"op":"add","id":"current.2026'); // power cut mid-append
    const again = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    expect(await again.listBackups()).toHaveLength(1);
    const { backup } = await again.saveConfig({ n: 3 }, 'current.json');
    const fresh = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    expect((await fresh.listBackups()).map((b) => b.id)).toContain(backup!.id);
    // Even a record glued to the torn fragment by a writer that did not know is recovered.
    await appendFile(path.join(dir, 'backups', 'index.jsonl'), '{"op":"add","id":"x');
    const glued = JSON.stringify({ op: 'add', ...backup, id: 'current.20200101T000000.000Z.json', createdAt: '2020-01-01T00:00:00.000Z' });
    await link(path.join(dir, 'backups', backup!.id), path.join(dir, 'backups', 'current.20200101T000000.000Z.json'));
    await appendFile(path.join(dir, 'backups', 'index.jsonl'), `${glued}\n`);
    const third = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    expect((await third.listBackups()).find((b) => b.id === 'current.20200101T000000.000Z.json')?.trigger).toBe('overwrite');
    await Promise.all([again.close(), fresh.close(), third.close()]);
  });
});

describe('restoreBackup', () => {
  it('restores the exact bytes, takes a pre-restore safety backup, records a version and an audit line', async () => {
    const { dir, cp } = await open();
    const v1 = '# v1 comment\nport: 1 # one\n';
    await writeFile(path.join(dir, 'current.yaml'), v1);
    const { backup } = await cp.saveConfig({ port: 2 }, 'current.yaml', { changedBy: 'optimizer' });
    const result = await cp.restoreBackup(backup!.id, { reason: 'bad tuning' });
    expect(result.restored).toEqual(backup);
    expect(result.safetyBackup).toMatchObject({ trigger: 'pre-restore', file: 'current.yaml' });
    expect((await backupContent(dir, result.safetyBackup!.id)).toString()).toBe('# v1 comment\nport: 2 # one\n');
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe(v1);
    const [latest] = await cp.history('current.yaml');
    expect(latest).toMatchObject({ operation: 'restore', reason: 'bad tuning', sha256: backup!.sha256, changedBy: 'user' });
    const audit = (await auditOps(dir)).at(-1)!;
    expect(audit).toMatchObject({ op: 'restore', file: 'current.yaml', backup: result.safetyBackup!.id, details: { restoredFrom: backup!.id } });
    await cp.close();
  });

  it('takes the safety backup even with backupOnWrite: false', async () => {
    const { cp } = await open();
    await cp.saveConfig({ a: 1 }, 'current.json');
    const { backup } = await cp.saveConfig({ a: 2 }, 'current.json');
    await cp.close();
    const noAuto = new ConfigPersistence({ baseDir: cp.baseDir, schemaDir: cp.baseDir, backupOnWrite: false });
    const result = await noAuto.restoreBackup(backup!.id);
    expect(result.safetyBackup?.trigger).toBe('pre-restore');
    await noAuto.close();
  });

  it('refuses a tampered or truncated backup with E_CHECKSUM and changes nothing', async () => {
    for (const compressBackups of [false, true]) {
      const { dir, cp } = await open({ compressBackups });
      await cp.saveConfig({ secret: 'old' }, 'current.json');
      const { backup } = await cp.saveConfig({ secret: 'new' }, 'current.json');
      const file = path.join(dir, 'backups', backup!.id);
      const before = { current: await readFile(path.join(dir, 'current.json')), history: await cp.history('current.json'), backups: await cp.listBackups() };
      // Same length, different bytes (the size check alone would not catch it).
      const original = await readFile(file);
      const tampered = Buffer.from(compressBackups ? gunzipSync(original) : original);
      tampered[tampered.length - 3] = 'X'.charCodeAt(0);
      const { gzipSync } = await import('node:zlib');
      await writeFile(file, compressBackups ? gzipSync(tampered) : tampered);
      expect(await codeOf(cp.restoreBackup(backup!.id))).toBe('E_CHECKSUM');
      // Truncated.
      await writeFile(file, original.subarray(0, original.length - 5));
      expect(await codeOf(cp.restoreBackup(backup!.id))).toBe('E_CHECKSUM');
      expect(await readFile(path.join(dir, 'current.json'))).toEqual(before.current);
      expect(await cp.history('current.json')).toEqual(before.history);
      expect(await cp.listBackups()).toEqual(before.backups);
      expect((await auditOps(dir)).filter((a) => a.op === 'restore')).toEqual([]);
      await cp.close();
    }
  });

  it('rejects ids that are paths with E_INVALID_NAME and unknown ids with E_NOT_FOUND', async () => {
    const { cp } = await open();
    await cp.saveConfig({ a: 1 }, 'current.json');
    await cp.saveConfig({ a: 2 }, 'current.json');
    for (const bad of ['../x', '../../etc/passwd', 'a/b', '/abs', '..', '', 'x\u0000y', 'index.jsonl']) {
      expect(await codeOf(cp.restoreBackup(bad)), bad).toBe('E_INVALID_NAME');
      expect(await codeOf(cp.deleteBackup(bad)), bad).toBe('E_INVALID_NAME');
    }
    expect(await codeOf(cp.restoreBackup('current.20200101T000000.000Z.json'))).toBe('E_NOT_FOUND');
    expect(await codeOf(cp.deleteBackup('nothing-here.json'))).toBe('E_NOT_FOUND');
    await cp.close();
  });
});

describe('deleteBackup', () => {
  it('removes the file and its record and writes an audit line', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ a: 1 }, 'current.json');
    const { backup } = await cp.saveConfig({ a: 2 }, 'current.json');
    const deleted = await cp.deleteBackup(backup!.id);
    expect(deleted.id).toBe(backup!.id);
    expect(await backupFiles(dir)).toEqual([]);
    expect(await cp.listBackups()).toEqual([]);
    expect((await auditOps(dir)).at(-1)).toMatchObject({ op: 'backup-delete', backup: backup!.id });
    expect(await codeOf(cp.deleteBackup(backup!.id))).toBe('E_NOT_FOUND');
    await cp.close();
  });
});

describe('retention', () => {
  it('keeps the newest maxBackups per file after each automatic backup, without listing the directory', async () => {
    const dir = await tempDir();
    const storage = new CountingStorage(new LocalStorage(dir));
    const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir, storage, maxBackups: 3 });
    for (let n = 0; n < 12; n++) await cp.saveConfig({ n }, 'current.json');
    await cp.saveConfig({ x: 0 }, 'other.json');
    await cp.saveConfig({ x: 1 }, 'other.json');
    expect(storage.lists.filter((p) => p.startsWith('backups'))).toEqual([]);
    const list = await cp.listBackups('current.json');
    expect(list).toHaveLength(3);
    const kept = await Promise.all(list.map(async (b) => JSON.parse((await backupContent(dir, b.id)).toString()).n));
    expect(kept).toEqual([10, 9, 8]);
    expect(await cp.listBackups('other.json')).toHaveLength(1);
    expect(await backupFiles(dir)).toHaveLength(4);
    expect((await auditOps(dir)).filter((a) => a.op === 'retention')).toHaveLength(8);
    await cp.close();
  });

  it('applies maxBackupAgeMs and never removes a labelled (pinned) backup', async () => {
    const { cp } = await open({ maxBackups: 2, maxBackupAgeMs: 60_000 });
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-01-01T00:00:00.000Z') });
    await cp.saveConfig({ n: 0 }, 'current.json');
    const pinned = await cp.createBackup('current.json', { label: 'keep forever' });
    await cp.saveConfig({ n: 1 }, 'current.json');
    vi.setSystemTime(new Date('2026-01-01T00:10:00.000Z'));
    await cp.saveConfig({ n: 2 }, 'current.json');
    const ids = (await cp.listBackups()).map((b) => b.id);
    // The old unpinned backup is past the age limit; the new one stays; the pinned one stays.
    expect(ids).toHaveLength(2);
    expect(ids).toContain(pinned.id);
    for (let n = 3; n < 8; n++) await cp.saveConfig({ n }, 'current.json');
    const after = await cp.listBackups();
    expect(after.filter((b) => !b.label)).toHaveLength(2);
    expect(after.map((b) => b.id)).toContain(pinned.id);
    vi.useRealTimers();
    await cp.close();
  });

  it('cleanupBackups applies a policy to every file and returns what it removed', async () => {
    const { dir, cp } = await open({ maxBackups: 50 });
    for (let n = 0; n < 6; n++) await cp.saveConfig({ n }, 'a.json');
    for (let n = 0; n < 4; n++) await cp.saveConfig({ n }, 'b.json');
    const pinned = await cp.createBackup('a.json', { label: 'pin' });
    const { removed } = await cp.cleanupBackups({ maxBackups: 2 });
    expect(removed.map((b) => b.file).sort()).toEqual(['a.json', 'a.json', 'a.json', 'b.json']);
    expect((await cp.listBackups('a.json')).map((b) => b.id)).toContain(pinned.id);
    expect(await cp.listBackups('a.json')).toHaveLength(3);
    expect(await cp.listBackups('b.json')).toHaveLength(2);
    expect(await backupFiles(dir)).toHaveLength(5);
    expect((await auditOps(dir)).filter((a) => a.op === 'cleanup')).toHaveLength(1);
    expect((await cp.cleanupBackups({ maxAgeMs: 0 })).removed).toHaveLength(4); // everything unpinned is older than now
    expect((await cp.listBackups()).map((b) => b.id)).toEqual([pinned.id]);
    expect(await codeOf(cp.cleanupBackups({ maxBackups: -1 }))).toBe('E_VALIDATION');
    await cp.close();
  });
});

describe('permissions', () => {
  it('never makes a backup more readable than its source (linked, gzipped, copied, snapshot)', async () => {
    for (const mode of [0o600, 0o640]) {
      for (const compressBackups of [false, true]) {
        const { dir, cp } = await open({ compressBackups });
        await cp.saveConfig({ secret: 1 }, 'current.json');
        await chmod(path.join(dir, 'current.json'), mode);
        const { backup } = await cp.saveConfig({ secret: 2 }, 'current.json');
        expect((await stat(path.join(dir, 'current.json'))).mode & 0o777).toBe(mode); // the overwrite kept the mode
        const manual = await cp.createBackup('current.json');
        const snap = await cp.createSnapshot();
        for (const id of [backup!.id, manual.id, snap.id]) {
          const got = (await stat(path.join(dir, 'backups', id))).mode & 0o777;
          expect(got & ~mode, `${id} is ${got.toString(8)}, source ${mode.toString(8)}`).toBe(0);
        }
        // A deleted file restored from its backup comes back with the backup's bits.
        await cp.deleteConfig('current.json');
        const [del] = await cp.listBackups('current.json');
        await cp.restoreBackup(del!.id);
        expect((await stat(path.join(dir, 'current.json'))).mode & 0o777 & ~mode).toBe(0);
        await cp.close();
      }
    }
  });
});

describe('10,000 backups', () => {
  /** Seeds `count` backups of `file` shaped exactly like a record the library wrote itself. */
  async function seed(dir: string, cp: ConfigPersistence, file: string, count: number): Promise<void> {
    await cp.saveConfig({ seed: true }, file);
    const template = await cp.createBackup(file, { label: 'template' });
    await cp.deleteBackup(template.id);
    const src = path.join(dir, 'backups', 'seed-source');
    await writeFile(src, await readFile(path.join(dir, file)));
    const start = Date.parse('2020-01-01T00:00:00.000Z');
    const base = file.slice(0, file.lastIndexOf('.'));
    const ext = file.slice(file.lastIndexOf('.') + 1);
    const lines: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const at = new Date(start + i * 1000);
      const id = `${base}.${at.toISOString().replace(/[-:]/g, '')}.${ext}`;
      ids.push(id);
      const { label: _label, ...rest } = template;
      lines.push(JSON.stringify({ op: 'add', ...rest, id, createdAt: at.toISOString(), trigger: 'overwrite' }));
    }
    for (let i = 0; i < ids.length; i += 500) await Promise.all(ids.slice(i, i + 500).map((id) => link(src, path.join(dir, 'backups', id))));
    await unlink(src);
    await appendFile(path.join(dir, 'backups', 'index.jsonl'), `${lines.join('\n')}\n`);
  }

  it('lists 10,000 backups from the index and retention brings them back to maxBackups, compacting the index', async () => {
    const dir = await tempDir();
    const setup = new ConfigPersistence({ baseDir: dir, schemaDir: dir, maxBackups: 100_000 });
    await seed(dir, setup, 'current.json', 10_000);
    await setup.saveConfig({ x: 1 }, 'other.json');
    await setup.saveConfig({ x: 2 }, 'other.json');
    const all = await setup.listBackups();
    expect(all).toHaveLength(10_001);
    expect(all[0]!.file).toBe('other.json');
    expect(all[1]!.createdAt > all[2]!.createdAt).toBe(true);
    expect(await setup.listBackups('current.json')).toHaveLength(10_000);
    await setup.close();

    const storage = new CountingStorage(new LocalStorage(dir));
    const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir, maxBackups: 10, storage });
    // The remove lines now outnumber the live records: the index is rewritten with the live ones,
    // after the save has resolved (held back here: the save must not wait for it).
    storage.holdRewrites();
    const saved = await Promise.race([cp.saveConfig({ seed: false }, 'current.json'), new Promise<'waited'>((r) => setTimeout(() => r('waited'), 10_000))]);
    expect(saved).not.toBe('waited');
    expect(storage.rewrites).toBe(1);
    expect((await indexLines(dir)).length).toBeGreaterThan(10_000);
    storage.release();
    await cp.stats(); // waits for the index's queued work
    expect((await indexLines(dir)).length).toBeLessThan(50);
    expect(await cp.listBackups('current.json')).toHaveLength(10);
    expect(await cp.listBackups('other.json')).toHaveLength(1);
    expect(await backupFiles(dir)).toHaveLength(11);
    const before = storage.lists.length;
    for (let n = 0; n < 20; n++) await cp.saveConfig({ n }, 'current.json');
    expect(storage.lists.length).toBe(before); // bounded without a scan
    expect(await cp.listBackups('current.json')).toHaveLength(10);
    expect(storage.rewrites).toBe(1);
    await cp.close();
  });

  it('a compaction that fails does not fail the save that made it worthwhile; it is tried again later', async () => {
    const dir = await tempDir();
    const storage = new CountingStorage(new LocalStorage(dir));
    const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir, maxBackups: 2, storage });
    storage.failRewrites = 1;
    let n = 0;
    while (storage.rewrites === 0 && n < 2000) await cp.saveConfig({ n: n++ }, 'current.json'); // every one resolves
    await cp.stats(); // the failed pass has ended
    expect(storage.rewrites).toBe(1);
    expect((await indexLines(dir)).length).toBeGreaterThan(1000);
    // Not at every save after a failure: once 100 more lines have piled up (2 a save here).
    for (let i = 0; i < 45; i++) await cp.saveConfig({ n: n++ }, 'current.json');
    expect(storage.rewrites).toBe(1);
    for (let i = 0; i < 10 && storage.rewrites === 1; i++) await cp.saveConfig({ n: n++ }, 'current.json');
    await cp.stats();
    expect(storage.rewrites).toBe(2);
    expect((await indexLines(dir)).length).toBeLessThan(20);
    expect(await cp.listBackups('current.json')).toHaveLength(2);
    expect(await cp.loadConfig('current.json')).toEqual({ n: n - 1 });
    await cp.close();
  });

  it('compacts the index after the save that made it worthwhile, and close() waits for that', async () => {
    const dir = await tempDir();
    const storage = new CountingStorage(new LocalStorage(dir));
    const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir, maxBackups: 2, storage });
    storage.holdRewrites();
    // Each save past the second adds one record and removes one: 1,000 dead lines after ~500 saves.
    let n = 0;
    while (storage.rewrites === 0 && n < 2000) await cp.saveConfig({ n: n++ }, 'current.json');
    expect(storage.rewrites).toBe(1);
    expect((await indexLines(dir)).length).toBeGreaterThan(1000); // the save that crossed the line resolved first
    const closing = cp.close();
    let closed = false;
    void closing.then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false); // waiting for the held rewrite
    storage.release();
    await closing;
    expect((await indexLines(dir)).length).toBeLessThan(20);
    expect(storage.rewrites).toBe(1);
    const reopened = new ConfigPersistence({ baseDir: dir, schemaDir: dir, maxBackups: 2 });
    expect((await reopened.listBackups('current.json')).map((b) => b.id).sort()).toEqual(await backupFiles(dir));
    expect(await reopened.loadConfig('current.json')).toEqual({ n: n - 1 });
    await reopened.close();
  });
});

describe('startAutoBackup', () => {
  it('backs up changed files on a timer, skips unchanged ones, stops, and is stopped by close()', async () => {
    const { cp } = await open();
    await cp.saveConfig({ a: 1 }, 'current.json');
    await cp.saveConfig({ b: 1 }, 'profiles/dev.json');
    const errors: Error[] = [];
    const stop = cp.startAutoBackup({ intervalMs: 20, onError: (e) => errors.push(e) });
    await new Promise((r) => setTimeout(r, 200));
    const first = await cp.listBackups();
    expect(first.filter((b) => b.trigger === 'scheduled').map((b) => b.file).sort()).toEqual(['current.json', 'profiles/dev.json']);
    await new Promise((r) => setTimeout(r, 150));
    expect(await cp.listBackups()).toEqual(first); // nothing changed: nothing taken
    await cp.saveConfig({ a: 2 }, 'current.json'); // its automatic backup holds {a:1}; {a:2} is in none yet
    await new Promise((r) => setTimeout(r, 200));
    const scheduled = (await cp.listBackups('current.json')).filter((b) => b.trigger === 'scheduled');
    expect(scheduled).toHaveLength(2);
    await stop();
    await cp.saveConfig({ a: 3 }, 'current.json');
    await new Promise((r) => setTimeout(r, 100));
    expect((await cp.listBackups('current.json')).filter((b) => b.trigger === 'scheduled')).toHaveLength(2);
    expect(errors).toEqual([]);

    cp.startAutoBackup({ intervalMs: 20, snapshot: true });
    await new Promise((r) => setTimeout(r, 200));
    await cp.close(); // stops the second timer
    const reader = new ConfigPersistence({ baseDir: cp.baseDir, schemaDir: cp.baseDir });
    const snaps = (await reader.listBackups('*')).filter((b) => b.trigger === 'scheduled');
    await reader.close();
    expect(snaps).toHaveLength(1);
    expect(snaps[0]!.files).toEqual(['current.json', 'profiles/dev.json']);
  });

  it('does not keep the process alive and refuses a bad interval', async () => {
    const dir = await tempDir();
    const script = `
      import { ConfigPersistence } from ${JSON.stringify(DIST)};
      const cp = new ConfigPersistence({ baseDir: ${JSON.stringify(dir)} });
      await cp.saveConfig({ a: 1 });
      cp.startAutoBackup({ intervalMs: 60000 });
      try { cp.startAutoBackup({ intervalMs: 0 }); } catch (e) { console.log(e.code); }
    `;
    const started = Date.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(0);
    expect(out.trim()).toBe('E_VALIDATION');
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('audit', () => {
  it('writes one line per backup operation', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ a: 1 }, 'current.json');
    const manual = await cp.createBackup('current.json', { label: 'x' });
    const snap = await cp.createSnapshot();
    await cp.restoreBackup(manual.id);
    await cp.restoreBackup(snap.id);
    await cp.deleteBackup(manual.id);
    await cp.saveConfig({ a: 2 }, 'current.json');
    await cp.cleanupBackups({ maxBackups: 0 });
    const ops = (await auditOps(dir)).map((a) => a.op);
    expect(ops).toEqual(['save', 'backup', 'snapshot', 'backup-delete', 'save', 'cleanup']);
    await cp.close();
  });
});

describe('crash safety', () => {
  it('kill -9 during backup creation never leaves a partial backup or an unreadable index', async () => {
    const dir = await tempDir();
    for (const gz of ['0', '1']) {
      await killLoop({
        dir,
        kills: 12,
        maxDelayMs: 250,
        env: { GZ: gz },
        setup: `const cp = new ConfigPersistence({ baseDir: dir, maxBackups: 6, compressBackups: process.env.GZ === '1', lockTimeoutMs: 20000 });`,
        body: `
          await cp.saveConfig({ n: i, pad: 'x'.repeat(3000) }, 'current.yaml');
          if (i % 3 === 0) await cp.createBackup('current.yaml');
          if (i % 5 === 0) await cp.createSnapshot();
        `,
      });
    }
    const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir, maxBackups: 6 });
    const list = await cp.listBackups();
    expect(list.length).toBeGreaterThan(0);
    const listed = new Set(list.map((b) => b.id));
    const onDisk = await backupFiles(dir);
    for (const id of listed) expect(onDisk, `${id} is listed but not on disk`).toContain(id);
    // Every backup file on disk is listed, complete, and matches its record.
    for (const id of onDisk) {
      expect(listed.has(id), `${id} is on disk but not listed`).toBe(true);
      const info = list.find((b) => b.id === id)!;
      const bytes = await backupContent(dir, id);
      expect(sha256(bytes), id).toBe(info.sha256);
      if (info.kind === 'snapshot') {
        const doc = JSON.parse(bytes.toString()) as { files: Array<{ file: string; content: string }> };
        for (const f of doc.files) expect((YAML.parse(f.content) as { pad: string }).pad).toHaveLength(3000);
      } else {
        expect((YAML.parse(bytes.toString()) as { pad: string }).pad, id).toHaveLength(3000);
      }
    }
    // And they can be restored; the store goes on working.
    const newestFile = list.find((b) => b.kind === 'file')!;
    await cp.restoreBackup(newestFile.id);
    await cp.saveConfig({ n: -1, pad: '' }, 'current.yaml');
    expect(await cp.loadConfig('current.yaml')).toEqual({ n: -1, pad: '' });
    await cp.cleanupBackups();
    expect((await cp.listBackups('current.yaml')).length).toBeLessThanOrEqual(6);
    await cp.close();
  }, 120_000);
});

export type { BackupInfo };
