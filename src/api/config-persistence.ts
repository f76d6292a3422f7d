/**
 * `ConfigPersistence`: the public class. It composes the feature modules and holds little logic of
 * its own: name resolution, queueing and locking, then a call into the module that owns the verb.
 * The verbs with more than a call (saves and updates, profiles, backups, bundle import) live in
 * per-feature facades over the `Store`: api/documents.ts, api/profiles.ts, api/backups.ts,
 * api/history.ts, api/bundles.ts, api/integrity.ts, api/encryption.ts.
 */
import type { Context } from '../core/context.js';
import type {
  AutoBackupOptions, BackupInfo, BackupOptions, Bundle, BundleSelection, BundleWriteResult, Change,
  ChangedBy, ChangeOptions, CleanupOptions, CleanupResult, ConfigPersistenceOptions, CopyProfileOptions,
  DeepPartial, DeleteProfileOptions, EncryptedBundle, EncryptionInfo, ImportOptions, ImportReport,
  LoadProfileOptions, MigrateOptions, Migration, MigrationReport, Profile, ProfileInfo, RepairOptions,
  RepairReport, RestoreResult, RotationResult, SaveOptions, SaveProfileOptions, SaveResult, SnapshotOptions,
  Stats, VerifyResult, VersionInfo, WatchEvent, WatchHandle, WatchOptions,
} from '../types.js';
import { STORE, Store } from './store.js';
import { watchDocument } from '../watch/watch.js';
import { readActiveProfile } from '../profiles/active.js';
import { listProfiles as listProfileDocuments, loadProfile as loadProfileDocument, profileExists as profileFileExists } from '../profiles/profiles.js';
import * as integrityOps from './integrity.js';
import * as historyOps from './history.js';
import * as documentOps from './documents.js';
import * as profileOps from './profiles.js';
import * as backupOps from './backups.js';
import * as bundleOps from './bundles.js';
import * as rotation from './encryption.js';

/**
 * Keeps an application's configuration in plain JSON/YAML files under `baseDir` and never loses or
 * corrupts them. See the README for every feature with an example.
 *
 * @typeParam T - the shape of your configuration documents.
 */
export class ConfigPersistence<T = Record<string, unknown>> {
  private readonly s: Store;

  /**
   * Creates a store over `options.baseDir` (default `config`). Reads only the directory settings
   * file (`config-persistence.json`, whose values `options` override for this process); nothing else
   * is read until first use.
   */
  constructor(options: ConfigPersistenceOptions = {}) {
    this.s = new Store(options);
  }

  /** @internal The engine underneath, for `Configuration` (see api/store.ts). */
  get [STORE](): Store {
    return this.s;
  }

  /** The context, once the store is open (`E_CLOSED` otherwise) and ready (settings, migrations). */
  private async use(): Promise<Context> {
    this.s.assertOpen('ConfigPersistence');
    await this.s.ready();
    return this.ctx;
  }

  private get ctx(): Context {
    return this.s.ctx;
  }

  /** The absolute base directory (or the storage location). */
  get baseDir(): string {
    return this.ctx.storage.location;
  }

  /**
   * On a shared, revisioned store (etcd): the newest store revision this process has seen, from
   * its reads, commits and watches, to tell whether it has caught up with a change. Else undefined.
   */
  get appliedRevision(): string | undefined {
    return this.ctx.storage.appliedRevision;
  }

  /**
   * The schema document this store validates with (loaded and compiled on first use), or undefined
   * when validation is off. For output paths of your own: `redact(doc, await store.schemaDocument())`.
   */
  async schemaDocument(): Promise<object | undefined> {
    await this.ctx.schema.ready();
    return this.ctx.schema.document;
  }

  /** The schema file this store validates with (absolute; it may not exist), unless the schema was given as an object. */
  get schemaFile(): string | undefined {
    return this.ctx.schema.schemaFile;
  }

  // --- Core: save, load, delete, update ---

