/**
 * Storage.prestage on the local storage: the temp file of an overwrite is written (and its fsync
 * started) before the commit that carries the same bytes, which then takes it. What must hold:
 * the commit's result is exactly as without it, whatever happened in between, and nothing staged
 * outlives its save.
 */
import { chmod, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { LocalStorage } from '../src/storage/index.js';
import { runNode, tempDir, ROOT } from './helpers/tmp.js';

const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const temps = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((name) => name.endsWith('.cp-tmp'));
/** Descriptors this process has open on files under `dir`. */
const openUnder = async (dir: string): Promise<string[]> => {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(dir + path.sep)) out.push(target);
  }
  return out;
};

describe('LocalStorage.prestage', () => {
  it('writes the temp file at once and the commit with the same bytes takes it (no second temp)', async () => {
    const dir = await tempDir('cp-prestage-');
    await writeFile(path.join(dir, 'app.json'), '{"v":1}\n');
    const storage = new LocalStorage(dir);
    const data = bytes('{"v":2}\n');
    const staged = storage.prestage('app.json', data);
    const [temp] = await temps(dir);
    expect(temp).toBeDefined();
    expect(await readFile(path.join(dir, temp!), 'utf8')).toBe('{"v":2}\n');
    await storage.commit({ changes: [{ type: 'put', key: 'app.json', data }] });
    staged.release();
    expect(await readFile(path.join(dir, 'app.json'), 'utf8')).toBe('{"v":2}\n');
    expect(await temps(dir)).toEqual([]);
    await storage.close();
    expect(await openUnder(dir)).toEqual([]);
  });

  it('released without a commit: the temp file is gone at once and its descriptor closed by close()', async () => {
    const dir = await tempDir('cp-prestage-');
    await writeFile(path.join(dir, 'app.json'), '{"v":1}\n');
    const storage = new LocalStorage(dir);
    const staged = storage.prestage('app.json', bytes('{"v":2}\n'));
    expect(await temps(dir)).toHaveLength(1);
    staged.release();
    expect(await temps(dir)).toEqual([]); // synchronously: a process exiting right after leaves none
    staged.release(); // twice is harmless
    await storage.close();
    expect(await openUnder(dir)).toEqual([]);
    expect(await readFile(path.join(dir, 'app.json'), 'utf8')).toBe('{"v":1}\n');
  });

  it('a commit of other bytes (another array) writes its own temp file; the staged one is not used', async () => {
    const dir = await tempDir('cp-prestage-');
    await writeFile(path.join(dir, 'app.json'), '{"v":1}\n');
    const storage = new LocalStorage(dir);
    const staged = storage.prestage('app.json', bytes('{"v":2}\n'));
    await storage.commit({ changes: [{ type: 'put', key: 'app.json', data: bytes('{"v":3}\n') }] });
    staged.release();
    expect(await readFile(path.join(dir, 'app.json'), 'utf8')).toBe('{"v":3}\n');
    expect(await temps(dir)).toEqual([]);
    await storage.close();
  });

  it("keeps the file's permission bits when they change between staging and the commit", async () => {
    const dir = await tempDir('cp-prestage-');
    const file = path.join(dir, 'app.json');
    await writeFile(file, '{"v":1}\n', { mode: 0o644 });
    await chmod(file, 0o644);
    const storage = new LocalStorage(dir);
    const data = bytes('{"v":2}\n');
    const staged = storage.prestage('app.json', data); // its temp file has 0644
    await chmod(file, 0o600); // the owner tightens the file meanwhile
    await storage.commit({ changes: [{ type: 'put', key: 'app.json', data }] });
    staged.release();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toBe('{"v":2}\n');
    expect(await temps(dir)).toEqual([]);
    await storage.close();
  });

  it('stages nothing for a file that does not exist yet, a missing directory or a name that is not allowed', async () => {
    const dir = await tempDir('cp-prestage-');
    const storage = new LocalStorage(dir);
    storage.prestage('new.json', bytes('{}')).release();
    storage.prestage('sub/new.json', bytes('{}')).release();
    storage.prestage('../escape.json', bytes('{}')).release();
    expect(await readdir(dir)).toEqual([]);
    await storage.close();
  });

  it('a save that fails after staging (its backup cannot be linked) leaves no temp file, even when the process exits at once', async () => {
    const dir = await tempDir('cp-prestage-');
    await writeFile(path.join(dir, 'app.json'), '{"v":1}\n');
    // A file where the backups directory would be: the backup's link fails after the temp file was staged.
    await writeFile(path.join(dir, 'backups'), 'not a directory\n');
    const script = `
      import { ConfigPersistence } from ${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))};
      const store = new ConfigPersistence({ baseDir: ${JSON.stringify(dir)}, schemaDir: ${JSON.stringify(path.join(dir, 'none'))} });
      try {
        await store.saveConfig({ v: 2 }, 'app.json');
        console.log('saved');
      } catch (err) {
        console.log(err.code);
      }
      process.exit(0); // no close(): whatever was left for later is abandoned
    `;
    const result = await runNode(script, { cwd: dir, timeoutMs: 30_000 });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toMatch(/^E_/);
    expect(await readFile(path.join(dir, 'app.json'), 'utf8')).toBe('{"v":1}\n');
    expect(await temps(dir)).toEqual([]);
  });

  it('saves through the store take the staged temp: content, history and no leftovers over 50 saves', async () => {
    const dir = await tempDir('cp-prestage-');
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'none') });
    for (let i = 0; i < 50; i++) await store.saveConfig({ v: i }, 'app.json');
    expect(await store.loadConfig('app.json')).toEqual({ v: 49 });
    expect((await store.history('app.json')).length).toBe(50);
    expect(await temps(dir)).toEqual([]);
    await store.close();
    expect(await openUnder(dir)).toEqual([]);
  });
});
