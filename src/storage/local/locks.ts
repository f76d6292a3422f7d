/**
 * Cross-process locks of the local storage: one lock file per name under `.locks/`, created with
 * `O_CREAT | O_EXCL` (atomic: one process succeeds) and holding who holds it (pid, host, boot id,
 * process start time, a token of this hold). One file, not a directory with an owner file in it:
 * taking and giving back a lock are then one directory change each instead of two, and on these
 * disks a directory change costs the main thread 20-400 µs (a lock cycle measured 233 µs as a
 * directory, 75 µs as a file). A directory lock left by an earlier version (`<name>.lock/owner.json`)
 * excludes the same way and is read the same way: the name is the lock, whatever it is.
 *
 * A lock is taken over when its holder is known to be gone, or when its lease has expired:
 * - On this machine a dead holder is recognised at once (its pid is gone, belongs to a process
 *   that started later, or the machine rebooted since): the first save after a crash costs what a
 *   clean start costs.
 * - Otherwise (a live holder, or one on another host) the holder renews its lease by touching the
 *   lock every `staleLockMs / 4` while it holds it; a waiter takes over once it has seen no
 *   renewal for `staleLockMs` by its own monotonic clock. Modification times are only compared with
 *   each other, never with the local wall clock, so a clock stepped back or ahead changes nothing.
 * A holder that stalls past its lease may lose the lock while it still runs; its commits are then
 * refused by the storage's compare (fencing, see Commit.expect), never trusted to the lock.
 *
 * proper-lockfile (used before) judges staleness by comparing an mtime with `Date.now()` and knows
 * no owner, so it can do neither of the above.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ioError, isErrno, LockedError } from '../../errors.js';
import type { LockOptions, Release } from '../types.js';
import { makeDirectory } from './containment.js';
import { ownerAlive, parseIdentity, selfIdentity } from './owner.js';

/** The directory (under the root) holding the lock files. */
export const LOCK_DIR = '.locks';

/** The owner file inside a directory lock of an earlier version. */
const OWNER_FILE = 'owner.json';

/** A cross-process lock this instance holds. */
interface HeldLock {
  /** The lock file. */
  readonly file: string;
  readonly token: string;
  /** Taken over by another process after this one stalled: never reuse it. */
  compromised: boolean;
  /** Stops the lease renewal and removes the lock if it is still ours (quietly). */
  release(): void;
}

/** What a waiter has seen of a held lock: its mtime, and when (monotonic) it last changed. */
interface Sighting {
  mtimeMs: number;
  since: number;
}

/** Locks held by this process, removed when it exits normally (a killed one is recognised as dead). */
const heldByProcess = new Set<HeldLock>();
let exitHook = false;

/** The locks of one {@link LocalStorage}. */
export class LocalLocks {
  /** `.locks` exists (created once per instance: two fewer system calls on every save). */
  private lockDirReady = false;
  /** Locks released by their holder but kept until the end of this turn of the event loop (see lock). */
  private readonly lingering = new Map<string, { lock: HeldLock; timer: NodeJS.Immediate }>();
  private readonly sightings = new Map<string, Sighting>();
  private closing = false;

  constructor(
    private readonly location: string,
    private readonly staleLockMs: number,
    private readonly describe: (key: string) => string,
    /** Refuses (`E_INVALID_NAME`) a path that a link leads outside the root. */
    private readonly checkInside: (dir: string) => void,
  ) {}

  /** Takes the lock `name`, waiting up to `timeoutMs` (default 10 s) before `E_LOCKED`. */
  async lock(name: string, opts: LockOptions = {}): Promise<Release> {
    // Released by this process a moment ago (an awaited save right after another): still ours.
    const kept = this.lingering.get(name);
    if (kept) {
      this.lingering.delete(name);
      clearImmediate(kept.timer);
      if (!kept.lock.compromised) return this.releaserOf(name, kept.lock);
      kept.lock.release();
    }
    if (!this.lockDirReady) this.makeLockDir();
    let remade = false;
    // `_` escaped first, so `a/b` (a_s b) and `a__b` (a_u_ub) never share a lock.
    const file = path.join(this.location, LOCK_DIR, `${name.replace(/_/g, '_u').replace(/[/\\]/g, '_s')}.lock`);
    const deadline = performance.now() + (opts.timeoutMs ?? 10_000);
    let delay = 5;
    for (;;) {
      try {
        return this.releaserOf(name, this.tryLock(file));
      } catch (err) {
        if (isErrno(err, 'ENOENT') && !remade) {
          // Someone removed `.locks` since we created it: create it again, once.
          remade = true;
          this.makeLockDir();
          continue;
        }
        if (!isErrno(err, 'EEXIST')) throw ioError('lock', name, err);
        if (this.takeOverIfGone(file)) continue;
        if (performance.now() >= deadline) {
          throw new LockedError(
            `${this.describe(name)} is locked by another process that is still running; retry later (a holder that stops renewing its lock loses it after ${Math.ceil(this.staleLockMs / 1000)} s).`,
            name,
            err,
          );
        }
        await sleep(delay + Math.random() * delay);
        delay = Math.min(delay * 2, 100);
      }
    }
  }

  /** Releases the locks kept for reuse (see releaserOf); every later release is immediate. */
  close(): void {
    this.closing = true;
    for (const [name, kept] of this.lingering) {
      this.lingering.delete(name);
      clearImmediate(kept.timer);
      kept.lock.release();
    }
  }

