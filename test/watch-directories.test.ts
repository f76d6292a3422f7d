/**
 * Watched directories that are renamed away, removed, and brought back (issue #18, item 9): the
 * watch follows the directory by its name, never the inode it had, the way a single deleted file is
 * reported (E_NOT_FOUND for `watch()`, a reload for `Configuration`), and picks it up again.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Configuration, ConfigPersistence } from '../src/index.js';
import type { ConfigPersistenceError, ConfigurationChangeEvent, WatchEvent } from '../src/index.js';
import { tempDir } from './helpers/tmp.js';

type Doc = Record<string, unknown>;

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const json = (data: unknown) => `${JSON.stringify(data, null, 2)}\n`;

/** A store watching `key` of a fresh directory (the directory given, or a temp one), with what it delivers and reports. */
async function watching(key: string, dir: string) {
  const store = new ConfigPersistence<Doc>({ baseDir: dir, schemaDir: path.join(dir, 'no-schemas'), durable: false });
  closers.push(() => store.close());
  const events: WatchEvent<Doc>[] = [];
  const errors: ConfigPersistenceError[] = [];
  await store.watch(key, (e) => void events.push(e), { onError: (e) => void errors.push(e as ConfigPersistenceError) });
  return { store, events, errors };
}

describe('watch(): a watched directory renamed away and back', () => {
  it('mv profiles profiles.old is reported as E_NOT_FOUND; a new profiles/ is delivered; the old one moved back too', async () => {
    const dir = await tempDir('cp-watchdir-');
    await mkdir(path.join(dir, 'profiles'));
    await writeFile(path.join(dir, 'profiles', 'dev.json'), json({ a: 1 }));
    const { events, errors } = await watching('profiles/dev.json', dir);

    await rename(path.join(dir, 'profiles'), path.join(dir, 'profiles.old'));
    await waitFor('E_NOT_FOUND for the renamed directory', () => errors.length === 1);
    expect(errors[0]!.code).toBe('E_NOT_FOUND');
    // An edit inside the directory that moved away is not the watched file any more.
    await writeFile(path.join(dir, 'profiles.old', 'dev.json'), json({ a: 'old' }));

    await mkdir(path.join(dir, 'profiles'));
    await writeFile(path.join(dir, 'profiles', 'dev.json'), json({ a: 2 }));
    await waitFor('the file of the new directory', () => events.length === 1);
    expect([events[0]!.previous, events[0]!.data]).toEqual([{ a: 1 }, { a: 2 }]);

    await rm(path.join(dir, 'profiles'), { recursive: true });
    await waitFor('E_NOT_FOUND for the removed directory', () => errors.length === 2);
    await rename(path.join(dir, 'profiles.old'), path.join(dir, 'profiles'));
    await waitFor('the directory moved back', () => events.length === 2);
    expect(events[1]!.data).toEqual({ a: 'old' });
    await writeFile(path.join(dir, 'profiles', 'dev.json'), json({ a: 3 }));
    await waitFor('a later edit in it', () => events.length === 3);
    expect(events[2]!.data).toEqual({ a: 3 });
    expect(errors.map((e) => e.code)).toEqual(['E_NOT_FOUND', 'E_NOT_FOUND']);
  });

  it('a directory replaced at once by another one (mv profiles profiles.old; mv profiles.new profiles) is followed', async () => {
    const dir = await tempDir('cp-watchdir-');
    await mkdir(path.join(dir, 'profiles'));
    await writeFile(path.join(dir, 'profiles', 'dev.json'), json({ a: 1 }));
    await mkdir(path.join(dir, 'profiles.new'));
    await writeFile(path.join(dir, 'profiles.new', 'dev.json'), json({ a: 2 }));
    const { events, errors } = await watching('profiles/dev.json', dir);

    await rename(path.join(dir, 'profiles'), path.join(dir, 'profiles.old'));
    await rename(path.join(dir, 'profiles.new'), path.join(dir, 'profiles'));
    await waitFor('the file of the directory swapped in', () => events.at(-1)?.data.a === 2);
    await writeFile(path.join(dir, 'profiles.old', 'dev.json'), json({ a: 'old' }));
    await writeFile(path.join(dir, 'profiles', 'dev.json'), json({ a: 3 }));
    await waitFor('a later edit in it', () => events.at(-1)?.data.a === 3);
    expect(events.map((e) => e.data.a)).not.toContain('old');
    // Swapped within the delete grace period: at most one E_NOT_FOUND, never anything else.
    for (const error of errors) expect(error.code).toBe('E_NOT_FOUND');
  });

  it('the base directory itself renamed away and re-created', async () => {
    const parent = await tempDir('cp-watchdir-');
    const dir = path.join(parent, 'config');
    await mkdir(dir);
    await writeFile(path.join(dir, 'current.json'), json({ a: 1 }));
    const { events, errors } = await watching('current.json', dir);

    await rename(dir, `${dir}.old`);
    await waitFor('E_NOT_FOUND for the renamed base directory', () => errors.length === 1);
    expect(errors[0]!.code).toBe('E_NOT_FOUND');
    await writeFile(path.join(`${dir}.old`, 'current.json'), json({ a: 'old' }));
    await mkdir(dir);
    await writeFile(path.join(dir, 'current.json'), json({ a: 2 }));
    await waitFor('the file of the new base directory', () => events.length === 1);
    expect(events[0]!.data).toEqual({ a: 2 });
    await writeFile(path.join(dir, 'current.json'), json({ a: 3 }));
    await waitFor('a later edit', () => events.length === 2);
    expect(events.map((e) => e.data)).toEqual([{ a: 2 }, { a: 3 }]);
  });

  it('history/ and backups/ renamed away: the watch goes on, own saves are not echoed, new bookkeeping is made', async () => {
    const dir = await tempDir('cp-watchdir-');
    await writeFile(path.join(dir, 'current.json'), json({ a: 1 }));
    const { store, events, errors } = await watching('current.json', dir);
    await store.saveConfig({ a: 2 });
    await rename(path.join(dir, 'history'), path.join(dir, 'history.old'));
    await rename(path.join(dir, 'backups'), path.join(dir, 'backups.old'));
    await store.saveConfig({ a: 3 });
    const backups = await store.listBackups('current.json');
    expect(backups).toHaveLength(1); // the old ones left with backups.old; the new one of { a: 2 } is made
    expect(JSON.parse(await readFile(path.join(dir, 'backups', backups[0]!.id), 'utf8'))).toEqual({ a: 2 });
    await writeFile(path.join(dir, 'current.json'), json({ a: 4 }));
    await waitFor('the external edit', () => events.length === 1);
    expect(events[0]!.previous).toEqual({ a: 3 });
    expect(errors).toEqual([]);
  });
});

