/**
 * Background fsyncs of `'soon'` appends (AppendOp.sync): one per journal file per
 * `deferredSyncMs`, all made at once by `close()`.
 */
import { closeSync, constants, openSync } from 'node:fs';
import path from 'node:path';
import { isErrno } from '../../errors.js';
import type { Containment } from './containment.js';
import { syncFd } from './durable.js';

/** The longest a `'soon'` append (AppendOp.sync) waits for its fsync, in ms. */
export const DEFERRED_SYNC_MS = 100;

/** The pending background fsyncs of one {@link LocalStorage}. */
export class DeferredSyncs {
  /** Files with `'soon'` appends waiting for their background fsync, and its timer. */
  private readonly deferred = new Map<string, NodeJS.Timeout>();
  /** Background fsyncs in flight (close() waits for them). */
  private readonly flushing = new Set<Promise<void>>();
  private closing = false;

  constructor(
    private readonly paths: Containment,
    private readonly delayMs: number,
    private readonly describe: (key: string) => string,
  ) {}

  /** Schedules the background fsync of `file` (one per file per `delayMs`). */
  syncSoon(file: string): void {
    if (this.deferred.has(file)) return; // the pending fsync will cover this line too
    const timer = setTimeout(() => this.flushSoon(file), this.closing ? 0 : this.delayMs);
    timer.unref(); // a process may exit before it: only a power cut in that window loses the lines
    this.deferred.set(file, timer);
  }

  /** Makes every pending fsync now and waits for those in flight; later ones run at once. */
  async close(): Promise<void> {
    this.closing = true;
    for (const [file, timer] of this.deferred) {
      clearTimeout(timer);
      this.flushSoon(file);
    }
    await Promise.all([...this.flushing]);
  }

  /** Runs the background fsync of `file` now; a failure is reported as a process warning. */
  private flushSoon(file: string): void {
    this.deferred.delete(file);
    const task = (async () => {
      let fd: number | undefined;
      try {
        // Opened again by name: the lines belong to the file now at that name (fsync is per inode).
        // A link that stays inside is followed, like the append did; one that escapes is refused.
        const link = this.paths.checkInside(file);
        fd = openSync(file, constants.O_RDONLY | (link ? 0 : constants.O_NOFOLLOW));
        await syncFd(fd);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return; // moved away meanwhile: nothing left to make durable here
        process.emitWarning(`config-persistence: could not fsync ${this.describe(path.relative(this.paths.location, file))} (${(err as Error).message}); its newest lines may not survive a power cut.`, {
          code: 'CP_DEFERRED_SYNC',
        });
      } finally {
        if (fd !== undefined) closeReadFd(fd);
      }
    })();
    this.flushing.add(task);
    void task.finally(() => this.flushing.delete(task));
  }
}

/** Closes a descriptor opened for reading: the bytes are already read, so a close error changes nothing. */
export function closeReadFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // EIO/EINTR at close of a read-only descriptor: nothing was written, nothing to report
  }
}