  private makeLockDir(): void {
    const dir = path.join(this.location, LOCK_DIR);
    try {
      makeDirectory(dir);
    } catch (err) {
      throw ioError('create the lock directory', this.describe(LOCK_DIR), err);
    }
    this.checkInside(dir); // a `.locks` that is a link leading outside: no lock is ever made there
    this.lockDirReady = true;
  }

  /** One attempt; throws EEXIST when held. */
  private tryLock(file: string): HeldLock {
    // Synchronous: an uncontended lock is a create and a small write (µs each), not thread-pool
    // round trips; waiting for a held lock still happens asynchronously (see lock).
    const fd = openSync(file, 'wx', 0o600);
    const token = randomBytes(8).toString('hex');
    try {
      try {
        writeSync(fd, JSON.stringify({ ...selfIdentity(), token }));
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      rmSync(file, { force: true });
      throw err;
    }
    this.sightings.delete(file);
    return this.hold(file, token);
  }

  /** A lock just taken: its lease renewed until released, its loss to a taker noticed. */
  private hold(file: string, token: string): HeldLock {
    const held: HeldLock = {
      file,
      token,
      compromised: false,
      release: () => {
        clearInterval(renewal);
        heldByProcess.delete(held);
        if (held.compromised) return;
        if (holderOf(file, token) === 'other') return; // taken over: the lock is someone else's now
        // Best effort after the work is done: a lock left behind names this process, whose exit
        // makes it recognisably gone.
        try {
          unlinkSync(file);
        } catch {
          // see above
        }
      },
    };
    const renewal = setInterval(() => {
      if (holderOf(file, token) === 'other') {
        held.compromised = true;
        clearInterval(renewal);
        return;
      }
      try {
        const now = new Date();
        utimesSync(file, now, now);
      } catch {
        held.compromised = true; // removed or unreachable: the next use takes a fresh lock
      }
    }, Math.max(250, Math.floor(this.staleLockMs / 4)));
    renewal.unref();
    heldByProcess.add(held);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const lock of heldByProcess) lock.release();
      });
    }
    return held;
  }

  /**
   * Removes a lock whose holder is gone (at once, when that can be known on this machine) or whose
   * lease this process has watched go unrenewed for `staleLockMs`; returns whether it did.
   */
  private takeOverIfGone(lock: string): boolean {
    const owner = readOwner(lock);
    let gone = owner ? ownerAlive(owner.identity) === false : false;
    if (!gone) {
      const st = lstatSync(lock, { throwIfNoEntry: false });
      if (!st) return true; // released meanwhile: try again now
      const now = performance.now();
      const seen = this.sightings.get(lock);
      if (!seen || seen.mtimeMs !== st.mtimeMs) this.sightings.set(lock, { mtimeMs: st.mtimeMs, since: now });
      else gone = now - seen.since >= this.staleLockMs;
    }
    if (!gone) return false;
    // Aside first (one rename: of several takers only one moves this lock), then removed.
    const aside = `${lock}.gone-${randomBytes(4).toString('hex')}`;
    try {
      renameSync(lock, aside);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return true; // another taker was first
      throw err;
    }
    this.sightings.delete(lock);
    rmSync(aside, { recursive: true, force: true });
    return true;
  }

  /**
   * The release function of a held lock. The lock is really released at the end of the current turn
   * of the event loop, unless this process takes it again before that: an awaited save right after
   * another (a loop, a read-modify-write sequence) then keeps it, saving a create, a write and a
   * removal. Others wait no longer than they would for a holder that is still working.
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
}

function readOwner(lock: string): { identity: NonNullable<ReturnType<typeof parseIdentity>>; token: string } | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(ownerText(lock));
  } catch {
    return undefined; // not written yet (the holder is between its create and its write), or torn: judged by its lease
  }
  const identity = parseIdentity(raw);
  const token = (raw as { token?: unknown }).token;
  return identity && typeof token === 'string' ? { identity, token } : undefined;
}

/**
 * The owner record of a lock: the lock file's content, or the owner file inside a directory lock
 * an earlier version left. Read as bytes: Node 20's C++ fast path of readFileSync(file, 'utf8')
 * aborts the process when close(2) fails (found by the fault-injection sweep: SIGABRT on an EIO
 * from close).
 */
function ownerText(lock: string): string {
  try {
    return readFileSync(lock).toString('utf8');
  } catch (err) {
    if (!isErrno(err, 'EISDIR')) throw err;
    return readFileSync(path.join(lock, OWNER_FILE)).toString('utf8');
  }
}

/**
 * Whether the lock `file` is still the hold with `token`: `other` when another process holds it
 * (or it is gone), `unknown` when it cannot be read for another reason (EIO, EACCES): nothing then
 * says it is not ours.
 */
function holderOf(file: string, token: string): 'self' | 'other' | 'unknown' {
  let text: string;
  try {
    text = ownerText(file);
  } catch (err) {
    return isErrno(err, 'ENOENT') ? 'other' : 'unknown';
  }
  try {
    return (JSON.parse(text) as { token?: unknown }).token === token ? 'self' : 'other';
  } catch {
    return 'other'; // a torn lock file is a taker's, between its create and its write
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
