/**
 * The commit engine of the local storage: a {@link Commit} applied in three phases, each with the
 * crash-safety reason of its order in a comment. The system calls and their order are what the
 * fault-injection, crash and power-cut suites count and kill at: keep them as they are.
 */
import { linkSync, lstatSync, promises as fs, renameSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { ioError, isErrno } from '../../errors.js';
import type { AppendOp, AppendSync, Commit, CopyOp, PutOp } from '../types.js';
import type { Checked, Containment } from './containment.js';
import type { DeferredSyncs } from './deferred.js';
import { appendUnsynced, removeQuietly, stageTemp, writeTemp, type OpenJournal, type StagedTemp } from './durable.js';
import type { AppendHandles, DirectoryHandles } from './handles.js';
import type { IntentJournal } from './intent.js';
import type { PrestagedTemps } from './prestage.js';

type Change = NonNullable<Commit['changes']>[number];

/** The state of one commit in progress. */
interface Run {
  readonly sync: boolean;
  /** Temp files not yet renamed into place: discarded on any error. */
  readonly temps: Map<PutOp, StagedTemp>;
  /** Every journal opened (closed at the end). */
  readonly journals: OpenJournal[];
  /** Directories with a renamed entry, synced in phase 3. */
  readonly dirs: Set<string>;
  readonly seen: Checked;
  /** fsyncs of phase 1 already issued: settled before anything is discarded. */
  readonly started: Array<Promise<void>>;
  /** The key being written, for the error message. */
  current: string;
  /** A file's own journals appended before the change (history lines): taken back if it never becomes visible. */
  readonly history: OpenJournal[];
  /** The change is visible (from here on a failure leaves old or new, never undone). */
  visible: boolean;
  /** Commit.appended. */
  readonly appended: Commit['appended'];
}

/** What the engine works with, owned by the {@link LocalStorage} that composes it. */
export interface EngineParts {
  readonly paths: Containment;
  /** Temp files written ahead of their commit (Storage.prestage). */
  readonly prestaged: PrestagedTemps;
  readonly intents: IntentJournal;
  readonly deferred: DeferredSyncs;
  /** Kept descriptors of the directories commits fsync. */
  readonly directories: DirectoryHandles;
  /** Kept descriptors of the shared journals appended without an fsync of their own. */
  readonly appends: AppendHandles;
  readonly durable: boolean;
  readonly describe: (key: string) => string;
  /** Checks `expect` again, synchronously (the fence just before a change becomes visible). */
  readonly fence: (expect: NonNullable<Commit['expect']>) => void;
  /** Checks `expect` before anything is written, recording the paths it lstats in `seen`. */
  readonly expect: (expect: NonNullable<Commit['expect']>, seen: Checked) => Promise<void>;
}

/** Applies commits to a directory. */
export class CommitEngine {
  constructor(private readonly p: EngineParts) {}

  /** Applies `commit` durably (see Storage.commit); `E_IO` leaves the old content and no temp file. */
  async commit(commit: Commit): Promise<void> {
    await this.p.intents.recover();
    const run: Run = { sync: this.p.durable && commit.sync !== false, temps: new Map(), journals: [], dirs: new Set(), seen: new Map(), started: [], current: '', history: [], visible: false, appended: commit.appended };
    try {
      // Expectations first, after any interrupted commit was finished and before anything is
      // written; the check and the renames are separate system calls, so writers that must not
      // interleave take the same lock (see Commit.expect); the fence checks again before the renames.
      if (commit.expect?.length) await this.p.expect(commit.expect, run.seen);
      // The journals written after the change (the audit log) are checked now: a link leading
      // outside must refuse the commit before anything is visible, not after (a caller would then
      // retry a change that happened).
      for (const op of commit.after ?? []) {
        run.current = op.key;
        this.p.paths.checkInside(this.p.paths.resolve(op.key), run.seen);
      }
      await this.prepare(commit.prepare ?? [], commit.changes ?? [], run, commit.expect);
      const changes = commit.changes ?? [];
      run.current = changes.length === 1 ? changeKey(changes[0]!) : '(several files)';
      if (changes.length === 1) await this.applySingle(changes[0]!, run.temps, run.dirs);
      else if (changes.length > 1) await this.p.intents.applyAll(changes, run.temps, run.dirs);
      run.visible = true;
      await this.finish(commit, run);
    } catch (err) {
      await Promise.allSettled(run.started); // a temp file is closed only once its fsync has returned
      for (const temp of run.temps.values()) temp.discard();
      // Nothing became visible: the history lines written for it are taken back (a line that cannot
      // be is left; the next save of the file records the file as it is).
      if (!run.visible) await Promise.allSettled(run.history.map((journal) => journal.undo()));
      throw ioError('write', this.p.describe(run.current || '.'), err);
    } finally {
      for (const journal of run.journals) journal.close(); // close errors after sync are not data errors
    }
  }

  /**
   * Phase 1 — everything that must exist before a change is visible: new content in temp files,
   * backups of the old content (links), journal lines. Written one after another (small
   * synchronous calls), each temp file's fsync issued as soon as its bytes are written and the
   * others right after: fsyncs in flight together share one journal commit on a journaled ext4, so
   * this phase waits for the disk about once. Ends with the bookkeeping puts renamed into place.
   */
  private async prepare(prepare: NonNullable<Commit['prepare']>, changes: NonNullable<Commit['changes']>, run: Run, expect?: Commit['expect']): Promise<void> {
    const puts = [...prepare, ...changes].filter((op): op is PutOp => op.type === 'put');
    /** Journals of phase 1, synced before the change. */
    const before: OpenJournal[] = [];
    /** Directories with a new entry made in phase 1 (links), synced before any change is visible. */
    const early = new Set<string>();
    for (const op of puts) {
      run.current = op.key;
      const target = this.p.paths.resolve(op.key);
      await this.p.paths.ensureParent(target, run.seen);
      const known = run.seen.get(target); // the lstat of the containment check: a regular file needs no second stat
      // Written ahead by Storage.prestage: its fsync has been running while the changeset planned.
      const staged = this.p.prestaged.claim(op, target, known);
      if (staged?.synced) run.started.push(staged.synced);
      const temp = staged ? await staged.temp : await stageTemp(target, op.data, op.mode, known?.isFile() ? known : undefined);
      run.temps.set(op, temp);
      // Its fsync starts at once: the disk writes the new content while the main thread links
      // the old one and writes the journal lines.
      if (run.sync && !staged?.synced) run.started.push(observedLater(temp.sync()));
    }
    /** Lines that need no fsync before the change: written while the phase's fsyncs run. */
    const relaxed: AppendOp[] = [];
    for (const op of [...prepare.filter((o) => o.type !== 'append'), ...mergeAppends(prepare)]) {
      if (op.type === 'copy') {
        run.current = op.to;
        await this.copy(op, early, run.seen);
      } else if (op.type === 'append') {
        if (op.sync !== 'commit') {
          relaxed.push(op);
          continue;
        }
        run.current = op.key;
        const journal = await this.append(this.p.paths.resolve(op.key), op.data, run.seen, op.ofChange === true);
        run.journals.push(journal);
        run.appended?.(op.key, op.data);
        before.push(journal);
        if (op.ofChange) run.history.push(journal);
      }
    }
    run.current = puts.length === 1 ? puts[0]!.key : run.current;
    // Without sync, `started` holds only the fsyncs of prestaged temps: a descriptor is closed after its fsync returned.
    const ready = run.sync ? settleAll([...run.started, ...before.map((j) => j.sync()), this.p.directories.sync(early, run.seen)]) : settleAll(run.started);
    await whileSyncing(ready, () => this.appendRelaxed(relaxed, run));
    for (const temp of run.temps.values()) temp.close(); // in order, after every fsync of the phase settled
    // Fencing: the phase's fsyncs gave another writer time (this process may have been stopped, or
    // its lock taken over); the compare runs again here, with no await before the renames below.
    if (expect?.length) this.p.fence(expect);
    // Bookkeeping files become visible before the user-visible change they describe.
    for (const op of prepare) {
      if (op.type !== 'put') continue;
      run.current = op.key;
      const target = this.p.paths.resolve(op.key);
      renameSync(run.temps.get(op)!.path, target);
      run.temps.delete(op);
      run.dirs.add(path.dirname(target));
    }
  }

  /**
   * Phase 3 — make it durable: directory entries (renames) and the `after` journals that must be
   * durable before the commit resolves, fsynced together. While the disk works, the main thread
   * does what needs no fsync of its own: the best-effort removals and the relaxed lines.
   */
  private async finish(commit: Commit, run: Run): Promise<void> {
    const merged = mergeAppends(commit.after ?? []); // one op per key
    const late: OpenJournal[] = [];
    for (const op of merged) {
      if (op.sync !== 'commit') continue;
      run.current = op.key;
      const journal = await this.append(this.p.paths.resolve(op.key), op.data, run.seen);
      run.journals.push(journal);
      late.push(journal);
      run.appended?.(op.key, op.data);
    }
    const syncing = run.sync ? settleAll([this.p.directories.sync(run.dirs, run.seen), ...late.map((j) => j.sync())]) : Promise.resolve();
    await whileSyncing(syncing, async () => {
      const relaxed = merged.filter((op) => op.sync !== 'commit');
      if (commit.cleanup) relaxed.push(...(await this.cleanup(commit.cleanup, run.seen)));
      await this.appendRelaxed(mergeAppends(relaxed), run);
    });
  }

  /**
   * Writes lines that no fsync of this commit waits for; each but a `'lazy'` one gets its background
   * fsync (a cleanup record asking for `'commit'` is treated as `'soon'`, see Commit.cleanup).
   */
  private async appendRelaxed(ops: readonly AppendOp[], run: Run): Promise<void> {
    for (const op of ops) {
      run.current = op.key;
      const file = this.p.paths.resolve(op.key);
      // This commit's lstat of the journal (its `after` check, or one now) says whether the kept
      // descriptor is still it: one lstat in place of an open and a close.
      if (!run.seen.has(file)) this.p.paths.checkInside(file, run.seen);
      const known = run.seen.get(file);
      if (!this.p.appends.append(file, op.data, known)) {
        const journal = await this.append(file, op.data, run.seen);
        if (!(journal.fd !== undefined && this.p.appends.keep(file, journal.fd, known))) run.journals.push(journal);
      }
      run.appended?.(op.key, op.data);
      if (op.sync !== 'lazy' && run.sync) this.p.deferred.syncSoon(file);
    }
  }

  /** Appends to a journal inside the root (see appendUnsynced). */
  private async append(file: string, data: Uint8Array, seen: Checked, ownLine = false): Promise<OpenJournal> {
    await this.p.paths.ensureParent(file, seen, false);
    try {
      return await appendUnsynced(file, data, true, ownLine); // O_NOFOLLOW: a plain journal needs no lstat first
    } catch (err) {
      if (!isErrno(err, 'ELOOP')) throw err;
      this.p.paths.checkInside(file, seen); // a link: followed only when it stays inside
      return appendUnsynced(file, data, false, ownLine);
    }
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
        const file = this.p.paths.resolve(key);
        this.p.paths.checkInside(file, seen); // an escaping link stays where it is (and never becomes a history object)
        const keepAs = cleanup.keepAs?.get(key);
        const target = keepAs === undefined ? undefined : this.p.paths.resolve(keepAs);
        if (target !== undefined) await this.p.paths.ensureParent(target, seen, false);
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
    const from = this.p.paths.resolve(op.from);
    const to = this.p.paths.resolve(op.to);
    this.p.paths.checkInside(from, seen);
    await this.p.paths.ensureParent(to, seen, false); // link(2) never follows nor replaces an existing `to`
    try {
      // A hard link keeps the old bytes at no cost: the source is about to be replaced by a rename,
      // so the old inode is never written again. Same mode as the source, so never more readable.
      linkSync(from, to);
    } catch (err) {
      if (isErrno(err, 'EEXIST') && op.ifMissing) return;
      if (isErrno(err, 'EEXIST') || isErrno(err, 'ENOENT')) throw err;
      await this.copyBytes(op, from, to);
    }
    dirs.add(path.dirname(to));
  }

  /** The copy where a hard link is impossible (EPERM, EXDEV...): a durable copy of the bytes, same mode. */
  private async copyBytes(op: CopyOp, from: string, to: string): Promise<void> {
    const data = await fs.readFile(from);
    const mode = (await fs.stat(from)).mode & 0o777;
    const temp = await writeTemp(to, data, { durable: this.p.durable, mode });
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

  private async applySingle(op: Change, temps: Map<PutOp, StagedTemp>, dirs: Set<string>): Promise<void> {
    const paths = this.p.paths;
    if (op.type === 'put') {
      const target = paths.resolve(op.key);
      // The atomic step: readers see the old or the new file, never a mix.
      renameSync(temps.get(op)!.path, target);
      temps.delete(op);
      dirs.add(path.dirname(target));
    } else if (op.type === 'remove') {
      const target = paths.resolve(op.key);
      paths.checkInside(target);
      try {
        unlinkSync(target);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
      dirs.add(path.dirname(target));
    } else {
      const from = paths.resolve(op.from);
      const to = paths.resolve(op.to);
      paths.checkInside(from);
      await paths.ensureParent(to);
      // link + unlink instead of rename: rename would silently replace an existing `to`.
      linkSync(from, to);
      unlinkSync(from);
      dirs.add(path.dirname(from));
      dirs.add(path.dirname(to));
    }
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

function changeKey(op: Change): string {
  return op.type === 'move' ? op.from : op.key;
}

/**
 * The appends of one phase with those to the same journal joined, in order: one open, one write and
 * one fsync per journal (a save's audit line and its retention line, for instance).
 */
export function mergeAppends(ops: ReadonlyArray<PutOp | CopyOp | AppendOp>): AppendOp[] {
  const byKey = new Map<string, { parts: Uint8Array[]; sync: AppendSync; ofChange: boolean }>();
  for (const op of ops) {
    if (op.type !== 'append') continue;
    const level = op.sync ?? 'commit';
    const joined = byKey.get(op.key);
    if (joined) {
      joined.parts.push(op.data);
      // One fsync persists every part: the strictest part decides.
      if (SYNC_RANK[level] > SYNC_RANK[joined.sync]) joined.sync = level;
      joined.ofChange &&= op.ofChange === true; // taken back only if every part may be
    } else byKey.set(op.key, { parts: [op.data], sync: level, ofChange: op.ofChange === true });
  }
  return [...byKey].map(([key, { parts, sync, ofChange }]) => ({
    type: 'append',
    key,
    data: parts.length === 1 ? parts[0]! : Buffer.concat(parts),
    sync,
    ...(ofChange ? { ofChange } : {}),
  }));
}

const SYNC_RANK: Record<AppendSync, number> = { lazy: 0, soon: 1, commit: 2 };
