/**
 * `ConfigPersistence`: the public class. It composes the feature modules and holds little logic of
 * its own: name resolution, queueing and locking, then a call into the module that owns the verb.
 */
import { createContext, type Context } from './context.js';
import { cloneDocument } from './document.js';
import { loadDocument, readDocument, removeDocument, validateDocument, writeDocument, type WriteMeta } from './documents.js';
import { ConfigPersistenceError } from './errors.js';
import { configKey } from './files.js';
import { KeyedQueue } from './queue.js';
import { watchDocument } from './watch.js';
import type { WatchEvent, WatchHandle, WatchOptions } from './types.js';
import type { ConfigPersistenceOptions, SaveOptions, SaveResult } from './types.js';

/**
 * Keeps an application's configuration in plain JSON/YAML files under `baseDir` and never loses or
 * corrupts them. See the README for every feature with an example.
 *
 * @typeParam T - the shape of your configuration documents.
 */
export class ConfigPersistence<T = Record<string, unknown>> {
  /** @internal Shared state of the feature modules. */
  protected readonly ctx: Context;
  /** @internal Per-file queue: call order, coalescing of bursts. */
  protected readonly queue = new KeyedQueue();
  private closed = false;
  private intake: Promise<void> = Promise.resolve();
  private readonly keys = new Map<string, string>();

  /** Creates a store over `options.baseDir` (default `config`). Nothing is read until first use. */
  constructor(options: ConfigPersistenceOptions = {}) {
    this.ctx = createContext(options);
  }

  /** The absolute base directory (or the storage location). */
  get baseDir(): string {
    return this.ctx.storage.location;
  }

  // ------------------------------------------------------------------------------------------
  // Core: save, load, delete, update
  // ------------------------------------------------------------------------------------------

  /**
   * Validates and durably saves `data` to `file` (default `current.*`), backing up the old content and
   * recording a version. Saves of one file are applied in call order; a burst is coalesced and every
   * promise resolves once a state that includes its data is durable.
   */
  saveConfig(data: T, file?: string, opts: SaveOptions = {}): Promise<SaveResult> {
    this.assertOpen();
    // Snapshot now: the caller may change `data` as soon as this returns.
    const snapshot = cloneDocument(data);
    const meta: WriteMeta = {
      changedBy: opts.changedBy ?? 'user',
      operation: 'save',
      ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
      ...(opts.ifVersion !== undefined ? { ifVersion: opts.ifVersion } : {}),
    };
    // A conditional save must be checked against exactly the state before it: never merge it.
    return this.enqueue(file, opts.ifVersion === undefined ? 'coalesce' : 'exclusive', (key) => {
      validateDocument(this.ctx, key, snapshot);
      return () => this.withLock(key, () => writeDocument(this.ctx, key, snapshot, meta));
    });
  }

  /** Reads, parses and validates `file` (default `current.*`), with schema defaults filled in. */
  async loadConfig(file?: string): Promise<T> {
    this.assertOpen();
    return loadDocument<T>(this.ctx, await this.keyFor(file));
  }

  /** Deletes `file` after backing it up (the backup id is in the audit log and `listBackups`). */
  deleteConfig(file: string, opts: SaveOptions = {}): Promise<void> {
    this.assertOpen();
    return this.enqueue(file, 'exclusive', (key) => async () => {
      await this.withLock(key, () =>
        removeDocument(this.ctx, key, {
          changedBy: opts.changedBy ?? 'user',
          ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
          ...(opts.ifVersion !== undefined ? { ifVersion: opts.ifVersion } : {}),
        }),
      );
      this.keys.clear();
    });
  }

  /**
   * Read-modify-write under a cross-process lock: `fn` gets the current document (`undefined` when
   * the file does not exist) and returns the new one. No update is lost across processes.
   */
  update(file: string | undefined, fn: (current: T | undefined) => T | Promise<T>, opts: Omit<SaveOptions, 'ifVersion'> = {}): Promise<SaveResult> {
    this.assertOpen();
    return this.enqueue(file, 'exclusive', (key) => () =>
      this.withLock(key, async () => {
        const current = await readDocument<T>(this.ctx, key);
        const next = await fn(current ? cloneDocument(current.data) : undefined);
        const snapshot = cloneDocument(next);
        validateDocument(this.ctx, key, snapshot);
        return writeDocument(this.ctx, key, snapshot, {
          changedBy: opts.changedBy ?? 'user',
          operation: 'update',
          ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
        });
      }),
    );
  }

