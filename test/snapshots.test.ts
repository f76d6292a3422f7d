/**
 * Snapshots: one gzipped document holding every config and profile byte-exact; restore brings the
 * directory back all-or-nothing (verified first, safety snapshot, per-file backups, history).
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { LocalStorage } from '../src/storage/index.js';
import { backupContent, killLoop, sha256 } from './helpers/kill.js';
import { tempDir } from './helpers/tmp.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return undefined;
}

const FILES: Record<string, string | Buffer> = {
  'default.yaml': '# shipped defaults\nserver:\n  port: 80 # http\n',
  'current.yaml': '# runtime\nserver:\n  port: 8080\n',
  'extra.json': '{\n    "four": "spaces"\n}\n',
  'broken.json': Buffer.from([0x7b, 0xff, 0xfe, 0x0a]), // not UTF-8: kept as bytes all the same
  'profiles/dev.yaml': '$profile:\n  extends: base # inherit\ndebug: true\n',
  'profiles/base.yml': 'log: info\n',
};

async function seed(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'profiles'), { recursive: true });
  for (const [file, content] of Object.entries(FILES)) await writeFile(path.join(dir, file), content);
}

/** file → sha256 of every config and profile on disk. */
async function state(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const sub of ['', 'profiles']) {
    const names = (await readdir(path.join(dir, sub)).catch(() => [] as string[])).sort();
    for (const name of names) {
      if (!/\.(ya?ml|json)$/.test(name)) continue;
      const key = sub ? `${sub}/${name}` : name;
      out[key] = sha256(await readFile(path.join(dir, key)));
    }
  }
  return out;
}

async function open(extra: ConstructorParameters<typeof ConfigPersistence>[0] = {}): Promise<{ dir: string; cp: ConfigPersistence }> {
  const dir = await tempDir();
  await seed(dir);
  return { dir, cp: new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'no-schemas'), ...extra }) };
}

