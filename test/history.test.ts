/**
 * Version history: list, getVersion, diff, rollback, retention of contents, external edits,
 * torn journals and kill -9 during appends.
 */
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { killLoop, sha256 } from './helpers/kill.js';
import { tempDir } from './helpers/tmp.js';

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

describe('history', () => {
  it('records every save newest first with who, why, checksum and size', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ a: 1 }, 'current.json');
    await cp.saveConfig({ a: 2 }, 'current.json', { changedBy: 'optimizer', reason: 'tuning' });
    await cp.update('current.json', (d) => ({ ...d!, b: true }), { changedBy: 'system' });
    const h = await cp.history('current.json');
    expect(h.map((v) => v.version)).toEqual([3, 2, 1]);
    expect(h[1]).toMatchObject({ changedBy: 'optimizer', reason: 'tuning', operation: 'save' });
    expect(h[0]).toMatchObject({ changedBy: 'system', operation: 'update' });
    const bytes = await readFile(path.join(dir, 'current.json'));
    expect(h[0]!.sha256).toBe(sha256(bytes));
    expect(h[0]!.size).toBe(bytes.byteLength);
    expect(Date.parse(h[0]!.createdAt)).toBeGreaterThanOrEqual(Date.parse(h[2]!.createdAt));
    expect(await cp.history('never-saved.json')).toEqual([]);
    await cp.close();
  });

  it('records deletes and edits made outside the library', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ a: 1 }, 'current.json');
    await writeFile(path.join(dir, 'current.json'), '{"a": 99}\n'); // an editor
    await cp.saveConfig({ a: 2 }, 'current.json');
    await cp.deleteConfig('current.json');
    const h = await cp.history('current.json');
    expect(h.map((v) => [v.version, v.operation])).toEqual([
      [4, 'delete'],
      [3, 'save'],
      [2, 'external'],
      [1, 'save'],
    ]);
    expect(await cp.getVersion('current.json', 2)).toEqual({ a: 99 });
    expect(h[0]).toMatchObject({ sha256: '', size: 0 });
    await cp.close();
  });
});

describe('getVersion', () => {
  it('returns each version, from the file, the history objects or a backup', async () => {
    const { cp } = await open({ backupOnWrite: false });
    for (let n = 1; n <= 4; n++) await cp.saveConfig({ n, nested: { list: [n] } }, 'current.yaml');
    for (let v = 1; v <= 4; v++) expect(await cp.getVersion('current.yaml', v)).toEqual({ n: v, nested: { list: [v] } });
    await cp.close();
  });

  it('fails with E_NOT_FOUND for an unknown version and for a deletion', async () => {
    const { cp } = await open();
    await cp.saveConfig({ a: 1 }, 'current.json');
    await cp.deleteConfig('current.json');
    expect(await codeOf(cp.getVersion('current.json', 7))).toBe('E_NOT_FOUND');
    expect(await codeOf(cp.getVersion('current.json', 2))).toBe('E_NOT_FOUND');
    expect(await cp.getVersion('current.json', 1)).toEqual({ a: 1 });
    await cp.close();
  });

  it('never returns a damaged copy: falls back to another one, else E_CHECKSUM', async () => {
    const { dir, cp } = await open({ compressBackups: true });
    await cp.saveConfig({ a: 1 }, 'current.json');
    await cp.saveConfig({ a: 2 }, 'current.json');
    const [, v1] = await cp.history('current.json');
    const object = path.join(dir, 'history', 'objects', v1!.sha256);
    await writeFile(object, '{"a":666}');
    expect(await cp.getVersion('current.json', 1)).toEqual({ a: 1 }); // from the gzipped backup
    const [backup] = await cp.listBackups();
    await writeFile(path.join(dir, 'backups', backup!.id), 'not gzip');
    expect(await codeOf(cp.getVersion('current.json', 1))).toBe('E_CHECKSUM');
    await cp.close();
  });

  it('stores each content once: the backup is the history object until it is removed, then it becomes one (same inode)', async () => {
    const { dir, cp } = await open({ maxBackups: 1 });
    await cp.saveConfig({ a: 1 }, 'current.json');
    const { backup } = await cp.saveConfig({ a: 2 }, 'current.json');
    const object = path.join(dir, 'history', 'objects', backup!.sha256);
    const held = await stat(path.join(dir, 'backups', backup!.id));
    expect(held.nlink).toBe(1); // no second link while the backup holds it
    expect(existsSync(object)).toBe(false);
    expect(await cp.getVersion('current.json', 1)).toEqual({ a: 1 }); // read from the backup
    // Retention (maxBackups: 1) removes that backup with the next save: it is moved, not deleted.
    await cp.saveConfig({ a: 3 }, 'current.json');
    expect(existsSync(path.join(dir, 'backups', backup!.id))).toBe(false);
    expect((await stat(object)).ino).toBe(held.ino);
    expect(await cp.getVersion('current.json', 1)).toEqual({ a: 1 });
    // deleteBackup and cleanupBackups keep history contents the same way.
    const [second] = await cp.listBackups('current.json');
    await cp.deleteBackup(second!.id);
    expect(await cp.getVersion('current.json', 2)).toEqual({ a: 2 });
    await cp.close();
  });

  it('a history object of the same content already there: the expiring backup is just removed', async () => {
    const { dir, cp } = await open({ maxBackups: 1 });
    for (const a of [1, 2, 1, 2, 1]) await cp.saveConfig({ a }, 'current.json');
    const objects = await readdir(path.join(dir, 'history', 'objects'));
    const contents = [1, 2].map((a) => sha256(`${JSON.stringify({ a }, null, 2)}\n`));
    expect(objects.length).toBeGreaterThan(0);
    expect(objects.every((h) => contents.includes(h))).toBe(true); // one object per content, never a second copy
    expect(await readdir(path.join(dir, 'backups'))).toHaveLength(2); // one backup and the index
    for (let v = 1; v <= 5; v++) expect(await cp.getVersion('current.json', v)).toEqual({ a: v % 2 === 1 ? 1 : 2 });
    await cp.close();
  });
});

