/**
 * The shared state every feature module receives: storage, codecs, schema, resolved options.
 * `ConfigPersistence` builds one and passes it down; modules never reach the disk except through
 * `ctx.storage`.
 */
import * as crypto from 'node:crypto';
import path from 'node:path';
import { CodecRegistry } from '../codecs/index.js';
import { LocalStorage } from '../storage/local/local.js';
import { SchemaValidator } from '../schema/validator.js';
import type { ConfigPersistenceOptions } from '../types.js';
import type { Storage } from '../storage/types.js';
import { resolveCacheDir, ValidatorCache } from '../storage/local/validator-cache.js';
import type { IndexMark, IndexView } from '../backups/records.js';
import type { Journal } from '../history/journal.js';
import { applySettings, readSettings, readSettingsAsync, warnOverrides, type LoadedSettings } from './settings.js';
import { InvalidNameError } from '../errors.js';
import { envPathsLib } from './lazy-deps.js';
import { EncryptedStorage } from '../encryption/storage.js';
import { resolveKey } from '../encryption/key-source.js';

/** Options with defaults applied. Never mutated after construction. */
export interface ResolvedOptions {
  readonly baseDir: string;
  readonly schemaDir: string;
  readonly defaultFormat: 'json' | 'yaml' | undefined;
  readonly maxBackups: number;
  readonly maxBackupAgeMs: number | undefined;
  readonly compressBackups: boolean;
  readonly backupOnWrite: boolean;
  readonly durable: boolean;
  readonly maxFileBytes: number;
  readonly lockTimeoutMs: number;
  /** From the directory settings file only (`Configuration` reads it; code passes its own to `open`). */
  readonly envPrefix: string | undefined;
}

/** What each feature module works with. */
export interface Context {
  readonly options: ResolvedOptions;
  /** `<baseDir>/config-persistence.json` as read when the context was built (src/core/settings.ts). */
  readonly settings: LoadedSettings;
  readonly storage: Storage;
  /**
   * The same storage as `storage`, typed as the encryption layer every context puts over its
   * backend (src/encryption/storage.ts; a pass-through while nothing is encrypted): bundles and
   * key rotation ask it for the key.
   */
  readonly encryption: EncryptedStorage;
  readonly codecs: CodecRegistry;
  readonly schema: SchemaValidator;
  /**
   * sha256 of the bytes this instance last wrote per key, set before the change becomes visible
   * (see {@link OwnWrites}): watchers skip their own writes by content, not by timing.
   */
  readonly ownWrites: OwnWrites;
  /** Timers and watchers to stop on close(). */
  readonly closers: Set<() => Promise<void> | void>;
  /** What this instance remembers between calls; nothing is kept outside the context. */
  readonly state: ContextState;
}

/**
 * Per-instance memory of the feature modules, each part owned by one module (named beside it).
 * All of it is a cache or a queue that a fresh instance rebuilds from storage: losing it costs a
 * re-read, never correctness.
 */
