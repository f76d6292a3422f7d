/**
 * The validator cache: ajv's standalone code for each compiled schema, kept on disk so that a cold
 * start neither loads nor runs the ajv compiler (they were two thirds of `Configuration.open`).
 * It lives beside the local backend because it is a directory of files on this machine (outside
 * any store, whatever the storage is), and only storage modules touch the file system.
 *
 * Where (first that applies):
 *   1. the `validatorCache` option: a directory, or `false` for no cache;
 *   2. the environment variable `CONFIG_PERSISTENCE_CACHE_DIR`: a directory, or `off`;
 *   3. the user's cache directory: `$XDG_CACHE_HOME/config-persistence` (else
 *      `~/.cache/config-persistence`) on Linux, `~/Library/Caches/config-persistence` on macOS,
 *      `%LOCALAPPDATA%\config-persistence\Cache` on Windows.
 * Never inside the config directory: that is often read-only (a mounted ConfigMap) or in version
 * control, and nothing but configuration lives there.
 *
 * Invalidation: one file per validator, named by the sha256 of everything that shapes its code (the
 * schema's JSON text, the ajv options, this package's, ajv's and ajv-formats' versions, this cache's
 * format). Change any of them and a new file is written; old files are never read again. Deleting
 * the directory at any time is safe.
 *
 * Pruning: a file's modification time says when it was last used (a load refreshes it once a day at
 * most). Each write removes the files not used for {@link UNUSED_DAYS} days, then the least recently
 * used beyond the newest {@link KEEP_FILES} (one directory serves every project of the user), and
 * temp files of writers that died more than an hour ago. Only names this cache makes are touched.
 *
 * Trust: the file is code that this process runs, so it is used only when
 *   - (POSIX) the file and its directory belong to the user running the process (or root) and are
 *     not writable by group or others: writing a config file must not be a way to run code;
 *   - its header names the expected key and the sha256 of its code matches the header (a torn,
 *     truncated or edited file is refused);
 *   - its code requires nothing but ajv's runtime helpers and ajv-formats' formats, and yields a
 *     function.
 * A file that fails any check is ignored and replaced by a fresh compile; the reason is printed with
 * `NODE_DEBUG=config-persistence`.
 *
 * Writes: a temp file in the same directory, then rename, so a reader sees the old or the new file.
 * No fsync: a file torn by a power cut fails its checksum and is compiled again; the cache is never
 * the only copy of anything. A read-only, full or missing cache directory only means compiling in
 * every process, as without a cache.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, futimesSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { debuglog } from 'node:util';
import type { ValidateFunction } from 'ajv';
import { isErrno } from '../../errors.js';
import { formatsWithFastPaths } from '../../schema/formats.js';
import { packageVersion, requireDependency } from '../../core/lazy-deps.js';

/** Bumped when the file layout or the way code is generated changes. */
const CACHE_FORMAT = 1;
const HEADER = /^\/\/ config-persistence validator cache (\d+) key=([0-9a-f]{64}) sha256=([0-9a-f]{64})\n/;

/** Files not used for this many days are removed when a new one is written. */
export const UNUSED_DAYS = 30;
/** At most this many validators are kept (the least recently used go first). */
export const KEEP_FILES = 100;
const DAY_MS = 24 * 60 * 60 * 1000;
/** The names this cache makes: validators, and the temp files of their writes. */
const VALIDATOR_NAME = /^[0-9a-f]{64}\.validator\.cjs$/;
const TEMP_NAME = /^\.[0-9a-f]{64}\.\d+\.[0-9a-f]{8}\.tmp$/;

/** The environment variable that moves (a directory) or disables (`off`) the validator cache. */
export const CACHE_DIR_ENV = 'CONFIG_PERSISTENCE_CACHE_DIR';

const debug = debuglog('config-persistence');

/**
 * Notes (under `NODE_DEBUG=config-persistence`) that a schema's validator cannot be cached: ajv
 * cannot write it as standalone code, or a version in the key cannot be read.
 */
export function noteUncacheable(file: string | undefined, err: unknown): void {
  debug('validator cache: not caching %s (%s); it is compiled in every process', file ?? 'the schema', err instanceof Error ? err.message : String(err));
}

