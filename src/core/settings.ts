/**
 * The directory settings file, `<baseDir>/config-persistence.json`: the options every process that
 * touches the directory must share (retention, compression, limits, schema, env prefix, format).
 *
 * Why a file in the directory: an application with `maxBackups: 50, compressBackups: true` and the
 * CLI run by an operator are two processes with two option sets; without a shared source, one
 * `config-persistence set` trimmed the app's 50 compressed backups to 10 uncompressed. Every process
 * reads this file when it builds its context; an option passed in code overrides it for that process
 * only, and says so (a warning naming the file), so a contradiction is never silent.
 */
import path from 'node:path';
import { ValidationError, type ValidationIssue } from '../errors.js';
import { CodecRegistry } from '../codecs/index.js';
import type { ConfigPersistenceOptions } from '../types.js';
import type { Storage } from '../storage/types.js';
import type { Context } from './context.js';
import { SETTINGS_FILE } from './names.js';

export { SETTINGS_FILE };

/** What the settings file may hold (every key optional). */
export interface DirectorySettings {
  maxBackups?: number;
  maxBackupAgeMs?: number;
  compressBackups?: boolean;
  backupOnWrite?: boolean;
  maxFileBytes?: number;
  /** A schema object, or a file name under `schemaDir`. */
  schema?: object | string;
  /** Relative to the directory holding the settings file (every process agrees on it, whatever its working directory). */
  schemaDir?: string;
  envPrefix?: string;
  defaultFormat?: 'json' | 'yaml';
  /**
   * The version of the document layout the directory's files are at, written by migrations
   * (src/migrations/migrate.ts); not an option a process can override.
   */
  schemaVersion?: number;
  /**
   * Written by the library, never by hand: the id of the key backups, history contents and
   * snapshots are encrypted with (never the key), and whether live files are too (`files`). A
   * process without that key is refused instead of writing plain copies beside encrypted ones
   * (docs/encryption.md).
   */
  encryption?: EncryptionSettings;
}

/** See {@link DirectorySettings.encryption}. */
export interface EncryptionSettings {
  keyId: string;
  files?: boolean;
}

/** The settings read from a directory, and where from (for messages). */
export interface LoadedSettings {
  /** The file as messages name it (`config/config-persistence.json`); present even when absent. */
  readonly file: string;
  readonly exists: boolean;
  readonly values: Readonly<DirectorySettings>;
}

type Check = (value: unknown) => string | undefined;

const integer = (min: number): Check => (v) => (Number.isSafeInteger(v) && (v as number) >= min ? undefined : `must be a whole number >= ${min}`);
const positive: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : 'must be a number of milliseconds > 0');
const boolean: Check = (v) => (typeof v === 'boolean' ? undefined : 'must be true or false');
const text: Check = (v) => (typeof v === 'string' && v !== '' ? undefined : 'must be a non-empty string');

/** Each allowed key and how its value is checked. */
const CHECKS: Readonly<Record<keyof DirectorySettings, Check>> = {
  maxBackups: integer(0),
  maxBackupAgeMs: positive,
  compressBackups: boolean,
  backupOnWrite: boolean,
  maxFileBytes: integer(1),
  schema: (v) => ((typeof v === 'string' && v !== '') || (typeof v === 'object' && v !== null && !Array.isArray(v)) ? undefined : 'must be a schema file name or a schema object'),
  schemaDir: text,
  envPrefix: text,
  defaultFormat: (v) => (v === 'json' || v === 'yaml' ? undefined : 'must be "json" or "yaml"'),
  schemaVersion: integer(0),
  encryption: (v) => {
    const e = v as Record<string, unknown> | null;
    const ok = typeof e === 'object' && e !== null && typeof e.keyId === 'string' && /^[0-9a-f]{16}$/.test(e.keyId) && (e.files === undefined || typeof e.files === 'boolean') && Object.keys(e).every((k) => k === 'keyId' || k === 'files');
    return ok ? undefined : 'must be {"keyId": "<16 hex digits>", "files"?: true|false}, as rotateEncryptionKey writes it';
  },
};

/** The keys, in the order `init` writes them. */
export const SETTINGS_KEYS = Object.keys(CHECKS) as Array<keyof DirectorySettings>;

/** Keys an editor or a human may add without meaning a setting. */
const IGNORED = new Set(['$schema', '$comment']);

/** The settings file is small by nature; anything larger is not one. */
const MAX_SETTINGS_BYTES = 64 * 1024;

/**
 * Reads `<baseDir>/config-persistence.json` through the storage (synchronously: contexts are built
 * in constructors and in `Configuration.openSync`). A missing file means no settings; a file that
 * is not JSON is `E_PARSE`, unknown keys or wrong types are `E_VALIDATION`, each naming the file.
 */