export interface ContextState {
  /** api/store.ts: storage keys of the file names callers used; cleared by the changeset when files appear or vanish. */
  readonly keys: Map<string, string>;
  /** history/journal.ts: parsed journals by file key, valid while their length is unchanged. */
  readonly journals: Map<string, Journal>;
  /**
   * changeset/changeset.ts: bytes this instance is appending to a file's journal in commits not yet
   * resolved, by file key; a journal longer than its cached parse by exactly these is that parse
   * plus this instance's own lines in flight (history/journal.ts, readJournal).
   */
  readonly appending: Map<string, number>;
  /**
   * backups/records.ts: the backup index as this instance last saw it, the chain that orders its
   * updates, and where the view stood when each append in flight was planned (by its bytes).
   */
  readonly backupIndex: {
    view: IndexView | undefined;
    chain: Promise<unknown>;
    readonly planned: WeakMap<Uint8Array, IndexMark>;
    /** backups/retention.ts: the compaction running after a save, and the dead lines before a failed one is tried again. */
    compaction: Promise<void> | undefined;
    retryAt: number;
    /**
     * changeset/changeset.ts: this instance's index appends written (Commit.appended) and not yet in
     * the view: the index is longer than the view by exactly these when nobody else appended. Not
     * the byte count `appending` keeps for journals: several saves append to the index at once and
     * their lines land in any order, where a journal has one line in flight (its file's lock), and
     * that count works on every backend, written or not yet.
     */
    readonly landed: Set<Uint8Array>;
  };
  /** backups/backups.ts: the newest id stamp per file, so ids made in one millisecond stay apart. */
  readonly backupStamps: Map<string, { stamp: string; seq: number }>;
  /** backups/auto-backup.ts: the content digest of snapshots by their sha256. */
  readonly snapshotDigests: Map<string, string>;
  /** history/pruning.ts: save counts, how far each file was pruned, contents waiting for removal. */
  readonly pruning: {
    readonly saves: Map<string, number>;
    readonly cut: Map<string, { journal: Journal; cut: number }>;
    readonly unneeded: Set<string>;
    /** The background batch removing contents (see startRemoval), and what it removes. */
    removal: Promise<void> | undefined;
    readonly removing: Set<string>;
    flushOnClose: boolean;
  };
}

/** A fresh {@link ContextState}. */
export function createState(): ContextState {
  return {
    keys: new Map(),
    journals: new Map(),
    appending: new Map(),
    backupIndex: { view: undefined, chain: Promise.resolve(), planned: new WeakMap(), compaction: undefined, retryAt: 0, landed: new Set() },
    backupStamps: new Map(),
    snapshotDigests: new Map(),
    pruning: { saves: new Map(), cut: new Map(), unneeded: new Set(), removal: undefined, removing: new Set(), flushOnClose: false },
  };
}

/** An own write, as watchers hear of it. */
export interface OwnWriteEvent {
  key: string;
  /** sha256 of the bytes written; `''` for a removal. */
  sha: string;
  /** `pending`: about to become visible; `landed`: visible, its commit resolved. */
  phase: 'pending' | 'landed';
  /** The bytes written (landed writes): the state the application now runs with. */
  bytes?: Uint8Array;
}

/**
 * The `ownWrites` map. Writers call `set(key, sha)` BEFORE the change becomes visible (`delete(key)`
 * for a removal) and `landed(key, sha, bytes)` once it is; watchers subscribe, so they recognise
 * every own write by content — two in a row, equal bytes twice, or one they never got to see.
 */
export class OwnWrites extends Map<string, string> {
  private readonly listeners = new Set<(event: OwnWriteEvent) => void>();

  override set(key: string, sha: string): this {
    super.set(key, sha);
    this.emit({ key, sha, phase: 'pending' });
    return this;
  }

  /** Records an own removal (about to become visible). */
  override delete(key: string): boolean {
    const had = super.delete(key);
    this.emit({ key, sha: '', phase: 'pending' });
    return had;
  }

  /** The own write of `bytes` (`undefined` for a removal) to `key` is visible now. */
  landed(key: string, sha: string, bytes?: Uint8Array): void {
    this.emit({ key, sha, phase: 'landed', ...(bytes ? { bytes } : {}) });
  }