  /**
   * Validates and durably saves `data` to `file` (default `current.*`), backing up the old content and
   * recording a version. Saves of one file are applied in call order; a burst is coalesced and every
   * promise resolves once a state that includes its data is durable.
   */
  saveConfig(data: T, file?: string, opts: SaveOptions = {}): Promise<SaveResult> {
    this.s.assertOpen('ConfigPersistence');
    return documentOps.saveConfig<T>(this.s, data, file, opts);
  }

  /** Reads, parses and validates `file` (default `current.*`), with schema defaults filled in. */
  async loadConfig(file?: string): Promise<T> {
    this.s.assertOpen('ConfigPersistence');
    return documentOps.loadConfig<T>(this.s, file);
  }

  /**
   * {@link loadConfig} with the version the file's content is at (`null` when it was changed
   * outside config-persistence, or never saved through it) and its sha256, from one read: pass
   * `ifVersion` (or, without a version, `ifSha256`) to a later save so that it is refused with
   * `E_CONFLICT` if the file moved on meanwhile.
   */
  async loadVersioned(file?: string): Promise<{ data: T; version: number | null; sha256: string }> {
    this.s.assertOpen('ConfigPersistence');
    return documentOps.loadVersioned<T>(this.s, file);
  }

  /** Deletes `file` after backing it up (the backup id is in the audit log and `listBackups`). */
  deleteConfig(file: string, opts: SaveOptions = {}): Promise<void> {
    this.s.assertOpen('ConfigPersistence');
    return documentOps.deleteConfig(this.s, file, opts);
  }

  /**
   * Read-modify-write under a cross-process lock: `fn` gets the current document (`undefined` when
   * the file does not exist) and returns the new one. No update is lost across processes.
   */
  update(file: string | undefined, fn: (current: T | undefined) => T | Promise<T>, opts: Omit<SaveOptions, 'ifVersion' | 'ifSha256'> = {}): Promise<SaveResult> {
    this.s.assertOpen('ConfigPersistence');
    return documentOps.update<T>(this.s, file, fn, opts);
  }

  /** Stops watchers and timers and waits for queued writes. The instance cannot be used afterwards. */
  close(): Promise<void> {
    return this.s.close();
  }

  // --- Profiles (src/profiles/profiles.ts) ---

  /**
   * Saves profile `name` (`profiles/<name>.<ext>`): `opts.extends` / `opts.description` go into its
   * `$profile` block (omitted: kept from the existing file; `null`: removed). The chain it creates is
   * resolved and validated over `default.*` before anything is written; an existing YAML file keeps
   * its comments. Backed up, versioned and audited like every save.
   */
  async saveProfile(name: string, data: DeepPartial<T>, opts: SaveProfileOptions = {}): Promise<SaveResult> {
    this.s.assertOpen('ConfigPersistence');
    return profileOps.saveProfile<T>(this.s, name, data, opts);
  }

  /**
   * Loads profile `name`. With `resolve` (default) `data` has its `extends` chain merged (lowest
   * first) and is validated in resolved form over `default.*`; with `resolve: false` it holds only
   * the profile's own values, as written. `$profile` is returned as `meta`, never inside `data`.
   */
  async loadProfile(name: string, opts: LoadProfileOptions = {}): Promise<Profile<DeepPartial<T>>> {
    await this.use();
    return loadProfileDocument<DeepPartial<T>>(this.ctx, name, opts.resolve ?? true);
  }

  /** The config files in the directory (`current.json`, `default.yaml`, ...), sorted; profiles are listed by {@link listProfiles}. */
  async listConfigs(): Promise<string[]> {
    await this.use();
    return documentOps.listConfigs(this.s);
  }

  /** Every profile with its format, parents, description, size and modification time, by name. */
  async listProfiles(): Promise<ProfileInfo[]> {
    await this.use();
    return listProfileDocuments(this.ctx);
  }

  /**
   * Deletes profile `name` after backing it up. Refused with `E_CONFLICT` while other profiles extend
   * it or it is the persisted active profile, unless `opts.force` (which also clears that choice).
   */
  async deleteProfile(name: string, opts: DeleteProfileOptions = {}): Promise<void> {
    this.s.assertOpen('ConfigPersistence');
    return profileOps.deleteProfile(this.s, name, opts);
  }