describe('diff', () => {
  it('lists changes by dot path with old and new values', async () => {
    const { cp } = await open();
    await cp.saveConfig({ api: { port: 80, host: 'a' }, list: [1, 2], gone: true }, 'current.json');
    await cp.saveConfig({ api: { port: 8080, host: 'a', tls: { on: true } }, list: [1, 2, 3] }, 'current.json');
    const changes = await cp.diff('current.json', 1, 2);
    expect(changes).toEqual(
      expect.arrayContaining([
        { path: 'api.port', type: 'changed', oldValue: 80, newValue: 8080 },
        { path: 'api.tls', type: 'added', newValue: { on: true } },
        { path: 'list', type: 'changed', oldValue: [1, 2], newValue: [1, 2, 3] },
        { path: 'gone', type: 'removed', oldValue: true },
      ]),
    );
    expect(changes).toHaveLength(4);
    expect(await cp.diff('current.json', 2, 1)).toContainEqual({ path: 'api.port', type: 'changed', oldValue: 8080, newValue: 80 });
    expect(await cp.diff('current.json', 1)).toEqual(changes); // `to` defaults to the newest
    expect(await cp.diff('current.json', 2, 2)).toEqual([]);
    expect(await codeOf(cp.diff('current.json', 1, 9))).toBe('E_NOT_FOUND');
    await cp.close();
  });
});