/** Modules the generated code may require: ajv's runtime helpers and ajv-formats' formats. */
const ALLOWED_REQUIRE = /^(?:ajv\/dist\/runtime\/[A-Za-z0-9_]+|ajv-formats\/dist\/formats)$/;

/**
 * The cache directory for the `validatorCache` option and the environment, or `undefined` for no
 * cache. Relative directories are resolved against the working directory.
 */
export function resolveCacheDir(option: string | false | undefined, env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  if (option === false) return undefined;
  if (typeof option === 'string' && option !== '') return path.resolve(option);
  const fromEnv = env[CACHE_DIR_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return /^(?:off|false|0|no)$/i.test(fromEnv) ? undefined : path.resolve(fromEnv);
  return userCacheDir(env);
}

function userCacheDir(env: Readonly<Record<string, string | undefined>>): string | undefined {
  let home: string;
  try {
    home = os.homedir();
  } catch (err) {
    debug('validator cache off: no home directory (%s)', (err as Error).message);
    return undefined;
  }
  if (process.platform === 'win32') return path.join(env.LOCALAPPDATA || path.join(home, 'AppData', 'Local'), 'config-persistence', 'Cache');
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Caches', 'config-persistence');
  const xdg = env.XDG_CACHE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(home, '.cache'), 'config-persistence');
}

/** What shapes a validator's code; its hash names the cache file. */
export interface CacheKeyParts {
  /** The schema's JSON text. */
  schema: string;
  draft: string;
  options: Record<string, unknown>;
  /** Versions of the code generator (ajv, ajv-formats). */
  versions: Record<string, string>;
}

/** The cache key of a validator: sha256 (hex) of everything that shapes its code. */
export function cacheKey(parts: CacheKeyParts): string {
  ownVersion ??= packageVersion();
  return createHash('sha256')
    .update(JSON.stringify({ format: CACHE_FORMAT, package: ownVersion, versions: parts.versions, draft: parts.draft, options: parts.options }))
    .update('\n')
    .update(parts.schema)
    .digest('hex');
}

let ownVersion: string | undefined;

/** Standalone validators on disk, one file per key. See the module comment for the rules. */
export class ValidatorCache {
  /** The directory holding the files (created on the first write). */
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The file of a key. */
  fileOf(key: string): string {
    return path.join(this.dir, `${key}.validator.cjs`);
  }

  /** The validator stored under `key`, or `undefined` when there is none that can be trusted. */
  load(key: string): ValidateFunction | undefined {
    const file = this.fileOf(key);
    let text: string;
    try {
      text = readTrusted(file, this.dir, Date.now());
    } catch (err) {
      if (isErrno(err, 'ENOENT')) debug('validator cache miss %s', file);
      else debug('validator cache: not using %s: %s', file, (err as Error).message);
      return undefined;
    }
    const header = HEADER.exec(text);
    const body = header ? text.slice(header[0].length) : '';
    if (!header || Number(header[1]) !== CACHE_FORMAT || header[2] !== key) {
      debug('validator cache: not using %s: header does not match the key', file);
      return undefined;
    }
    if (sha256(body) !== header[3]) {
      debug('validator cache: not using %s: checksum mismatch (torn or edited file)', file);
      return undefined;
    }
    try {
      const fn = evaluate(body);
      debug('validator cache hit %s', file);
      return fn;
    } catch (err) {
      debug('validator cache: not using %s: %s', file, (err as Error).message);
      return undefined;
    }
  }

