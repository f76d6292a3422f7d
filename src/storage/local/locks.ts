/**
 * Cross-process locks of the local storage: one lock directory per name under `.locks/`
 * (proper-lockfile), taken over once its holder stops refreshing it for `staleLockMs`.
 */
import { mkdirSync, realpathSync, rmdirSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { lockfileLib } from '../../core/lazy-deps.js';
import { ioError, isErrno, LockedError } from '../../errors.js';
import type { LockOptions, Release } from '../types.js';
import { makeDirectory } from './containment.js';

/**
 * The only calls proper-lockfile's sync API makes. Passed as its `fs`: it copies the object it is
 * given on every lock, and a copy of all of graceful-fs cost ~50 µs per save.
 */
const LOCK_FS = { mkdirSync, realpathSync, statSync, rmdirSync, utimesSync };

/** The directory (under the root) holding the lock directories. */
export const LOCK_DIR = '.locks';

/** A cross-process lock this instance holds. */
interface HeldLock {
  /** Taken over by another process after this one stalled: never reuse it. */
  compromised: boolean;
  /** Removes the lock (quietly). */
  release(): void;
}

/** The locks of one {@link LocalStorage}. */
export class LocalLocks {
  /** `.locks` exists (created once per instance: two fewer system calls on every save). */
  private lockDirReady = false;
  /** Locks released by their holder but kept until the end of this turn of the event loop (see lock). */
  private readonly lingering = new Map<string, { lock: HeldLock; timer: NodeJS.Immediate }>();
  private closing = false;

  constructor(
    private readonly location: string,
    private readonly staleLockMs: number,
    private readonly describe: (key: string) => string,
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
    const target = path.join(this.location, LOCK_DIR, name.replace(/[/\\]/g, '__'));
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    let delay = 5;
    for (;;) {
      try {
        return this.releaserOf(name, this.tryLock(target));
      } catch (err) {
        if (isErrno(err, 'ENOENT') && !remade) {
          // Someone removed `.locks` since we created it: create it again, once.
          remade = true;
          this.makeLockDir();
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
    try {
      makeDirectory(path.join(this.location, LOCK_DIR));
    } catch (err) {
      throw ioError('create the lock directory', this.describe(LOCK_DIR), err);
    }
    this.lockDirReady = true;
  }

  /** One attempt; throws ELOCKED when held. */
  private tryLock(target: string): HeldLock {
    // The sync API: an uncontended lock is a mkdir and a stat (µs each), not two thread-pool round
    // trips; waiting for a held lock still happens asynchronously (see lock).
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
    return held;
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
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
