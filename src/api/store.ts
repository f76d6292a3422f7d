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
import { ClosedError, ConflictError, HeldLockError, StaleError } from '../errors.js';
import { readSettingsAsync, SETTINGS_FILE } from '../core/settings.js';
import type { Storage } from '../storage/types.js';
import type { ConfigPersistenceOptions, MigrateOptions, Migration, MigrationReport } from '../types.js';
import { checkMigrations, latestVersion, migrate, migrationLockKeys, recordedVersion, tooNew } from '../migrations/migrate.js';

/** Tries of an optimistic write (Store.optimistic) before it takes the lock. */
const OPTIMISTIC_ATTEMPTS = 3;

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
  /** Set once {@link ready} resolved: the hot path then skips the await. */
  private prepared = false;
  /** The `migrations` option, checked and sorted. */
  readonly migrations: readonly Migration[];

  constructor(private readonly options: ConfigPersistenceOptions) {
    this.migrations = options.migrations === undefined ? [] : checkMigrations(options.migrations);
    this.ctx = createContext(options);
  }

  /**
   * Resolves once the store may operate: the directory settings in effect (read asynchronously on a
   * backend without readSync) and the directory at the version of the `migrations` option. A
   * failure rejects this call (and the operation waiting on it); the next one tries again.
   */
  ready(): Promise<void> {
    if (this.prepared) return Promise.resolve();
    this.settled ??= this.prepare().then(
      () => {
        this.prepared = true;
      },
      (err: unknown) => {
        this.settled = undefined;
        throw err;
      },
    );
    return this.settled;
  }

  private async prepare(): Promise<void> {
    if (typeof this.ctx.storage.readSync !== 'function') await settleSettings(this.ctx, this.options);
    if (this.migrations.length === 0) return;
    // The common case, a directory already at this version, costs no lock and no read.
    const at = recordedVersion(this.ctx.settings.values);
    const latest = latestVersion(this.migrations);
    if (at === latest) return;
    if (at > latest) throw tooNew(this.ctx, at, latest);
    // Nothing has run yet (every call waits for this): no settle, which would wait for those calls.
    await this.lockAll(() => migrationLockKeys(this.ctx), () => migrate(this.ctx, this.migrations, {}));
  }

  /**
   * After something brought older documents back with their version (a snapshot restore): runs the
   * `migrations` option again when the directory is now behind it. Holds no lock when called.
   */
  async migrateIfBehind(): Promise<MigrationReport | undefined> {
    if (this.migrations.length === 0 || recordedVersion(this.ctx.settings.values) >= latestVersion(this.migrations)) return undefined;
    return this.lockAll(() => migrationLockKeys(this.ctx), () => migrate(this.ctx, this.migrations, {}));
  }

  /** The version recorded in the settings file now (read again: another process may have migrated). */
  async schemaVersion(): Promise<number> {
    return recordedVersion((await readSettingsAsync(this.ctx.storage)).values);
  }

  /**
   * For `Configuration.openSync`, which cannot run a migration: fails with `E_CONFLICT` unless the
   * directory is at the `migrations` option's version (or there is no such option).
   */
  assertMigrated(): void {
    if (this.migrations.length === 0) return;
    const at = recordedVersion(this.ctx.settings.values);
    const latest = latestVersion(this.migrations);
    if (at > latest) throw tooNew(this.ctx, at, latest);
    if (at < latest) {
      throw new ConflictError(
        `${this.ctx.storage.location} is at schema version ${at} and needs the migrations up to ${latest}, which Configuration.openSync cannot run (a migration is an async commit). Open it once with Configuration.open, or run \`config-persistence migrate --migrations <file>\`.`,
        this.ctx.storage.describe(SETTINGS_FILE),
      );
    }
  }

  /**
   * Brings the directory to the newest of `given` (default: the `migrations` option; see src/migrations/migrate.ts) holding the
   * snapshot lock and every file's; a dry run reads without locks and writes nothing.
   */
  async runMigrations(given: readonly Migration[] | undefined, opts: MigrateOptions): Promise<MigrationReport> {
    const steps = given === undefined ? this.migrations : checkMigrations(given);
    await this.ready();
    if (opts.dryRun) return migrate(this.ctx, steps, opts);
    await this.settle();
    return this.lockAll(() => migrationLockKeys(this.ctx), () => migrate(this.ctx, steps, opts));
  }

  /**
   * Queues work on a file in call order. `prepare` runs in the intake (validation errors reject
   * only its own call) and returns the job.
   */
  enqueue<R>(file: string | undefined, kind: 'coalesce' | 'exclusive', prepare: (key: string) => () => Promise<R>): Promise<R> {
    const queued = this.intake.then(async () => {
      if (!this.prepared) await this.ready(); // no await per save once the store is ready
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
    if (!this.prepared) await this.ready();
    const release = await this.ctx.storage.lock(key, { timeoutMs: this.ctx.options.lockTimeoutMs });
    try {
      return await fn();
    } finally {
      await releaseAll([release]);
    }
  }

  /**
   * Runs a single-file write: on an optimistic backend (Storage.optimistic: etcd) without taking
   * the lock — its commit compares the file's revision and that nobody holds the lock — retried a
   * few times when it loses a race (another writer committed between its read and its commit);
   * then, or when another process holds the lock, under the lock like everywhere else.
   */
  async optimistic<R>(key: string, fn: (extra: { unlocked?: readonly string[]; ctx?: Context }) => Promise<R>): Promise<R> {
    if (!this.prepared) await this.ready();
    if (this.ctx.storage.optimistic === true) {
      for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt++) {
        try {
          // Only the first try may read from memory (Storage.readForWrite): a stale answer fails its
          // commit with StaleError, and the retry reads afresh. That try runs on a context whose
          // storage is the scoped view the storage hands out; everything else is this store's.
          const storage = this.ctx.storage;
          return await (attempt === 0 && storage.readForWrite
            ? storage.readForWrite((scoped) => fn({ unlocked: [key], ctx: withStorage(this.ctx, scoped) }))
            : fn({ unlocked: [key] }));
        } catch (err) {
          if (err instanceof HeldLockError) break;
          if (!(err instanceof StaleError)) throw err;
          await new Promise((r) => setTimeout(r, Math.random() * 10 * (attempt + 1))); // apart from the writer it raced
        }
      }
    }
    return this.withLock(key, () => fn({}));
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
    if (!this.prepared) await this.ready();
    return this.lockAll(targets, fn);
  }

  /** {@link withSnapshotLocks} without waiting for {@link ready} (the migration run inside it). */
  private async lockAll<R>(targets: () => Promise<readonly string[]>, fn: (keys: string[]) => Promise<R>): Promise<R> {
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
      await releaseAll([...held.values()].reverse());
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

/**
 * Releases every lock, even after one fails (the others would stay held by this live process).
 * A failed release is not the operation's failure: the work under the lock has landed or failed
 * on its own, and a lock left behind is freed by its backend (Release). An `update()` whose
 * commit landed and whose release met an unreachable etcd used to reject with the release's
 * E_IO, and a caller retrying it applied it twice.
 */
async function releaseAll(releases: ReadonlyArray<() => Promise<void>>): Promise<void> {
  for (const release of releases) await release().catch(() => undefined);
}

/** `ctx` with `storage` in place of its own; every other member is the same object (state, queues, closers). */
function withStorage(ctx: Context, storage: Storage): Context {
  return Object.create(ctx, { storage: { value: storage, enumerable: true } }) as Context;
}
