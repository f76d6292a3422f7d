/**
 * Multi-file commits: all-or-nothing through a small intent journal under `.txn/`. The intent
 * lists every step (rename a temp file into place, remove, move) with a hard link to each
 * target's previous content; it is written durably only after every new file is synced, so after
 * a crash the set can always be rolled forward, and on an error it is rolled back from the links.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, lstatSync, openSync, promises as fs, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ioError, isErrno } from '../../errors.js';
import type { Commit, PutOp } from '../types.js';
import type { Containment } from './containment.js';
import { removeQuietly, syncDirectories, syncDirectory, writeTemp, type StagedTemp } from './durable.js';
import { ownerAlive, parseIdentity, pidExists, selfIdentity } from './owner.js';

/** The directory (under the root) holding the intents. */
export const TXN_DIR = '.txn';

interface TxnStep {
  kind: 'put' | 'remove' | 'move';
  /** put: temp file; move: source. */
  from?: string;
  /** Target path (absolute). */
  to: string;
  /** Hard link of the previous target, for rollback on error. */
  old?: string;
  /** In a pending undo: the inode the step left at `to` (only that one may be taken back). */
  ino?: number;
  dev?: number;
}

interface TxnRecord {
  pid: number;
  /** Who applies it (pid, boot, start time): a pid alone may belong to another process after a reboot. */
  owner?: unknown;
  steps: TxnStep[];
}

/** The intent journal of one {@link LocalStorage}. */
export class IntentJournal {
  private recovered: Promise<void> | undefined;
  private done = false;

  constructor(
    private readonly paths: Containment,
    private readonly durable: boolean,
    private readonly describe: (key: string) => string,
  ) {}

