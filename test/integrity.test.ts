/**
 * Integrity: verify finds every kind of damage, repair fixes it without deleting user data
 * (quarantine/ holds the bad files), a dry run writes nothing, and an unparsable current.* can be
 * recovered from its newest valid backup. Real files in temp directories.
 */
import { appendFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import type { Problem } from '../src/index.js';
import { tempDir } from './helpers/tmp.js';

const schema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    api: {
      type: 'object',
      properties: { host: { type: 'string' }, port: { type: 'integer', minimum: 1, maximum: 65535 } },
      additionalProperties: false,
    },
    features: { type: 'object', additionalProperties: { type: 'boolean' } },
  },
  additionalProperties: false,
};

async function open(): Promise<{ dir: string; cp: ConfigPersistence }> {
  const dir = await tempDir();
  return { dir, cp: new ConfigPersistence({ baseDir: dir, schema, defaultFormat: 'yaml' }) };
}

/** Every file under `dir` (relative path → content), for byte-identical comparisons. */
async function snapshotTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.name === '.locks') continue; // lock files come and go with every call
      if (entry.isDirectory()) await walk(child);
      else out.set(child, (await readFile(path.join(dir, child))).toString('base64'));
    }
  };
  await walk('');
  return out;
}

/** Replaces a file's bytes with a new inode (a backup is a hard link: never write through it). */
async function replaceBytes(file: string, content: string): Promise<void> {
  await writeFile(`${file}.swap`, content);
  await rename(`${file}.swap`, file);
}

function kinds(problems: Problem[]): string[] {
  return [...new Set(problems.map((p) => p.kind))].sort();
}

async function quarantined(dir: string): Promise<string[]> {
  return (await readdir(path.join(dir, 'quarantine')).catch(() => [] as string[])).sort();
}

describe('verify', () => {
  it('reports a clean directory as ok', async () => {
    const { cp } = await open();
    await cp.saveConfig({ name: 'shop', api: { port: 8080 } });
    await cp.saveConfig({ name: 'shop', api: { port: 8081 } });
    await cp.saveProfile('base', { api: { host: 'localhost' } });
    await cp.saveProfile('dev', { features: { beta: true } }, { extends: 'base' });
    await cp.createSnapshot({ label: 'before' });
    const result = await cp.verify();
    expect(result).toEqual({ ok: true, problems: [] });
    await cp.close();
  });

  it('points at the file for each problem and says what repair will do', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ name: 'shop' });
    await writeFile(path.join(dir, 'broken.yaml'), 'a: [1, 2\n');
    const { problems } = await cp.verify();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: 'broken.yaml', kind: 'unparsable' });
    expect(problems[0]!.message).toMatch(/broken\.yaml:\d+:\d+ cannot be parsed/);
    await cp.close();
  });
});