describe('rollback', () => {
  it('writes the exact old bytes back as a new version after a pre-rollback backup', async () => {
    const { dir, cp } = await open({ backupOnWrite: false });
    const v1 = '# tuned by hand\nworkers: 4 # keep even\n';
    await writeFile(path.join(dir, 'current.yaml'), v1);
    await cp.saveConfig({ workers: 5 }, 'current.yaml'); // v1 external, v2
    await cp.saveConfig({ workers: 7 }, 'current.yaml'); // v3
    const result = await cp.rollback('current.yaml', 1, { changedBy: 'ops', reason: 'revert tuning' });
    expect(result.version).toBe(4);
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe(v1);
    expect(result.backup).toMatchObject({ trigger: 'pre-rollback' });
    const [latest] = await cp.history('current.yaml');
    expect(latest).toMatchObject({ version: 4, operation: 'rollback', changedBy: 'ops', reason: 'revert tuning', sha256: sha256(v1) });
    const audit = (await readFile(path.join(dir, 'audit.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { op: string; version?: number });
    expect(audit.at(-1)).toMatchObject({ op: 'rollback', version: 4 });
    // Rolling back is itself history: it can be undone.
    await cp.rollback('current.yaml', 3);
    expect(await cp.loadConfig('current.yaml')).toEqual({ workers: 7 });
    expect(await codeOf(cp.rollback('current.yaml', 42))).toBe('E_NOT_FOUND');
    await cp.close();
  });
});

describe('names that flattened alike before keep apart', () => {
  it('profiles/dev.json and a top-level profiles~dev.json have their own history; rolling one back leaves the other', async () => {
    const { dir, cp } = await open();
    await cp.saveProfile('dev', { p: 1 });
    await cp.saveProfile('dev', { p: 2 });
    await cp.saveConfig({ top: 1 }, 'profiles~dev.json');
    expect((await cp.history('profiles/dev')).map((v) => v.version)).toEqual([2, 1]);
    expect((await cp.history('profiles~dev.json')).map((v) => v.version)).toEqual([1]);
    await cp.rollback('profiles/dev', 1);
    expect((await cp.loadProfile('dev')).data).toEqual({ p: 1 });
    expect(await cp.loadConfig('profiles~dev.json')).toEqual({ top: 1 });
    expect((await readdir(path.join(dir, 'history'))).filter((n) => n.endsWith('.jsonl')).sort()).toEqual(['profiles%7Edev.json.jsonl', 'profiles~dev.json.jsonl']);
    await cp.close();
  });

  it('a journal an older version kept under the shared name is carried over by the next save', async () => {
    const { dir, cp } = await open({ backupOnWrite: false });
    // As an older version wrote it: `a~b.json` flattened to `a~b.json` (now `a%7Eb.json`).
    await writeFile(path.join(dir, 'a~b.json'), '{"v":1}\n');
    const line = { v: 1, at: '2026-01-01T00:00:00.000Z', by: 'user', sha256: sha256('{"v":1}\n'), size: 8, op: 'save' };
    await mkdir(path.join(dir, 'history'), { recursive: true });
    await writeFile(path.join(dir, 'history', 'a~b.json.jsonl'), `${JSON.stringify(line)}\n`);
    expect((await cp.history('a~b.json')).map((v) => v.version)).toEqual([1]);
    await cp.saveConfig({ v: 2 }, 'a~b.json');
    expect((await cp.history('a~b.json')).map((v) => v.version)).toEqual([2, 1]);
    expect(await readdir(path.join(dir, 'history'))).toEqual(expect.arrayContaining(['a%7Eb.json.jsonl']));
    expect(await readdir(path.join(dir, 'history'))).not.toContain('a~b.json.jsonl');
    await cp.close();
  });

  it('the backup of a~b.json is restorable by id, also after its record was lost', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ v: 1 }, 'a~b.json');
    await cp.saveConfig({ v: 2 }, 'a~b.json');
    await cp.close();
    await rm(path.join(dir, 'backups', 'index.jsonl'));
    const again = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    const [backup] = await again.listBackups('a~b.json');
    expect(backup).toMatchObject({ file: 'a~b.json' });
    await again.restoreBackup(backup!.id);
    expect(await again.loadConfig('a~b.json')).toEqual({ v: 1 });
    await again.close();
  });
});

describe('rollback keeps permissions', () => {
  for (const backupOnWrite of [true, false]) {
    it(`re-creates a deleted 0600 file as 0600, never wider (backupOnWrite: ${backupOnWrite})`, async () => {
      const { dir, cp } = await open({ backupOnWrite });
      const file = path.join(dir, 'secret.json');
      await cp.saveConfig({ token: 'a' }, 'secret.json');
      await chmod(file, 0o600);
      await cp.saveConfig({ token: 'b' }, 'secret.json');
      await cp.deleteConfig('secret.json');
      await cp.rollback('secret.json', 2);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(await cp.loadConfig('secret.json')).toEqual({ token: 'b' });
      await cp.close();
    });
  }
});

