/**
 * The local-directory storage backend: keys are files under one directory. This class composes
 * the parts, one concern per file: containment.ts (keys to paths, nothing leaves the root),
 * commit.ts (the commit engine), intent.ts (multi-file commits and their recovery), locks.ts,
 * deferred.ts (background fsyncs), durable.ts (the durable write), watch.ts (chokidar).
 */
import { createHash } from 'node:crypto';
import { constants, fstatSync, lstatSync, openSync, promises as fs, readdirSync, readFileSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { ioError, isErrno, StaleError, TooLargeError } from '../../errors.js';
import type { Commit, Expectation, LockOptions, PrestagedPut, ReadOptions, Release, Storage, StorageEntry, StorageFinding, StorageWatcher, StorageWatchEvent } from '../types.js';
import { CommitEngine } from './commit.js';
import { AppendHandles, closeWhenCollected, DirectoryHandles } from './handles.js';
import { PrestagedTemps } from './prestage.js';
import { Containment, type Checked } from './containment.js';
import { closeReadFd, DEFERRED_SYNC_MS, DeferredSyncs } from './deferred.js';
import { readAllFd, TEMP_SUFFIX } from './durable.js';
import { IntentJournal, TXN_DIR } from './intent.js';
import { pidExists as processAlive } from './owner.js';
import { LocalLocks, LOCK_DIR } from './locks.js';

export { DEFERRED_SYNC_MS } from './deferred.js';

/** Options of {@link LocalStorage}. */
export interface LocalStorageOptions {
  /** fsync before resolving. Default true. */
  durable?: boolean;
  /** A lock held by a process that stopped refreshing it is taken over after this long (ms, >= 2000). */
  staleLockMs?: number;
  /**
   * The longest a `'soon'` append (the audit line, an automatic backup's record) waits for its
   * background fsync, in ms. Default {@link DEFERRED_SYNC_MS}; `close()` always flushes at once.
   */
  deferredSyncMs?: number;
}

/** Directory entries inspected per turn of the event loop by `list`. */
const LIST_CHUNK = 200;

/**
 * Stores keys as files under one directory. Writes are atomic and durable (see durable.ts),
 * multi-key commits are all-or-nothing through a small intent journal, locks are cross-process.
 */
export class LocalStorage implements Storage {
  readonly location: string;
  readonly durable: boolean;
  private readonly paths: Containment;
  private readonly locks: LocalLocks;
  private readonly deferred: DeferredSyncs;
  private readonly intents: IntentJournal;
  private readonly engine: CommitEngine;
  private readonly prestaged: PrestagedTemps;
  private readonly directories = new DirectoryHandles();
  private readonly appends = new AppendHandles();
  /** Display names by key, for the working directory they were made for. */
  private described: { cwd: string; names: Map<string, string> } = { cwd: '', names: new Map() };

  /** `root` is resolved against the working directory; it is created on first write. */
  constructor(root: string, opts: LocalStorageOptions = {}) {
    this.location = path.resolve(root);
    this.durable = opts.durable ?? true;
    const describe = (key: string): string => this.describe(key);
    this.paths = new Containment(this.location, this.durable);
    this.locks = new LocalLocks(this.location, Math.max(2000, opts.staleLockMs ?? 5000), describe, (dir) => this.paths.checkInside(dir));
    this.deferred = new DeferredSyncs(this.paths, Math.max(0, opts.deferredSyncMs ?? DEFERRED_SYNC_MS), describe);
    this.intents = new IntentJournal(this.paths, this.durable, describe);
    this.prestaged = new PrestagedTemps(this.paths, this.durable);
    this.engine = new CommitEngine({
      prestaged: this.prestaged,
      paths: this.paths,
      intents: this.intents,
      deferred: this.deferred,
      directories: this.directories,
      appends: this.appends,
      durable: this.durable,
      describe,
      fence: (expect) => this.fence(expect),
      expect: (expect, seen) => this.checkExpectations(expect, seen),
    });
    closeWhenCollected(this, [this.directories, this.appends]);
  }

  /** Display path of a key, relative to the working directory when that is shorter. */
  describe(key: string): string {
    const cwd = process.cwd();
    // Cached: every message and validation names its file, a save a few times over.
    if (this.described.cwd !== cwd) this.described = { cwd, names: new Map() };
    let name = this.described.names.get(key);
    if (name === undefined) {
      const abs = path.join(this.location, key);
      const rel = path.relative(cwd, abs);
      name = rel && !rel.startsWith('..') && rel.length < abs.length ? rel : abs;
      if (this.described.names.size < 1000) this.described.names.set(key, name);
    }
    return name;
  }

  /** Content of `key`, or `undefined` when it does not exist (see Storage.read). */
  async read(key: string, opts: ReadOptions = {}): Promise<Uint8Array | undefined> {
    return (await this.readEntry(key, opts))?.bytes;
  }

  /** Content and metadata through one open descriptor (see Storage.readEntry). */
  async readEntry(key: string, opts: ReadOptions = {}): Promise<{ bytes: Uint8Array; entry: StorageEntry } | undefined> {
    const file = this.paths.resolve(key);
    await this.intents.recover(); // never a state half way through a crashed multi-file commit
    let fd: number | undefined;
    try {
      const opened = this.openForRead(key, file, opts.maxBytes);
      if (!opened) return undefined;
      fd = opened.fd;
      return { bytes: await readAllFd(fd, opened.stat.size), entry: toEntry(key, opened.stat) };
    } catch (err) {
      throw ioError('read', this.describe(key), err);
    } finally {
      if (fd !== undefined) closeReadFd(fd);
    }
  }

  /** Synchronous read (see Storage.readSync). */
  readSync(key: string, opts: ReadOptions = {}): Uint8Array | undefined {
    const file = this.paths.resolve(key);
    this.intents.recoverSync();
    let fd: number | undefined;
    try {
      const opened = this.openForRead(key, file, opts.maxBytes);
      if (!opened) return undefined;
      fd = opened.fd;
      return readFileSync(fd);
    } catch (err) {
      throw ioError('read', this.describe(key), err);
    } finally {
      if (fd !== undefined) closeReadFd(fd);
    }
  }

  /** Metadata of `key`; a link is followed when it stays inside the root. */
  async stat(key: string): Promise<StorageEntry | undefined> {
    const file = this.paths.resolve(key);
    await this.intents.recover();
    try {
      this.paths.checkInside(path.dirname(file));
      // lstat answers for a regular file; only a link needs resolving (and checking) first.
      let st = lstatSync(file, { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) {
        this.paths.checkInside(file);
        st = statSync(file, { throwIfNoEntry: false });
      }
      return st ? toEntry(key, st) : undefined;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
      throw ioError('inspect', this.describe(key), err);
    }
  }

  /** Files and directories directly under `prefix` (links and other kinds are left out), sorted by key. */
  async list(prefix: string): Promise<StorageEntry[]> {
    const dir = prefix === '' ? this.location : this.paths.resolve(prefix);
    await this.intents.recover();
    let names: string[];
    try {
      this.paths.checkInside(dir);
      names = readdirSync(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
      throw ioError('list', this.describe(prefix), err);
    }
    const entries: StorageEntry[] = [];
    // Synchronous lstats (µs each), in chunks with a turn of the event loop between them: a
    // directory of 10,000 backups never blocks the loop for more than a fraction of a millisecond.
    for (let i = 0; i < names.length; i += LIST_CHUNK) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      for (const name of names.slice(i, i + LIST_CHUNK)) {
        let st;
        try {
          st = lstatSync(path.join(dir, name), { throwIfNoEntry: false });
        } catch {
          continue; // unreadable meanwhile: skip it, like a vanished one
        }
        if (st && (st.isFile() || st.isDirectory())) entries.push(toEntry(prefix ? `${prefix}/${name}` : name, st));
      }
    }
    return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * Names of the regular files directly under `prefix` (links and other kinds left out), sorted:
   * one readdir with the types the directory reports, no lstat each (Storage.fileNames) — 8-10 ms
   * for 10,000 backups where list() took 80-90 ms (measured).
   */
  async fileNames(prefix: string): Promise<string[]> {
    const dir = prefix === '' ? this.location : this.paths.resolve(prefix);
    await this.intents.recover();
    try {
      this.paths.checkInside(dir);
      // Node lstats an entry itself where the file system reports no type (DT_UNKNOWN).
      return readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isFile())
        .map((d) => d.name)
        .sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
      throw ioError('list', this.describe(prefix), err);
    }
  }

  /**
   * Applies a commit (see commit.ts). Expectations are checked after any interrupted commit was
   * finished and before anything is written; the check and the renames are separate system calls,
   * so writers that must not interleave take the same lock (see Commit.expect).
   */
  async commit(commit: Commit): Promise<void> {
    return this.engine.commit(commit);
  }

  /** Cross-process lock (see locks.ts). */
  /**
   * Writes the temp file of an overwrite of `key` and starts its fsync now, ahead of the commit
   * that will carry `data` (see prestage.ts): the disk works while the changeset plans.
   */
  prestage(key: string, data: Uint8Array): PrestagedPut {
    return this.prestaged.stage(key, data);
  }

  lock(name: string, opts: LockOptions = {}): Promise<Release> {
    return this.locks.lock(name, opts);
  }

  /** Temp files (`*.cp-tmp`) of interrupted writes whose writer is gone, as keys. */
  async strayTemps(): Promise<string[]> {
    // An interrupted multi-file commit is finished first: its temp files are recovery's to use.
    await this.intents.recover();
    const found: string[] = [];
    const walk = async (prefix: string, depth: number): Promise<void> => {
      const dir = prefix ? path.join(this.location, prefix) : this.location;
      const dirents = await fs.readdir(dir, { withFileTypes: true }).catch(() => []); // missing directory: nothing stray
      for (const d of dirents) {
        const key = prefix ? `${prefix}/${d.name}` : d.name;
        if (d.isFile() && d.name.endsWith(TEMP_SUFFIX) && !ownedByLiveProcess(d.name)) found.push(key);
        else if (d.isDirectory() && depth < 3 && d.name !== LOCK_DIR) await walk(key, depth + 1);
      }
    };
    await walk('', 0);
    return found;
  }

  /** Hashes of `key`'s temp files whose writer is gone (see Storage.abandonedContent). */
  async abandonedContent(key: string): Promise<string[]> {
    await this.intents.recover(); // a recorded multi-file commit's temps are recovery's, not abandoned
    const target = this.paths.resolve(key);
    const prefix = `.${path.basename(target).slice(0, 60)}.`;
    const names = await fs.readdir(path.dirname(target)).catch(() => [] as string[]); // no directory: none
    const hashes: string[] = [];
    for (const name of names) {
      if (!name.startsWith(prefix) || !name.endsWith(TEMP_SUFFIX) || ownedByLiveProcess(name)) continue;
      const bytes = await fs.readFile(path.join(path.dirname(target), name)).catch(() => undefined); // removed meanwhile
      if (bytes) hashes.push(createHash('sha256').update(bytes).digest('hex'));
    }
    return hashes;
  }

  /**
   * Links to previous content (`.txn/<id>.<i>.old`) left by a multi-file commit killed before its
   * intent was recorded: nothing refers to them (recovery follows recorded intents only).
   */
  async orphanedLinks(): Promise<string[]> {
    await this.intents.recover(); // links of a recorded intent are recovery's, until it is finished
    const names = await fs.readdir(path.join(this.location, TXN_DIR)).catch(() => [] as string[]); // no .txn: none
    const siblings = new Set(names);
    return names.filter((name) => orphanedLink(name, siblings)).map((name) => `${TXN_DIR}/${name}`);
  }

  /** Stray temp files and orphaned intent links, each with its removal as the fix (see Storage.findings). */
  async findings(): Promise<StorageFinding[]> {
    const remove = (key: string): StorageFinding['fix'] => ({ action: 'remove-temp', description: `remove ${this.describe(key)}`, commit: { changes: [{ type: 'remove', key }] } });
    const temps = (await this.strayTemps()).map((key) => ({
      key,
      kind: 'stray-temp',
      message: `${this.describe(key)} is a temporary file left by an interrupted write (its writer is gone); the real file was never affected. Repair removes it.`,
      fix: remove(key),
    }));
    const links = (await this.orphanedLinks()).map((key) => ({
      key,
      kind: 'stray-temp',
      message: `${this.describe(key)} is a link to old content kept by a multi-file write that was interrupted before it began (its writer is gone); no file was affected. Repair removes it.`,
      fix: remove(key),
    }));
    return [...temps, ...links];
  }

  /**
   * Watches keys with chokidar (directory watches filtered by name; see watch.ts). Loaded on
   * first use, so applications that never watch do not load chokidar.
   */
  async watch(keys: readonly string[], onEvent: (event: StorageWatchEvent) => void, onError: (error: Error) => void): Promise<StorageWatcher> {
    const { watchLocalKeys } = await import('./watch.js');
    return watchLocalKeys((key) => this.paths.resolve(key), keys, onEvent, onError);
  }

  /** Releases the locks kept for reuse and makes the pending background fsyncs. */
  async close(): Promise<void> {
    // Held open between operations: a lock released in this very turn, the background fsyncs of
    // `'soon'` appends (made now) and the kept descriptors of directories and shared journals (handles.ts, closed now).
    this.locks.close();
    await Promise.all([this.deferred.close(), this.prestaged.close()]);
    this.directories.close();
    this.appends.close();
  }

  /** Opens an existing regular file for reading after the containment check; `undefined` when missing. */
  private openForRead(key: string, file: string, maxBytes: number | undefined): { fd: number; stat: Stats } | undefined {
    this.paths.checkInside(path.dirname(file));
    let fd: number;
    try {
      // O_NOFOLLOW: the final name is checked by the open itself. A link fails with ELOOP and takes
      // the slow path: resolved, and followed only when it stays inside.
      try {
        fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (err) {
        if (!isErrno(err, 'ELOOP')) throw err;
        this.paths.checkInside(file);
        fd = openSync(file, constants.O_RDONLY);
      }
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    try {
      const stat = fstatSync(fd);
      if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      if (maxBytes !== undefined && stat.size > maxBytes) {
        throw new TooLargeError(
          `${this.describe(key)} is ${stat.size} bytes, over the limit of ${maxBytes} (maxFileBytes). Shrink it or raise maxFileBytes.`,
          this.describe(key),
        );
      }
      return { fd, stat };
    } catch (err) {
      closeReadFd(fd);
      throw err;
    }
  }

  /**
   * The late compare of a commit (see CommitEngine): synchronous, and by content identity only —
   * the commit's own backup link of the old inode has changed that inode's ctime meanwhile.
   */
  private fence(expect: readonly Expectation[]): void {
    for (const { key, revision } of expect) {
      const st = lstatSync(this.paths.resolve(key), { throwIfNoEntry: false });
      const now = st ? identityOf(revisionOf(st)) : null;
      if (now === (revision === null ? null : identityOf(revision))) continue;
      throw new StaleError(`${this.describe(key)} was changed by another writer while this commit was being prepared; nothing was changed. Read it again and retry.`, key);
    }
  }

  /**
   * `E_CONFLICT` unless every key still has the revision the caller read (null: still absent). The
   * lstat of the containment check is the revision: recorded in `seen`, the commit's own checks of
   * the same paths then cost nothing (one call per key instead of three). Only a link, or a path
   * whose check could not tell (EACCES...), takes the full stat.
   */
  private async checkExpectations(expect: readonly Expectation[], seen: Checked): Promise<void> {
    for (const { key, revision } of expect) {
      const file = this.paths.resolve(key);
      const link = this.paths.checkInside(file, seen);
      const st = link ? undefined : seen.get(file);
      const now = st ? revisionOf(st) : !link && this.missing(file, seen) ? null : ((await this.stat(key))?.revision ?? null);
      if (now === revision) continue;
      throw new StaleError(
        `${this.describe(key)} changed since it was read (${revision === null ? 'it did not exist' : 'its revision moved on'}); nothing was written. Read it again and retry.`,
        key,
      );
    }
  }

  /** Whether the check of `file` found it missing: its parent was seen as a directory, the file was not. */
  private missing(file: string, seen: Checked): boolean {
    const dir = path.dirname(file);
    return (dir === this.location || seen.get(dir)?.isDirectory() === true) && !lstatSync(file, { throwIfNoEntry: false });
  }
}

function toEntry(key: string, st: Stats): StorageEntry {
  return {
    key,
    name: key.slice(key.lastIndexOf('/') + 1),
    kind: st.isDirectory() ? 'directory' : 'file',
    size: st.size,
    mtimeMs: st.mtimeMs,
    mode: st.mode & 0o7777,
    revision: revisionOf(st),
  };
}

/**
 * A file's revision: a rename-based write makes a new inode, an append or an edit in place changes
 * the size or the change times (nanosecond clocks on ext4, so two writes in one millisecond differ).
 */
function revisionOf(st: Stats): string {
  return `${st.dev.toString(36)}:${st.ino.toString(36)}:${st.size.toString(36)}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** A revision without its ctime: device, inode, size and mtime. */
function identityOf(revision: string): string {
  return revision.split(':').slice(0, 4).join(':');
}

/** A `.txn/<id>.<i>.old` link whose intent `<id>.json` does not exist, made by a process that is gone. */
function orphanedLink(name: string, siblings: ReadonlySet<string>): boolean {
  const match = /^(\d+-(\d+)-[0-9a-f]+)\.\d+\.old$/.exec(name);
  if (!match || siblings.has(`${match[1]}.json`)) return false;
  const pid = Number(match[2]);
  return pid === process.pid ? false : !processAlive(pid);
}

/** Temp names carry their writer's pid; a live writer's temp is in flight, not stray. */
function ownedByLiveProcess(name: string): boolean {
  const match = /\.(\d+)-\d+-[0-9a-f]+\.cp-tmp$/.exec(name);
  if (!match) return false;
  const pid = Number(match[1]);
  return pid === process.pid ? false : processAlive(pid);
}
