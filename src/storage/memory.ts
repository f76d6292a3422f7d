/**
 * `MemoryStorage`: the whole storage interface in memory, with the semantics of the real backends
 * (atomic multi-key commits with compare conditions, journals, locks, watch, limits, key checks)
 * and none of their cost: feature suites run on it without touching the disk, and it keeps the
 * interface honest, the way a key-value backend would see it (a commit is one transaction).
 *
 * For tests it can fail on purpose: `fault` (or `failAt`) makes a chosen operation of a commit
 * throw `E_IO`, to show that a failure in the middle of a commit leaves the old state whole. Two
 * instances given the same {@link MemoryVolume} behave like two processes sharing one store.
 */
import { ioError, StaleError, TooLargeError } from '../errors.js';
import { keySegments, validateCommitKeys } from './keys.js';
import { MemoryLocks } from './memory-locks.js';
import type { AppendOp, Commit, CopyOp, Expectation, LockOptions, MoveOp, PutOp, ReadOptions, Release, RemoveOp, Storage, StorageEntry, StorageWatcher, StorageWatchEvent } from './types.js';

/** One stored value: a journal is the list of its records, anything else one record. */
interface Value {
  readonly records: readonly Uint8Array[];
  readonly size: number;
  readonly mode: number;
  readonly mtimeMs: number;
  readonly revision: string;
}

/** One watch on a volume. */
interface Subscription {
  keys: Set<string>;
  onEvent(event: StorageWatchEvent): void;
}

/**
 * The store several {@link MemoryStorage} instances can share (two "processes" on one store):
 * their commits, locks and watch events meet here.
 */
export class MemoryVolume {
  /** @internal */ readonly values = new Map<string, Value>();
  /** @internal */ readonly locks = new MemoryLocks();
  /** @internal */ readonly subscriptions = new Set<Subscription>();
  /** @internal The number of commits applied (revisions are drawn from it, like etcd's). */
  revision = 0;
}

/** An operation of a commit, as {@link MemoryStorageOptions.fault} sees it. */
export interface MemoryFault {
  /** 1-based count of commits this instance started. */
  commit: number;
  /** 1-based position of the operation within its commit. */
  step: number;
  phase: 'prepare' | 'changes' | 'after' | 'cleanup';
  type: 'put' | 'copy' | 'append' | 'remove' | 'move';
  key: string;
}

/** Options of {@link MemoryStorage}. */
export interface MemoryStorageOptions {
  /** Share a store with other instances (default: a volume of its own). */
  volume?: MemoryVolume;
  /** Shown in messages: `memory:<name>/current.yaml`. Default `config`. */
  name?: string;
  /** What `durable` reports (nothing is written anywhere either way). Default true. */
  durable?: boolean;
  /** The volume's capacity: a commit that would make it hold more bytes fails with `E_IO` (ENOSPC). */
  capacityBytes?: number;
  /** Called before each operation of a commit; `true` makes it fail with `E_IO` (EIO). */
  fault?: (op: MemoryFault) => boolean;
}

/** Changes staged by one commit: a key's new value, or `null` for a removal. */
type Staged = Map<string, Value | null>;

/**
 * The storage interface in memory. Every commit is applied to a staged view and becomes visible
 * at once, or not at all; watch events reach every instance of the volume after it.
 */
export class MemoryStorage implements Storage {
  readonly location: string;
  readonly durable: boolean;
  private readonly volume: MemoryVolume;
  private readonly capacityBytes: number | undefined;
  private readonly fault: ((op: MemoryFault) => boolean) | undefined;
  private armed: number | undefined;
  private commits = 0;
  private steps = 0;
  private readonly held = new Set<Release>();

  /** A store of its own, or one shared through `opts.volume`. */
  constructor(opts: MemoryStorageOptions = {}) {
    this.volume = opts.volume ?? new MemoryVolume();
    this.location = `memory:${opts.name ?? 'config'}`;
    this.durable = opts.durable ?? true;
    this.capacityBytes = opts.capacityBytes;
    this.fault = opts.fault;
  }

