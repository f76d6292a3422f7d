/**
 * Public types of file formats (codecs) and the options of `new ConfigPersistence(options)`.
 */
import type { Storage } from '../storage/types.js';
import type { SchemaOption } from './inferred.js';
import type { Migration } from './migrations.js';

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

/**
 * Options of `new ConfigPersistence(options)`. All are optional. `S` is the schema's own type, so a
 * schema declared `as const` can type the store (see {@link SchemaConfig}).
 */
export interface ConfigPersistenceOptions<S extends SchemaOption = SchemaOption> {
  /** Directory holding everything; relative to the working directory unless absolute. Default `config`. */
  baseDir?: string;
  /**
   * For CLI and desktop apps (as in `conf`): keep the configuration in the user's configuration
   * directory for this project (`~/.config/<projectName>` on Linux, `~/Library/Preferences/<projectName>`
   * on macOS, `%APPDATA%\\<projectName>\\Config` on Windows) instead of `./config`. `baseDir` wins
   * when both are given.
   */
  projectName?: string;
  /** Format for names without a known extension and for the default `current.*`. Default `yaml` when a `default.yaml` exists, else `json`. */
  defaultFormat?: 'json' | 'yaml';
  /** A JSON Schema object, or a file name under `schemaDir`. Default: `schemas/config.schema.json` when present. */
  schema?: S;
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
  /**
   * The steps that bring every config and profile to the document layout this code expects. The
   * directory records the version it is at (`schemaVersion` in `config-persistence.json`); before
   * its first operation, a store at an older version runs the newer steps over every file in one
   * all-or-nothing commit (history reason `migrate to <version>`, a backup of each file first). A
   * directory at a newer version than the newest step is refused with `E_CONFLICT`.
   */
  migrations?: readonly Migration[];
  /**
   * Encrypts backups, snapshots, history contents and bundles at rest with AES-256-GCM: 32 bytes,
   * or 64 hex digits or base64 of them. Default: env `CONFIG_PERSISTENCE_KEY`, else the file named
   * by `encryptionKeyFile` or env `CONFIG_PERSISTENCE_KEY_FILE`, else none. The directory records
   * the key's id (never the key); a missing or wrong key is `E_CHECKSUM`, never garbage data.
   * See docs/encryption.md.
   */
  encryptionKey?: string | Uint8Array;
  /** A file holding the key (text or 32 raw bytes), readable by its owner only. */
  encryptionKeyFile?: string;
  /**
   * Encrypt the live files (config files and profiles) too; they are no longer readable by a
   * human. Recorded in the directory, so every process with the key does the same. Default false.
   */
  encryptFiles?: boolean;
}