export function readSettings(storage: Storage): LoadedSettings {
  const file = storage.describe(SETTINGS_FILE);
  // A backend without synchronous reads (a remote store) cannot be asked here; its settings are
  // read by readSettingsAsync before its first operation (Store.ready).
  if (typeof storage.readSync !== 'function') return { file, exists: false, values: {} };
  return parseSettings(file, storage.readSync(SETTINGS_FILE, { maxBytes: MAX_SETTINGS_BYTES }));
}

/** {@link readSettings} through an asynchronous read, for a backend without `readSync` (etcd). */
export async function readSettingsAsync(storage: Storage): Promise<LoadedSettings> {
  return parseSettings(storage.describe(SETTINGS_FILE), await storage.read(SETTINGS_FILE, { maxBytes: MAX_SETTINGS_BYTES }));
}

/** The settings in `bytes` (the file `file`; `undefined`: there is none): checked as {@link readSettings} checks them. */
export function parseSettings(file: string, bytes: Uint8Array | undefined): LoadedSettings {
  if (bytes === undefined) return { file, exists: false, values: {} };
  const doc = new CodecRegistry().decode(file, bytes);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ValidationError(file, [{ path: '', message: 'must be a JSON object of settings such as {"maxBackups": 10}' }], 'the directory settings format');
  }
  const issues: ValidationIssue[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    if (IGNORED.has(key)) continue;
    const check = (CHECKS as Record<string, Check | undefined>)[key];
    const problem = check ? check(value) : `is not a setting (known: ${SETTINGS_KEYS.join(', ')})`;
    if (problem) issues.push({ path: key, message: problem, value });
    else values[key] = value;
  }
  if (issues.length > 0) throw new ValidationError(file, issues, 'the directory settings format');
  return { file, exists: true, values: Object.freeze(values) as DirectorySettings };
}

/** One option given in code that differs from the settings file. */
export interface SettingsOverride {
  option: keyof DirectorySettings;
  inCode: unknown;
  inFile: unknown;
}

/**
 * The options in effect: the settings file's values under the ones given in code (the caller's
 * object is not modified). `schemaDir` from the file is resolved against `baseDir`, where the file
 * lives. Also returns every option where code and file disagree.
 */
export function applySettings<O extends ConfigPersistenceOptions & { envPrefix?: string }>(
  options: O,
  settings: LoadedSettings,
  baseDir: string,
): { options: O; overrides: SettingsOverride[] } {
  const merged: Record<string, unknown> = { ...(options as Record<string, unknown>) };
  const overrides: SettingsOverride[] = [];
  for (const key of SETTINGS_KEYS) {
    if (key === 'schemaVersion') continue; // a record of the directory, not an option
    let inFile: unknown = settings.values[key];
    if (inFile === undefined || key === 'encryption') continue; // the library's record, not an option (encryption/storage.ts reads it)
    if (key === 'schemaDir') inFile = path.resolve(baseDir, inFile as string);
    const inCode = (options as Record<string, unknown>)[key];
    if (inCode === undefined) merged[key] = inFile;
    else if (!sameSetting(key, inCode, inFile)) overrides.push({ option: key, inCode, inFile });
  }
  return { options: merged as O, overrides };
}

function sameSetting(key: keyof DirectorySettings, a: unknown, b: unknown): boolean {
  if (key === 'schemaDir') return path.resolve(a as string) === path.resolve(b as string);
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Says that code overrides the settings file, once per instance, as a process warning
 * (`CP_SETTINGS_OVERRIDE`): the process keeps working with its own values, never silently.
 */
export function warnOverrides(settings: LoadedSettings, overrides: readonly SettingsOverride[]): void {
  if (overrides.length === 0) return;
  const list = overrides.map((o) => `${o.option}: ${JSON.stringify(o.inCode)} in code, ${JSON.stringify(o.inFile)} in the file`).join('; ');
  process.emitWarning(`${settings.file} is overridden for this process by options given in code (${list}). Other processes use the file's values; change the file to change them for everyone.`, {
    code: 'CP_SETTINGS_OVERRIDE',
  });
}

/**
 * The environment prefix a `Configuration` uses: the one given to `open`, else the settings
 * file's; a given one that differs from the file's is warned about like any override.
 */
export function envPrefixOf(settings: LoadedSettings, given: string | undefined): string | undefined {
  const inFile = settings.values.envPrefix;
  if (given !== undefined && inFile !== undefined && given !== inFile) warnOverrides(settings, [{ option: 'envPrefix', inCode: given, inFile }]);
  return given ?? inFile;
}

/** The settings file with `schemaVersion: to`, in its own layout (a new file when there is none). */
export function withSchemaVersion(ctx: Pick<Context, 'codecs' | 'storage'>, old: { bytes: Uint8Array; text: string } | undefined, to: number): Uint8Array {
  const doc = old ? (ctx.codecs.decode(ctx.storage.describe(SETTINGS_FILE), old.bytes) as Record<string, unknown>) : {};
  return ctx.codecs.encode(SETTINGS_FILE, { ...doc, schemaVersion: to }, old?.text);
}
