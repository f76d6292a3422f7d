/**
 * The application's public types in one place. Feature modules import from here; `index.ts`
 * re-exports. The storage protocol (what a backend implements) lives in `storage/types.ts` and is
 * exported from the `config-persistence/storage` subpath only.
 */
import type { ValidationIssue } from './errors.js';
import type { Storage } from './storage/types.js';

// ---------------------------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------------------------

/** A 1-based position in a source file. */
export interface SourcePosition {
  line: number;
  column: number;
}

/**
 * A file format. Only `extensions`, `parse` and `stringify` are required for user codecs;
 * built-in codecs also keep layout on edits and locate values for error messages.
 */
export interface Codec {
  /** Lower-case extensions without the dot: `['toml']`. */
  extensions: readonly string[];
  /** Parses text; throw any error and it becomes `E_PARSE` with the file name. */
  parse(text: string): unknown;
  /**
   * Serialises a document. When `previousText` is given, implementations should keep its layout
   * (comments, key order, indentation) for the parts that did not change.
   */
  stringify(data: unknown, previousText?: string): string;
  /**
   * Finds where the entry at `path` is written in `text`, for messages: its key (`target: 'key'`,
   * the default; the item itself in a list) or its value (`'value'`).
   */
  locate?(text: string, path: ReadonlyArray<string | number>, target?: 'key' | 'value'): SourcePosition | undefined;
}

// ---------------------------------------------------------------------------------------------
// ConfigPersistence
// ---------------------------------------------------------------------------------------------

/** Who made a change. Any string is accepted; these are the conventional ones. */
export type ChangedBy = 'user' | 'system' | 'optimizer' | 'external' | (string & {});

/** Options of `new ConfigPersistence(options)`. All are optional. */
export interface ConfigPersistenceOptions {
  /** Directory holding everything; relative to the working directory unless absolute. Default `config`. */
  baseDir?: string;
  /** Format for names without a known extension and for the default `current.*`. Default `yaml` when a `default.yaml` exists, else `json`. */
  defaultFormat?: 'json' | 'yaml';
  /** A JSON Schema object, or a file name under `schemaDir`. Default: `schemas/config.schema.json` when present. */
  schema?: object | string;
  /** Directory of schema files. Default `schemas`. */
  schemaDir?: string;
  /** Backups kept per file. Default 10. */
  maxBackups?: number;
  /** Backups older than this are removed by retention. Default: no age limit. */
  maxBackupAgeMs?: number;
  /** Gzip backups. Default false. */
  compressBackups?: boolean;
  /** Back up the old content before every overwrite or delete. Default true. */
  backupOnWrite?: boolean;
  /** fsync files and directories before a write resolves. Default true. */
  durable?: boolean;
  /** Refuse files larger than this many bytes (`E_TOO_LARGE`). Default 10 MiB. */
  maxFileBytes?: number;
  /** Extra formats. */
  codecs?: Codec[];
  /** How long `update` and saves wait for another process's lock before `E_LOCKED` (ms). Default 10 000. */
  lockTimeoutMs?: number;
  /** Storage backend; default: the local directory `baseDir`. */
  storage?: Storage;
  /**
   * Where compiled schema validators are kept between processes, so a cold start does not load or
   * run the ajv compiler: a directory, or `false` for none. Default: env
   * `CONFIG_PERSISTENCE_CACHE_DIR` (a directory, or `off`), else the user's cache directory
   * (`~/.cache/config-persistence` on Linux). Files that are not the user's own, are writable by
   * others, or fail their checksum are never run. Safe to delete at any time.
   */
  validatorCache?: string | false;
}

/** Options of `saveConfig`. */
export interface SaveOptions {
  changedBy?: ChangedBy;
  reason?: string;
  /** Reject with `E_CONFLICT` unless the file's current version is this one. */
  ifVersion?: number;
}

/** What a save produced. */
export interface SaveResult {
  /** The file's path (as shown to humans, e.g. `config/current.yaml`). */
  path: string;
  /** The new version number in the file's history. */
  version: number;
  /** sha256 (hex) of the bytes written. */
  sha256: string;
  /** The backup taken of the previous content, when there was one. */
  backup?: BackupInfo;
}

