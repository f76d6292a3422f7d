/**
 * The storage contract: what every backend (LocalStorage, MemoryStorage, later etcd) must do,
 * written once against the interface and run on each backend by test/storage-contract.test.ts.
 * A backend provides a fresh store, a second instance on the same store (another process), and,
 * where it can, a way to make a commit fail in its middle.
 */
import { describe, expect, it } from 'vitest';
import type { Commit, Storage, StorageWatchEvent } from '../../src/storage/index.js';

/** One fresh store of a backend. */
export interface Harness {
  storage: Storage;
  /** Another instance on the same store, as another process would open it. */
  other(): Storage;
  /** Memory: make operation `step` of the next commit fail with E_IO; `steps()` counts the last commit's operations. */
  faults?: { failAt(step: number): void; steps(): number };
  /** Removes what the store left behind. */
  dispose(): Promise<void>;
}

/** A backend under test. */
export interface Backend {
  name: string;
  open(): Promise<Harness>;
  /** How long a watch event may take to arrive (ms). */
  watchLatencyMs: number;
  /** Whether its harness has `faults`. */
  injects: boolean;
}

const enc = (text: string): Uint8Array => Buffer.from(text);
const text = async (s: Storage, key: string): Promise<string | undefined> => {
  const bytes = await s.read(key);
  return bytes === undefined ? undefined : Buffer.from(bytes).toString();
};

/** The code of a rejection (undefined when it resolved). */
export async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return undefined;
}

/** Every stored value, dot files included (a stray temp file or intent shows up here), lock directories left out. */
export async function dump(s: Storage, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await s.list(prefix)) {
    if (entry.kind === 'directory') {
      if (entry.key !== '.locks') Object.assign(out, await dump(s, entry.key));
    } else out[entry.key] = (await text(s, entry.key)) ?? '(vanished)';
  }
  return out;
}