  /** Whether profile `name` exists (in any format). Invalid names are `E_INVALID_NAME`, not `false`. */
  async profileExists(name: string): Promise<boolean> {
    await this.use();
    return profileFileExists(this.ctx, name);
  }

  /**
   * Copies profile `from` to `to` byte for byte (comments included; same parents). An existing `to`
   * is refused with `E_CONFLICT` unless `opts.overwrite` (it is then backed up first).
   */
  async copyProfile(from: string, to: string, opts: CopyProfileOptions = {}): Promise<SaveResult> {
    this.s.assertOpen('ConfigPersistence');
    return profileOps.copyOrRename(this.s, from, to, { ...opts }, 'copy');
  }

  /**
   * Renames profile `from` to `to`: the new file is written (byte for byte) before the old one is
   * removed (backed up), so a crash in between leaves both, never neither. Refused with `E_CONFLICT`
   * while other profiles extend `from`. A persisted active-profile choice follows the rename.
   */
  async renameProfile(from: string, to: string, opts: CopyProfileOptions = {}): Promise<SaveResult> {
    this.s.assertOpen('ConfigPersistence');
    return profileOps.copyOrRename(this.s, from, to, { ...opts }, 'rename');
  }

  /** The profile last chosen with `setActiveProfile` / `Configuration#useProfile` (persisted), if any. */
  async getActiveProfile(): Promise<string | undefined> {
    await this.use();
    return readActiveProfile(this.ctx);
  }

  /**
   * Persists the active profile for every `Configuration` opened later without `profile` option or
   * `CONFIG_PROFILE` (`null` clears it). The profile must exist and resolve to a valid configuration.
   */
  async setActiveProfile(name: string | null, opts: { changedBy?: ChangedBy } = {}): Promise<void> {
    this.s.assertOpen('ConfigPersistence');
    return profileOps.setActiveProfile(this.s, name, opts);
  }

  // --- Backups and snapshots (src/backups/backups.ts, src/backups/snapshots.ts) ---

  /**
   * Backs up `file` (default `current.*`) as it is now (trigger `manual`). A `label` pins the backup:
   * retention never removes it. `E_NOT_FOUND` when the file does not exist.
   */
  createBackup(file: string | undefined, opts: BackupOptions = {}): Promise<BackupInfo> {
    this.s.assertOpen('ConfigPersistence');
    return backupOps.createBackup(this.s, file, opts);
  }

  /**
   * Saves every config and profile (or only `opts.scope`) as one compressed snapshot under
   * `backups/` (`kind: 'snapshot'`, `file: '*'`), byte-exact. Restore it with `restoreBackup(id)`.
   */
  async createSnapshot(opts: SnapshotOptions = {}): Promise<BackupInfo> {
    this.s.assertOpen('ConfigPersistence');
    return backupOps.createSnapshot(this.s, opts);
  }

  /**
   * Every backup and snapshot, newest first, from the backup index (no backup file is opened);
   * `file` narrows to one file's backups (`'*'`: snapshots only); a name without an extension
   * (`current`, `profiles/dev`) matches that file in any format.
   */
  async listBackups(file?: string): Promise<BackupInfo[]> {
    this.s.assertOpen('ConfigPersistence');
    return backupOps.listBackups(this.s, file);
  }

  /**
   * Restores backup `id` after verifying its checksum (`E_CHECKSUM`: nothing is written). The content
   * it replaces is backed up first (`safetyBackup`, trigger `pre-restore`), and the restore is a new
   * history version. A snapshot brings every file in its scope back all-or-nothing: files it does not
   * hold are backed up, then removed; `safetyBackup` is then a snapshot of the state before.
   */
  async restoreBackup(id: string, opts: ChangeOptions = {}): Promise<RestoreResult> {
    this.s.assertOpen('ConfigPersistence');
    return backupOps.restoreBackup(this.s, id, opts);
  }

  /** Deletes backup `id` (`E_INVALID_NAME` for anything that is not a plain id, `E_NOT_FOUND` for an unknown one). */
  async deleteBackup(id: string): Promise<BackupInfo> {
    this.s.assertOpen('ConfigPersistence');
    return backupOps.deleteBackup(this.s, id);
  }