describe('Configuration.open({ watch: true }): the profiles directory renamed away and back', () => {
  it('the active profile vanishing is an error event and the configuration stays; a new profiles/ is applied', async () => {
    const dir = await tempDir('cp-watchdir-conf-');
    await mkdir(path.join(dir, 'profiles'));
    await writeFile(path.join(dir, 'default.yaml'), 'log: info\nport: 80\n');
    await writeFile(path.join(dir, 'profiles', 'dev.yaml'), 'port: 3000\n');
    const config = await Configuration.open<Doc>({ baseDir: dir, profile: 'dev', watch: true, schemaDir: path.join(dir, 'no-schemas'), durable: false });
    closers.push(() => config.close());
    const changes: ConfigurationChangeEvent<Doc>[] = [];
    const errors: ConfigPersistenceError[] = [];
    config.on('change', (event) => changes.push(event));
    config.on('error', (error) => errors.push(error as ConfigPersistenceError));

    await rename(path.join(dir, 'profiles'), path.join(dir, 'profiles.old'));
    await waitFor('an error for the vanished profile', () => errors.length >= 1);
    expect(errors[0]!.code).toBe('E_NOT_FOUND');
    expect(config.get('port')).toBe(3000);

    await mkdir(path.join(dir, 'profiles'));
    await writeFile(path.join(dir, 'profiles', 'dev.yaml'), 'port: 4000\n');
    await waitFor('the new profiles directory', () => config.get('port') === 4000);
    await rm(path.join(dir, 'profiles'), { recursive: true });
    await rename(path.join(dir, 'profiles.old'), path.join(dir, 'profiles'));
    await waitFor('the old directory moved back', () => config.get('port') === 3000);
    await writeFile(path.join(dir, 'profiles', 'dev.yaml'), 'port: 5000\n');
    await waitFor('an edit in it', () => config.get('port') === 5000);
    expect(changes.at(-1)!.source).toBe('reload');
  });
});