describe('retention of history contents', () => {
  it('keeps the contents of the newest 100 versions; older ones report E_NOT_FOUND but stay listed', async () => {
    const { dir, cp } = await open({ durable: false, maxBackups: 1 });
    for (let n = 1; n <= 110; n++) await cp.saveConfig({ n }, 'current.json');
    await cp.cleanupBackups();
    const objects = await readdir(path.join(dir, 'history', 'objects'));
    expect(objects.length).toBeLessThanOrEqual(100);
    expect(await cp.history('current.json')).toHaveLength(110);
    expect(await codeOf(cp.getVersion('current.json', 1))).toBe('E_NOT_FOUND');
    expect(await cp.getVersion('current.json', 11)).toEqual({ n: 11 });
    expect(await cp.getVersion('current.json', 110)).toEqual({ n: 110 });
    await cp.close();
  });

  for (const backupOnWrite of [true, false]) {
    it(`prunes on the save path too (backupOnWrite: ${backupOnWrite}), each pass only what left the kept window, a few per save, never a content another file still keeps`, async () => {
      const { dir, cp } = await open({ durable: false, maxBackups: 1, backupOnWrite });
      await cp.saveConfig({ shared: true }, 'other.json'); // other.json's only version: the same bytes as current's first
      await cp.saveConfig({ shared: true }, 'current.json');
      const objects = async () => (await readdir(path.join(dir, 'history', 'objects')).catch(() => [])).length; // none yet: the backups hold the contents
      let most = 0;
      for (let n = 1; n <= 260; n++) {
        await cp.saveConfig({ n }, 'current.json');
        most = Math.max(most, await objects());
      }
      // The kept window, what the saves since the last pass (every 50 saves) added, the shared one
      // and the batch still being removed (one background batch per pass).
      expect(most).toBeGreaterThanOrEqual(100);
      expect(most).toBeLessThanOrEqual(100 + 50 + 1);
      expect(await cp.getVersion('current.json', 1)).toEqual({ shared: true });
      expect(await cp.getVersion('current.json', 200)).toEqual({ n: 199 });
      await cp.close(); // waits for the batch still removing what the last pass found
      // Versions 1-152 (but the shared one) were found by the pass at the 250th save and removed in
      // its background batch; the ten since wait for the next pass.
      expect(await objects()).toBeLessThanOrEqual(100 + 10 + 1);
      const again = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
      expect(await codeOf(again.getVersion('current.json', 2))).toBe('E_NOT_FOUND');
      expect(await codeOf(again.getVersion('current.json', 150))).toBe('E_NOT_FOUND');
      expect(await again.getVersion('current.json', 1)).toEqual({ shared: true });
      expect(await again.getVersion('current.json', 163)).toEqual({ n: 162 });
      await again.close();
    });
  }

  it('a current file has no second name (editors write in place into a file with hard links, which would change history with it)', async () => {
    for (const backupOnWrite of [true, false]) {
      const { dir, cp } = await open({ durable: false, backupOnWrite });
      for (let n = 0; n < 3; n++) await cp.saveConfig({ n }, 'current.json');
      expect((await stat(path.join(dir, 'current.json'))).nlink, `backupOnWrite: ${backupOnWrite}`).toBe(1);
      expect(await cp.getVersion('current.json', 2)).toEqual({ n: 1 }); // the replaced contents are kept
      await cp.close();
    }
  });

  it('a save that brings back a content waiting to be pruned keeps it', async () => {
    const { dir, cp } = await open({ durable: false, backupOnWrite: false });
    for (let n = 1; n <= 151; n++) await cp.saveConfig(n === 40 ? { back: true } : { n }, 'current.json');
    // The pass after the 151st save queued versions 1-51's contents (version 40's among them).
    const back = await cp.saveConfig({ back: true }, 'current.json'); // version 152: version 40's bytes
    for (let n = 0; n < 20; n++) await cp.saveConfig({ m: n }, 'current.json'); // commits that take from the queue
    await cp.close();
    const again = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    expect(await again.getVersion('current.json', back.version)).toEqual({ back: true });
    expect(await codeOf(again.getVersion('current.json', 39))).toBe('E_NOT_FOUND');
    await again.close();
  });

  it('a save made while a background pass looks for contents to prune keeps its content (the pass runs after the save that started it resolved)', async () => {
    const { dir, cp } = await open({ durable: false, backupOnWrite: false });
    // Contents no journal names (left alone by pruning) make the pass's listing of history/objects
    // long, so that the next saves commit while it runs.
    await mkdir(path.join(dir, 'history', 'objects'), { recursive: true });
    for (let i = 0; i < 6000; i++) await writeFile(path.join(dir, 'history', 'objects', sha256(Buffer.from(`stray ${i}`))), 'x');
    for (let n = 1; n <= 140; n++) await cp.saveConfig(n === 40 ? { back: true } : { n }, 'current.json');
    await cp.close();
    // A new instance's first save (version 141) starts a full pass: versions 1-41 left the kept
    // window, and version 40's content is one no kept version needs yet.
    const next = new ConfigPersistence({ baseDir: dir, schemaDir: dir, durable: false, backupOnWrite: false });
    await next.saveConfig({ n: 141 }, 'current.json');
    const back = await next.saveConfig({ back: true }, 'current.json'); // version 142: version 40's bytes, while the pass lists
    await next.saveConfig({ after: true }, 'current.json'); // version 142's content now lives in its history object only
    await next.close();
    const again = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    expect(await again.getVersion('current.json', back.version)).toEqual({ back: true });
    expect(await codeOf(again.getVersion('current.json', 39))).toBe('E_NOT_FOUND');
    await again.close();
  }, 60_000);

  it('keeps a content that a kept version still uses, even when an old version used it first', async () => {
    const { cp } = await open({ durable: false, maxBackups: 1 });
    await cp.saveConfig({ toggle: true }, 'current.json');
    for (let n = 0; n < 105; n++) await cp.saveConfig({ n }, 'current.json');
    await cp.saveConfig({ toggle: true }, 'current.json'); // the same bytes as version 1
    await cp.saveConfig({ n: -1 }, 'current.json');
    await cp.cleanupBackups();
    expect(await cp.getVersion('current.json', 1)).toEqual({ toggle: true });
    await cp.close();
  });
});

