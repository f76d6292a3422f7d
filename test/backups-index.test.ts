/**
 * The backup index view (src/backups/records.ts): kept current from this instance's own appends,
 * extended by parsing only the lines it lacks when the index grew, parsed whole again when the
 * index was rewritten — and never wrong about what another instance (another process) appended.
 */
import { appendFile, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import type { BackupInfo } from '../src/index.js';
import { MemoryStorage } from '../src/storage/index.js';
import { tempDir } from './helpers/tmp.js';

const FILES = Array.from({ length: 16 }, (_, i) => `service-${String(i).padStart(2, '0')}.json`);

function indexPath(dir: string): string {
  return path.join(dir, 'backups', 'index.jsonl');
}

/** Counts the index lines parsed while `fn` runs (JSON.parse of a record line). */
async function indexLinesParsed(fn: () => Promise<unknown>): Promise<number> {
  const parse = JSON.parse;
  let count = 0;
  const spy = vi.spyOn(JSON, 'parse').mockImplementation((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    if (typeof text === 'string' && text.startsWith('{"op":')) count++;
    return parse(text, reviver);
  });
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return count;
}

/** Backup ids per file, oldest first. */
function byFile(list: readonly BackupInfo[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const b of [...list].reverse()) (out[b.file] ??= []).push(b.id);
  return out;
}

/** Backup files on disk per config file (ids start with the file's base name). */
async function filesOnDisk(dir: string, file: string): Promise<string[]> {
  const base = file.replace(/\.json$/, '');
  return (await readdir(path.join(dir, 'backups'))).filter((n) => n.startsWith(`${base}.`));
}

const open: ConfigPersistence[] = [];
function instance(dir: string, extra: ConstructorParameters<typeof ConfigPersistence>[0] = {}): ConfigPersistence {
  const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir, ...extra });
  open.push(cp);
  return cp;
}

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(open.splice(0).map((cp) => cp.close()));
});

describe('backup index view', () => {
  it('16 saves in flight together parse each new index line at most once, and keep the view a fresh reader gets', async () => {
    const dir = await tempDir();
    const cp = instance(dir);
    let n = 0;
    const batch = (): Promise<unknown> => Promise.all(FILES.map((file, f) => cp.saveConfig({ file: f, n: ++n }, file)));
    for (let i = 0; i < 14; i++) await batch(); // past maxBackups: each save now adds a record and removes one
    const lines = (await readFile(indexPath(dir), 'utf8')).split('\n').length;
    expect(lines).toBeGreaterThan(250);
    // Each save appends its record and a removal: 32 lines a batch. Parsing the whole index again
    // when another save's record landed before it was noted costs 250+ lines each time.
    const parsed = await indexLinesParsed(async () => {
      for (let i = 0; i < 3; i++) await batch();
    });
    expect(parsed).toBeLessThanOrEqual(3 * 32);
    const mine = await cp.listBackups();
    const fresh = await instance(dir).listBackups();
    expect(mine.filter((b) => b.trigger === 'recovered')).toEqual([]);
    expect(byFile(mine)).toEqual(byFile(fresh));
    for (const file of FILES) {
      expect(byFile(mine)[file]).toHaveLength(10);
      expect(await filesOnDisk(dir, file)).toHaveLength(10);
    }
  });

  it('starts a fresh line after a torn fragment another writer left, and keeps reading after it', async () => {
    const dir = await tempDir();
    const cp = instance(dir);
    await cp.saveConfig({ n: 1 }, 'current.json');
    await cp.saveConfig({ n: 2 }, 'current.json');
    await appendFile(indexPath(dir), '{"op":"add","id":"current.2026'); // another process cut off mid-append
    const { backup } = await cp.saveConfig({ n: 3 }, 'current.json');
    const text = await readFile(indexPath(dir), 'utf8');
    expect(text).toContain(`{"op":"add","id":"current.2026\n{"op":"add","id":"${backup!.id}"`);
    const { backup: next } = await cp.saveConfig({ n: 4 }, 'current.json');
    expect((await cp.listBackups('current.json')).map((x) => x.id)).toEqual([next!.id, backup!.id, expect.any(String)]);
    expect((await instance(dir).listBackups('current.json')).map((x) => x.id)).toEqual([next!.id, backup!.id, expect.any(String)]);
  });

  it('notices an index rewritten to the same size', async () => {
    const dir = await tempDir();
    const cp = instance(dir);
    for (let i = 0; i < 3; i++) await cp.saveConfig({ n: i }, 'current.json');
    const before = await cp.listBackups('current.json');
    const text = await readFile(indexPath(dir), 'utf8');
    const edited = text.replace('"trigger":"overwrite"', '"trigger":"overwritX"'); // same length, another record
    expect(edited.length).toBe(text.length);
    await writeFile(indexPath(dir), edited);
    const after = await cp.listBackups('current.json');
    expect(after.map((x) => x.id)).toEqual(before.map((x) => x.id));
    expect(after.at(-1)!.trigger).toBe('overwritX');
  });

  it('parses a compacted index whole again, even once it has grown past the size the view knew', async () => {
    const dir = await tempDir();
    const a = instance(dir);
    for (let i = 0; i < 4; i++) await a.saveConfig({ n: i }, 'current.json');
    const oldest = (await a.listBackups('current.json')).at(-1)!;
    const b = instance(dir);
    await b.deleteBackup(oldest.id);
    // Compacted by someone else: only the live records, then enough new ones to outgrow a's view.
    const live = (await readFile(indexPath(dir), 'utf8')).split('\n').filter((l) => l !== '' && !l.includes(oldest.id));
    await writeFile(indexPath(dir), `${live.join('\n')}\n`);
    for (let i = 0; i < 3; i++) await b.saveConfig({ n: 10 + i }, 'other.json');
    const listed = await a.listBackups();
    expect(listed.map((x) => x.id)).not.toContain(oldest.id);
    expect(byFile(listed)).toEqual(byFile(await instance(dir).listBackups()));
    expect(listed.filter((x) => x.trigger === 'recovered')).toEqual([]);
    const { backup } = await a.saveConfig({ n: 4 }, 'current.json');
    expect((await a.listBackups('current.json')).map((x) => x.id)).toEqual([backup!.id, ...listed.filter((x) => x.file === 'current.json').map((x) => x.id)]);
  });
});