async function within(ms: number, what: string, done: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function withStore(backend: Backend, fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await backend.open();
  try {
    await fn(h);
  } finally {
    await h.storage.close();
    await h.dispose();
  }
}

/** A commit using every kind of operation: what the failure sweeps break at each step. */
function richCommit(): Commit {
  return {
    prepare: [
      { type: 'copy', from: 'a.json', to: 'backups/a.1.json' },
      { type: 'append', key: 'history/a.jsonl', data: enc('{"v":2}\n') },
      { type: 'put', key: 'objects/x', data: enc('object') },
    ],
    changes: [
      { type: 'put', key: 'a.json', data: enc('A2') },
      { type: 'put', key: 'sub/b.json', data: enc('B2') },
      { type: 'remove', key: 'c.json' },
    ],
    after: [{ type: 'append', key: 'audit.log', data: enc('saved\n') }],
  };
}

async function seed(s: Storage): Promise<void> {
  await s.commit({
    changes: [
      { type: 'put', key: 'a.json', data: enc('A1') },
      { type: 'put', key: 'sub/b.json', data: enc('B1') },
      { type: 'put', key: 'c.json', data: enc('C1') },
    ],
    after: [{ type: 'append', key: 'history/a.jsonl', data: enc('{"v":1}\n') }],
  });
}

/** Registers the contract's tests for `backend`. */
export function storageContract(backend: Backend): void {
  describe(`storage contract: ${backend.name}`, () => {
    commitTests(backend);
    compareTests(backend);
    failureTests(backend);
    journalAndListTests(backend);
    lockTests(backend);
    watchTests(backend);
    keyTests(backend);
  });
}

function commitTests(backend: Backend): void {
  it('Commit.appended, where a backend calls it, names each append once, with its bytes', () =>
    withStore(backend, async ({ storage: s }) => {
      await seed(s);
      const told: string[] = [];
      await s.commit({ ...richCommit(), appended: (key, data) => told.push(`${key} ${Buffer.from(data).toString('utf8')}`) });
      if (told.length === 0) return; // optional: this backend does not tell
      expect(told.sort()).toEqual(['audit.log saved\n', 'history/a.jsonl {"v":2}\n']);
    }),
  );

  it('applies a multi-key commit as a whole: puts, copies, appends, removes, moves', () =>
    withStore(backend, async ({ storage: s }) => {
      await seed(s);
      await s.commit(richCommit());
      expect(await dump(s)).toEqual({
        'a.json': 'A2',
        'sub/b.json': 'B2',
        'backups/a.1.json': 'A1',
        'history/a.jsonl': '{"v":1}\n{"v":2}\n',
        'objects/x': 'object',
        'audit.log': 'saved\n',
      });
      await s.commit({ changes: [{ type: 'move', from: 'a.json', to: 'quarantine/a.json' }] });
      expect(await text(s, 'a.json')).toBeUndefined();
      expect(await text(s, 'quarantine/a.json')).toBe('A2');
    }));

  it('copy fails on a missing source or an existing target unless ifMissing; move never overwrites', () =>
    withStore(backend, async ({ storage: s }) => {
      await seed(s);
      const before = await dump(s);
      expect(await codeOf(s.commit({ prepare: [{ type: 'copy', from: 'missing.json', to: 'backups/m' }] }))).toBe('E_IO');
      expect(await codeOf(s.commit({ prepare: [{ type: 'copy', from: 'a.json', to: 'c.json' }] }))).toBe('E_IO');
      expect(await codeOf(s.commit({ changes: [{ type: 'move', from: 'a.json', to: 'c.json' }] }))).toBe('E_IO');
      expect(await dump(s)).toEqual(before);
      await s.commit({ prepare: [{ type: 'copy', from: 'a.json', to: 'c.json', ifMissing: true }] });
      expect(await text(s, 'c.json')).toBe('C1');
    }));

  it('cleanup removes best effort, keeps what keepAs names, and records only what is gone', () =>
    withStore(backend, async ({ storage: s }) => {
      await seed(s);
      let recorded: readonly string[] = [];
      await s.commit({
        changes: [{ type: 'put', key: 'd.json', data: enc('D') }],
        cleanup: {
          keys: ['c.json', 'sub/b.json', 'gone.json'],
          keepAs: new Map([['sub/b.json', 'objects/b']]),
          records: (removed) => {
            recorded = removed;
            return [{ type: 'append', key: 'backups/index.jsonl', data: enc(`${removed.join(',')}\n`) }];
          },
        },
      });
      expect(recorded).toEqual(['c.json', 'sub/b.json', 'gone.json']);
      expect(await dump(s)).toEqual({ 'a.json': 'A1', 'd.json': 'D', 'objects/b': 'B1', 'history/a.jsonl': '{"v":1}\n', 'backups/index.jsonl': 'c.json,sub/b.json,gone.json\n' });
    }));

  it('a put keeps the mode of the value it replaces; a new key takes the mode asked for', () =>
    withStore(backend, async ({ storage: s }) => {
      await s.commit({ changes: [{ type: 'put', key: 'secret.json', data: enc('1'), mode: 0o600 }] });
      expect(((await s.stat('secret.json'))!.mode ?? 0o600) & 0o777).toBe(0o600);
      await s.commit({ changes: [{ type: 'put', key: 'secret.json', data: enc('2'), mode: 0o644 }] });
      expect(((await s.stat('secret.json'))!.mode ?? 0o600) & 0o777).toBe(0o600);
    }));
}

function compareTests(backend: Backend): void {
  it('a revision changes with the content and only then', () =>
    withStore(backend, async ({ storage: s }) => {
      await seed(s);
      const r1 = (await s.stat('a.json'))!.revision;
      expect(typeof r1).toBe('string');
      expect((await s.stat('a.json'))!.revision).toBe(r1);
      expect((await s.readEntry('a.json'))!.entry.revision).toBe(r1);
      await s.commit({ changes: [{ type: 'put', key: 'c.json', data: enc('other key') }] });
      expect((await s.stat('a.json'))!.revision).toBe(r1);
      await s.commit({ changes: [{ type: 'put', key: 'a.json', data: enc('A1') }] }); // same bytes, new write
      const r2 = (await s.stat('a.json'))!.revision;
      expect(r2).not.toBe(r1);
      await s.commit({ after: [{ type: 'append', key: 'history/a.jsonl', data: enc('x\n') }] });
      const j1 = (await s.stat('history/a.jsonl'))!.revision;
      await s.commit({ after: [{ type: 'append', key: 'history/a.jsonl', data: enc('y\n') }] });
      expect((await s.stat('history/a.jsonl'))!.revision).not.toBe(j1);
    }));

  it('expect: a stale revision or an unexpected key is E_CONFLICT and nothing at all is written', () =>
    withStore(backend, async ({ storage: s }) => {
      await seed(s);
      const read = (await s.stat('a.json'))!.revision;
      await s.commit({ changes: [{ type: 'put', key: 'a.json', data: enc('A-other') }] });
      const before = await dump(s);
      const stale = { ...richCommit(), expect: [{ key: 'a.json', revision: read }] };
      expect(await codeOf(s.commit(stale))).toBe('E_CONFLICT');
      expect(await codeOf(s.commit({ ...richCommit(), expect: [{ key: 'c.json', revision: null }] }))).toBe('E_CONFLICT');
      expect(await codeOf(s.commit({ ...richCommit(), expect: [{ key: 'nothing.json', revision: 'r1' }] }))).toBe('E_CONFLICT');
      expect(await dump(s)).toEqual(before);
      await s.commit({ changes: [{ type: 'put', key: 'new.json', data: enc('N') }], expect: [{ key: 'new.json', revision: null }, { key: 'a.json', revision: (await s.stat('a.json'))!.revision }] });
      expect(await text(s, 'new.json')).toBe('N');
    }));

  it('compare-and-set between two writers: of two commits made from the same read, one wins', () =>
    withStore(backend, async (h) => {
      const [s, t] = [h.storage, h.other()];
      await seed(s);
      const read = (await s.stat('a.json'))!.revision;
      const cas = (by: Storage, value: string): Promise<string | undefined> =>
        codeOf(by.commit({ changes: [{ type: 'put', key: 'a.json', data: enc(value) }], expect: [{ key: 'a.json', revision: read }] }));
      expect(await cas(s, 'first')).toBeUndefined();
      expect(await cas(t, 'second')).toBe('E_CONFLICT');
      expect(await text(t, 'a.json')).toBe('first');
      await t.close();
    }));
}

function failureTests(backend: Backend): void {
  it('a failure in the middle of a multi-key commit leaves the old state whole (a move onto an existing key)', () =>
    withStore(backend, async ({ storage: s }) => {
      await seed(s);
      await s.commit({ changes: [{ type: 'put', key: 'taken.json', data: enc('T') }] });
      const before = await dump(s);
      const failing: Commit = {
        prepare: [{ type: 'append', key: 'history/a.jsonl', data: enc('{"v":2}\n'), sync: 'soon' }],
        changes: [
          { type: 'put', key: 'a.json', data: enc('A2') },
          { type: 'remove', key: 'c.json' },
          { type: 'move', from: 'sub/b.json', to: 'taken.json' },
        ],
        after: [{ type: 'append', key: 'audit.log', data: enc('never\n') }],
      };
      expect(await codeOf(s.commit(failing))).toBe('E_IO');
      const after = await dump(s);
      // A backend without transactions may keep journal lines written before the change (prepare);
      // the documents are all old, nothing of `after` and nothing temporary is left.
      const history = after['history/a.jsonl'];
      expect(['{"v":1}\n', '{"v":1}\n{"v":2}\n']).toContain(history);
      expect({ ...after, 'history/a.jsonl': before['history/a.jsonl'] }).toEqual(before);
      await s.commit({ changes: [{ type: 'put', key: 'a.json', data: enc('A3') }] }); // still usable
      expect(await text(s, 'a.json')).toBe('A3');
    }));

  it('an injected failure at any operation of a commit leaves the old state whole (where the backend can inject)', async () => {
    // Local storage cannot inject without mocks: test/storage-contract.test.ts kills a real child in
    // the middle of its commits instead, and the fault-injection sweeps fail every system call.
    if (!backend.injects) return;
    await withStore(backend, async (h) => {
      await seed(h.storage);
      await h.storage.commit(richCommit());
      const steps = h.faults!.steps();
      expect(steps).toBe(7);
      for (let step = 1; step <= steps; step++) {
        await h.storage.commit({ changes: [{ type: 'remove', key: 'backups/a.1.json' }, { type: 'remove', key: 'objects/x' }, { type: 'put', key: 'c.json', data: enc('C1') }] });
        const before = await dump(h.storage);
        h.faults!.failAt(step);
        expect(await codeOf(h.storage.commit(richCommit())), `step ${step}`).toBe('E_IO');
        expect(await dump(h.storage), `step ${step}`).toEqual(before);
      }
    });
  });

  it('a read over maxBytes is E_TOO_LARGE', () =>
    withStore(backend, async ({ storage: s }) => {
      await s.commit({ changes: [{ type: 'put', key: 'big.json', data: new Uint8Array(2048) }] });
      expect(await codeOf(s.read('big.json', { maxBytes: 1024 }))).toBe('E_TOO_LARGE');
      expect(await codeOf(s.readEntry('big.json', { maxBytes: 1024 }))).toBe('E_TOO_LARGE');
      expect((await s.read('big.json', { maxBytes: 2048 }))!.byteLength).toBe(2048);
    }));
}

function journalAndListTests(backend: Backend): void {
  it('a journal reads as its records in commit order; a put or remove replaces all of them', () =>
    withStore(backend, async ({ storage: s }) => {
      for (const [i, sync] of (['commit', 'soon', 'lazy'] as const).entries()) {
        await s.commit({ after: [{ type: 'append', key: 'audit.log', data: enc(`line ${i}\n`), sync }] });
      }
      await s.commit({ prepare: [{ type: 'append', key: 'audit.log', data: enc('a\n') }], after: [{ type: 'append', key: 'audit.log', data: enc('b\n') }, { type: 'append', key: 'audit.log', data: enc('c\n') }] });
      expect(await text(s, 'audit.log')).toBe('line 0\nline 1\nline 2\na\nb\nc\n');
      expect((await s.stat('audit.log'))!.size).toBe(21 + 6);
      await s.commit({ changes: [{ type: 'put', key: 'audit.log', data: enc('fresh\n') }] });
      expect(await text(s, 'audit.log')).toBe('fresh\n');
      await s.commit({ changes: [{ type: 'remove', key: 'audit.log' }] });
      expect(await s.stat('audit.log')).toBeUndefined();
    }));

  it('lists the direct children of a prefix, sorted, with directories for deeper keys', () =>
    withStore(backend, async ({ storage: s }) => {
      await seed(s);
      await s.commit({ changes: [{ type: 'put', key: 'profiles/dev.yaml', data: enc('x: 1\n') }, { type: 'put', key: 'profiles/nested/deep.yaml', data: enc('y') }] });
      const top = (await s.list('')).filter((e) => !e.name.startsWith('.'));
      expect(top.map((e) => [e.key, e.kind])).toEqual([
        ['a.json', 'file'],
        ['c.json', 'file'],
        ['history', 'directory'],
        ['profiles', 'directory'],
        ['sub', 'directory'],
      ]);
      const profiles = await s.list('profiles');
      expect(profiles.map((e) => [e.key, e.name, e.kind])).toEqual([
        ['profiles/dev.yaml', 'dev.yaml', 'file'],
        ['profiles/nested', 'nested', 'directory'],
      ]);
      expect(profiles[0]).toMatchObject({ size: 5 });
      expect(profiles[0]!.mtimeMs).toBeGreaterThan(Date.now() - 60_000);
      expect(await s.list('missing')).toEqual([]);
      expect(await s.list('a.json')).toEqual([]);
      // fileNames, where a backend offers it, names exactly the files list has there.
      if (s.fileNames) {
        for (const prefix of ['', 'profiles', 'profiles/nested', 'missing']) {
          expect(await s.fileNames(prefix)).toEqual((await s.list(prefix)).filter((e) => e.kind === 'file').map((e) => e.name));
        }
      }
      expect((await s.stat('profiles'))?.kind).toBe('directory');
      expect(await s.stat('missing.json')).toBeUndefined();
      expect(await s.read('missing.json')).toBeUndefined();
      expect(await s.readEntry('missing.json')).toBeUndefined();
      expect(await codeOf(s.read('profiles'))).toBe('E_IO');
    }));
}

function lockTests(backend: Backend): void {
  it('locks exclude another holder until released, time out with E_LOCKED, and release twice safely', () =>
    withStore(backend, async (h) => {
      const [s, t] = [h.storage, h.other()];
      const release = await s.lock('current.json');
      expect(await codeOf(t.lock('current.json', { timeoutMs: 150 }))).toBe('E_LOCKED');
      let taken = false;
      const waiting = t.lock('current.json', { timeoutMs: 5000 }).then((r) => {
        taken = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 100));
      expect(taken).toBe(false);
      const other = await t.lock('profiles/dev.json', { timeoutMs: 150 }); // another name is free
      await other();
      await release();
      await release();
      const second = await waiting;
      expect(taken).toBe(true);
      await second();
      const again = await s.lock('current.json', { timeoutMs: 1000 });
      await again();
      await t.close();
    }));
}

function watchTests(backend: Backend): void {
  it('watch reports own and other writers, keys that do not exist yet, removals, and nothing after close', () =>
    withStore(backend, async (h) => {
      const [s, t] = [h.storage, h.other()];
      const events: StorageWatchEvent[] = [];
      const errors: Error[] = [];
      const watcher = await s.watch(['current.json', 'profiles/new.yaml'], (e) => events.push(e), (e) => errors.push(e));
      const seen = (type: string, key: string): boolean => events.some((e) => e.type === type && e.key === key);
      await s.commit({ changes: [{ type: 'put', key: 'current.json', data: enc('{"a":1}') }] });
      await within(backend.watchLatencyMs, 'the own write', () => seen('change', 'current.json'));
      await t.commit({ changes: [{ type: 'put', key: 'profiles/new.yaml', data: enc('a: 1\n') }] });
      await within(backend.watchLatencyMs, 'the other writer, in a directory that did not exist', () => seen('change', 'profiles/new.yaml'));
      await t.commit({ changes: [{ type: 'put', key: 'unwatched.json', data: enc('{}') }] });
      await t.commit({ changes: [{ type: 'remove', key: 'current.json' }] });
      await within(backend.watchLatencyMs, 'the removal', () => seen('remove', 'current.json'));
      expect(events.some((e) => e.key === 'unwatched.json')).toBe(false);
      await watcher.update(['unwatched.json']);
      await t.commit({ changes: [{ type: 'put', key: 'unwatched.json', data: enc('{"b":2}') }] });
      await within(backend.watchLatencyMs, 'a key added by update()', () => seen('change', 'unwatched.json'));
      await watcher.close();
      const count = events.length;
      await t.commit({ changes: [{ type: 'put', key: 'unwatched.json', data: enc('{"b":3}') }] });
      await new Promise((r) => setTimeout(r, 200));
      expect(events.length).toBe(count);
      expect(errors).toEqual([]);
      await t.close();
    }));
}

const HOSTILE = ['../x.json', '/etc/passwd', 'a//b', 'a/./b', 'a/../../b', 'a\\b', 'nul\0.json', '', '.', '..'];

function keyTests(backend: Backend): void {
  it('hostile keys are E_INVALID_NAME for every member, and nothing is written', () =>
    withStore(backend, async ({ storage: s }) => {
      await seed(s);
      const before = await dump(s);
      for (const key of HOSTILE) {
        expect(await codeOf(s.read(key)), key).toBe('E_INVALID_NAME');
        expect(await codeOf(s.stat(key)), key).toBe('E_INVALID_NAME');
        expect(await codeOf(s.commit({ changes: [{ type: 'put', key: 'ok.json', data: enc('1') }, { type: 'put', key, data: enc('x') }] })), key).toBe('E_INVALID_NAME');
        expect(await codeOf(s.commit({ prepare: [{ type: 'copy', from: 'a.json', to: key }] })), key).toBe('E_INVALID_NAME');
        expect(await codeOf(s.commit({ after: [{ type: 'append', key, data: enc('x') }] })), key).toBe('E_INVALID_NAME');
        if (key !== '') expect(await codeOf(s.list(key)), key).toBe('E_INVALID_NAME');
      }
      expect(await dump(s)).toEqual(before);
    }));
}