/** Why a backup was taken. */
export type BackupTrigger =
  | 'overwrite'
  | 'delete'
  | 'manual'
  | 'pre-restore'
  | 'scheduled'
  | 'pre-import'
  | 'pre-rollback'
  | 'pre-repair'
  | (string & {});

/** A backup, as listed by `listBackups`. */
export interface BackupInfo {
  id: string;
  /** The backed-up file, relative to the base directory (`current.yaml`, `profiles/dev.yaml`); for a snapshot, `*`. */
  file: string;
  /** ISO-8601 UTC. */
  createdAt: string;
  size: number;
  sha256: string;
  label?: string;
  compressed: boolean;
  trigger: BackupTrigger;
  /** `snapshot` for whole-directory backups. */
  kind?: 'file' | 'snapshot';
  /** For a snapshot: the files it holds. */
  files?: string[];
}

/** One entry of a file's version history. */
export interface VersionInfo {
  version: number;
  /** ISO-8601 UTC. */
  createdAt: string;
  changedBy: ChangedBy;
  reason?: string;
  sha256: string;
  size: number;
  /** The operation that produced it: save, delete, restore, rollback, import, external. */
  operation?: string;
}

/** One change between two documents, by dot path. */
export interface Change {
  path: string;
  type: 'added' | 'removed' | 'changed';
  oldValue?: unknown;
  newValue?: unknown;
}

// Backups, snapshots, history, statistics (src/backups/backups.ts, src/backups/snapshots.ts, src/history/versions.ts, src/integrity/stats.ts)

/** Options of `createBackup`. */
export interface BackupOptions {
  /** Free text kept in the record and (as a slug) in the id. A labelled backup is pinned: retention never removes it. */
  label?: string;
}

/** Options of `createSnapshot`. */
export interface SnapshotOptions {
  /** Free text kept in the record and (as a slug) in the id. A labelled snapshot is pinned: retention never removes it. */
  label?: string;
  /** The files to include (`current`, `default.yaml`, `profiles/dev`); default: every config and profile. */
  scope?: string[];
}

/** Who and why, for operations that record a history version (restore, rollback). */
export interface ChangeOptions {
  changedBy?: ChangedBy;
  reason?: string;
}

/** What `restoreBackup` did. */
export interface RestoreResult {
  /** The backup (or snapshot) that was restored. */
  restored: BackupInfo;
  /** The backup (or, for a snapshot, the snapshot) of what was replaced; absent when nothing changed or nothing existed. */
  safetyBackup?: BackupInfo;
  /** For a snapshot: the files written or removed. */
  files?: string[];
}

/** Options of `cleanupBackups`; each defaults to the instance option (`maxBackups`, `maxBackupAgeMs`). */
export interface CleanupOptions {
  /** Keep at most this many unpinned backups per file (snapshots count as one file, `*`). */
  maxBackups?: number;
  /** Remove unpinned backups older than this (ms). */
  maxAgeMs?: number;
}

/** What `cleanupBackups` removed. */
export interface CleanupResult {
  removed: BackupInfo[];
}

/** Options of `startAutoBackup`. */
export interface AutoBackupOptions {
  /** Time between rounds (ms). */
  intervalMs: number;
  /** Take one snapshot per round instead of one backup per changed file. Default false. */
  snapshot?: boolean;
  /** A round that failed (the next round still runs). Default: a process warning. */
  onError?: (error: Error) => void;
}

/** Result of `stats()`. Sizes are bytes on disk. */
export interface Stats {
  /** Top-level config files (`default.*`, `current.*`, ...). */
  configs: number;
  profiles: number;
  backups: {
    /** Backups and snapshots together. */
    count: number;
    snapshots: number;
    totalBytes: number;
    /** ISO-8601 `createdAt` of the oldest and newest backup. */
    oldest?: string;
    newest?: string;
  };
  history: {
    /** Files with a journal. */
    files: number;
    /** Versions recorded across all journals. */
    entries: number;
    /** Journals plus stored version contents. */
    bytes: number;
  };
  bytes: {
    configs: number;
    profiles: number;
    backups: number;
    history: number;
    audit: number;
    total: number;
  };
}