  /**
   * Applies retention now to every file's backups: keep the newest `maxBackups`, drop those older
   * than `maxAgeMs` (both default to the instance options; labelled backups are pinned). Also drops
   * records of vanished backup files and history contents no kept version needs.
   */
  async cleanupBackups(opts: CleanupOptions = {}): Promise<CleanupResult> {
    await this.use();
    return backupOps.cleanupBackups(this.s, opts);
  }

  /**
   * Every `intervalMs`, backs up each config and profile that changed since its newest backup
   * (trigger `scheduled`), or with `snapshot: true` takes one snapshot when anything changed.
   * The timer does not keep the process alive; `close()` stops it. Returns the stop function.
   */
  startAutoBackup(opts: AutoBackupOptions): () => Promise<void> {
    this.s.assertOpen('ConfigPersistence');
    return backupOps.startAutoBackup(this.s, opts);
  }

  // --- History (src/history/versions.ts, api/history.ts) ---

  /**
   * The recorded versions of `file` (default `current.*`), newest first: who changed it, why, the
   * operation (save, update, delete, restore, rollback, external), sha256 and size.
   */
  async history(file?: string): Promise<VersionInfo[]> {
    this.s.assertOpen('ConfigPersistence');
    return historyOps.listVersions(this.s, file);
  }

  /**
   * The document as it was at `version` (parsed, not validated). `E_NOT_FOUND` when the version does
   * not exist, is a deletion, or its content is no longer kept.
   */
  async getVersion(file: string | undefined, version: number): Promise<T> {
    this.s.assertOpen('ConfigPersistence');
    return historyOps.getVersion<T>(this.s, file, version);
  }

  /**
   * Changes from version `from` to version `to` (default: the newest) by dot path. Values the
   * schema marks secret (`x-secret`, `writeOnly`) are `"***"` on both sides unless `includeSecrets`.
   */
  async diff(file: string | undefined, from: number, to?: number, opts: { includeSecrets?: boolean } = {}): Promise<Change[]> {
    this.s.assertOpen('ConfigPersistence');
    return historyOps.diff(this.s, file, from, to, opts);
  }

  /**
   * Writes the exact content of `version` back as a new version (operation `rollback`), after a
   * `pre-rollback` backup of the current content. Returns the save result of the new version.
   */
  rollback(file: string | undefined, version: number, opts: ChangeOptions = {}): Promise<SaveResult> {
    this.s.assertOpen('ConfigPersistence');
    return historyOps.rollback(this.s, file, version, opts);
  }

  // --- Bundles (src/bundles/, api/bundles.ts) ---

  /**
   * The selected configs and profiles as one bundle object (everything when `selection` is
   * omitted; naming only profiles exports only profiles), with a sha256 per item and over the whole.
   */
  exportBundle(selection: BundleSelection & { encrypt: true }): Promise<EncryptedBundle>;
  exportBundle(selection?: BundleSelection & { encrypt?: false }): Promise<Bundle>;
  exportBundle(selection?: BundleSelection): Promise<Bundle | EncryptedBundle>;
  /** With `encrypt: true`, sealed with the store's key as an {@link EncryptedBundle} (docs/encryption.md). */
  async exportBundle(selection: BundleSelection = {}): Promise<Bundle | EncryptedBundle> {
    await this.use();
    return bundleOps.exportBundle(this.s, { ...selection });
  }

  /** Exports to one JSON file at `path` (atomic, durable, mode 0600) and says what it wrote. */
  async writeBundle(path: string, selection: BundleSelection = {}): Promise<BundleWriteResult> {
    await this.use();
    return bundleOps.writeBundle(this.s, path, { ...selection });
  }

  /**
   * Imports a bundle (an object or a file path) all-or-nothing: the envelope and every checksum
   * are checked (`E_CHECKSUM`), every item validated (configs against the schema, profiles
   * resolved), conflicts resolved by `onConflict` (`skip` by default, `rename` to `name-2`...,
   * `overwrite` with the usual backup and history), a `pre-import` snapshot taken, and every file
   * written in one commit. `dryRun` returns the plan and writes nothing.
   */
  async importBundle(source: Bundle | EncryptedBundle | string, opts: ImportOptions = {}): Promise<ImportReport> {
    this.s.assertOpen('ConfigPersistence');
    return bundleOps.importBundle(this.s, source, opts);
  }