/** Two instances of one store (two processes, as far as their views know), on each kind of backend. */
const backends: Array<{ name: string; pair(extra: ConstructorParameters<typeof ConfigPersistence>[0]): Promise<[ConfigPersistence, ConfigPersistence, () => ConfigPersistence]> }> = [
  {
    name: 'a local directory',
    async pair(extra) {
      const dir = await tempDir();
      return [instance(dir, extra), instance(dir, extra), () => instance(dir, extra)];
    },
  },
  {
    name: 'MemoryStorage (one shared volume)',
    async pair(extra) {
      const storage = new MemoryStorage();
      const dir = await tempDir();
      const on = (s: MemoryStorage): ConfigPersistence => instance(dir, { ...extra, storage: s });
      return [on(storage), on(new MemoryStorage({ volume: storage.shared })), () => on(new MemoryStorage({ volume: storage.shared }))];
    },
  },
];

describe.each(backends)('backup index view on $name', ({ pair }) => {
  it('sees records another instance appended between two of its saves, parsing only those', async () => {
    const [a, b, fresh] = await pair({ maxBackups: 3 });
    for (let i = 0; i < 5; i++) await a.saveConfig({ by: 'a', i }, 'current.json');
    for (let i = 0; i < 2; i++) await b.saveConfig({ by: 'b', i }, 'current.json'); // two records, two removals of a's
    const parsed = await indexLinesParsed(() => a.saveConfig({ by: 'a', i: 5 }, 'current.json'));
    expect(parsed).toBeLessThanOrEqual(4); // b's lines, not the whole index
    // a's retention counted b's backups and knew which of its own b had removed already: three
    // backups, all recorded (a backup a forgot to remove would be listed; one without a record, `recovered`).
    const listed = await fresh().listBackups('current.json');
    expect(listed.map((x) => x.trigger)).toEqual(['overwrite', 'overwrite', 'overwrite']);
    expect(byFile(await a.listBackups('current.json'))).toEqual(byFile(listed));
  });
});
