/**
 * The local-directory storage backend. Every file-system detail of the library lives here and in
 * durable.ts; the features above only see keys.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, linkSync, lstatSync, mkdirSync, openSync, promises as fs, readdirSync, readFileSync, realpathSync, renameSync, rmdirSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { lockfileLib } from '../../core/lazy-deps.js';
import { ioError, InvalidNameError, isErrno, LockedError, TooLargeError } from '../../errors.js';
import type { AppendOp, AppendSync, Commit, CopyOp, LockOptions, PutOp, Release, Storage, StorageEntry, StorageWatcher, StorageWatchEvent } from '../../types.js';
import { appendUnsynced, readAllFd, removeQuietly, stageTemp, syncDirectories, syncDirectory, syncFd, TEMP_SUFFIX, writeTemp, type OpenJournal, type StagedTemp } from './durable.js';

/**
 * The only calls proper-lockfile's sync API makes. Passed as its `fs`: it copies the object it is
 * given on every lock, and a copy of all of graceful-fs cost ~50 µs per save.
 */
const LOCK_FS = { mkdirSync, realpathSync, statSync, rmdirSync, utimesSync };

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

/** Paths one commit has checked (see checkInside), with the lstat of those that are not links. */
type Checked = Map<string, Stats | undefined>;

const LOCK_DIR = '.locks';
/** The longest a `'soon'` append (AppendOp.sync) waits for its fsync, in ms. */
export const DEFERRED_SYNC_MS = 100;
/** Directory entries inspected per turn of the event loop by `list`. */
const LIST_CHUNK = 200;
const TXN_DIR = '.txn';

interface TxnStep {
  kind: 'put' | 'remove' | 'move';
  /** put: temp file; move: source. */
  from?: string;
  /** Target path (absolute). */
  to: string;
  /** Hard link of the previous target, for rollback on error. */
  old?: string;
}

/** A cross-process lock this instance holds. */
interface HeldLock {
  /** Taken over by another process after this one stalled: never reuse it. */
  compromised: boolean;
  /** Removes the lock (quietly). */
  release(): void;
}

interface TxnRecord {
  pid: number;
  steps: TxnStep[];
}

/**
 * Stores keys as files under one directory. Writes are atomic and durable (see durable.ts),
 * multi-key commits are all-or-nothing through a small intent journal, locks are cross-process.
 */
export class LocalStorage implements Storage {
  readonly location: string;
  readonly durable: boolean;
  private readonly staleLockMs: number;
  private readonly deferredSyncMs: number;
  private realRoot: string | undefined;
  private recovered: Promise<void> | undefined;
  private readonly checkedDirs = new Set<string>();
  /** `.locks` exists (created once per instance: two fewer system calls on every save). */
  private lockDirReady = false;
  /** Locks released by their holder but kept until the end of this turn of the event loop (see lock). */
  private readonly lingering = new Map<string, { lock: HeldLock; timer: NodeJS.Immediate }>();
  private closing = false;
  /** Display names by key, for the working directory they were made for. */
  private described: { cwd: string; names: Map<string, string> } = { cwd: '', names: new Map() };
  /** Files with `'soon'` appends waiting for their background fsync, and its timer. */
  private readonly deferred = new Map<string, NodeJS.Timeout>();
  /** Background fsyncs in flight (close() waits for them). */
  private readonly flushing = new Set<Promise<void>>();