  /** Stores the standalone `source` under `key`; failures only leave the cache without it. */
  store(key: string, source: string): void {
    const file = this.fileOf(key);
    const tmp = path.join(this.dir, `.${key}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const text = `// config-persistence validator cache ${CACHE_FORMAT} key=${key} sha256=${sha256(source)}\n${source}`;
    try {
      // 0700/0600: the trust check refuses anything writable by others, so never create it so.
      makeDirectories(this.dir);
      writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
      renameSync(tmp, file);
      debug('validator cache wrote %s', file);
    } catch (err) {
      debug('validator cache: could not write %s: %s', file, (err as Error).message);
      try {
        unlinkSync(tmp);
      } catch {
        // The temp file was never created, or is already gone: nothing to clean up.
      }
      return;
    }
    this.prune(file, Date.now());
  }

  /**
   * Removes validators unused for {@link UNUSED_DAYS} days, the least recently used beyond
   * {@link KEEP_FILES}, and temp files older than an hour; never `keep` (just written). Best effort.
   */
  prune(keep: string, now: number): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    const validators: Array<{ file: string; used: number }> = [];
    for (const name of names) {
      const file = path.join(this.dir, name);
      if (file === keep || !(VALIDATOR_NAME.test(name) || TEMP_NAME.test(name))) continue;
      const st = lstatSync(file, { throwIfNoEntry: false });
      if (!st?.isFile()) continue;
      if (TEMP_NAME.test(name)) {
        if (now - st.mtimeMs > 60 * 60 * 1000) removeFile(file);
      } else if (now - st.mtimeMs > UNUSED_DAYS * DAY_MS) removeFile(file);
      else validators.push({ file, used: st.mtimeMs });
    }
    // `keep` counts as one of the newest.
    validators.sort((a, b) => b.used - a.used);
    for (const old of validators.slice(KEEP_FILES - 1)) removeFile(old.file);
  }
}

function removeFile(file: string): void {
  try {
    unlinkSync(file);
    debug('validator cache removed %s', file);
  } catch {
    // Gone already, or not ours to remove: it stays.
  }
}

/**
 * `mkdir -p` with mode 0700, one level at a time. Not `mkdirSync({ recursive: true })`: on Node 20
 * it never returns when the file system answers ENOENT for a directory whose parent exists (a home
 * under /proc, as some service accounts have), and a cache must never hang its process.
 */
function makeDirectories(dir: string): void {
  const missing: string[] = [];
  for (let current = dir; !existsSync(current); current = path.dirname(current)) {
    missing.push(current);
    if (path.dirname(current) === current) break;
  }
  for (const each of missing.reverse()) {
    try {
      mkdirSync(each, { mode: 0o700 });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err; // another process made it meanwhile: fine
    }
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Reads `file` if it and `dir` are trusted (see the module comment); throws saying why not. Marks it
 * used (its modification time) when that was more than a day ago.
 */
function readTrusted(file: string, dir: string, now: number): string {
  const fd = openSync(file, 'r');
  try {
    const st = fstatSync(fd);
    if (typeof process.getuid === 'function') {
      // The checks look at the open file itself, so the file cannot be swapped between check and read.
      assertPrivate(st, 'the file');
      assertPrivate(statSync(dir), 'its directory');
    }
    const text = readFileSync(fd, 'utf8');
    if (now - st.mtimeMs > DAY_MS) {
      try {
        futimesSync(fd, new Date(now), new Date(now));
      } catch {
        // Read-only cache (another user's, a read-only mount): it ages, and is compiled again then.
      }
    }
    return text;
  } finally {
    closeSync(fd);
  }
}

function assertPrivate(st: { uid: number; mode: number }, what: string): void {
  const uid = process.getuid!();
  if (st.uid !== uid && st.uid !== 0) throw new Error(`${what} belongs to uid ${st.uid}, not to this user (${uid}) or root`);
  if ((st.mode & 0o022) !== 0) throw new Error(`${what} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`);
}

/** Runs standalone CommonJS code and returns what it exports (the validate function). */
function evaluate(body: string): ValidateFunction {
  const module = { exports: {} as unknown };
  const restricted = (id: string): unknown => {
    if (!ALLOWED_REQUIRE.test(id)) throw new Error(`the code requires ${JSON.stringify(id)}, which a validator never needs`);
    return id === 'ajv-formats/dist/formats' ? formatsWithFastPaths() : requireDependency(id);
  };
  // The same way ajv itself turns the code it generates into a function.
  new Function('require', 'module', 'exports', body)(restricted, module, module.exports);
  const fn = module.exports;
  if (typeof fn !== 'function') throw new Error('the code does not export a validate function');
  return fn as ValidateFunction;
}