  /** The volume this instance works on (pass it to another instance to share the store). */
  get shared(): MemoryVolume {
    return this.volume;
  }

  /** Makes operation `step` (1-based) of the next commit fail with `E_IO`, once. */
  failAt(step: number): void {
    this.armed = step;
  }

  /** How many operations the last commit made (a sweep arms {@link failAt} at each of them). */
  get lastCommitSteps(): number {
    return this.steps;
  }

  /** `memory:<name>/<key>`. */
  describe(key: string): string {
    return `${this.location}/${key}`;
  }

  /** Content of `key` (a journal's records concatenated), or `undefined`. */
  async read(key: string, opts: ReadOptions = {}): Promise<Uint8Array | undefined> {
    return this.readSync(key, opts);
  }

  /** Content and metadata of `key` from one view. */
  async readEntry(key: string, opts: ReadOptions = {}): Promise<{ bytes: Uint8Array; entry: StorageEntry } | undefined> {
    const bytes = this.readSync(key, opts);
    const value = this.volume.values.get(key);
    return bytes && value ? { bytes, entry: fileEntry(key, value) } : undefined;
  }

  /** Synchronous read (memory never blocks). */
  readSync(key: string, opts: ReadOptions = {}): Uint8Array | undefined {
    keySegments(key);
    const value = this.volume.values.get(key);
    if (!value) {
      if (this.isDirectory(key)) throw ioError('read', this.describe(key), errno('EISDIR', 'is a directory'));
      return undefined;
    }
    if (opts.maxBytes !== undefined && value.size > opts.maxBytes) {
      const display = this.describe(key);
      throw new TooLargeError(`${display} is ${value.size} bytes, over the limit of ${opts.maxBytes} (maxFileBytes). Shrink it or raise maxFileBytes.`, display);
    }
    return concat(value.records);
  }

  /** Metadata of a key, or of a prefix other keys live under (`kind: 'directory'`). */
  async stat(key: string): Promise<StorageEntry | undefined> {
    keySegments(key);
    const value = this.volume.values.get(key);
    if (value) return fileEntry(key, value);
    return this.isDirectory(key) ? this.directoryEntry(key) : undefined;
  }