  /** Calls `listener` on every own write; returns the unsubscribe function. */
  subscribe(listener: (event: OwnWriteEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: OwnWriteEvent): void {
    // `listeners` is undefined while Map's constructor runs; it adds nothing here (no entries given).
    if (this.listeners) for (const listener of this.listeners) listener(event);
  }
}

/**
 * The directory: `baseDir`, else the platform's per-user configuration directory of `projectName`
 * (as env-paths computes it, without its `-nodejs` suffix: `~/.config/<name>` on Linux,
 * `~/Library/Preferences/<name>` on macOS, `%APPDATA%\\<name>\\Config` on Windows), else `config`.
 */
export function resolveBaseDir(given: Pick<ConfigPersistenceOptions, 'baseDir' | 'projectName'>): string {
  if (given.baseDir !== undefined) return path.resolve(given.baseDir);
  if (given.projectName === undefined) return path.resolve('config');
  if (typeof given.projectName !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(given.projectName)) {
    throw new InvalidNameError(`projectName ${JSON.stringify(given.projectName)} must be a plain name such as "my-app" (letters, digits, ".", "_", "-"): it becomes a directory name.`);
  }
  return envPathsLib().default(given.projectName, { suffix: '' }).config;
}

/** Default `maxFileBytes`: 10 MiB. */
export const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;

/**
 * Builds the context from user options (the options object is only read) over the directory
 * settings file: options given in code win for this process, with a warning where they differ.
 */
export function createContext(given: ConfigPersistenceOptions = {}, loaded?: LoadedSettings): Context {
  const baseDir = resolveBaseDir(given);
  const backend = given.storage ?? new LocalStorage(baseDir, { durable: given.durable ?? true });
  const settings = loaded ?? readSettings(backend);
  const storage =
    backend instanceof EncryptedStorage
      ? backend
      : new EncryptedStorage(backend, { key: resolveKey(given), files: given.encryptFiles === true, recorded: settings.values.encryption });
  const { options, overrides } = applySettings(given, settings, baseDir);
  warnOverrides(settings, overrides);
  // A per-user directory (projectName) is the app's own: its schema lives there, not in the working directory.
  const fallbackSchemaDir = given.baseDir === undefined && given.projectName !== undefined ? path.join(baseDir, 'schemas') : 'schemas';
  const schemaDir = path.resolve(options.schemaDir ?? fallbackSchemaDir);
  const resolved: ResolvedOptions = Object.freeze({
    baseDir,
    schemaDir,
    defaultFormat: options.defaultFormat,
    maxBackups: options.maxBackups ?? 10,
    maxBackupAgeMs: options.maxBackupAgeMs,
    compressBackups: options.compressBackups ?? false,
    backupOnWrite: options.backupOnWrite ?? true,
    durable: options.durable ?? true,
    maxFileBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
    lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
    envPrefix: settings.values.envPrefix,
  });
  return {
    options: resolved,
    settings,
    storage,
    encryption: storage,
    codecs: new CodecRegistry(options.codecs ?? []),
    schema: new SchemaValidator({ schema: options.schema, schemaDir, ...validatorCacheOf(options) }),
    ownWrites: new OwnWrites(),
    closers: new Set(),
    state: createState(),
  };
}

/**
 * For a backend without synchronous reads (etcd), whose settings file createContext could not
 * read: reads it now and, when there is one, puts the options it implies into `ctx` (in place, so
 * every holder of the context sees them). Runs before the context's first operation (Store.ready).
 */
export async function settleSettings(ctx: Context, given: ConfigPersistenceOptions): Promise<void> {
  if (typeof ctx.storage.readSync === 'function') return;
  const loaded = await readSettingsAsync(ctx.storage);
  if (!loaded.exists) return;
  const { options, settings, codecs, schema } = createContext({ ...given, storage: ctx.storage }, loaded);
  ctx.encryption.noteRecorded(loaded.values.encryption);
  Object.assign(ctx as { -readonly [K in keyof Context]: Context[K] }, { options, settings, codecs, schema });
}

function validatorCacheOf(options: ConfigPersistenceOptions): { cache?: ValidatorCache } {
  const dir = resolveCacheDir(options.validatorCache);
  return dir === undefined ? {} : { cache: new ValidatorCache(dir) };
}

/** One-shot hashing (Node >= 20.12): no Hash object per call, a third cheaper for a 2 KB file. */
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array | string, encoding: 'hex') => string }).hash;

/** Hex sha256 of bytes. */
export function sha256(data: Uint8Array | string): string {
  return oneShot ? oneShot('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');
}