  /** Stops watchers and timers and waits for queued writes. The instance cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.idle();
    for (const close of [...this.ctx.closers]) await close();
    this.ctx.closers.clear();
    await this.ctx.storage.close();
  }

  // ------------------------------------------------------------------------------------------
  // Profiles (src/profiles.ts) — section owned by the profiles work
  // ------------------------------------------------------------------------------------------

  // ------------------------------------------------------------------------------------------
  // Backups and snapshots (src/backups.ts, src/snapshots.ts) — section owned by the backups work
  // ------------------------------------------------------------------------------------------

  // ------------------------------------------------------------------------------------------
  // History (src/history.ts) — section owned by the backups/history work
  // ------------------------------------------------------------------------------------------

  // ------------------------------------------------------------------------------------------
  // Bundles (src/bundles.ts) — section owned by the schema/integrity/bundles work
  // ------------------------------------------------------------------------------------------

  // ------------------------------------------------------------------------------------------
  // Integrity and statistics (src/integrity.ts, src/stats.ts)
  // ------------------------------------------------------------------------------------------

  // ------------------------------------------------------------------------------------------
  // Watching (src/watch.ts) — section owned by the hot-reload work
  // ------------------------------------------------------------------------------------------

  /**
   * Hot reload: calls `listener` with `{ file, data, previous, changes }` for each valid external
   * change of `file` (default `current.*`) — in-place writes, rename-over saves, delete + re-create.
   * Content is parsed and validated first: invalid or half-written content goes to `opts.onError`
   * and the last good data stays current. This store's own saves are not echoed. Resolves once the
   * watch is armed; `close()` on the handle (or on the store) releases every handle.
   */
  async watch(file: string | undefined, listener: (event: WatchEvent<T>) => void | Promise<void>, opts: WatchOptions = {}): Promise<WatchHandle> {
    this.assertOpen();
    return watchDocument<T>(this.ctx, await this.keyFor(file), listener, opts);
  }

  // ------------------------------------------------------------------------------------------
  // Internals shared by the sections below
  // ------------------------------------------------------------------------------------------

  /**
   * Queues work on a file in call order. Resolving the file name is asynchronous, so calls pass
   * through a single intake chain first: without it a later call could overtake an earlier one.
   * `prepare` runs in the intake (validation errors reject only its own call) and returns the job.
   */
  protected enqueue<R>(file: string | undefined, kind: 'coalesce' | 'exclusive', prepare: (key: string) => () => Promise<R>): Promise<R> {
    const queued = this.intake.then(async () => {
      const key = await this.keyFor(file);
      await this.ctx.schema.ready();
      const run = prepare(key);
      return { result: kind === 'coalesce' ? this.queue.coalesce(key, run) : this.queue.exclusive(key, run) };
    });
    this.intake = queued.then(
      () => undefined,
      () => undefined, // the failure belongs to that call alone; later calls go on
    );
    return queued.then((q) => q.result);
  }

  /** Storage key of a file name, cached: a burst of saves should not list the directory each time. */
  protected async keyFor(file: string | undefined): Promise<string> {
    const cacheKey = file ?? '\u0000current';
    let key = this.keys.get(cacheKey);
    if (key === undefined) {
      key = await configKey(this.ctx, file);
      this.keys.set(cacheKey, key);
    }
    return key;
  }

  /** Runs `fn` holding the cross-process lock of `key`. */
  protected async withLock<R>(key: string, fn: () => Promise<R>): Promise<R> {
    const release = await this.ctx.storage.lock(key, { timeoutMs: this.ctx.options.lockTimeoutMs });
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  protected assertOpen(): void {
    if (this.closed) {
      throw new ConfigPersistenceError('E_IO', `This ConfigPersistence for ${this.baseDir} was closed; create a new one.`);
    }
  }
}
