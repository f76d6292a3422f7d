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
import type { ChangedBy, CopyProfileOptions, DeepPartial, DeleteProfileOptions, LoadProfileOptions, Profile, ProfileInfo, SaveProfileOptions } from './types.js';
import { ACTIVE_PROFILE_KEY, readActiveProfile, writeActiveProfile } from './active-profile.js';
import { ConflictError } from './errors.js';
import { PROFILES_DIR, profileKey } from './files.js';
import {
  assertNoDependants,
  assertProfile,
  copyProfile as copyProfileDocument,
  copyTargetKey,
  deleteProfile as deleteProfileDocument,
  listProfiles as listProfileDocuments,
  loadProfile as loadProfileDocument,
  profileExists as profileFileExists,
  saveProfile as saveProfileDocument,
} from './profiles.js';

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

  /**
   * Saves profile `name` (`profiles/<name>.<ext>`): `opts.extends` / `opts.description` go into its
   * `$profile` block (omitted: kept from the existing file; `null`: removed). The chain it creates is
   * resolved and validated over `default.*` before anything is written; an existing YAML file keeps
   * its comments. Backed up, versioned and audited like every save.
   */
  async saveProfile(name: string, data: DeepPartial<T>, opts: SaveProfileOptions = {}): Promise<SaveResult> {
    this.assertOpen();
    const profile = assertProfile(name, (ext) => this.ctx.codecs.knows(ext));
    const snapshot = cloneDocument(data) as unknown;
    const options = { ...opts };
    return this.enqueue(`${PROFILES_DIR}/${profile}`, 'exclusive', (key) => () =>
      this.withLock(key, () => saveProfileDocument(this.ctx, key, profile, snapshot, options)),
    );
  }

  /**
   * Loads profile `name`. With `resolve` (default) `data` has its `extends` chain merged (lowest
   * first) and is validated in resolved form over `default.*`; with `resolve: false` it holds only
   * the profile's own values, as written. `$profile` is returned as `meta`, never inside `data`.
   */
  async loadProfile(name: string, opts: LoadProfileOptions = {}): Promise<Profile<DeepPartial<T>>> {
    this.assertOpen();
    return loadProfileDocument<DeepPartial<T>>(this.ctx, name, opts.resolve ?? true);
  }

  /** Every profile with its format, parents, description, size and modification time, by name. */
  async listProfiles(): Promise<ProfileInfo[]> {
    this.assertOpen();
    return listProfileDocuments(this.ctx);
  }

  /**
   * Deletes profile `name` after backing it up. Refused with `E_CONFLICT` while other profiles extend
   * it or it is the persisted active profile, unless `opts.force` (which also clears that choice).
   */
  async deleteProfile(name: string, opts: DeleteProfileOptions = {}): Promise<void> {
    this.assertOpen();
    const profile = assertProfile(name, (ext) => this.ctx.codecs.knows(ext));
    const options = { ...opts };
    await this.enqueue(`${PROFILES_DIR}/${profile}`, 'exclusive', (key) => () =>
      this.withLock(key, async () => {
        const active = await readActiveProfile(this.ctx);
        await deleteProfileDocument(this.ctx, key, profile, options, active);
        if (active === profile) await this.queue.exclusive(ACTIVE_PROFILE_KEY, () => this.withLock(ACTIVE_PROFILE_KEY, () => writeActiveProfile(this.ctx, undefined, options.changedBy)));
      }),
    );
    this.keys.clear();
  }

  /** Whether profile `name` exists (in any format). Invalid names are `E_INVALID_NAME`, not `false`. */
  async profileExists(name: string): Promise<boolean> {
    this.assertOpen();
    return profileFileExists(this.ctx, name);
  }

  /**
   * Copies profile `from` to `to` byte for byte (comments included; same parents). An existing `to`
   * is refused with `E_CONFLICT` unless `opts.overwrite` (it is then backed up first).
   */
  async copyProfile(from: string, to: string, opts: CopyProfileOptions = {}): Promise<SaveResult> {
    this.assertOpen();
    return this.copyOrRename(from, to, { ...opts }, 'copy');
  }

  /**
   * Renames profile `from` to `to`: the new file is written (byte for byte) before the old one is
   * removed (backed up), so a crash in between leaves both, never neither. Refused with `E_CONFLICT`
   * while other profiles extend `from`. A persisted active-profile choice follows the rename.
   */
  async renameProfile(from: string, to: string, opts: CopyProfileOptions = {}): Promise<SaveResult> {
    this.assertOpen();
    return this.copyOrRename(from, to, { ...opts }, 'rename');
  }

  /** The profile last chosen with `setActiveProfile` / `Configuration#useProfile` (persisted), if any. */
  async getActiveProfile(): Promise<string | undefined> {
    this.assertOpen();
    return readActiveProfile(this.ctx);
  }

  /**
   * Persists the active profile for every `Configuration` opened later without `profile` option or
   * `CONFIG_PROFILE` (`null` clears it). The profile must exist and resolve to a valid configuration.
   */
  async setActiveProfile(name: string | null, opts: { changedBy?: ChangedBy } = {}): Promise<void> {
    this.assertOpen();
    const profile = name === null ? undefined : assertProfile(name, (ext) => this.ctx.codecs.knows(ext));
    if (profile !== undefined) await loadProfileDocument(this.ctx, profile, true);
    await this.queue.exclusive(ACTIVE_PROFILE_KEY, () => this.withLock(ACTIVE_PROFILE_KEY, () => writeActiveProfile(this.ctx, profile, opts.changedBy)));
  }

  private copyOrRename(from: string, to: string, opts: CopyProfileOptions, operation: 'copy' | 'rename'): Promise<SaveResult> {
    const knows = (ext: string): boolean => this.ctx.codecs.knows(ext);
    const source = assertProfile(from, knows);
    const target = assertProfile(to, knows);
    if (source === target) {
      return Promise.reject(new ConflictError(`Cannot ${operation} profile "${source}" onto itself; choose another name.`));
    }
    return this.enqueue(`${PROFILES_DIR}/${target}`, 'exclusive', () => async () => {
      const fromKey = await profileKey(this.ctx, source);
      const toKey = await copyTargetKey(this.ctx, target, fromKey);
      // Both files are locked, in a fixed order so two opposite renames cannot deadlock.
      const [first, second] = [fromKey, toKey].sort();
      const result = await this.withLock(first!, () =>
        this.withLock(second!, async () => {
          if (operation === 'rename') await assertNoDependants(this.ctx, source, this.ctx.storage.describe(fromKey));
          const saved = await copyProfileDocument(this.ctx, { name: source, key: fromKey }, { name: target, key: toKey }, opts, operation);
          if (operation === 'rename') {
            await removeDocument(this.ctx, fromKey, { changedBy: opts.changedBy ?? 'user', operation: 'rename', details: { to: toKey }, ...(opts.reason !== undefined ? { reason: opts.reason } : {}) });
            if ((await readActiveProfile(this.ctx)) === source) {
              await this.withLock(ACTIVE_PROFILE_KEY, () => writeActiveProfile(this.ctx, target, opts.changedBy));
            }
          }
          return saved;
        }),
      );
      this.keys.clear();
      return result;
    });
  }

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