describe('createSnapshot', () => {
  it('stores every config and profile byte-exact in one gzipped document, listed with the backups', async () => {
    const { dir, cp } = await open();
    await writeFile(path.join(dir, '.active-profile'), '{"profile":"dev"}');
    const snap = await cp.createSnapshot();
    expect(snap).toMatchObject({ file: '*', kind: 'snapshot', compressed: true, trigger: 'manual' });
    expect(snap.id).toMatch(/^snapshot\.\d{8}T\d{6}\.\d{3}Z\.json\.gz$/);
    expect(snap.files).toEqual(Object.keys(FILES).sort());
    const raw = gunzipSync(await readFile(path.join(dir, 'backups', snap.id)));
    expect(snap.sha256).toBe(sha256(raw));
    expect(snap.size).toBe(raw.byteLength);
    const doc = JSON.parse(raw.toString()) as { format: string; files: Array<{ file: string; sha256: string; content: string; encoding: string }> };
    expect(doc.format).toBe('config-persistence-snapshot');
    for (const f of doc.files) {
      const bytes = f.encoding === 'base64' ? Buffer.from(f.content, 'base64') : Buffer.from(f.content);
      expect(bytes.equals(Buffer.from(FILES[f.file]!)), f.file).toBe(true);
      expect(f.sha256).toBe(sha256(bytes));
    }
    expect(await cp.listBackups()).toEqual([snap]);
    expect(await cp.listBackups('*')).toEqual([snap]);
    const audit = (await readFile(path.join(dir, 'audit.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { op: string; backup: string });
    expect(audit).toEqual([expect.objectContaining({ op: 'snapshot', file: '*', backup: snap.id })]);
    await cp.close();
  });

  it('limits a snapshot to a scope, and refuses a scope naming a missing file', async () => {
    const { cp } = await open();
    const snap = await cp.createSnapshot({ scope: ['current', 'profiles/dev'], label: 'Before migration' });
    expect(snap.files).toEqual(['current.yaml', 'profiles/dev.yaml']);
    expect(snap.id).toMatch(/\.before-migration\.json\.gz$/);
    expect(snap.label).toBe('Before migration');
    expect(await codeOf(cp.createSnapshot({ scope: ['nope.yaml'] }))).toBe('E_NOT_FOUND');
    expect(await codeOf(cp.createSnapshot({ scope: ['../outside.yaml'] }))).toBe('E_INVALID_NAME');
    await cp.close();
  });

  it('is covered by retention (snapshots count as one file) except labelled ones', async () => {
    const { cp } = await open({ maxBackups: 2 });
    const pinned = await cp.createSnapshot({ label: 'keep' });
    for (let i = 0; i < 4; i++) await cp.createSnapshot();
    const snaps = await cp.listBackups('*');
    expect(snaps.filter((s) => !s.label)).toHaveLength(2);
    expect(snaps.map((s) => s.id)).toContain(pinned.id);
    await cp.close();
  });
});

describe('restoring a snapshot', () => {
  it('brings the directory back byte-exact; files it does not hold are backed up, then removed', async () => {
    const { dir, cp } = await open();
    const original = await state(dir);
    const snap = await cp.createSnapshot();
    await cp.saveConfig({ server: { port: 9999 } }, 'current.yaml');
    await rm(path.join(dir, 'profiles', 'base.yml'));
    await writeFile(path.join(dir, 'broken.json'), '{"fixed": true}');
    await writeFile(path.join(dir, 'profiles', 'qa.yaml'), 'qa: true\n');
    await cp.saveConfig({ added: 1 }, 'new.json');
    const changed = await state(dir);

    const result = await cp.restoreBackup(snap.id, { reason: 'undo experiment' });
    expect(await state(dir)).toEqual(original);
    for (const [file, content] of Object.entries(FILES)) expect((await readFile(path.join(dir, file))).equals(Buffer.from(content)), file).toBe(true);
    expect(result.restored).toEqual(snap);
    expect(result.files).toEqual(['broken.json', 'current.yaml', 'new.json', 'profiles/base.yml', 'profiles/qa.yaml']);
    // The safety snapshot holds the state just before.
    expect(result.safetyBackup).toMatchObject({ kind: 'snapshot', trigger: 'pre-restore' });
    expect(result.safetyBackup!.files).toEqual(Object.keys(changed).sort());
    // Removed files were backed up first, each on its own.
    const qa = await cp.listBackups('profiles/qa.yaml');
    expect(qa).toHaveLength(1);
    expect(qa[0]!.trigger).toBe('pre-restore');
    expect((await backupContent(dir, qa[0]!.id)).toString()).toBe('qa: true\n');
    // Each restored file has a history version.
    for (const file of result.files!) {
      expect((await cp.history(file))[0], file).toMatchObject({ operation: 'restore', reason: 'undo experiment' });
    }
    expect((await cp.history('new.json'))[0]).toMatchObject({ sha256: '', size: 0 });
    const audit = (await readFile(path.join(dir, 'audit.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { op: string; file: string });
    expect(audit.at(-1)).toMatchObject({ op: 'restore', file: '*', backup: snap.id });
    // And back again: the safety snapshot restores the state that was replaced.
    await cp.restoreBackup(result.safetyBackup!.id);
    expect(await state(dir)).toEqual(changed);
    await cp.close();
  });

  it('leaves files outside a scoped snapshot alone', async () => {
    const { dir, cp } = await open();
    const snap = await cp.createSnapshot({ scope: ['current.yaml'] });
    await cp.saveConfig({ changed: 1 }, 'current.yaml');
    await cp.saveConfig({ changed: 2 }, 'extra.json');
    await cp.saveConfig({ brandNew: true }, 'other.json');
    const result = await cp.restoreBackup(snap.id);
    expect(result.files).toEqual(['current.yaml']);
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe(FILES['current.yaml']);
    expect(JSON.parse(await readFile(path.join(dir, 'extra.json'), 'utf8'))).toEqual({ changed: 2 });
    expect(JSON.parse(await readFile(path.join(dir, 'other.json'), 'utf8'))).toEqual({ brandNew: true });
    await cp.close();
  });

  it('refuses a tampered snapshot with E_CHECKSUM and changes nothing', async () => {
    const { dir, cp } = await open();
    const snap = await cp.createSnapshot();
    await cp.saveConfig({ later: true }, 'current.yaml');
    const before = { files: await state(dir), backups: await cp.listBackups() };
    const file = path.join(dir, 'backups', snap.id);
    const doc = JSON.parse(gunzipSync(await readFile(file)).toString()) as { files: Array<{ file: string; content: string }> };
    doc.files.find((f) => f.file === 'current.yaml')!.content = 'server:\n  port: 6666\n';
    await writeFile(file, gzipSync(JSON.stringify(doc)));
    expect(await codeOf(cp.restoreBackup(snap.id))).toBe('E_CHECKSUM');
    await writeFile(file, (await readFile(file)).subarray(0, 40)); // truncated
    expect(await codeOf(cp.restoreBackup(snap.id))).toBe('E_CHECKSUM');
    // Even with the record rewritten to match, the per-file checksums inside catch it.
    const forged = gzipSync(JSON.stringify(doc));
    await writeFile(file, forged);
    const index = path.join(dir, 'backups', 'index.jsonl');
    const raw = gunzipSync(forged);
    await writeFile(index, (await readFile(index, 'utf8')).replace(snap.sha256, sha256(raw)).replace(`"size":${snap.size}`, `"size":${raw.byteLength}`));
    const reader = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'no-schemas') });
    expect(await codeOf(reader.restoreBackup(snap.id))).toBe('E_CHECKSUM');
    expect(await state(dir)).toEqual(before.files);
    expect((await reader.listBackups()).map((b) => b.id)).toEqual(before.backups.map((b) => b.id));
    await Promise.all([cp.close(), reader.close()]);
  });

  it('is all-or-nothing when a change fails half-way: every file keeps its content', async () => {
    const { dir, cp } = await open();
    const snap = await cp.createSnapshot({ scope: ['current.yaml', 'profiles/dev'] });
    await cp.saveConfig({ server: { port: 1 } }, 'current.yaml');
    await writeFile(path.join(dir, 'profiles', 'dev.yaml'), 'changed: true\n');
    const before = await state(dir);
    // Make the profiles directory refuse changes: current.yaml (first in order) is replaced, then
    // replacing profiles/dev.yaml fails and the first change must be undone.
    const profiles = path.join(dir, 'profiles');
    const root = process.getuid?.() === 0;
    if (root) execFileSync('chattr', ['+i', profiles]);
    else await chmod(profiles, 0o555);
    try {
      expect(await codeOf(cp.restoreBackup(snap.id))).toBe('E_IO');
    } finally {
      if (root) execFileSync('chattr', ['-i', profiles]);
      else await chmod(profiles, 0o755);
    }
    expect(await state(dir)).toEqual(before);
    // Nothing half-done blocks the next attempt.
    await cp.restoreBackup(snap.id);
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe(FILES['current.yaml']);
    expect(await readFile(path.join(dir, 'profiles', 'dev.yaml'), 'utf8')).toBe(FILES['profiles/dev.yaml']);
    await cp.close();
  });

  it('kill -9 during snapshot restores leaves the old or the new state, never a mix', async () => {
    const { dir, cp } = await open();
    const a = await cp.createSnapshot({ label: 'state a' });
    const stateA = await state(dir);
    await cp.saveConfig({ server: { port: 1 }, pad: 'p'.repeat(5000) }, 'current.yaml');
    await cp.saveConfig({ debug: false }, 'profiles/dev.yaml');
    await rm(path.join(dir, 'extra.json'));
    await cp.saveConfig({ only: 'in b' }, 'b-only.json');
    const b = await cp.createSnapshot({ label: 'state b' });
    const stateB = await state(dir);
    await cp.close();
    const seen = new Set<string>();
    for (let round = 0; round < 12; round++) {
      await killLoop({
        dir,
        kills: 1,
        maxDelayMs: 400,
        env: { SNAPS: JSON.stringify([a.id, b.id]) },
        setup: `const cp = new ConfigPersistence({ baseDir: dir }); const ids = JSON.parse(process.env.SNAPS);`,
        body: `await cp.restoreBackup(ids[i % 2]);`,
      });
      // The next writer rolls an interrupted multi-file change forward before anything else.
      await new LocalStorage(dir).commit({});
      const now = await state(dir);
      const which = JSON.stringify(now) === JSON.stringify(stateA) ? 'a' : JSON.stringify(now) === JSON.stringify(stateB) ? 'b' : 'mixed';
      expect(which, `round ${round}: ${JSON.stringify(now)}`).not.toBe('mixed');
      seen.add(which);
    }
    const after = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'no-schemas') });
    expect((await after.listBackups('*')).map((s) => s.id)).toEqual(expect.arrayContaining([a.id, b.id]));
    await after.restoreBackup(a.id);
    expect(await state(dir)).toEqual(stateA);
    await after.close();
  }, 120_000);
});
