/**
 * All public types in one place. Feature modules import from here; `index.ts` re-exports.
 */
import type { ValidationIssue } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Storage: where bytes live. Everything above it speaks in keys ("current.yaml",
// "profiles/dev.yaml", "backups/x.json"), never in file-system paths, so a second backend
// (a distributed store) can be added without touching the features.
// ---------------------------------------------------------------------------------------------

/** One stored entry. `key` uses `/` separators and is relative to the storage root. */
export interface StorageEntry {
  key: string;
  /** Last path segment of `key`. */
  name: string;
  kind: 'file' | 'directory';
  size: number;
  mtimeMs: number;
  /** Permission bits, where the backend has them. */
  mode?: number;
}

/** Replace (or create) `key` with `data` atomically. */
export interface PutOp {
  type: 'put';
  key: string;
  data: Uint8Array;
  /** Permission bits for a new file; an existing file keeps its own. */
  mode?: number;
}

/** Preserve the current content of `from` under the new key `to` (a hard link where possible). */
export interface CopyOp {
  type: 'copy';
  from: string;
  to: string;
  /** Content-addressed targets: an existing `to` already holds the same bytes, so skip quietly. */
  ifMissing?: boolean;
}

/** Append `data` to a journal; creates it when missing. */
export interface AppendOp {
  type: 'append';
  key: string;
  data: Uint8Array;
}

/** Remove `key` (no error when it is already gone). */
export interface RemoveOp {
  type: 'remove';
  key: string;
}

/** Move `from` to `to` (used to quarantine files; never overwrites an existing `to`). */
export interface MoveOp {
  type: 'move';
  from: string;
  to: string;
}

/**
 * One durable unit of work. When `commit` resolves every operation is durable.
 *
 * - `prepare` takes effect before any change is visible: backups of the content about to be
 *   replaced, journal entries that describe the change, new bookkeeping files.
 * - `changes` are the user-visible replacements and removals, each atomic on its own; with more
 *   than one key the whole set is applied all-or-nothing (a crash rolls it forward on next open).
 * - `after` appends are written once the changes are visible (the audit log), so they never
 *   describe something that did not happen.
 */
export interface Commit {
  prepare?: Array<PutOp | CopyOp | AppendOp>;
  changes?: Array<PutOp | RemoveOp | MoveOp>;
  after?: AppendOp[];
}

/** Releases a lock. Safe to call twice. */
export type Release = () => Promise<void>;

/** Options for {@link Storage.lock}. */
export interface LockOptions {
  /** How long to wait for a held lock before failing with `E_LOCKED` (ms). */
  timeoutMs?: number;
}

/** An event from {@link Storage.watch}: `key` was created, changed or removed by someone. */
export interface StorageWatchEvent {
  type: 'change' | 'remove';
  key: string;
  /**
   * The bytes were modified in place (not replaced by a rename): the writer may still be writing,
   * so a reader should see the same content twice before trusting it.
   */
  inPlace?: boolean;
}

/** A running {@link Storage.watch}. */
export interface StorageWatcher {
  /** Watches exactly these keys from now on (a profile switch changes a configuration's files). */
  update(keys: readonly string[]): Promise<void>;
  /** Releases every handle; no event is reported afterwards. */
  close(): Promise<void>;
}

/**
 * The single interface between the features and the place bytes live.
 * Implementations: {@link LocalStorage} (a directory). Keys are validated by the implementation:
 * none may leave the root.
 */
export interface Storage {
  /** Human-readable location used in messages (an absolute directory for local storage). */
  readonly location: string;
  /** Whether commits are made durable (fsync) before resolving. */
  readonly durable: boolean;
  /** Content of `key`, or `undefined` when it does not exist. `maxBytes` refuses larger files. */
  read(key: string, opts?: { maxBytes?: number }): Promise<Uint8Array | undefined>;
  /** Synchronous read for startup code that cannot await (`Configuration.openSync`). */
  readSync(key: string, opts?: { maxBytes?: number }): Uint8Array | undefined;
  /** Metadata of `key`, or `undefined` when it does not exist. */
  stat(key: string): Promise<StorageEntry | undefined>;
  /** Direct children of the directory `prefix` ('' is the root); empty when it does not exist. */
  list(prefix: string): Promise<StorageEntry[]>;
  /** Applies a {@link Commit} durably. Rejects with `E_IO` leaving the old content and no temp file. */
  commit(commit: Commit): Promise<void>;
  /** Cross-process exclusive lock named `name`; a crashed holder is recovered automatically. */
  lock(name: string, opts?: LockOptions): Promise<Release>;
  /** Display path of a key, for messages (`config/current.yaml`). */
  describe(key: string): string;
  /** Absolute location of a key when the backend is a file system (watchers need it). */
  pathOf?(key: string): string;
  /**
   * Reports changes of `keys` by anyone, this process included, once the watch is armed (the
   * promise resolves then). Events may be duplicated or coalesced, never lost for good: a reader
   * re-reads the key. Keys that do not exist yet are watched too. Optional: without it (and without
   * `pathOf`) watching is unavailable.
   */
  watch?(keys: readonly string[], onEvent: (event: StorageWatchEvent) => void, onError: (error: Error) => void): Promise<StorageWatcher>;
  /** Leftover temporary files from interrupted writes (for verify/repair). */
  strayTemps?(): Promise<string[]>;
  /** Releases handles and timers. */
  close(): Promise<void>;
}

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
  /** Finds where the value at `path` is written in `text`, for validation messages. */
  locate?(text: string, path: ReadonlyArray<string | number>): SourcePosition | undefined;
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

/** Profile metadata kept under `$profile` in the profile file. */
export interface ProfileMeta {
  extends?: string | string[];
  description?: string;
}

/** A loaded profile. */
export interface Profile<T = Record<string, unknown>> {
  name: string;
  data: T;
  meta: ProfileMeta;
}

/** A profile, as listed. */
export interface ProfileInfo {
  name: string;
  format: string;
  extends?: string | string[];
  description?: string;
  size: number;
  updatedAt: string;
}

/** An integrity problem found by `verify`. */
export interface Problem {
  path: string;
  kind:
    | 'unparsable'
    | 'schema-invalid'
    | 'checksum-mismatch'
    | 'stray-temp'
    | 'broken-history'
    | 'missing-parent'
    | 'missing-backup'
    | (string & {});
  message: string;
}

/** Result of `verify`. */
export interface VerifyResult {
  ok: boolean;
  problems: Problem[];
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
