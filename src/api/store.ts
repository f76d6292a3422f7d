/**
 * The engine under the public classes: the context, the order in which calls are applied, the
 * locks they hold and the names they resolve to. `ConfigPersistence` and `Configuration` both
 * compose one (neither reaches into the other's internals); the verbs themselves live in the
 * feature modules.
 *
 * - Call order: every call passes through one intake chain (resolving a file name is async, and
 *   a later call must not overtake an earlier one), then a per-file queue that coalesces bursts.
 * - Locks: one cross-process lock per file; snapshot-wide operations take the snapshot lock and
 *   then every file's, in sorted order, so two of them never deadlock and saves cannot either.
 * - Names: `current`, `profiles/dev`... resolve to keys with the extension of the existing file,
 *   cached in `ctx.state.keys`; the changeset pipeline forgets them when files appear or vanish.
 */
import { createContext, settleSettings, type Context } from '../core/context.js';
import { KeyedQueue } from '../core/queue.js';
import { configKey } from '../core/keys.js';
import { ClosedError } from '../errors.js';
import type { ConfigPersistenceOptions } from '../types.js';

/** Lock held while a snapshot is taken or restored (or anything else that touches every file). */
export const SNAPSHOT_LOCK = 'backups~snapshot';

/** The key-cache entry of the default file (`current.*`): not a name any file can have. */
const CURRENT_KEY = '\u0000current';

/** How a symbol-keyed accessor reaches the store of a public instance without subclassing it. */
export const STORE = Symbol('config-persistence store');

/** See the module comment. */
export class Store {
  readonly ctx: Context;
  /** Per-file queue: call order, coalescing of bursts. */
  readonly queue = new KeyedQueue();
  private intake: Promise<void> = Promise.resolve();
  private closed = false;
  private settled: Promise<void> | undefined;

  constructor(private readonly options: ConfigPersistenceOptions) {
    this.ctx = createContext(options);
  }

  /** Resolves once the directory settings are in effect (read asynchronously on a backend without readSync). */
  ready(): Promise<void> {
    if (typeof this.ctx.storage.readSync === 'function') return Promise.resolve();
    this.settled ??= settleSettings(this.ctx, this.options).catch((err: unknown) => {
      this.settled = undefined;
      throw err;
    });
    return this.settled;
  }

  /**
   * Queues work on a file in call order. `prepare` runs in the intake (validation errors reject
   * only its own call) and returns the job.
   */
  enqueue<R>(file: string | undefined, kind: 'coalesce' | 'exclusive', prepare: (key: string) => () => Promise<R>): Promise<R> {
    const queued = this.intake.then(async () => {
      if (typeof this.ctx.storage.readSync !== 'function') await this.ready(); // no await per save where there is nothing to read
      // Cached key and compiled schema: no await (each one is a turn of the microtask queue per save).
      const key = this.cachedKey(file) ?? (await this.keyFor(file));
      if (!this.ctx.schema.isReady) await this.ctx.schema.ready();
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
  async keyFor(file: string | undefined): Promise<string> {
    await this.ready();
    let key = this.cachedKey(file);
    if (key === undefined) {
      key = await configKey(this.ctx, file);
      this.ctx.state.keys.set(file ?? CURRENT_KEY, key);
    }
    return key;
  }

  private cachedKey(file: string | undefined): string | undefined {
    return this.ctx.state.keys.get(file ?? CURRENT_KEY);
  }

  /** Runs `fn` holding the cross-process lock of `key`. */
  async withLock<R>(key: string, fn: () => Promise<R>): Promise<R> {
    const release = await this.ctx.storage.lock(key, { timeoutMs: this.ctx.options.lockTimeoutMs });
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  /** Waits until every call made before it has been applied (snapshots cover queued saves). */
  async settle(): Promise<void> {
    await this.intake;
    await this.queue.idle();
  }

  /**
   * Runs `fn` holding the snapshot lock and the lock of every key `targets` returns; keys that
   * appear while locking are locked too.
   */
  async withSnapshotLocks<R>(targets: () => Promise<readonly string[]>, fn: (keys: string[]) => Promise<R>): Promise<R> {
    const timeoutMs = this.ctx.options.lockTimeoutMs;
    const held = new Map<string, () => Promise<void>>();
    try {
      held.set(SNAPSHOT_LOCK, await this.ctx.storage.lock(SNAPSHOT_LOCK, { timeoutMs }));
      let keys: string[];
      for (;;) {
        keys = [...(await targets())].sort();
        const missing = keys.filter((k) => !held.has(k));
        if (missing.length === 0) break;
        for (const key of missing) held.set(key, await this.ctx.storage.lock(key, { timeoutMs }));
      }
      return await fn(keys);
    } finally {
      for (const release of [...held.values()].reverse()) await release();
    }
  }

  /** Fails with `E_CLOSED` once the store was closed; `what` names the public class for the message. */
  assertOpen(what: string): void {
    if (this.closed) throw new ClosedError(`This ${what} for ${this.ctx.storage.location} was closed; create a new one.`);
  }

  /** Stops watchers and timers and waits for queued writes. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.idle();
    for (const close of [...this.ctx.closers]) await close();
    this.ctx.closers.clear();
    await this.ctx.storage.close();
  }
}