describe('crash safety of the journal', () => {
  it('ignores a torn last line and never lets it swallow the next version', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ a: 1 }, 'current.json');
    await cp.saveConfig({ a: 2 }, 'current.json');
    await cp.close();
    const journal = path.join(dir, 'history', 'current.json.jsonl');
    await appendFile(journal, '{"v":3,"at":"2026-'); // power cut mid-append
    const again = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    expect((await again.history('current.json')).map((v) => v.version)).toEqual([2, 1]);
    await again.saveConfig({ a: 3 }, 'current.json');
    const reread = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    expect((await reread.history('current.json')).map((v) => v.version)).toEqual([3, 2, 1]);
    expect(await reread.getVersion('current.json', 3)).toEqual({ a: 3 });
    // A line glued to the fragment (by a writer that did not start a new line) is still read.
    await appendFile(journal, '{"v":4,"at');
    await appendFile(journal, `${JSON.stringify({ v: 4, at: new Date().toISOString(), by: 'x', sha256: 'f'.repeat(64), size: 1, op: 'save' })}\n`);
    const third = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    expect((await third.history('current.json'))[0]).toMatchObject({ version: 4, changedBy: 'x' });
    await Promise.all([again.close(), reread.close(), third.close()]);
  });

  it('kill -9 during history appends: history stays readable, versions only grow, saving goes on', async () => {
    const dir = await tempDir();
    await killLoop({
      dir,
      kills: 20,
      maxDelayMs: 250,
      setup: `const cp = new ConfigPersistence({ baseDir: dir, maxBackups: 3 });`,
      body: `
        if (i % 2 === 0) await cp.update('profiles/dev.json', (d) => ({ count: (d?.count ?? 0) + 1 }));
        else await cp.saveConfig({ n: i, pad: 'y'.repeat(4000) }, 'current.json', { reason: 'loop ' + i });
      `,
    });
    const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir, maxBackups: 3 });
    for (const file of ['current.json', 'profiles/dev.json']) {
      const h = await cp.history(file);
      expect(h.length, file).toBeGreaterThan(0);
      for (let i = 1; i < h.length; i++) expect(h[i - 1]!.version, file).toBeGreaterThan(h[i]!.version);
      // kill -9 can tear an append that crosses a page boundary (the kernel checks for a fatal
      // signal between the pages of one write): a fragment, then the next append on a line of its
      // own. Nothing else is damaged, and history() above read every whole line.
      const text = await readFile(path.join(dir, 'history', `${file.replace('/', '~')}.jsonl`), 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      const lines = text.split('\n').filter(Boolean);
      const torn = lines.filter((line) => !parses(line));
      for (const line of torn) expect(line.startsWith('{"v":'), line).toBe(true);
      expect(torn.length, file).toBeLessThanOrEqual(20);
      // The file holds the newest version, or the one before when the kill came between the journal
      // append and the rename (that newest line then describes a change that never landed).
      const current = sha256(await readFile(path.join(dir, file)));
      const landed = h[0]!.sha256 === current ? h[0]! : h[1]!;
      expect(landed.sha256, file).toBe(current);
      // Versions read back verified; anything unreadable is E_NOT_FOUND, never garbage.
      expect(await cp.getVersion(file, landed.version)).toBeTruthy();
      for (const v of h.slice(0, 4)) {
        const code = await codeOf(cp.getVersion(file, v.version));
        expect([undefined, 'E_NOT_FOUND'], `${file} v${v.version}`).toContain(code);
      }
    }
    const before = (await cp.history('current.json'))[0]!.version;
    const saved = await cp.saveConfig({ n: 'final' }, 'current.json');
    expect(saved.version).toBeGreaterThan(before);
    expect((await cp.history('current.json'))[0]).toMatchObject({ version: saved.version, sha256: saved.sha256 });
    await cp.close();
  }, 120_000);
});

function parses(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}