  /**
   * Several keys at once, all-or-nothing. The intent record is written (durably) only after every
   * new file is synced, so after a crash the set can always be rolled forward; on an error here it
   * is rolled back from hard links of the previous content. `temps` loses the puts applied; `dirs`
   * gains the directories to fsync.
   */
  async applyAll(changes: NonNullable<Commit['changes']>, temps: Map<PutOp, StagedTemp>, dirs: Set<string>): Promise<void> {
    const txnDir = path.join(this.paths.location, TXN_DIR);
    await this.paths.ensureParent(path.join(txnDir, 'x'));
    const id = `${Date.now()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    const intent = path.join(txnDir, `${id}.json`);
    const steps = await this.writeIntent(changes, temps, txnDir, id, intent);
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
      await this.rollBack(intent, steps, done);
      throw err;
    }
    if (this.durable) await syncDirectories(dirs);
    finishTxn(intent, steps);
    dirs.add(txnDir);
  }

  /**
   * Rolls forward multi-key commits interrupted by a crash, once per instance, before the first
   * read or write: nothing ever sees the state half way through a crashed commit.
   */
  recover(): Promise<void> {
    this.recovered ??= Promise.resolve().then(() => this.recoverSync());
    return this.recovered;
  }

  /**
   * {@link recover} done synchronously (for `Configuration.openSync`'s reads, and inside
   * `recover`: recovery is rare and small, and one code path serves both).
   */
  recoverSync(): void {
    if (this.done) return;
    const txnDir = path.join(this.paths.location, TXN_DIR);
    let names: string[];
    try {
      names = readdirSync(txnDir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) names = []; // no journal: nothing to recover
      // Unreadable (EACCES, EIO): reading or writing on would skip an unfinished commit.
      else throw ioError('finish interrupted writes in', this.describe(TXN_DIR), err);
    }
    try {
      for (const name of names.filter((n) => n.endsWith('.json'))) recoverIntent(path.join(txnDir, name));
    } catch (err) {
      this.recovered = undefined; // try again on the next use, once the cause is fixed
      throw ioError('finish interrupted writes in', this.describe(TXN_DIR), err);
    }
    this.done = true;
  }

  /**
   * Takes back the steps `done` of a commit that failed half way. The undo is recorded durably first
   * (`<id>.undo.json`, written in place: the failing call may be rename itself), so if a step cannot
   * be taken back now — the disk that refused the commit often refuses its undo too — the intent,
   * the links and the record stay, and the next read or write (of this process or any other) takes
   * it back before it sees anything: never a half-applied commit, never the old content lost.
   */
  private async rollBack(intent: string, steps: TxnStep[], done: TxnStep[]): Promise<void> {
    if (done.length === 0) return finishTxn(intent, steps);
    const record = undoPath(intent);
    const recorded = tryWriteUndo(record, done, this.durable);
    let failed = false;
    for (const step of [...done].reverse()) failed = !(await undoStep(step)) || failed;
    if (failed && recorded) {
      this.done = false; // the pending undo runs before this instance reads or writes again
      this.recovered = undefined;
      return;
    }
    if (recorded) removeQuietly(record);
    finishTxn(intent, steps);
  }

  /** The steps, with links to the previous content, recorded durably in `intent`; nothing applied yet. */
  private async writeIntent(changes: NonNullable<Commit['changes']>, temps: Map<PutOp, StagedTemp>, txnDir: string, id: string, intent: string): Promise<TxnStep[]> {
    const steps: TxnStep[] = [];
    let temp: string | undefined;
    try {
      for (const [i, op] of changes.entries()) {
        if (op.type === 'put') steps.push({ kind: 'put', from: temps.get(op)!.path, to: this.paths.resolve(op.key) });
        else if (op.type === 'remove') steps.push({ kind: 'remove', to: this.paths.resolve(op.key) });
        else {
          const to = this.paths.resolve(op.to);
          await this.paths.ensureParent(to); // like a single move: the target's directory may not exist yet
          steps.push({ kind: 'move', from: this.paths.resolve(op.from), to });
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
      const record: TxnRecord = { pid: process.pid, owner: selfIdentity(), steps };
      temp = await writeTemp(intent, Buffer.from(JSON.stringify(record)), { durable: this.durable });
      await fs.rename(temp, intent);
      temp = undefined;
      if (this.durable) await syncDirectory(txnDir);
      return steps;
    } catch (err) {
      // Nothing was applied yet: drop the intent (durable or not) and the links to the old content.
      if (temp) removeQuietly(temp);
      finishTxn(intent, steps);
      throw err;
    }
  }
}

/** Rolls one intent forward, unless its owner is still alive and applying it; a pending undo (`<id>.undo.json`) runs instead. */
function recoverIntent(intent: string): void {
  const base = intent.endsWith(UNDO_SUFFIX) ? `${intent.slice(0, -UNDO_SUFFIX.length)}.json` : intent;
  const pending = readRecord(undoPath(intent));
  if (pending && exists(base)) {
    // Anyone may take it back: its owner failed and handed it over (see IntentJournal.rollBack).
    for (const step of [...pending.steps].reverse()) takeBackStep(step);
    finishTxn(base, readRecord(base)?.steps ?? pending.steps); // every link of the intent, taken or not
    removeQuietly(undoPath(intent));
    return;
  }
  if (intent !== base) {
    removeQuietly(intent); // its intent was finished: nothing is left to take back
    return;
  }
  const record = readRecord(intent);
  if (!record) {
    // A torn intent was never durable, so none of its steps ran: drop it.
    removeQuietly(intent);
    return;
  }
  if (ownerAppliesIt(record)) return;
  for (const step of record.steps) redoStep(step);
  finishTxn(intent, record.steps);
}

const UNDO_SUFFIX = '.undo.json';

/** The pending-undo record of `intent` (`<id>.json` → `<id>.undo.json`). */
function undoPath(intent: string): string {
  return intent.endsWith(UNDO_SUFFIX) ? intent : intent.replace(/\.json$/, UNDO_SUFFIX);
}

/** An intent or undo record; undefined when absent or torn (a torn record was never durable, so never acted on). */
function readRecord(file: string): TxnRecord | undefined {
  let text: string;
  try {
    // As bytes: Node 20's fast path of readFileSync(file, 'utf8') aborts the process when close(2) fails.
    text = readFileSync(file).toString('utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as TxnRecord;
  } catch {
    return undefined;
  }
}

/**
 * Writes the undo record of `done` (each step with the inode it left at its target) durably,
 * without a rename. False when it could not be written: the undo then runs unrecorded, as before.
 */
function tryWriteUndo(file: string, done: TxnStep[], durable: boolean): boolean {
  let fd: number | undefined;
  try {
    const steps = done.map((step) => {
      const now = lstatSync(step.to, { throwIfNoEntry: false });
      return now ? { ...step, ino: now.ino, dev: now.dev } : step;
    });
    const record: TxnRecord = { pid: process.pid, owner: selfIdentity(), steps };
    fd = openSync(file, 'wx', 0o600);
    const data = Buffer.from(JSON.stringify(record));
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
    if (durable) fsyncSync(fd);
    return true;
  } catch {
    if (fd !== undefined) removeQuietly(file);
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * One step of a pending undo, idempotent: only while its target still holds what the step left
 * there (the recorded inode) — otherwise it was taken back already, or a later write replaced it.
 */
function takeBackStep(step: TxnStep): void {
  try {
    takeBack(step);
  } catch (err) {
    // A racing recovery (or the owner's own undo) got there first.
    if (!isErrno(err, 'ENOENT') && !isErrno(err, 'EEXIST')) throw err;
  }
}

function takeBack(step: TxnStep): void {
  const now = lstatSync(step.to, { throwIfNoEntry: false });
  const left = now !== undefined && step.ino !== undefined && now.ino === step.ino && now.dev === step.dev;
  if (step.kind === 'move') {
    if (!left) return;
    if (!exists(step.from!)) linkSync(step.to, step.from!);
    unlinkSync(step.to);
  } else if (step.kind === 'put') {
    if (!left) return;
    if (step.old && exists(step.old)) renameSync(step.old, step.to);
    else if (!step.old) unlinkSync(step.to);
  } else if (now === undefined && step.old && exists(step.old)) renameSync(step.old, step.to); // a remove
}

/**
 * Whether the intent's owner is still running (and will finish it). Judged by its identity, so a
 * pid reused by another process — after a reboot, say — does not keep recovery away for good.
 */
function ownerAppliesIt(record: TxnRecord): boolean {
  const owner = parseIdentity(record.owner);
  const alive = owner ? ownerAlive(owner) : undefined;
  if (alive !== undefined) return alive;
  return record.pid !== process.pid && pidExists(record.pid); // recorded before owners had an identity
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

/** Takes one applied step back; false when that failed. Each step is tried, whatever the others did. */
async function undoStep(step: TxnStep): Promise<boolean> {
  try {
    if (step.kind === 'move') {
      await fs.link(step.to, step.from!).catch((err: unknown) => {
        if (!isErrno(err, 'EEXIST')) throw err;
      });
      await fs.unlink(step.to);
    } else if (step.old) await fs.rename(step.old, step.to);
    else await fs.unlink(step.to);
    return true;
  } catch {
    return false;
  }
}

function redoStep(step: TxnStep): void {
  if (step.kind === 'move') {
    // Idempotent: a link that exists already, or a source already gone, means it happened.
    quietly(() => linkSync(step.from!, step.to));
    if (exists(step.to)) quietly(() => unlinkSync(step.from!));
    return;
  }
  // A put or remove runs only while its target still holds what it held when the commit began (the
  // `old` link, or no file): otherwise it already ran, or a later write replaced the target since,
  // and replaying it would undo that write.
  if (!untouchedSince(step)) {
    if (step.kind === 'put') removeQuietly(step.from!); // already renamed, or superseded
    return;
  }
  try {
    if (step.kind === 'put') renameSync(step.from!, step.to);
    else unlinkSync(step.to);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err; // a real error keeps the intent for the next recovery
  }
}

/** Whether a step's target is still the file (inode) it was when its commit began, or still absent. */
function untouchedSince(step: TxnStep): boolean {
  const now = lstatSync(step.to, { throwIfNoEntry: false }); // absent
  if (!step.old) return now === undefined;
  const then = lstatSync(step.old, { throwIfNoEntry: false }); // absent: cannot tell, so never replay
  return now !== undefined && then !== undefined && now.ino === then.ino && now.dev === then.dev;
}

function finishTxn(intent: string, steps: TxnStep[]): void {
  // The intent goes first: replaying it needs the links to the old content, so they must never be
  // gone while the intent is still there. If it cannot be removed, the next recovery finishes.
  try {
    unlinkSync(intent);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) return;
  }
  for (const step of steps) if (step.old) removeQuietly(step.old);
}

function exists(p: string): boolean {
  return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}

/** Runs a step of recovery whose failure means it already happened (see redoStep). */
function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // EEXIST / ENOENT: done before the crash
  }
}