/**
 * Profile metadata kept under `$profile` in the profile file. `extends` names one parent or several
 * (merged in the order listed, each parent's own chain first); chains may be of any depth.
 */
export interface ProfileMeta {
  extends?: string | string[];
  description?: string;
}

/** A loaded profile. */
export interface Profile<T = Record<string, unknown>> {
  name: string;
  data: T;
  meta: ProfileMeta;
  /** The profiles merged into `data`, lowest first, ending with this one (`[name]` with `resolve: false`). */
  chain?: string[];
}

/** A profile, as listed. */
export interface ProfileInfo {
  name: string;
  format: string;
  extends?: string | string[];
  description?: string;
  size: number;
  updatedAt: string;
  /** Set when the file cannot be read as a profile (unparsable, bad `$profile`): what is wrong with it. */
  problem?: string;
}

// ---------------------------------------------------------------------------------------------
// Profiles and Configuration (src/profiles/chain.ts, src/profiles/profiles.ts, src/api/configuration.ts)
// ---------------------------------------------------------------------------------------------

/** A deep partial of a config type: what a profile or an override may hold. */
export type DeepPartial<T> = T extends readonly (infer E)[]
  ? readonly E[] | E[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** A deeply read-only view of a config type: what `Configuration#data` hands out (it is frozen). */
export type DeepReadonly<T> = T extends (infer E)[]
  ? ReadonlyArray<DeepReadonly<E>>
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

type PathDepth = [never, 0, 1, 2, 3, 4, 5, 6, 7];

/**
 * The dot paths of a config type (`'server' | 'server.port' | 'allowedOrigins.0' ...`), for typed
 * `get`/`set`. Open-ended types (`Record<string, unknown>`) allow any string.
 */
export type ConfigPath<T, D extends number = 8> = [D] extends [never]
  ? never
  : T extends readonly (infer E)[]
    ? `${number}` | `${number}.${ConfigPath<E, PathDepth[D]>}`
    : T extends object
      ? string extends keyof T
        ? string
        : { [K in keyof T & string]: K | `${K}.${ConfigPath<NonNullable<T[K]>, PathDepth[D]>}` }[keyof T & string]
      : never;

/** The type of the value at dot path `P` of `T` (`unknown` when it cannot be known). */
export type PathValue<T, P extends string> = P extends `${infer K}.${infer R}`
  ? K extends keyof T
    ? PathValue<NonNullable<T[K]>, R>
    : T extends readonly (infer E)[]
      ? PathValue<E, R>
      : unknown
  : P extends keyof T
    ? T[P]
    : T extends readonly (infer E)[]
      ? E
      : unknown;

/** Options of `saveProfile`. */
export interface SaveProfileOptions {
  /**
   * Parent profile(s). Omitted: an existing profile keeps its parents. `null` (or `[]`) removes them.
   */
  extends?: string | string[] | null;
  /** Shown in `listProfiles` and the CLI. Omitted: kept; `null` removes it. */
  description?: string | null;
  changedBy?: ChangedBy;
  reason?: string;
}

/** Options of `loadProfile`. */
export interface LoadProfileOptions {
  /** Merge the `extends` chain into `data` (default true); `false` gives the profile's own values, unvalidated. */
  resolve?: boolean;
}

/** Options of `deleteProfile`. */
export interface DeleteProfileOptions {
  /**
   * Delete even when other profiles extend this one or it is the persisted active profile (the
   * choice is then cleared). Without it those cases are refused with `E_CONFLICT`.
   */
  force?: boolean;
  changedBy?: ChangedBy;
  reason?: string;
}

/** Options of `copyProfile` and `renameProfile`. */
export interface CopyProfileOptions {
  /** Replace an existing target profile (it is backed up first). Default false: `E_CONFLICT`. */
  overwrite?: boolean;
  changedBy?: ChangedBy;
  reason?: string;
}

/** Options of `Configuration.open` / `Configuration.openSync`: the store's options plus these. */
export interface ConfigurationOptions extends ConfigPersistenceOptions {
  /**
   * The active profile; `null` means none, whatever the environment or the persisted choice say.
   * Default: env `CONFIG_PROFILE`, else the one last chosen with `useProfile`, else none.
   */
  profile?: string | null;
  /**
   * Environment variables `<PREFIX>__API__PORT=9000` set `api.port` (values parsed as YAML scalars).
   * Default: no environment layer.
   */
  envPrefix?: string;
  /** The environment to read (default `process.env`); never modified. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Re-resolve every layer when one of its files changes (hot reload). Default false. */
  watch?: boolean;
}

/** Where the active profile came from. */
export type ActiveProfileSource = 'option' | 'env' | 'persisted' | 'useProfile' | 'none';

/** The layers of a Configuration, lowest first. `schema` is a default filled in from the JSON Schema. */
export type ConfigLayer = 'schema' | 'default' | 'profile' | 'current' | 'env';

/** Why `Configuration` emitted `change`. */
export type ConfigurationChangeSource = 'set' | 'delete' | 'save' | 'profile' | 'reload';

/** A `change` event of `Configuration`: emitted once per change of the effective configuration. */
export interface ConfigurationChangeEvent<T = Record<string, unknown>> {
  data: DeepReadonly<T>;
  previous: DeepReadonly<T>;
  changes: Change[];
  source: ConfigurationChangeSource;
}

/** One layer's contribution to a value, as reported by `explain`. */
export interface ValueSource {
  layer: ConfigLayer;
  /** The file (as shown to humans), for file layers and the schema. */
  file?: string;
  /** The profile, for the `profile` layer. */
  profile?: string;
  /** The environment variable, for the `env` layer. */
  variable?: string;
  /** Position in `file`, when the codec can tell. */
  line?: number;
  column?: number;
  /** The value this layer holds at the path. */
  value: unknown;
  /** Set (or deleted) with `set()`/`delete()` and not saved yet. */
  unsaved?: boolean;
}

/** Result of `Configuration#explain(path)`: where the effective value comes from. */
export interface ValueExplanation {
  path: string;
  /** Whether the path exists in the effective configuration. */
  found: boolean;
  value: unknown;
  /** The layer that decides the value (for an object, the highest of the layers merged into it). */
  source?: ValueSource;
  /** Every layer that holds a value at the path, highest first (`source` is the first). */
  layers: ValueSource[];
}

/** A file (or the environment) that contributes to a Configuration, lowest first. */
export interface LayerInfo {
  layer: Exclude<ConfigLayer, 'schema'>;
  /** Storage key (`default.yaml`, `profiles/dev.yaml`); absent for the environment. */
  key?: string;
  /** As shown to humans. */
  file: string;
  profile?: string;
  /** Whether the file exists (a missing `default.*` or `current.*` is simply empty). */
  exists: boolean;
}

/** An integrity problem found by `verify`. */
export interface Problem {
  /** The file, relative to the base directory (`current.yaml`, `profiles/dev.yaml`, `backups/<id>`). */
  path: string;
  kind:
    | 'unparsable'
    | 'too-large'
    | 'schema-invalid'
    | 'missing-parent'
    | 'profile-cycle'
    | 'checksum-mismatch'
    | 'missing-backup'
    | 'unindexed-backup'
    | 'broken-index'
    | 'broken-history'
    | 'stray-temp'
    | 'unreadable'
    | 'unsafe-path'
    | (string & {});
  message: string;
}

/** Result of `verify`. */
export interface VerifyResult {
  ok: boolean;
  problems: Problem[];
}

/** Options of `repair`. */
export interface RepairOptions {
  /** Report what would be done; write nothing. */
  dryRun?: boolean;
  /**
   * Bring back an unparsable or schema-invalid `current.*` from its newest backup that parses and
   * validates (through the normal write path: the bad content is backed up and quarantined, and the
   * recovery is a new history version) instead of only quarantining it.
   */
  recoverFromBackup?: boolean;
}

/** One thing `repair` did (or, in a dry run, would do). */
export interface RepairAction {
  /** The problem's file, relative to the base directory. */
  path: string;
  /** The problem's kind. */
  kind: Problem['kind'];
  action: 'quarantine' | 'remove-temp' | 'rewrite-history' | 'rewrite-index' | 'drop-record' | 'add-record' | 'recover';
  /** Where the file went (`quarantine/...`), or the backup id it was recovered from. */
  to?: string;
  message: string;
}

/** Result of `repair`. */
export interface RepairReport {
  dryRun: boolean;
  actions: RepairAction[];
  /** Problems repair cannot fix by itself (e.g. a file over maxFileBytes), with what to do. */
  remaining: Problem[];
}

/** What `exportBundle` / `writeBundle` include. Omit both for everything. */
export interface BundleSelection {
  /** Profile names, or `true` for every profile. */
  profiles?: readonly string[] | boolean;
  /** Config file names (`current`, `default.yaml`...), or `true` for every config. */
  configs?: readonly string[] | boolean;
}

/** One file inside a bundle. */
export interface BundleItem {
  kind: 'config' | 'profile';
  /** The name without extension (`current`, `production`). */
  name: string;
  /** The file format (extension): `yaml`, `json`... */
  format: string;
  /** The parsed document (a profile's includes its `$profile` block). */
  data: unknown;
  /** sha256 (hex) of `data` in canonical JSON (keys sorted, no whitespace). */
  sha256: string;
}

/** An export bundle: one JSON document holding configs and profiles, with checksums. */
export interface Bundle {
  format: 'config-persistence-bundle';
  /** Layout version of the bundle. */
  version: number;
  tool: { name: string; version: string };
  /** ISO-8601 UTC. */
  exportedAt: string;
  itemCount: number;
  items: BundleItem[];
  /** sha256 (hex) of the canonical JSON of every other field of the bundle. */
  checksum: string;
}

/** What `writeBundle` wrote. */
export interface BundleWriteResult {
  /** Absolute path of the bundle file. */
  path: string;
  itemCount: number;
  checksum: string;
  /** Bytes written. */
  size: number;
}

/** Options of `importBundle`. */
export interface ImportOptions {
  /** What to do when a config or profile of the same name exists. Default `skip`. */
  onConflict?: 'skip' | 'rename' | 'overwrite';
  /** Return the plan; write nothing. */
  dryRun?: boolean;
  changedBy?: ChangedBy;
  reason?: string;
}

/** One bundle item in an import report. */
export interface ImportedItem {
  kind: 'config' | 'profile';
  /** The name it has (or would have) in the directory. */
  name: string;
  /** Its file, relative to the base directory. */
  file: string;
  /** For a renamed item: its name in the bundle. */
  originalName?: string;
  /** For a skipped item: `exists` (onConflict skip) or `identical` (same content already there). */
  reason?: 'exists' | 'identical';
  /** For an overwritten item: the backup of the content it replaced. */
  backup?: string;
}

/** What an import did (or, in a dry run, would do). */
export interface ImportReport {
  dryRun: boolean;
  created: ImportedItem[];
  renamed: ImportedItem[];
  overwritten: ImportedItem[];
  skipped: ImportedItem[];
  /** The `pre-import` snapshot taken before anything was written. */
  snapshot?: string;
}

/** A watch notification: a valid external change. */
export interface WatchEvent<T = unknown> {
  file: string;
  data: T;
  previous: T | undefined;
  changes: Change[];
}

/** Options of `watch`. */
export interface WatchOptions {
  /** Invalid or unreadable content; the last good data stays current. */
  onError?: (error: Error) => void;
  /** Coalescing window for bursts of events (ms). */
  debounceMs?: number;
}

/** A running watch. */
export interface WatchHandle {
  close(): Promise<void>;
}

export type { ValidationIssue };
