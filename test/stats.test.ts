/**
 * stats(): counts and sizes of configs, profiles, backups, history and the audit log.
 */
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { tempDir } from './helpers/tmp.js';

async function sizeOfDir(dir: string): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let total = 0;
  for (const name of names) {
    const st = await stat(path.join(dir, name));
    if (st.isFile()) total += st.size;
  }
  return total;
}

describe('stats', () => {
  it('reports zeros for an empty directory', async () => {
    const dir = await tempDir();
    const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    expect(await cp.stats()).toEqual({
      configs: 0,
      profiles: 0,
      backups: { count: 0, snapshots: 0, totalBytes: 0 },
      history: { files: 0, entries: 0, bytes: 0 },
      bytes: { configs: 0, profiles: 0, backups: 0, history: 0, audit: 0, total: 0 },
    });
    await cp.close();
  });

  it('counts configs, profiles, backups (with oldest and newest), history entries and bytes', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'profiles'));
    await writeFile(path.join(dir, 'default.yaml'), 'a: 1\n');
    await writeFile(path.join(dir, 'profiles', 'dev.yaml'), 'debug: true\n');
    await writeFile(path.join(dir, 'profiles', 'notes.txt'), 'not a profile');
    const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    for (let n = 0; n < 3; n++) await cp.saveConfig({ n }, 'current.yaml');
    await cp.saveConfig({ x: 1 }, 'profiles/prod.json');
    await cp.saveConfig({ x: 2 }, 'profiles/prod.json');
    const snap = await cp.createSnapshot();
    const s = await cp.stats();
    expect(s.configs).toBe(2); // default.yaml, current.yaml
    expect(s.profiles).toBe(2); // dev.yaml, prod.json
    const list = await cp.listBackups();
    expect(s.backups.count).toBe(list.length);
    expect(s.backups.count).toBe(4); // 2 of current, 1 of prod, 1 snapshot
    expect(s.backups.snapshots).toBe(1);
    expect(s.backups.newest).toBe(snap.createdAt);
    expect(s.backups.oldest).toBe(list.at(-1)!.createdAt);
    expect(s.backups.totalBytes).toBe((await sizeOfDir(path.join(dir, 'backups'))) - (await stat(path.join(dir, 'backups', 'index.jsonl'))).size);
    expect(s.backups.totalBytes).toBe(s.bytes.backups);
    expect(s.history).toEqual({
      files: 2,
      entries: (await cp.history('current.yaml')).length + (await cp.history('profiles/prod.json')).length,
      bytes: (await sizeOfDir(path.join(dir, 'history'))) + (await sizeOfDir(path.join(dir, 'history', 'objects'))),
    });
    expect(s.history.entries).toBe(5);
    expect(s.bytes.configs).toBe((await stat(path.join(dir, 'default.yaml'))).size + (await stat(path.join(dir, 'current.yaml'))).size);
    expect(s.bytes.profiles).toBe((await stat(path.join(dir, 'profiles', 'dev.yaml'))).size + (await stat(path.join(dir, 'profiles', 'prod.json'))).size);
    expect(s.bytes.audit).toBe((await readFile(path.join(dir, 'audit.log'))).byteLength);
    expect(s.bytes.total).toBe(s.bytes.configs + s.bytes.profiles + s.bytes.backups + s.bytes.history + s.bytes.audit);
    await cp.close();
  });
});