  /** Direct children of `prefix`, sorted by key. */
  async list(prefix: string): Promise<StorageEntry[]> {
    if (prefix !== '') keySegments(prefix);
    const start = prefix === '' ? '' : `${prefix}/`;
    const children = new Map<string, StorageEntry>();
    for (const [key, value] of this.volume.values) {
      if (!key.startsWith(start)) continue;
      const slash = key.indexOf('/', start.length);
      if (slash === -1) children.set(key, fileEntry(key, value));
      else if (!children.has(key.slice(0, slash))) children.set(key.slice(0, slash), this.directoryEntry(key.slice(0, slash)));
    }
    return [...children.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * Applies the commit as one transaction: expectations compared, every operation staged in
   * order, then all of it made visible at once. Any failure (an injected fault, a missing copy
   * source, the capacity) leaves the volume exactly as it was.
   */
  async commit(commit: Commit): Promise<void> {
    this.commits++;
    this.steps = 0;
    const armed = this.armed;
    this.armed = undefined;
    validateCommitKeys(commit);
    this.checkExpectations(commit.expect ?? []);
    const staged: Staged = new Map();
    let current = '.';
    const step = (phase: MemoryFault['phase'], type: MemoryFault['type'], key: string): void => {
      current = key;
      this.steps++;
      const op = { commit: this.commits, step: this.steps, phase, type, key };
      if (this.steps === armed || this.fault?.(op)) throw errno('EIO', `injected failure at operation ${this.steps} (${phase} ${type} ${key})`);
    };
    try {
      for (const op of commit.prepare ?? []) {
        step('prepare', op.type, targetOf(op));
        this.apply(op, staged);
      }
      for (const op of commit.changes ?? []) {
        step('changes', op.type, targetOf(op));
        this.apply(op, staged);
      }
      const after = [...(commit.after ?? [])];
      if (commit.cleanup) after.push(...this.cleanup(commit.cleanup, staged, step));
      for (const op of after) {
        step('after', 'append', op.key);
        this.apply(op, staged);
      }
      this.checkCapacity(staged);
    } catch (err) {
      throw ioError('write', this.describe(current), err);
    }
    this.publish(staged);
  }

  /** An in-process lock shared by every instance of the volume; `E_LOCKED` after `timeoutMs` (default 10 s). */
  async lock(name: string, opts: LockOptions = {}): Promise<Release> {
    const release = await this.volume.locks.acquire(name, opts.timeoutMs ?? 10_000, this.describe(name));
    const once: Release = async () => {
      this.held.delete(once);
      await release();
    };
    this.held.add(once);
    return once;
  }

  /** Reports every commit's changes of `keys`, from any instance of the volume, after it is visible. */
  async watch(keys: readonly string[], onEvent: (event: StorageWatchEvent) => void, _onError: (error: Error) => void): Promise<StorageWatcher> {
    for (const key of keys) keySegments(key);
    const subscription: Subscription = { keys: new Set(keys), onEvent };
    this.volume.subscriptions.add(subscription);
    return {
      update: async (next) => {
        for (const key of next) keySegments(key);
        subscription.keys = new Set(next);
      },
      close: async () => {
        this.volume.subscriptions.delete(subscription);
      },
    };
  }

  /** Releases the locks this instance holds, like a process that exits (or dies). */
  async close(): Promise<void> {
    await Promise.all([...this.held].map((release) => release()));
  }

  private apply(op: PutOp | CopyOp | AppendOp | RemoveOp | MoveOp, staged: Staged): void {
    const now = Date.now();
    const view = (key: string): Value | undefined => (staged.has(key) ? (staged.get(key) ?? undefined) : this.volume.values.get(key));
    const put = (key: string, records: readonly Uint8Array[], mode: number): void => {
      this.checkPlace(key, staged);
      staged.set(key, { records, size: records.reduce((n, r) => n + r.byteLength, 0), mode, mtimeMs: now, revision: '' });
    };
    if (op.type === 'put') put(op.key, [copyOf(op.data)], view(op.key)?.mode ?? op.mode ?? 0o644);
    else if (op.type === 'append') {
      const old = view(op.key);
      put(op.key, [...(old?.records ?? []), copyOf(op.data)], old?.mode ?? 0o600);
    } else if (op.type === 'remove') staged.set(op.key, null);
    else {
      const from = view(op.from);
      if (!from) throw errno('ENOENT', `${op.from} does not exist`);
      if (view(op.to)) {
        if (op.type === 'copy' && op.ifMissing) return;
        throw errno('EEXIST', `${op.to} exists`);
      }
      put(op.to, from.records, from.mode);
      if (op.type === 'move') staged.set(op.from, null);
    }
  }

  /** The cleanup's removals, best effort (a failed one stays, unrecorded); returns its records. */
  private cleanup(cleanup: NonNullable<Commit['cleanup']>, staged: Staged, step: (phase: 'cleanup', type: 'remove' | 'move', key: string) => void): AppendOp[] {
    const removed: string[] = [];
    for (const key of cleanup.keys) {
      const keepAs = cleanup.keepAs?.get(key);
      try {
        step('cleanup', keepAs === undefined ? 'remove' : 'move', key);
        const value = staged.has(key) ? staged.get(key) : this.volume.values.get(key);
        const kept = keepAs !== undefined && value && !(staged.has(keepAs) ? staged.get(keepAs) : this.volume.values.get(keepAs));
        if (kept) this.apply({ type: 'move', from: key, to: keepAs }, staged);
        else staged.set(key, null);
        removed.push(key);
      } catch {
        // best effort by contract (Commit.cleanup): the key stays for the next pass
      }
    }
    return cleanup.records(removed);
  }

  /** ENOTDIR/EISDIR where a file would sit above or at a prefix other keys live under. */
  private checkPlace(key: string, staged: Staged): void {
    const segments = key.split('/');
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join('/');
      const value = staged.has(parent) ? staged.get(parent) : this.volume.values.get(parent);
      if (value) throw errno('ENOTDIR', `${parent} is not a directory`);
    }
    const below = `${key}/`;
    const occupied = (k: string, v: Value | null | undefined): boolean => k.startsWith(below) && !!v;
    for (const [k, v] of staged) if (occupied(k, v)) throw errno('EISDIR', `${key} is a directory`);
    for (const [k, v] of this.volume.values) if (!staged.has(k) && occupied(k, v)) throw errno('EISDIR', `${key} is a directory`);
  }

  private checkExpectations(expect: readonly Expectation[]): void {
    for (const { key, revision } of expect) {
      const now = this.volume.values.get(key)?.revision ?? null;
      if (now === revision) continue;
      throw new StaleError(
        `${this.describe(key)} changed since it was read (${revision === null ? 'it did not exist' : 'its revision moved on'}); nothing was written. Read it again and retry.`,
        key,
      );
    }
  }

  private checkCapacity(staged: Staged): void {
    if (this.capacityBytes === undefined) return;
    let total = 0;
    for (const [key, value] of this.volume.values) if (!staged.has(key)) total += value.size;
    for (const value of staged.values()) total += value?.size ?? 0;
    if (total > this.capacityBytes) throw errno('ENOSPC', `the volume would hold ${total} bytes, over its capacity of ${this.capacityBytes}`);
  }

  /** Makes the staged changes visible at once, then tells the watchers (asynchronously, like a file system). */
  private publish(staged: Staged): void {
    if (staged.size === 0) return;
    const revision = String(++this.volume.revision);
    const events: StorageWatchEvent[] = [];
    for (const [key, value] of staged) {
      if (value) this.volume.values.set(key, { ...value, revision });
      else if (!this.volume.values.delete(key)) continue;
      events.push({ type: value ? 'change' : 'remove', key });
    }
    const subscriptions = [...this.volume.subscriptions];
    setImmediate(() => {
      for (const sub of subscriptions) {
        if (!this.volume.subscriptions.has(sub)) continue; // closed meanwhile: nothing afterwards
        for (const event of events) if (sub.keys.has(event.key)) sub.onEvent(event);
      }
    });
  }

  private isDirectory(key: string): boolean {
    const below = `${key}/`;
    for (const k of this.volume.values.keys()) if (k.startsWith(below)) return true;
    return false;
  }

  private directoryEntry(key: string): StorageEntry {
    let newest = 0;
    let revision = 0;
    const below = `${key}/`;
    for (const [k, v] of this.volume.values) {
      if (!k.startsWith(below)) continue;
      newest = Math.max(newest, v.mtimeMs);
      revision = Math.max(revision, Number(v.revision));
    }
    return { key, name: nameOf(key), kind: 'directory', size: 0, mtimeMs: newest, revision: `d${revision}` };
  }
}


function targetOf(op: PutOp | CopyOp | AppendOp | RemoveOp | MoveOp): string {
  return op.type === 'copy' || op.type === 'move' ? op.to : op.key;
}

function fileEntry(key: string, value: Value): StorageEntry {
  return { key, name: nameOf(key), kind: 'file', size: value.size, mtimeMs: value.mtimeMs, mode: value.mode, revision: value.revision };
}

function nameOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

function copyOf(data: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(data);
}

function concat(records: readonly Uint8Array[]): Uint8Array {
  return records.length === 1 ? Buffer.from(records[0]!) : Buffer.concat(records);
}

/** A system-style error, so messages and codes read like the local backend's (`E_IO` with its errno). */
function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}