  // --- Encryption at rest (src/encryption/) ---

  /** Id of this store's encryption key (16 hex digits; never the key), or `undefined` without one. */
  get encryptionKeyId(): string | undefined {
    return this.ctx.encryption.currentKey?.id;
  }

  /** Which key the directory records (read again now), whether live files are encrypted, and this store's key id. */
  async encryptionInfo(): Promise<EncryptionInfo> {
    return rotation.encryptionInfo(await this.use());
  }

  /**
   * Re-encrypts every backup, snapshot, history content (and, with encryption of files, every
   * live file) with `newKey`, and records its id in the settings file, in ONE all-or-nothing
   * commit under the lock of every file: a crash leaves all of it under the old key or all under
   * the new. Also the way to encrypt a directory that was plain (the store's current key, if any,
   * opens the old objects) and, with `null`, to decrypt one. `encryptFiles` turns encryption of
   * the live files on or off at the same time. See docs/encryption.md.
   */
  async rotateEncryptionKey(newKey: string | Uint8Array | null, opts: { encryptFiles?: boolean; changedBy?: ChangedBy; reason?: string } = {}): Promise<RotationResult> {
    await this.use();
    return rotation.rotateKey(this.s, newKey, { ...opts });
  }

  // --- Integrity and statistics (src/integrity/integrity.ts, src/integrity/stats.ts) ---

  /**
   * Checks everything in the directory: configs and profiles (parse, schema, resolved profile
   * chains), backups against their records, history journals and objects, stray temp files.
   * Read-only. `ok` is true when `problems` is empty.
   */
  async verify(): Promise<VerifyResult> {
    await this.use();
    return integrityOps.verify(this.s);
  }

  /**
   * Fixes what `verify` finds without deleting user data: bad files move to `quarantine/`, stray
   * temp files are removed, damaged journals and index lines are rewritten, records of missing
   * backups are dropped. `recoverFromBackup` brings a bad `current.*` back from its newest valid
   * backup; `dryRun` reports and writes nothing. Holds every config and profile lock meanwhile.
   */
  async repair(opts: RepairOptions = {}): Promise<RepairReport> {
    await this.use();
    return integrityOps.repair(this.s, { ...opts });
  }

  /** Counts and sizes: configs, profiles, backups (count, bytes, oldest, newest), history, audit. */
  async stats(): Promise<Stats> {
    await this.use();
    return integrityOps.stats(this.s);
  }

  // --- Migrations (src/migrations/migrate.ts) ---

  /** The version the directory's documents are at, as migrations recorded it (`schemaVersion` in the settings file; 0 when none). */
  async schemaVersion(): Promise<number> {
    await this.use();
    return this.s.schemaVersion();
  }

  /**
   * Brings every config and profile to the newest of `migrations` (default: the `migrations`
   * option) in one all-or-nothing commit, or with `dryRun` reports the changes without writing.
   * See the option's documentation; a store given the option runs it by itself before first use.
   */
  async migrate(migrations?: readonly Migration[], opts: MigrateOptions = {}): Promise<MigrationReport> {
    this.s.assertOpen('ConfigPersistence');
    return this.s.runMigrations(migrations, { ...opts });
  }

  // --- Watching (src/watch/watch.ts) ---

  /**
   * Hot reload: calls `listener` with `{ file, data, previous, changes }` for each valid external
   * change of `file` (default `current.*`) — in-place writes, rename-over saves, delete + re-create.
   * Content is parsed and validated first: invalid or half-written content goes to `opts.onError`
   * and the last good data stays current. This store's own saves are not echoed. Resolves once the
   * watch is armed; `close()` on the handle (or on the store) releases every handle.
   */
  async watch(file: string | undefined, listener: (event: WatchEvent<T>) => void | Promise<void>, opts: WatchOptions = {}): Promise<WatchHandle> {
    this.s.assertOpen('ConfigPersistence');
    return watchDocument<T>(this.ctx, await this.s.keyFor(file), listener, opts);
  }
}