  /** `root` is resolved against the working directory; it is created on first write. */
  constructor(root: string, opts: LocalStorageOptions = {}) {
    this.location = path.resolve(root);
    this.durable = opts.durable ?? true;
    this.staleLockMs = Math.max(2000, opts.staleLockMs ?? 5000);
    this.deferredSyncMs = Math.max(0, opts.deferredSyncMs ?? DEFERRED_SYNC_MS);
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

  /** Absolute path of a key (validated). */
  pathOf(key: string): string {
    return this.resolve(key);
  }

  async read(key: string, opts: { maxBytes?: number } = {}): Promise<Uint8Array | undefined> {
    return (await this.readEntry(key, opts))?.bytes;
  }

  async readEntry(key: string, opts: { maxBytes?: number } = {}): Promise<{ bytes: Uint8Array; entry: StorageEntry } | undefined> {
    const file = this.resolve(key);
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

  readSync(key: string, opts: { maxBytes?: number } = {}): Uint8Array | undefined {
    const file = this.resolve(key);
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

  /** Opens an existing regular file for reading after the containment check; `undefined` when missing. */
  private openForRead(key: string, file: string, maxBytes: number | undefined): { fd: number; stat: import('node:fs').Stats } | undefined {
    this.checkInside(path.dirname(file));
    let fd: number;
    try {
      // O_NOFOLLOW: the final name is checked by the open itself. A link fails with ELOOP and takes
      // the slow path: resolved, and followed only when it stays inside.
      try {
        fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (err) {
        if (!isErrno(err, 'ELOOP')) throw err;
        this.checkInside(file);
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

  async stat(key: string): Promise<StorageEntry | undefined> {
    const file = this.resolve(key);
    try {
      this.checkInside(path.dirname(file));
      // lstat answers for a regular file; only a link needs resolving (and checking) first.
      let st = lstatSync(file, { throwIfNoEntry: false });
      if (st?.isSymbolicLink()) {
        this.checkInside(file);
        st = statSync(file, { throwIfNoEntry: false });
      }
      return st ? toEntry(key, st) : undefined;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
      throw ioError('inspect', this.describe(key), err);
    }
  }

  async list(prefix: string): Promise<StorageEntry[]> {
    const dir = prefix === '' ? this.location : this.resolve(prefix);
    let names: string[];
    try {
      this.checkInside(dir);
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

  async commit(commit: Commit): Promise<void> {
    await this.recover();
    const prepare = commit.prepare ?? [];
    const changes = commit.changes ?? [];
    const after = [...(commit.after ?? [])];
    const sync = this.durable && commit.sync !== false;
    const puts = [...prepare, ...changes].filter((op): op is PutOp => op.type === 'put');
    /** Temp files not yet renamed into place: discarded on any error. */
    const temps = new Map<PutOp, StagedTemp>();
    /** Every journal opened (closed at the end), and those of phase 1 synced before the change. */
    const journals: OpenJournal[] = [];
    const before: OpenJournal[] = [];
    /** Directories with a new entry made in phase 1 (links), synced before any change is visible. */
    const early = new Set<string>();
    const dirs = new Set<string>();
    const seen: Checked = new Map();
    /** fsyncs of phase 1 already issued: settled before anything is discarded. */
    const started: Array<Promise<void>> = [];
    let current = '';
    try {
      // Phase 1 — everything that must exist before a change is visible: new content in temp files,
      // backups of the old content (links), journal lines. Written one after another (small
      // synchronous calls), each temp file's fsync issued as soon as its bytes are written and the
      // others right after: fsyncs in flight together share one journal commit on a journaled
      // ext4, so this phase waits for the disk about once.
      for (const op of puts) {
        current = op.key;
        const target = this.resolve(op.key);
        await this.ensureParent(target, seen);
        const known = seen.get(target); // the lstat of the containment check: a regular file needs no second stat
        const temp = await stageTemp(target, op.data, op.mode, known?.isFile() ? known : undefined);
        temps.set(op, temp);
        // Its fsync starts at once: the disk writes the new content while the main thread links
        // the old one and writes the journal lines.
        if (sync) started.push(observedLater(temp.sync()));
      }
      /** Lines that need no fsync before the change: written while the phase's fsyncs run. */
      const relaxed: AppendOp[] = [];
      for (const op of [...prepare.filter((o) => o.type !== 'append'), ...mergeAppends(prepare)]) {
        if (op.type === 'copy') {
          current = op.to;
          await this.copy(op, early, seen);
        } else if (op.type === 'append') {
          if (op.sync !== 'commit') {
            relaxed.push(op);
            continue;
          }
          current = op.key;
          const journal = await this.append(this.resolve(op.key), op.data, seen);
          journals.push(journal);
          before.push(journal);
        }
      }
      current = puts.length === 1 ? puts[0]!.key : current;
      const ready = sync ? settleAll([...started, ...before.map((j) => j.sync()), syncDirectories(early)]) : Promise.resolve();
      await whileSyncing(ready, () => this.appendRelaxed(relaxed, { seen, journals, sync, at: (key) => (current = key) }));
      for (const temp of temps.values()) temp.close(); // in order, after every fsync of the phase settled
      // Bookkeeping files become visible before the user-visible change they describe.
      for (const op of prepare) {
        if (op.type !== 'put') continue;
        current = op.key;
        const target = this.resolve(op.key);
        renameSync(temps.get(op)!.path, target);
        temps.delete(op);
        dirs.add(path.dirname(target));
      }
      current = changes.length === 1 ? changeKey(changes[0]!) : '(several files)';
      if (changes.length === 1) await this.applySingle(changes[0]!, temps, dirs);
      else if (changes.length > 1) await this.applyAll(changes, temps, dirs);
      // Phase 3 — make it durable: directory entries (renames) and the `after` journals that must be
      // durable before the commit resolves, fsynced together. While the disk works, the main thread
      // does what needs no fsync of its own: the best-effort removals and the relaxed lines.
      const merged = mergeAppends(after); // one op per key
      const late: OpenJournal[] = [];
      for (const op of merged) {
        if (op.sync !== 'commit') continue;
        current = op.key;
        const journal = await this.append(this.resolve(op.key), op.data, seen);
        journals.push(journal);
        late.push(journal);
      }
      const syncing = sync ? settleAll([syncDirectories(dirs), ...late.map((j) => j.sync())]) : Promise.resolve();
      await whileSyncing(syncing, async () => {
        const relaxed = merged.filter((op) => op.sync !== 'commit');
        if (commit.cleanup) relaxed.push(...(await this.cleanup(commit.cleanup, seen)));
        await this.appendRelaxed(mergeAppends(relaxed), { seen, journals, sync, at: (key) => (current = key) });
      });
    } catch (err) {
      await Promise.allSettled(started); // a temp file is closed only once its fsync has returned
      for (const temp of temps.values()) temp.discard();
      throw ioError('write', this.describe(current || '.'), err);
    } finally {
      for (const journal of journals) journal.close(); // close errors after sync are not data errors
    }
  }

  async lock(name: string, opts: LockOptions = {}): Promise<Release> {
    const lockRoot = path.join(this.location, LOCK_DIR);
    const makeLockDir = (): void => {
      try {
        makeDirectory(lockRoot);
      } catch (err) {
        throw ioError('create the lock directory', this.describe(LOCK_DIR), err);
      }
      this.lockDirReady = true;
    };
    // Released by this process a moment ago (an awaited save right after another): still ours.
    const kept = this.lingering.get(name);
    if (kept) {
      this.lingering.delete(name);
      clearImmediate(kept.timer);
      if (!kept.lock.compromised) return this.releaserOf(name, kept.lock);
      kept.lock.release();
    }
    if (!this.lockDirReady) makeLockDir();
    let remade = false;
    const target = path.join(lockRoot, name.replace(/[/\\]/g, '__'));
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    let delay = 5;
    for (;;) {
      try {
        // The sync API: an uncontended lock is a mkdir and a stat (µs each), not two thread-pool round
        // trips; waiting for a held lock still happens asynchronously below.
        const held: HeldLock = {
          compromised: false,
          release: () => {
            try {
              unlock();
            } catch {
              // already taken over after a stall: nothing left to release
            }
          },
        };
        const unlock = lockfileLib().lockSync(target, {
          realpath: false,
          lockfilePath: `${target}.lock`,
          stale: this.staleLockMs,
          fs: LOCK_FS,
          // The default handler throws from a timer and kills the process. A lost lock (the holder's
          // event loop stalled longer than staleLockMs) is never reused; the operation holding it
          // has already run.
          onCompromised: () => {
            held.compromised = true;
          },
        });
        return this.releaserOf(name, held);
      } catch (err) {
        if (isErrno(err, 'ENOENT') && !remade) {
          // Someone removed `.locks` since we created it: create it again, once.
          remade = true;
          makeLockDir();
          continue;
        }
        if (!isErrno(err, 'ELOCKED')) throw ioError('lock', name, err);
        if (Date.now() >= deadline) {
          throw new LockedError(
            `${this.describe(name)} is locked by another process; retry later, or wait ${Math.ceil(this.staleLockMs / 1000)} s if that process died.`,
            name,
            err,
          );
        }
        await sleep(delay + Math.random() * delay);
        delay = Math.min(delay * 2, 100);
      }
    }
  }

  async strayTemps(): Promise<string[]> {
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

  /**
   * Watches keys with chokidar (directory watches filtered by name; see local-watch.ts). Loaded on
   * first use, so applications that never watch do not load chokidar.
   */
  async watch(keys: readonly string[], onEvent: (event: StorageWatchEvent) => void, onError: (error: Error) => void): Promise<StorageWatcher> {
    const { watchLocalKeys } = await import('./watch.js');
    return watchLocalKeys((key) => this.resolve(key), keys, onEvent, onError);
  }

  async close(): Promise<void> {
    // Nothing is held open between operations but a lock released in this very turn and the
    // background fsyncs of `'soon'` appends, which are made now.
    this.closing = true;
    for (const [name, kept] of this.lingering) {
      this.lingering.delete(name);
      clearImmediate(kept.timer);
      kept.lock.release();
    }
    for (const [file, timer] of this.deferred) {
      clearTimeout(timer);
      this.flushSoon(file);
    }
    await Promise.all([...this.flushing]);
  }

  /**
   * Writes lines that no fsync of this commit waits for; each but a `'lazy'` one gets its background
   * fsync (a cleanup record asking for `'commit'` is treated as `'soon'`, see Commit.cleanup).
   */
  private async appendRelaxed(ops: readonly AppendOp[], c: { seen: Checked; journals: OpenJournal[]; sync: boolean; at: (key: string) => void }): Promise<void> {
    for (const op of ops) {
      c.at(op.key);
      const file = this.resolve(op.key);
      c.journals.push(await this.append(file, op.data, c.seen));
      if (op.sync !== 'lazy' && c.sync) this.syncSoon(file);
    }
  }

  /** Schedules the background fsync of `file` (one per file per `deferredSyncMs`). */
  private syncSoon(file: string): void {
    if (this.deferred.has(file)) return; // the pending fsync will cover this line too
    const timer = setTimeout(() => this.flushSoon(file), this.closing ? 0 : this.deferredSyncMs);
    timer.unref(); // a process may exit before it: only a power cut in that window loses the lines
    this.deferred.set(file, timer);
  }

  /** Runs the background fsync of `file` now; a failure is reported as a process warning. */
  private flushSoon(file: string): void {
    this.deferred.delete(file);
    const task = (async () => {
      let fd: number | undefined;
      try {
        // Opened again by name: the lines belong to the file now at that name (fsync is per inode).
        // A link that stays inside is followed, like the append did; one that escapes is refused.
        const link = this.checkInside(file);
        fd = openSync(file, constants.O_RDONLY | (link ? 0 : constants.O_NOFOLLOW));
        await syncFd(fd);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return; // moved away meanwhile: nothing left to make durable here
        process.emitWarning(`config-persistence: could not fsync ${this.describe(path.relative(this.location, file))} (${(err as Error).message}); its newest lines may not survive a power cut.`, {
          code: 'CP_DEFERRED_SYNC',
        });
      } finally {
        if (fd !== undefined) closeReadFd(fd);
      }
    })();
    this.flushing.add(task);
    void task.finally(() => this.flushing.delete(task));
  }

  /**
   * The release function of a held lock. The lock is really released at the end of the current turn
   * of the event loop, unless this process takes it again before that: an awaited save right after
   * another (a loop, a read-modify-write sequence) then keeps it, saving a mkdir, a utimes, a stat
   * and an rmdir (the rmdir alone ~100 µs on ext4 right after a journal commit). Others wait no
   * longer than they would for a holder that is still working; on process exit proper-lockfile
   * removes held locks, and a killed holder's lock goes stale as before.
   */
  private releaserOf(name: string, held: HeldLock): Release {
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      if (held.compromised || this.closing) {
        held.release();
        return;
      }
      const timer = setImmediate(() => {
        if (this.lingering.get(name)?.lock !== held) return;
        this.lingering.delete(name);
        held.release();
      });
      this.lingering.set(name, { lock: held, timer });
    };
  }

  // -------------------------------------------------------------------------------------------

  /** Resolves a key to an absolute path inside the root; anything else is `E_INVALID_NAME`. */
  private resolve(key: string): string {
    if (typeof key !== 'string' || key.includes('\0') || key.includes('\\') || path.isAbsolute(key)) {
      throw new InvalidNameError(`Invalid storage key ${JSON.stringify(String(key))}: it must be a relative name.`);
    }
    const segments = key.split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..')) {
      throw new InvalidNameError(`Invalid storage key ${JSON.stringify(key)}: empty, "." and ".." segments are not allowed.`);
    }
    return path.join(this.location, ...segments);
  }

  /**
   * Refuses a path that leads outside the root through a symbolic link: each component below the
   * root is checked with lstat, and only a link is resolved. Checked on every access, never cached:
   * a directory that was inside a moment ago can have been replaced by a link to elsewhere since.
   * A component below the root costs one lstat (~1 µs synchronously), where a realpath from `/`
   * costs a readlink per component of the whole path. Returns whether the final component is a link.
   * `seen`: paths already checked by the same commit (one operation: a swap in between is the same
   * race as one between a check and the call it guards), skipped; a checked entry that is not a link
   * is recorded there with its lstat.
   */
  private checkInside(file: string, seen?: Checked): boolean {
    if (file === this.location) return false;
    const root = this.rootSync();
    const rest = file.slice(this.location.length + 1).split(path.sep);
    let current = this.location;
    const last = rest.length - 1;
    for (const [i, segment] of rest.entries()) {
      current = `${current}${path.sep}${segment}`;
      if (seen?.has(current)) continue;
      let st;
      try {
        st = lstatSync(current, { throwIfNoEntry: false });
      } catch {
        return false; // ENOTDIR, EACCES...: the operation itself fails with that error; nothing is followed
      }
      if (!st) return false; // missing: nothing below it can lead anywhere
      if (!st.isSymbolicLink()) {
        seen?.set(current, st);
        continue;
      }
      let real: string;
      try {
        real = realpathSync.native(current);
      } catch {
        return false; // dangling link: opening it fails with ENOENT, creating through it is refused by O_EXCL
      }
      if (!isWithin(root, real)) throw this.escapes(file);
      if (i === last) return true; // not recorded: the caller must learn again that it is a link
      seen?.set(current, undefined);
    }
    return false;
  }

  /** The real path of the root (cached once it exists). */
  private rootSync(): string {
    if (this.realRoot === undefined) {
      try {
        this.realRoot = realpathSync.native(this.location);
      } catch {
        return this.location; // not created yet
      }
    }
    return this.realRoot;
  }

  private escapes(file: string): InvalidNameError {
    return new InvalidNameError(
      `${path.relative(process.cwd(), file) || file} is a symbolic link (or inside one) that leads outside ${this.location}; refusing to follow it.`,
    );
  }

  /** Appends to a journal inside the root (see appendUnsynced). */
  private async append(file: string, data: Uint8Array, seen: Checked): Promise<OpenJournal> {
    await this.ensureParent(file, seen, false);
    try {
      return await appendUnsynced(file, data, true); // O_NOFOLLOW: a plain journal needs no lstat first
    } catch (err) {
      if (!isErrno(err, 'ELOOP')) throw err;
      this.checkInside(file, seen); // a link: followed only when it stays inside
      return appendUnsynced(file, data);
    }
  }

  /**
   * Creates the parent directory of `file` when needed and checks the path; `final: false` when the
   * call that follows never follows a link at the final name (link(2) targets, O_NOFOLLOW opens).
   */
  private async ensureParent(file: string, seen?: Checked, final = true): Promise<void> {
    const dir = path.dirname(file);
    if (!this.checkedDirs.has(dir)) {
      this.checkInside(dir, seen); // before mkdir: never create directories through a link that escapes
      if (!seen?.has(dir)) seen?.set(dir, undefined); // missing until the mkdir below
      const created = makeDirectory(dir);
      if (created !== undefined && this.durable) {
        // A new directory's entry lives in its parent: sync the parent so the directory survives too.
        await syncDirectory(path.dirname(created));
      }
      this.checkedDirs.add(dir);
    }
    if (final) this.checkInside(file, seen);
    else this.checkInside(dir, seen);
  }

  /** Applies a commit's best-effort removals (not fsynced, see Commit.cleanup); returns the appends that record them. */
  private async cleanup(cleanup: NonNullable<Commit['cleanup']>, seen: Checked): Promise<AppendOp[]> {
    const removed = new Set<string>();
    const unlinks: Array<Promise<void>> = [];
    const settled = (key: string, err?: unknown): void => {
      if (err === undefined || isErrno(err, 'ENOENT')) removed.add(key); // already gone: record it as removed
      // Anything else (EIO, EACCES, an escaping link): the file stays, unrecorded, for the next pass.
    };
    for (const key of cleanup.keys) {
      try {
        const file = this.resolve(key);
        this.checkInside(file, seen); // an escaping link stays where it is (and never becomes a history object)
        const keepAs = cleanup.keepAs?.get(key);
        const target = keepAs === undefined ? undefined : this.resolve(keepAs);
        if (target !== undefined) await this.ensureParent(target, seen, false);
        if (target !== undefined && !lstatSync(target, { throwIfNoEntry: false })) {
          renameSync(file, target);
          settled(key);
        } else {
          // On the thread pool: unlinking the last name of a synced file frees its inode and blocks,
          // ~0.1-0.2 ms on ext4, which the main thread would otherwise spend blocked. Issued together,
          // they run while the commit's directory fsyncs do.
          unlinks.push(fs.unlink(file).then(() => settled(key), (err: unknown) => settled(key, err)));
        }
      } catch (err) {
        settled(key, err);
      }
    }
    await Promise.all(unlinks);
    return cleanup.records(cleanup.keys.filter((key) => removed.has(key))); // in the cleanup's order
  }

  private async copy(op: CopyOp, dirs: Set<string>, seen?: Checked): Promise<void> {
    const from = this.resolve(op.from);
    const to = this.resolve(op.to);
    this.checkInside(from, seen);
    await this.ensureParent(to, seen, false); // link(2) never follows nor replaces an existing `to`
    try {
      // A hard link keeps the old bytes at no cost: the source is about to be replaced by a rename,
      // so the old inode is never written again. Same mode as the source, so never more readable.
      linkSync(from, to);
    } catch (err) {
      if (isErrno(err, 'EEXIST') && op.ifMissing) return;
      if (isErrno(err, 'EEXIST') || isErrno(err, 'ENOENT')) throw err;
      const data = await fs.readFile(from);
      const mode = (await fs.stat(from)).mode & 0o777;
      const temp = await writeTemp(to, data, { durable: this.durable, mode });
      await fs.chmod(temp, mode);
      try {
        await fs.link(temp, to).catch((linkErr: unknown) => {
          // link, not rename: never overwrite an existing backup
          if (!(op.ifMissing && isErrno(linkErr, 'EEXIST'))) throw linkErr;
        });
      } finally {
        removeQuietly(temp);
      }
    }
    dirs.add(path.dirname(to));
  }

  private async applySingle(op: PutOp | { type: 'remove'; key: string } | { type: 'move'; from: string; to: string }, temps: Map<PutOp, StagedTemp>, dirs: Set<string>): Promise<void> {
    if (op.type === 'put') {
      const target = this.resolve(op.key);
      // The atomic step: readers see the old or the new file, never a mix.
      renameSync(temps.get(op)!.path, target);
      temps.delete(op);
      dirs.add(path.dirname(target));
    } else if (op.type === 'remove') {
      const target = this.resolve(op.key);
      this.checkInside(target);
      try {
        unlinkSync(target);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
      dirs.add(path.dirname(target));
    } else {
      const from = this.resolve(op.from);
      const to = this.resolve(op.to);
      this.checkInside(from);
      await this.ensureParent(to);
      // link + unlink instead of rename: rename would silently replace an existing `to`.
      linkSync(from, to);
      unlinkSync(from);
      dirs.add(path.dirname(from));
      dirs.add(path.dirname(to));
    }
  }

  /**
   * Several keys at once, all-or-nothing. The intent record is written (durably) only after every
   * new file is synced, so after a crash the set can always be rolled forward; on an error here it
   * is rolled back from hard links of the previous content.
   */
  private async applyAll(changes: NonNullable<Commit['changes']>, temps: Map<PutOp, StagedTemp>, dirs: Set<string>): Promise<void> {
    const txnDir = path.join(this.location, TXN_DIR);
    await this.ensureParent(path.join(txnDir, 'x'));
    const id = `${Date.now()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    const steps: TxnStep[] = [];
    const intent = path.join(txnDir, `${id}.json`);
    let temp: string | undefined;
    try {
      for (const [i, op] of changes.entries()) {
        if (op.type === 'put') steps.push({ kind: 'put', from: temps.get(op)!.path, to: this.resolve(op.key) });
        else if (op.type === 'remove') steps.push({ kind: 'remove', to: this.resolve(op.key) });
        else {
          const to = this.resolve(op.to);
          await this.ensureParent(to); // like a single move: the target's directory may not exist yet
          steps.push({ kind: 'move', from: this.resolve(op.from), to });
        }
        const step = steps[i]!;
        if (step.kind !== 'move') {
          const old = path.join(txnDir, `${id}.${i}.old`);
          try {
            await fs.link(step.to, old);
            step.old = old;
          } catch (err) {
            if (!isErrno(err, 'ENOENT')) throw err;
          }
        }
      }
      const record: TxnRecord = { pid: process.pid, steps };
      temp = await writeTemp(intent, Buffer.from(JSON.stringify(record)), { durable: this.durable });
      await fs.rename(temp, intent);
      temp = undefined;
      if (this.durable) await syncDirectory(txnDir);
    } catch (err) {
      // Nothing was applied yet: drop the intent (durable or not) and the links to the old content.
      if (temp) removeQuietly(temp);
      await finishTxn(intent, steps);
      throw err;
    }
    const done: TxnStep[] = [];
    try {
      for (const step of steps) {
        await applyStep(step);
        done.push(step);
        dirs.add(path.dirname(step.to));
        if (step.from) dirs.add(path.dirname(step.from));
      }
      for (const op of changes) if (op.type === 'put') temps.delete(op);
    } catch (err) {
      for (const step of done.reverse()) await undoStep(step);
      await finishTxn(intent, steps);
      throw err;
    }
    if (this.durable) await syncDirectories(dirs);
    await finishTxn(intent, steps);
    dirs.add(txnDir);
  }

  /** Rolls forward multi-key commits interrupted by a crash, once per instance, before any write. */
  private recover(): Promise<void> {
    this.recovered ??= (async () => {
      const txnDir = path.join(this.location, TXN_DIR);
      const names = await fs.readdir(txnDir).catch((err: unknown) => {
        if (isErrno(err, 'ENOENT')) return [] as string[]; // no journal: nothing to recover
        throw err; // unreadable (EACCES, EIO): writing on would skip an unfinished commit
      });
      for (const name of names.filter((n) => n.endsWith('.json'))) {
        const intent = path.join(txnDir, name);
        const text = await fs.readFile(intent, 'utf8');
        let record: TxnRecord;
        try {
          record = JSON.parse(text) as TxnRecord;
        } catch {
          // A torn intent was never durable, so none of its steps ran: drop it.
          removeQuietly(intent);
          continue;
        }
        if (record.pid !== process.pid && processAlive(record.pid)) continue; // still being applied by its owner
        for (const step of record.steps) await redoStep(step);
        await finishTxn(intent, record.steps);
      }
    })().catch((err: unknown) => {
      this.recovered = undefined; // try again on the next commit, once the cause is fixed
      throw ioError('finish interrupted writes in', this.describe(TXN_DIR), err);
    });
    return this.recovered;
  }
}

/**
 * Runs `work` while `syncing` (a phase's fsyncs) is in flight, then waits for it: the fsyncs are
 * never left unobserved (their descriptors are closed after the commit), even when `work` failed.
 */
async function whileSyncing(syncing: Promise<void>, work: () => Promise<void>): Promise<void> {
  observedLater(syncing);
  try {
    await work();
  } finally {
    await syncing;
  }
}

/**
 * Marks a promise as handled now; its caller awaits it later, after awaits of its own (an fsync that
 * fails meanwhile must not be reported as an unhandled rejection, which ends the process).
 */
function observedLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/**
 * Like Promise.all, but rejects only once every task has settled: a task still running after an
 * early rejection would finish unobserved and leave its temp file or open journal handle behind.
 */
async function settleAll(tasks: Array<Promise<unknown>>): Promise<void> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

async function applyStep(step: TxnStep): Promise<void> {
  if (step.kind === 'put') await fs.rename(step.from!, step.to);
  else if (step.kind === 'remove') {
    await fs.unlink(step.to).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    });
  } else {
    await fs.link(step.from!, step.to);
    await fs.unlink(step.from!);
  }
}

async function undoStep(step: TxnStep): Promise<void> {
  // Best effort per step: keep undoing the others even if one fails.
  if (step.kind === 'move') {
    await fs.link(step.to, step.from!).catch(() => undefined);
    await fs.unlink(step.to).catch(() => undefined);
  } else if (step.old) await fs.rename(step.old, step.to).catch(() => undefined);
  else await fs.unlink(step.to).catch(() => undefined);
}

async function redoStep(step: TxnStep): Promise<void> {
  if (step.kind === 'move') {
    // Idempotent: a link that exists already, or a source already gone, means it happened.
    await fs.link(step.from!, step.to).catch(() => undefined);
    if (await exists(step.to)) await fs.unlink(step.from!).catch(() => undefined);
    return;
  }
  // A put or remove runs only while its target still holds what it held when the commit began (the
  // `old` link, or no file): otherwise it already ran, or a later write replaced the target since,
  // and replaying it would undo that write.
  if (!(await untouchedSince(step))) {
    if (step.kind === 'put') removeQuietly(step.from!); // already renamed, or superseded
    return;
  }
  const ignoreGone = (err: unknown): void => {
    if (!isErrno(err, 'ENOENT')) throw err; // a real error keeps the intent for the next recovery
  };
  if (step.kind === 'put') await fs.rename(step.from!, step.to).catch(ignoreGone);
  else await fs.unlink(step.to).catch(ignoreGone);
}

/** Whether a step's target is still the file (inode) it was when its commit began, or still absent. */
async function untouchedSince(step: TxnStep): Promise<boolean> {
  const now = await fs.lstat(step.to).catch(() => undefined); // absent
  if (!step.old) return now === undefined;
  const then = await fs.lstat(step.old).catch(() => undefined); // absent: cannot tell, so never replay
  return now !== undefined && then !== undefined && now.ino === then.ino && now.dev === then.dev;
}

async function finishTxn(intent: string, steps: TxnStep[]): Promise<void> {
  // The intent goes first: replaying it needs the links to the old content, so they must never be
  // gone while the intent is still there. If it cannot be removed, the next recovery finishes.
  const removed = await fs.unlink(intent).then(
    () => true,
    (err: unknown) => isErrno(err, 'ENOENT'),
  );
  if (!removed) return;
  for (const step of steps) if (step.old) removeQuietly(step.old);
}

function changeKey(op: PutOp | { type: 'remove'; key: string } | { type: 'move'; from: string; to: string }): string {
  return op.type === 'move' ? op.from : op.key;
}

function toEntry(key: string, st: import('node:fs').Stats): StorageEntry {
  return {
    key,
    name: key.slice(key.lastIndexOf('/') + 1),
    kind: st.isDirectory() ? 'directory' : 'file',
    size: st.size,
    mtimeMs: st.mtimeMs,
    mode: st.mode & 0o7777,
  };
}

function isWithin(root: string, target: string): boolean {
  return target === root || target.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

function safeRealpathSync(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined; // missing: cannot escape
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

/** Temp names carry their writer's pid; a live writer's temp is in flight, not stray. */
function ownedByLiveProcess(name: string): boolean {
  const match = /\.(\d+)-\d+-[0-9a-f]+\.cp-tmp$/.exec(name);
  if (!match) return false;
  const pid = Number(match[1]);
  return pid === process.pid ? false : processAlive(pid);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Closes a descriptor opened for reading: the bytes are already read, so a close error changes nothing. */
function closeReadFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // EIO/EINTR at close of a read-only descriptor: nothing was written, nothing to report
  }
}

/**
 * `mkdir -p`, reporting the real errno: Node's recursive mkdir reports ENOENT on a read-only file
 * system (and for EACCES in some layouts), which would name the wrong cause. Returns the first
 * directory created, like `mkdirSync(dir, { recursive: true })`.
 */
function makeDirectory(dir: string): string | undefined {
  try {
    return mkdirSync(dir, { recursive: true });
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    // Find the deepest existing ancestor and create the next level without recursion: its error is the true one.
    let missing = dir;
    while (path.dirname(missing) !== missing && !lstatSync(path.dirname(missing), { throwIfNoEntry: false })) missing = path.dirname(missing);
    mkdirSync(missing); // throws EROFS, EACCES... (or succeeds if the cause went away, then retry once)
    return mkdirSync(dir, { recursive: true }) ?? missing;
  }
}

/**
 * The appends of one phase with those to the same journal joined, in order: one open, one write and
 * one fsync per journal (a save's audit line and its retention line, for instance).
 */
function mergeAppends(ops: ReadonlyArray<PutOp | CopyOp | AppendOp>): AppendOp[] {
  const byKey = new Map<string, { parts: Uint8Array[]; sync: AppendSync }>();
  for (const op of ops) {
    if (op.type !== 'append') continue;
    const level = op.sync ?? 'commit';
    const joined = byKey.get(op.key);
    if (joined) {
      joined.parts.push(op.data);
      // One fsync persists every part: the strictest part decides.
      if (SYNC_RANK[level] > SYNC_RANK[joined.sync]) joined.sync = level;
    } else byKey.set(op.key, { parts: [op.data], sync: level });
  }
  return [...byKey].map(([key, { parts, sync }]) => ({ type: 'append', key, data: parts.length === 1 ? parts[0]! : Buffer.concat(parts), sync }));
}

const SYNC_RANK: Record<AppendSync, number> = { lazy: 0, soon: 1, commit: 2 };