describe('verify and repair a directory with every kind of damage', () => {
  it('detects each kind, repairs it, keeps the bad files in quarantine, and a second verify is clean', async () => {
    const { dir, cp } = await open();
    // A healthy history: two saves of current (one automatic backup), two saves of "other".
    await cp.saveConfig({ name: 'shop', api: { port: 8080 } });
    await cp.saveConfig({ name: 'shop', api: { port: 8081 } });
    await cp.saveConfig({ name: 'o1' }, 'other');
    await cp.saveConfig({ name: 'o2' }, 'other');
    await cp.saveConfig({ name: 'k1' }, 'keep');
    await cp.saveConfig({ name: 'k2' }, 'keep');
    await cp.saveConfig({ name: 'k3' }, 'keep');
    await cp.saveProfile('base', { api: { host: 'localhost' } });
    await cp.saveProfile('dev', { features: { beta: true } }, { extends: 'base' });
    const backups = await cp.listBackups();
    const currentBackup = backups.find((b) => b.file === 'current.yaml')!;
    const otherBackup = backups.find((b) => b.file === 'other.yaml')!;
    const keepBackups = backups.filter((b) => b.file === 'keep.yaml');
    expect(keepBackups).toHaveLength(2);

    // --- the damage ---
    const bad = {
      'broken.yaml': 'server: [1, 2\n', // unparsable
      'invalid.json': '{\n  "api": { "port": 70000 }\n}\n', // schema-invalid
      'profiles/orphan.yaml': '$profile:\n  extends: ghost\napi:\n  port: 1\n', // missing parent
      'profiles/wrong.yaml': 'api:\n  port: not-a-number\n', // schema-invalid (resolved)
    };
    for (const [file, content] of Object.entries(bad)) await writeFile(path.join(dir, file), content);
    // profile-cycle: each file valid on its own, so reported and left for a person
    const cycle = { 'profiles/loop-a.yaml': '$profile:\n  extends: loop-b\n', 'profiles/loop-b.yaml': '$profile:\n  extends: loop-a\n' };
    for (const [file, content] of Object.entries(cycle)) await writeFile(path.join(dir, file), content);
    // checksum-mismatch: a backup whose bytes changed after it was taken
    await replaceBytes(path.join(dir, 'backups', currentBackup.id), 'name: tampered\n');
    // missing-backup: a record whose file is gone
    await rm(path.join(dir, 'backups', otherBackup.id));
    // unindexed-backup: a complete backup file without record, and an unreadable file
    const orphanId = 'keep.20200101T000000.000Z.yaml';
    await writeFile(path.join(dir, 'backups', orphanId), 'name: k0\n');
    await writeFile(path.join(dir, 'backups', 'junk.bin.gz'), 'not gzip at all');
    // broken-index: a damaged line in the middle of the backup records
    await appendFile(path.join(dir, 'backups', 'index.jsonl'), '{"op":"add","id":\n');
    // broken-history: a torn last line, and a damaged line in the middle of another journal
    await appendFile(path.join(dir, 'history', 'current.yaml.jsonl'), '{"v":99,"at":"20');
    const keepJournal = path.join(dir, 'history', 'keep.yaml.jsonl');
    const keepLines = (await readFile(keepJournal, 'utf8')).split('\n');
    keepLines.splice(1, 0, 'garbage in the middle');
    await writeFile(keepJournal, keepLines.join('\n'));
    // checksum-mismatch of a history object: one whose bytes are not its name (while a backup holds
    // a version's content there is no object of it; this one is planted as a new inode)
    const keepObject = keepBackups[0]!.sha256;
    expect(await readdir(path.join(dir, 'history', 'objects')).catch(() => [])).not.toContain(keepObject);
    await mkdir(path.join(dir, 'history', 'objects'), { recursive: true });
    await writeFile(path.join(dir, 'history', 'objects', keepObject), 'name: not what the hash says\n');
    // stray-temp: a temp file of a writer that is gone (pid beyond pid_max)
    const temp = '.current.yaml.99999999-1-abcdef01.cp-tmp';
    await writeFile(path.join(dir, temp), 'half a fi');

    // --- verify finds every kind ---
    const before = await cp.verify();
    expect(before.ok).toBe(false);
    expect(kinds(before.problems)).toEqual(
      [
        'broken-history',
        'broken-index',
        'checksum-mismatch',
        'missing-backup',
        'missing-parent',
        'profile-cycle',
        'schema-invalid',
        'stray-temp',
        'unindexed-backup',
        'unparsable',
      ].sort(),
    );
    const byPath = (p: string) => before.problems.filter((x) => x.path === p).map((x) => x.kind);
    expect(byPath('broken.yaml')).toEqual(['unparsable']);
    expect(byPath('invalid.json')).toEqual(['schema-invalid']);
    expect(byPath('profiles/orphan.yaml')).toEqual(['missing-parent']);
    expect(byPath('profiles/loop-a.yaml')).toEqual(['profile-cycle']);
    expect(byPath('profiles/loop-b.yaml')).toEqual(['profile-cycle']);
    expect(byPath('profiles/wrong.yaml')).toEqual(['schema-invalid']);
    expect(byPath(`backups/${currentBackup.id}`)).toEqual(['checksum-mismatch']);
    expect(byPath(`backups/${otherBackup.id}`)).toEqual(['missing-backup']);
    expect(byPath(`backups/${orphanId}`)).toEqual(['unindexed-backup']);
    expect(byPath('backups/junk.bin.gz')).toEqual(['unindexed-backup']);
    expect(byPath('backups/index.jsonl')).toEqual(['broken-index']);
    expect(byPath('history/current.yaml.jsonl')).toEqual(['broken-history']);
    expect(before.problems.find((p) => p.path === 'history/current.yaml.jsonl')!.message).toMatch(/torn/);
    expect(byPath('history/keep.yaml.jsonl')).toEqual(['broken-history']);
    expect(byPath(`history/objects/${keepObject}`)).toEqual(['checksum-mismatch']);
    expect(byPath(temp)).toEqual(['stray-temp']);
    // Healthy files are not reported.
    for (const healthy of ['current.yaml', 'other.yaml', 'keep.yaml', 'profiles/base.yaml', 'profiles/dev.yaml']) expect(byPath(healthy)).toEqual([]);

    // --- a dry run reports and writes nothing ---
    const tree = await snapshotTree(dir);
    const plan = await cp.repair({ dryRun: true });
    expect(plan.dryRun).toBe(true);
    expect(new Set(plan.actions.map((a) => a.kind))).toEqual(new Set(kinds(before.problems).filter((k) => k !== 'profile-cycle')));
    expect(await snapshotTree(dir)).toEqual(tree);

    // --- repair ---
    const report = await cp.repair();
    expect(report.dryRun).toBe(false);
    // A cycle is left for a person (each file is valid on its own): reported, not quarantined.
    expect(report.remaining.map((p) => [p.path, p.kind])).toEqual([
      ['profiles/loop-a.yaml', 'profile-cycle'],
      ['profiles/loop-b.yaml', 'profile-cycle'],
    ]);
    const after = await cp.verify();
    expect(after.problems).toEqual(report.remaining);

    // Bad files are in quarantine with their exact bytes; nothing was deleted but the temp file.
    const q = await quarantined(dir);
    const find = (prefix: string) => q.filter((n) => n.startsWith(prefix));
    for (const [file, content] of Object.entries(bad)) {
      const stem = file.replace('/', '~').replace(/\.(yaml|json)$/, '');
      const hits = find(`${stem}.`);
      expect(hits, file).toHaveLength(1);
      expect(await readFile(path.join(dir, 'quarantine', hits[0]!), 'utf8')).toBe(content);
      await expect(stat(path.join(dir, file))).rejects.toMatchObject({ code: 'ENOENT' });
    }
    expect(await readFile(path.join(dir, 'quarantine', find(`backups~${currentBackup.id.replace(/\.yaml$/, '')}`)[0]!), 'utf8')).toBe('name: tampered\n');
    expect(find('backups~junk.bin.')).toHaveLength(1);
    expect(find(`history~objects~${keepObject}`)).toHaveLength(1);
    expect(find('history~current.yaml.')).toHaveLength(1); // the torn journal, as it was
    expect(find('backups~index.')).toHaveLength(1);
    await expect(stat(path.join(dir, temp))).rejects.toMatchObject({ code: 'ENOENT' });
    for (const [file, content] of Object.entries(cycle)) expect(await readFile(path.join(dir, file), 'utf8')).toBe(content);

    // The healthy data is untouched and usable.
    expect(await cp.loadConfig()).toEqual({ name: 'shop', api: { port: 8081 } });
    expect((await cp.loadProfile('dev')).data).toEqual({ api: { host: 'localhost' }, features: { beta: true } });
    const ids = (await cp.listBackups()).map((b) => b.id);
    expect(ids).toContain(orphanId); // recorded, not thrown away
    expect(ids).not.toContain(currentBackup.id);
    expect(ids).not.toContain(otherBackup.id);
    // Journals keep their readable lines: history still lists the versions.
    expect((await cp.history()).map((v) => v.version)).toEqual([2, 1]);
    expect((await cp.history('keep')).length).toBe(3);
    // Each action is in the audit log.
    const audit = (await readFile(path.join(dir, 'audit.log'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { op: string });
    expect(audit.filter((a) => a.op === 'repair').length).toBe(report.actions.length);
    await cp.close();
  });

  it('reports a 3-profile extends cycle without quarantining any of it; the message names the whole chain', async () => {
    const dir = await tempDir();
    const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await mkdir(path.join(dir, 'profiles'), { recursive: true });
    const files = { 'profiles/a.yaml': '$profile:\n  extends: b\nx: 1\n', 'profiles/b.yaml': '$profile:\n  extends: c\n', 'profiles/c.yaml': '$profile:\n  extends: a\n' };
    for (const [file, content] of Object.entries(files)) await writeFile(path.join(dir, file), content);
    const report = await cp.repair();
    expect(report.actions).toEqual([]);
    expect(report.remaining.map((p) => [p.path, p.kind])).toEqual([
      ['profiles/a.yaml', 'profile-cycle'],
      ['profiles/b.yaml', 'profile-cycle'],
      ['profiles/c.yaml', 'profile-cycle'],
    ]);
    expect(report.remaining[0]!.message).toMatch(/a → b → c → a/);
    expect(await quarantined(dir)).toEqual([]);
    for (const [file, content] of Object.entries(files)) expect(await readFile(path.join(dir, file), 'utf8')).toBe(content);
    await cp.close();
  });

  it('quarantines again under a new name when the same file breaks twice', async () => {
    const { dir, cp } = await open();
    await writeFile(path.join(dir, 'broken.yaml'), 'first: [\n');
    await cp.repair();
    await writeFile(path.join(dir, 'broken.yaml'), 'second: {\n');
    await cp.repair();
    const q = (await quarantined(dir)).filter((n) => n.startsWith('broken.'));
    expect(q).toHaveLength(2);
    const contents = await Promise.all(q.map((n) => readFile(path.join(dir, 'quarantine', n), 'utf8')));
    expect(contents.sort()).toEqual(['first: [\n', 'second: {\n']);
    expect((await cp.verify()).ok).toBe(true);
    await cp.close();
  });

  it('quarantines a child whose parent it exposed as missing, in the same repair', async () => {
    const { dir, cp } = await open();
    await cp.saveProfile('base', { api: { host: 'a' } });
    await cp.saveProfile('child', { name: 'c' }, { extends: 'base' });
    await writeFile(path.join(dir, 'profiles', 'base.yaml'), 'api: [\n'); // the parent breaks
    const { problems } = await cp.verify();
    expect(problems.map((p) => [p.path, p.kind])).toEqual([['profiles/base.yaml', 'unparsable']]);
    const report = await cp.repair();
    expect(report.actions.map((a) => [a.path, a.kind, a.action])).toEqual([
      ['profiles/base.yaml', 'unparsable', 'quarantine'],
      ['profiles/child.yaml', 'missing-parent', 'quarantine'],
    ]);
    expect((await cp.verify()).ok).toBe(true);
    await cp.close();
  });

  it('leaves a file over maxFileBytes alone and reports it as remaining', async () => {
    const dir = await tempDir();
    const cp = new ConfigPersistence({ baseDir: dir, maxFileBytes: 64 });
    await writeFile(path.join(dir, 'big.json'), JSON.stringify({ data: 'x'.repeat(200) }));
    const report = await cp.repair();
    expect(report.actions).toEqual([]);
    expect(report.remaining).toMatchObject([{ path: 'big.json', kind: 'too-large' }]);
    expect(await readFile(path.join(dir, 'big.json'), 'utf8')).toContain('xxxx');
    await cp.close();
  });
});

describe('repair of current.*', () => {
  it('quarantines an unparsable current.* unless asked to recover it', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ name: 'v1' });
    await cp.saveConfig({ name: 'v2' });
    await writeFile(path.join(dir, 'current.yaml'), 'name: [garbage\n');
    const report = await cp.repair();
    expect(report.actions).toMatchObject([{ path: 'current.yaml', kind: 'unparsable', action: 'quarantine' }]);
    await expect(cp.loadConfig()).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await cp.close();
  });

  it('recovers from the newest backup that parses and validates, through the normal write path', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ name: 'v1', api: { port: 1 } });
    await cp.saveConfig({ name: 'v2', api: { port: 2 } }); // backup of v1
    // An external edit makes current invalid; a manual backup keeps that invalid state (newest backup).
    await writeFile(path.join(dir, 'current.yaml'), 'name: v3\napi:\n  port: 70000\n');
    const invalidBackup = await cp.createBackup(undefined, { label: 'invalid' });
    await writeFile(path.join(dir, 'current.yaml'), 'name: [torn by an editor crash\n');

    const plan = await cp.repair({ dryRun: true, recoverFromBackup: true });
    const v1Backup = (await cp.listBackups()).find((b) => b.trigger === 'overwrite')!;
    expect(plan.actions).toMatchObject([{ path: 'current.yaml', action: 'recover', to: v1Backup.id }]);

    const report = await cp.repair({ recoverFromBackup: true });
    expect(report.actions).toMatchObject([{ path: 'current.yaml', kind: 'unparsable', action: 'recover', to: v1Backup.id }]);
    expect(report.actions[0]!.to).not.toBe(invalidBackup.id);
    expect(await cp.loadConfig()).toEqual({ name: 'v1', api: { port: 1 } });
    // The bad content is kept twice: in quarantine and as a pre-repair backup.
    const q = (await quarantined(dir)).filter((n) => n.startsWith('current.'));
    expect(q).toHaveLength(1);
    expect(await readFile(path.join(dir, 'quarantine', q[0]!), 'utf8')).toBe('name: [torn by an editor crash\n');
    const preRepair = (await cp.listBackups()).find((b) => b.trigger === 'pre-repair');
    expect(preRepair).toBeDefined();
    // A new history version records the recovery.
    const history = await cp.history();
    expect(history[0]).toMatchObject({ operation: 'repair', changedBy: 'system' });
    expect(history[0]!.reason).toContain(v1Backup.id);
    expect((await cp.verify()).ok).toBe(true);
    await cp.close();
  });

  it('dry run of a recovery writes nothing', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ name: 'v1' });
    await cp.saveConfig({ name: 'v2' });
    await writeFile(path.join(dir, 'current.yaml'), '{{{');
    await mkdir(path.join(dir, 'quarantine'), { recursive: true });
    const tree = await snapshotTree(dir);
    const plan = await cp.repair({ dryRun: true, recoverFromBackup: true });
    expect(plan.actions).toHaveLength(1);
    expect(await snapshotTree(dir)).toEqual(tree);
    await cp.close();
  });
});
