/**
 * Hot reload with real chokidar events on the real file system: every kind of external edit, invalid
 * and half-written content, a storm of writes from another process, own writes, `previous`, and a
 * process that exits by itself after closing its watch. No fixed sleep is an assertion: tests wait
 * for conditions with deadlines.
 */
import { mkdir, open, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Configuration, ConfigPersistence } from '../src/index.js';
import { LocalStorage } from '../src/storage/index.js';
import type { ConfigPersistenceError, ConfigurationChangeEvent, WatchEvent, WatchHandle } from '../src/index.js';
import type { Storage, StorageWatchEvent } from '../src/storage/index.js';
import { DIST, runNode, tempDir } from './helpers/tmp.js';

interface Doc {
  [key: string]: unknown;
}

const SCHEMA = {
  type: 'object',
  required: ['name', 'port'],
  properties: {
    name: { type: 'string' },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    tags: { type: 'array', items: { type: 'string' } },
  },
};

const stores: ConfigPersistence<Doc>[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** A store over a fresh directory, with the test schema (or none). */
async function setup(opts: { schema?: object | null } = {}): Promise<{ dir: string; store: ConfigPersistence<Doc> }> {
  const dir = await tempDir('cp-watch-');
  const store = new ConfigPersistence<Doc>({
    baseDir: dir,
    schemaDir: path.join(dir, 'no-schemas'),
    durable: false,
    ...(opts.schema === null ? {} : { schema: opts.schema ?? SCHEMA }),
  });
  stores.push(store);
  return { dir, store };
}

/** Records what a watch delivers and reports. */
function recorder() {
  const events: WatchEvent<Doc>[] = [];
  const errors: ConfigPersistenceError[] = [];
  return {
    events,
    errors,
    listener: (event: WatchEvent<Doc>) => {
      events.push(event);
    },
    onError: (error: Error) => {
      errors.push(error as ConfigPersistenceError);
    },
  };
}

/** Polls `condition` until it holds or the deadline passes (then fails with `what`). */
async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const json = (data: unknown) => `${JSON.stringify(data, null, 2)}\n`;

/** Atomic replace the way careful editors and tools do it: temp file beside it, then rename over. */
async function renameOver(file: string, text: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${Math.random().toString(36).slice(2)}.tmp`);
  await writeFile(temp, text);
  await rename(temp, file);
}

describe('watch: each kind of external edit reaches the listener', () => {
  it('an in-place write', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    await writeFile(file, json({ name: 'shop', port: 80 }));
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });

    await writeFile(file, json({ name: 'shop', port: 81 }));
    await waitFor('the in-place write', () => r.events.length === 1);
    expect(r.events[0]).toEqual({
      file: 'current.json',
      data: { name: 'shop', port: 81 },
      previous: { name: 'shop', port: 80 },
      changes: [{ path: 'port', type: 'changed', oldValue: 80, newValue: 81 }],
    });
    expect(r.errors).toEqual([]);
  });

  it('an atomic rename-over (temp file + rename, VS Code / write-file-atomic style)', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    await writeFile(file, json({ name: 'shop', port: 80 }));
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });

    for (let port = 81; port <= 83; port++) {
      await renameOver(file, json({ name: 'shop', port }));
      await waitFor(`port ${port}`, () => r.events.at(-1)?.data.port === port);
    }
    expect(r.events.map((e) => [e.previous?.port, e.data.port])).toEqual([
      [80, 81],
      [81, 82],
      [82, 83],
    ]);
    expect(r.errors).toEqual([]);
  });

  it('vim style: the original is renamed away, a new file is written, the backup deleted', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    await writeFile(file, json({ name: 'shop', port: 80 }));
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });

    for (let port = 81; port <= 82; port++) {
      await rename(file, `${file}~`);
      await writeFile(file, json({ name: 'shop', port }));
      await unlink(`${file}~`);
      await waitFor(`port ${port}`, () => r.events.at(-1)?.data.port === port);
    }
    expect(r.events.map((e) => [e.previous?.port, e.data.port])).toEqual([
      [80, 81],
      [81, 82],
    ]);
    // The file was never missing for longer than the delete grace period: no E_NOT_FOUND.
    expect(r.errors).toEqual([]);
  });

  it('JetBrains safe write: tmp written, original renamed to old, tmp renamed in, old deleted', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    await writeFile(file, json({ name: 'shop', port: 80 }));
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });

    await writeFile(`${file}___jb_tmp___`, json({ name: 'shop', port: 81 }));
    await rename(file, `${file}___jb_old___`);
    await rename(`${file}___jb_tmp___`, file);
    await unlink(`${file}___jb_old___`);
    await waitFor('the safe write', () => r.events.length === 1);
    expect(r.events[0]!.data).toEqual({ name: 'shop', port: 81 });
    expect(r.events[0]!.previous).toEqual({ name: 'shop', port: 80 });
    expect(r.errors).toEqual([]);
  });

  it('delete + re-create: the delete is reported as E_NOT_FOUND, the re-created file is delivered with the last good data as previous', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    await writeFile(file, json({ name: 'shop', port: 80 }));
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });

    await unlink(file);
    await waitFor('E_NOT_FOUND for the delete', () => r.errors.length === 1);
    expect(r.errors[0]!.code).toBe('E_NOT_FOUND');
    expect(r.errors[0]!.message).toContain('current.json was deleted');
    expect(r.events).toEqual([]);

    await writeFile(file, json({ name: 'shop', port: 90 }));
    await waitFor('the re-created file', () => r.events.length === 1);
    expect(r.events[0]!.data).toEqual({ name: 'shop', port: 90 });
    expect(r.events[0]!.previous).toEqual({ name: 'shop', port: 80 });
    expect(r.errors).toHaveLength(1);
  });

  it('a burst of rename-overs a few ms apart ends with the final state (chokidar drops changes within 50 ms)', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    await writeFile(file, json({ name: 'shop', port: 1 }));
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });

    for (let round = 0; round < 5; round++) {
      const last = 100 * (round + 1) + 4;
      for (let port = last - 4; port <= last; port++) {
        await renameOver(file, json({ name: 'shop', port }));
        await pause(5 + ((port * 7) % 25));
      }
      await waitFor(`round ${round} ends at port ${last}`, () => r.events.at(-1)?.data.port === last);
    }
    const ports = r.events.map((e) => e.data.port as number);
    expect(ports).toEqual([...ports].sort((a, b) => a - b));
    expect(r.errors).toEqual([]);
  });

  it('YAML files, and a file in a directory that does not exist yet', async () => {
    const { dir, store } = await setup({ schema: null });
    const r = recorder();
    await store.watch('profiles/dev.yaml', r.listener, { onError: r.onError });

    await mkdir(path.join(dir, 'profiles'));
    await writeFile(path.join(dir, 'profiles', 'dev.yaml'), '# dev settings\nserver:\n  port: 3000 # local\n');
    await waitFor('the new profile file', () => r.events.length === 1);
    expect(r.events[0]).toEqual({
      file: 'profiles/dev.yaml',
      data: { server: { port: 3000 } },
      previous: undefined,
      changes: [{ path: '', type: 'added', newValue: { server: { port: 3000 } } }],
    });
    await writeFile(path.join(dir, 'profiles', 'dev.yaml'), 'server:\n  port: 3001\n');
    await waitFor('the second edit', () => r.events.length === 2);
    expect(r.events[1]!.changes).toEqual([{ path: 'server.port', type: 'changed', oldValue: 3000, newValue: 3001 }]);
  });
});

describe('watch: the directory itself', () => {
  it('a removed and re-created directory is followed', async () => {
    const { dir, store } = await setup({ schema: null });
    await mkdir(path.join(dir, 'profiles'));
    await writeFile(path.join(dir, 'profiles', 'dev.json'), json({ a: 1 }));
    const r = recorder();
    await store.watch('profiles/dev.json', r.listener, { onError: r.onError });

    await rm(path.join(dir, 'profiles'), { recursive: true });
    await waitFor('E_NOT_FOUND', () => r.errors.length === 1);
    await mkdir(path.join(dir, 'profiles'));
    await writeFile(path.join(dir, 'profiles', 'dev.json'), json({ a: 2 }));
    await waitFor('the file in the re-created directory', () => r.events.length === 1);
    await writeFile(path.join(dir, 'profiles', 'dev.json'), json({ a: 3 }));
    await waitFor('a later edit', () => r.events.length === 2);
    expect(r.events.map((e) => [e.previous, e.data])).toEqual([
      [{ a: 1 }, { a: 2 }],
      [{ a: 2 }, { a: 3 }],
    ]);
  });

  it('a symlinked file whose link target is swapped beside it (Kubernetes ConfigMap) is re-read', async () => {
    const { dir, store } = await setup({ schema: null });
    await mkdir(path.join(dir, '..v1'));
    await writeFile(path.join(dir, '..v1', 'current.json'), json({ v: 1 }));
    await symlink('..v1', path.join(dir, '..data'));
    await symlink('..data/current.json', path.join(dir, 'current.json'));
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });

    await mkdir(path.join(dir, '..v2'));
    await writeFile(path.join(dir, '..v2', 'current.json'), json({ v: 2 }));
    await symlink('..v2', path.join(dir, '..data_tmp'));
    await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    await waitFor('the swapped content', () => r.events.length === 1);
    expect(r.events[0]!.data).toEqual({ v: 2 });
    expect(r.events[0]!.previous).toEqual({ v: 1 });
    expect(r.errors).toEqual([]);
  });
});

describe('watch: nothing half-written or invalid is delivered', () => {
  it('invalid content goes to onError, the last good data stays, the next valid write has it as previous', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    await writeFile(file, json({ name: 'shop', port: 80 }));
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });

    await renameOver(file, json({ name: 'shop', port: 'eighty' }));
    await waitFor('E_VALIDATION', () => r.errors.length === 1);
    expect(r.errors[0]!.code).toBe('E_VALIDATION');
    expect(r.errors[0]!.message).toMatch(/current\.json:\d+:\d+ port/);

    await renameOver(file, '{ "name": "shop", "port": 81');
    await waitFor('E_PARSE', () => r.errors.length === 2);
    expect(r.errors[1]!.code).toBe('E_PARSE');

    await renameOver(file, '');
    await waitFor('E_PARSE for an empty file', () => r.errors.length === 3);
    expect(r.errors[2]!.code).toBe('E_PARSE');

    await renameOver(file, json({ name: 'shop', port: 82 }));
    await waitFor('the next valid write', () => r.events.length === 1);
    expect(r.events[0]!.data).toEqual({ name: 'shop', port: 82 });
    expect(r.events[0]!.previous).toEqual({ name: 'shop', port: 80 });
    expect(r.errors).toHaveLength(3);
  });

  it('the same invalid content is reported once, not on every event', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    await writeFile(file, json({ name: 'shop', port: 80 }));
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });
    await renameOver(file, '{ broken');
    await waitFor('the first report', () => r.errors.length === 1);
    for (let i = 0; i < 3; i++) {
      // The same bytes again (a new file each time), spaced so that each is read on its own.
      await renameOver(file, '{ broken');
      await pause(80);
    }
    await renameOver(file, json({ name: 'shop', port: 81 }));
    // Reports and deliveries of one file are sequential: once this arrives, every report is in.
    await waitFor('the valid write after the broken ones', () => r.events.length === 1);
    expect(r.errors).toHaveLength(1);
    expect(r.events[0]!.previous).toEqual({ name: 'shop', port: 80 });
  });

  for (const [format, body, cut] of [
    ['json', json({ name: 'shop', port: 81, tags: ['a', 'b', 'c'] }), 20],
    // The first YAML chunk parses on its own (`name: shop`) but lacks the required port.
    ['yaml', 'name: shop\nport: 81\ntags: [a, b, c]\n', 11],
  ] as const) {
    it(`a ${format} file written in place in two chunks with a pause between is never delivered half-written`, async () => {
      const { dir, store } = await setup();
      const file = path.join(dir, `current.${format}`);
      await writeFile(file, format === 'json' ? json({ name: 'shop', port: 80 }) : 'name: shop\nport: 80\n');
      const r = recorder();
      await store.watch(`current.${format}`, r.listener, { onError: r.onError });

      const handle = await open(file, 'r+');
      await handle.truncate(0);
      await handle.write(body.slice(0, cut), 0);
      await pause(250); // a slow writer: the watcher must not take the first chunk for the file
      await handle.write(body.slice(cut), cut);
      await handle.close();

      await waitFor('the complete file', () => r.events.length >= 1);
      await pause(100); // nothing else should follow (not an assertion on timing: only on content)
      expect(r.events).toHaveLength(1);
      expect(r.events[0]!.data).toEqual({ name: 'shop', port: 81, tags: ['a', 'b', 'c'] });
      expect(r.events[0]!.previous).toEqual({ name: 'shop', port: 80 });
      // The half may have been reported while it sat there, as invalid: never delivered.
      for (const error of r.errors) expect(['E_PARSE', 'E_VALIDATION']).toContain(error.code);
    });
  }

  it('a storm of 10,000 writes from another process: never an invalid delivery, the final state is delivered', async () => {
    const { dir, store } = await setup({
      schema: {
        type: 'object',
        required: ['seq', 'check', 'pad'],
        properties: { seq: { type: 'integer' }, check: { type: 'string' }, pad: { type: 'string', minLength: 2000, maxLength: 2000 } },
      },
    });
    const file = path.join(dir, 'current.json');
    await writeFile(file, JSON.stringify({ seq: -1, check: 'c-1', pad: 'x'.repeat(2000) }));
    const r = recorder();
    const seqs: number[] = [];
    await store.watch('current.json', (event) => {
      seqs.push(event.data.seq as number);
      r.listener(event);
    }, { onError: r.onError });

    // Every other write is in place (readers can catch it truncated or half-written), the rest
    // are rename-overs. Each document carries its own check value and a 2 KB pad.
    const script = `
      import { writeFileSync, renameSync } from 'node:fs';
      const file = ${JSON.stringify(file)};
      for (let seq = 0; seq < 10000; seq++) {
        const text = JSON.stringify({ seq, check: 'c' + seq, pad: 'x'.repeat(2000) });
        if (seq % 2 === 0) writeFileSync(file, text);
        else { writeFileSync(file + '.tmp', text); renameSync(file + '.tmp', file); }
      }
    `;
    const result = await runNode(script, { cwd: dir, timeoutMs: 100_000 });
    expect(result.code).toBe(0);
    await waitFor('the final state (seq 9999)', () => seqs.at(-1) === 9999, 10_000);

    for (const event of r.events) {
      expect(event.data.check).toBe(`c${event.data.seq as number}`);
      expect(event.data.pad).toHaveLength(2000);
    }
    // Deliveries follow the file's own order.
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    for (const error of r.errors) expect(['E_PARSE', 'E_VALIDATION']).toContain(error.code);
  }, 120_000);
});

describe('watch: own writes and previous', () => {
  it("the store's own saves and deletes are not echoed; an external write after them has the last own data as previous", async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    await store.saveConfig({ name: 'shop', port: 80 }, 'current.json');
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });

    await store.saveConfig({ name: 'shop', port: 81 }, 'current.json');
    // Two saves in a row, without waiting for the watcher in between.
    await Promise.all([store.saveConfig({ name: 'shop', port: 82 }, 'current.json'), store.saveConfig({ name: 'shop', port: 83 }, 'current.json')]);
    await store.update('current.json', (current) => ({ ...current!, port: 84 }));

    await renameOver(file, json({ name: 'shop', port: 85 }));
    await waitFor('the external write', () => r.events.length >= 1);
    expect(r.events).toHaveLength(1);
    expect(r.events[0]!.data.port).toBe(85);
    expect(r.events[0]!.previous).toEqual({ name: 'shop', port: 84 });

    await store.deleteConfig('current.json');
    await writeFile(file, json({ name: 'shop', port: 86 }));
    await waitFor('the re-created file', () => r.events.length === 2);
    // The store removed it itself: no E_NOT_FOUND, and nothing is "previous" any more.
    expect(r.errors).toEqual([]);
    expect(r.events[1]!.previous).toBeUndefined();
  });

  it('an external write that restores bytes the store wrote earlier is delivered (content, not history, decides)', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    const first = await store.saveConfig({ name: 'shop', port: 80 }, 'current.json');
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });
    const firstBytes = await import('node:fs/promises').then((fs) => fs.readFile(file));

    await store.saveConfig({ name: 'shop', port: 81 }, 'current.json');
    await renameOver(file, firstBytes.toString('utf8'));
    await waitFor('the revert', () => r.events.length === 1);
    expect(r.events[0]!.data.port).toBe(80);
    expect(r.events[0]!.previous).toEqual({ name: 'shop', port: 81 });
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('previous: undefined for a file created after the watch started, then each last good state', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });

    await renameOver(file, json({ name: 'a', port: 1 }));
    await waitFor('creation', () => r.events.length === 1);
    await renameOver(file, json({ name: 'a', port: 'bad' }));
    await waitFor('the invalid write', () => r.errors.length === 1);
    await renameOver(file, json({ name: 'b', port: 2 }));
    await waitFor('the next valid write', () => r.events.length === 2);
    expect(r.events.map((e) => e.previous)).toEqual([undefined, { name: 'a', port: 1 }]);
    expect(r.events[1]!.changes).toEqual([
      { path: 'name', type: 'changed', oldValue: 'a', newValue: 'b' },
      { path: 'port', type: 'changed', oldValue: 1, newValue: 2 },
    ]);
  });

  it('an invalid file at the start is reported; the first valid write has no previous', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    await writeFile(file, '{ "name": ');
    const r = recorder();
    await store.watch('current.json', r.listener, { onError: r.onError });
    expect(r.errors.map((e) => e.code)).toEqual(['E_PARSE']);
    await renameOver(file, json({ name: 'ok', port: 1 }));
    await waitFor('the fix', () => r.events.length === 1);
    expect(r.events[0]!.previous).toBeUndefined();
  });

  it('a rewrite that changes only layout delivers nothing; a listener that throws goes to onError and the watch goes on', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    await writeFile(file, json({ name: 'shop', port: 80 }));
    const r = recorder();
    let calls = 0;
    await store.watch('current.json', (event) => {
      calls++;
      r.listener(event);
      if (calls === 1) throw new Error('listener failed');
    }, { onError: r.onError });

    await renameOver(file, JSON.stringify({ port: 80, name: 'shop' }));
    await renameOver(file, json({ name: 'shop', port: 81 }));
    await waitFor('the real change', () => r.events.length === 1);
    await waitFor('the listener failure', () => r.errors.length === 1);
    expect(r.errors[0]!.message).toBe('listener failed');
    await renameOver(file, json({ name: 'shop', port: 82 }));
    await waitFor('the watch goes on', () => r.events.length === 2);
    expect(r.events.map((e) => e.data.port)).toEqual([81, 82]);
  });

  it('close() stops deliveries; store.close() closes the watches it started', async () => {
    const { dir, store } = await setup();
    const file = path.join(dir, 'current.json');
    await writeFile(file, json({ name: 'shop', port: 80 }));
    const a = recorder();
    const b = recorder();
    const handle: WatchHandle = await store.watch('current.json', a.listener, { onError: a.onError });
    await store.watch('current.json', b.listener, { onError: b.onError });

    await renameOver(file, json({ name: 'shop', port: 81 }));
    await waitFor('both watches', () => a.events.length === 1 && b.events.length === 1);
    await handle.close();
    await renameOver(file, json({ name: 'shop', port: 82 }));
    await waitFor('the open watch', () => b.events.length === 2);
    expect(a.events).toHaveLength(1);

    await store.close();
    await renameOver(file, json({ name: 'shop', port: 83 }));
    // The other watch is closed too: verified by a process that must exit (below); here, a new
    // watch on a fresh store sees the write, and the closed ones did not.
    const other = new ConfigPersistence<Doc>({ baseDir: dir, schema: SCHEMA, durable: false });
    stores.push(other);
    const c = recorder();
    await other.watch('current.json', c.listener, { onError: c.onError });
    await renameOver(file, json({ name: 'shop', port: 84 }));
    await waitFor('the fresh watch', () => c.events.length === 1);
    expect(b.events).toHaveLength(2);
    await expect(store.watch('current.json', () => undefined)).rejects.toMatchObject({ code: 'E_CLOSED' });
  });
});

describe('watch: close() releases every handle', () => {
  for (const how of ['handle.close()', 'store.close()']) {
    it(`a process that watched and called ${how} exits by itself`, async () => {
      const dir = await tempDir('cp-watch-exit-');
      await writeFile(path.join(dir, 'current.json'), json({ port: 1 }));
      const script = `
        import { writeFileSync, renameSync } from 'node:fs';
        import { ConfigPersistence } from ${JSON.stringify(DIST)};
        const store = new ConfigPersistence({ baseDir: ${JSON.stringify(dir)} });
        let seen = 0;
        const handle = await store.watch('current.json', () => { seen++; }, { onError: (e) => console.error(e.code) });
        writeFileSync('${dir}/next.json', JSON.stringify({ port: 2 }));
        renameSync('${dir}/next.json', '${dir}/current.json');
        const deadline = Date.now() + 10000;
        while (seen === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        console.log('seen', seen);
        await ${how === 'handle.close()' ? 'handle.close()' : 'store.close()'};
        console.log('closed');
        // No process.exit(): the process must end because nothing is left open.
      `;
      const started = Date.now();
      const result = await runNode(script, { cwd: dir, timeoutMs: 15_000 });
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe('seen 1\nclosed\n');
      expect(result.signal).toBeNull();
      expect(result.code).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
    });
  }
});

describe('Configuration.open({ watch: true }): the whole layer stack is re-resolved', () => {
  /** A directory with default.yaml ← profiles/base.yaml ← profiles/dev.yaml (extends base). */
  async function layered(): Promise<string> {
    const dir = await tempDir('cp-watch-conf-');
    await mkdir(path.join(dir, 'profiles'));
    await writeFile(path.join(dir, 'default.yaml'), 'server:\n  host: localhost\n  port: 80\nlog: info\n');
    await writeFile(path.join(dir, 'profiles', 'base.yaml'), 'log: warn\n');
    await writeFile(path.join(dir, 'profiles', 'dev.yaml'), '$profile:\n  extends: base\nserver:\n  port: 3000\n');
    return dir;
  }

  async function openWatched(dir: string, opts: { storage?: Storage } = {}) {
    const config = await Configuration.open<Doc>({ baseDir: dir, profile: 'dev', watch: true, schemaDir: path.join(dir, 'no-schemas'), durable: false, ...opts });
    const changes: ConfigurationChangeEvent<Doc>[] = [];
    const errors: ConfigPersistenceError[] = [];
    config.on('change', (event) => changes.push(event));
    config.on('error', (error) => errors.push(error as ConfigPersistenceError));
    return { config, changes, errors };
  }

  it('a change of default, of each profile of the chain and of current emits change once each; a change hidden by a higher layer emits nothing', async () => {
    const dir = await layered();
    const { config, changes, errors } = await openWatched(dir);
    try {
      expect(config.data).toEqual({ server: { host: 'localhost', port: 3000 }, log: 'warn' });

      await renameOver(path.join(dir, 'default.yaml'), 'server:\n  host: example.com\n  port: 80\nlog: info\n');
      await waitFor('default.yaml', () => changes.length === 1);
      expect(changes[0]!.changes).toEqual([{ path: 'server.host', type: 'changed', oldValue: 'localhost', newValue: 'example.com' }]);
      expect(changes[0]!.source).toBe('reload');

      await writeFile(path.join(dir, 'profiles', 'base.yaml'), 'log: debug\n');
      await waitFor('the parent profile', () => changes.length === 2);
      expect(config.get('log')).toBe('debug');

      // server.port is set by the dev profile: a new default port changes nothing effective ...
      await renameOver(path.join(dir, 'default.yaml'), 'server:\n  host: example.com\n  port: 81\nlog: info\n');
      // ... which the next, effective change proves: it is the only event after it.
      await renameOver(path.join(dir, 'profiles', 'dev.yaml'), '$profile:\n  extends: base\nserver:\n  port: 3001\n');
      await waitFor('the active profile', () => changes.length === 3);
      expect(changes[2]!.changes).toEqual([{ path: 'server.port', type: 'changed', oldValue: 3000, newValue: 3001 }]);

      await writeFile(path.join(dir, 'current.yaml'), 'server:\n  port: 4000\n');
      await waitFor('current.yaml created', () => changes.length === 4);
      expect(config.data).toEqual({ server: { host: 'example.com', port: 4000 }, log: 'debug' });

      await unlink(path.join(dir, 'current.yaml'));
      await waitFor('current.yaml deleted', () => changes.length === 5);
      expect(config.get('server.port')).toBe(3001);
      expect(errors).toEqual([]);
    } finally {
      await config.close();
    }
  });

  it('an invalid or half-written layer file goes to error and the configuration stays; the fix is applied', async () => {
    const dir = await layered();
    const { config, changes, errors } = await openWatched(dir);
    try {
      const before = config.data;
      await renameOver(path.join(dir, 'profiles', 'base.yaml'), 'log: [unclosed\n');
      await waitFor('E_PARSE', () => errors.length === 1);
      expect(errors[0]!.code).toBe('E_PARSE');
      expect(config.data).toBe(before);

      // Written in place in two chunks with a pause: empty at first, then a prefix that does not parse.
      const handle = await open(path.join(dir, 'current.yaml'), 'w');
      await handle.write('server:\n  port: 5000\ntags: [a,');
      await pause(150);
      await handle.write(' b]\n');
      await handle.close();
      await renameOver(path.join(dir, 'profiles', 'base.yaml'), 'log: error\n');
      await waitFor('both fixes', () => config.get('server.port') === 5000 && config.get('log') === 'error');
      expect(config.get('tags')).toEqual(['a', 'b']);
      for (const event of changes) {
        // Every state delivered is complete: current.yaml's port never arrives without its tags.
        if (event.data.server?.['port' as never] === 5000) expect(event.data.tags).toEqual(['a', 'b']);
      }
      for (const error of errors) expect(error.code).toBe('E_PARSE');
    } finally {
      await config.close();
    }
  });

  it('follows the extends chain as it changes: a parent created after the reload failed on it, and useProfile', async () => {
    const dir = await layered();
    const { config, changes, errors } = await openWatched(dir);
    try {
      await renameOver(path.join(dir, 'profiles', 'dev.yaml'), '$profile:\n  extends: other\nserver:\n  port: 3000\n');
      await waitFor('E_NOT_FOUND for the missing parent', () => errors.length === 1);
      expect(errors[0]!.code).toBe('E_NOT_FOUND');
      await writeFile(path.join(dir, 'profiles', 'other.yaml'), 'log: trace\n');
      await waitFor('the new parent', () => config.get('log') === 'trace');
      await renameOver(path.join(dir, 'profiles', 'other.yaml'), 'log: fatal\n');
      await waitFor('an edit of the new parent', () => config.get('log') === 'fatal');

      await config.useProfile('base');
      const count = changes.length;
      await renameOver(path.join(dir, 'profiles', 'base.yaml'), 'log: error\n');
      await waitFor('an edit of the profile switched to', () => config.get('log') === 'error');
      expect(changes.length).toBe(count + 1);
    } finally {
      await config.close();
    }
  });

  it("Configuration's own save is not echoed as a reload", async () => {
    const dir = await layered();
    const { config, changes } = await openWatched(dir);
    try {
      config.set('server.port', 5000);
      await config.save();
      expect(changes.map((c) => c.source)).toEqual(['set']);
      await renameOver(path.join(dir, 'profiles', 'base.yaml'), 'log: error\n');
      await waitFor('an external edit after the save', () => changes.length === 2);
      expect(changes.map((c) => c.source)).toEqual(['set', 'reload']);
      expect(changes[1]!.changes).toEqual([{ path: 'log', type: 'changed', oldValue: 'warn', newValue: 'error' }]);
    } finally {
      await config.close();
    }
  });

  it("a reload right after a save, set off by another file before the save's own event was checked, keeps the save", async () => {
    // The notification for current.yaml is held back (chokidar may drop or delay one); the edit of
    // base.yaml re-resolves the stack, which must read current.yaml as saved, not as last checked.
    const dir = await layered();
    const local = new LocalStorage(dir, { durable: false });
    const storage: Storage = Object.assign(Object.create(local) as LocalStorage, {
      watch: (keys: readonly string[], onEvent: (e: StorageWatchEvent) => void, onError: (e: Error) => void) =>
        local.watch(keys, (e) => (e.key.startsWith('current.') ? undefined : onEvent(e)), onError),
    });
    const { config, changes } = await openWatched(dir, { storage });
    try {
      config.set('server.port', 5000);
      await config.save();
      await renameOver(path.join(dir, 'profiles', 'base.yaml'), 'log: error\n');
      await waitFor('the external edit', () => changes.length === 2);
      expect(changes[1]!.changes).toEqual([{ path: 'log', type: 'changed', oldValue: 'warn', newValue: 'error' }]);
      expect(config.get('server.port')).toBe(5000);
    } finally {
      await config.close();
    }
  });

  it('uses ONE storage watch for the whole stack, and close() releases it', async () => {
    const dir = await layered();
    const local = new LocalStorage(dir, { durable: false });
    const watched: string[][] = [];
    let open = 0;
    const storage: Storage = Object.assign(Object.create(local) as LocalStorage, {
      async watch(keys: readonly string[], onEvent: (e: StorageWatchEvent) => void, onError: (e: Error) => void) {
        watched.push([...keys]);
        open++;
        const inner = await local.watch(keys, onEvent, onError);
        return {
          update: (next: readonly string[]) => {
            watched.push([...next]);
            return inner.update(next);
          },
          close: async () => {
            open--;
            await inner.close();
          },
        };
      },
    });
    const { config } = await openWatched(dir, { storage });
    expect(open).toBe(1);
    expect(watched[0]).toEqual(expect.arrayContaining(['default.yaml', 'profiles/base.yaml', 'profiles/dev.yaml', 'current.yaml', 'current.json']));
    await config.close();
    expect(open).toBe(0);
  });

  it('a process that opens a watched Configuration and closes it exits by itself', async () => {
    const dir = await layered();
    const script = `
      import { Configuration } from ${JSON.stringify(DIST)};
      const config = await Configuration.open({ baseDir: ${JSON.stringify(dir)}, profile: 'dev', watch: true });
      console.log(config.get('server.port'));
      await config.close();
    `;
    const result = await runNode(script, { cwd: dir, timeoutMs: 15_000 });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('3000\n');
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
  });
});
