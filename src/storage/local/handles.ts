/**
 * Descriptors kept open between commits, where a save would otherwise open and close the same few
 * files every time: the directories commits fsync (the base directory, `history/objects`,
 * `backups`...) and the shared journals written without an fsync of their own (`audit.log`, the
 * backup index). A save made 34 system calls on the main thread; these were 8 of them.
 *
 * Directories:
 * A kept descriptor is used only while the path still names the same directory (device and inode;
 * the descriptor keeps its inode alive, so the number cannot have been reused): by the commit's own
 * lstat of the path (its containment check, see Containment.checkInside), or one made here. Anything
 * else — a directory replaced, removed, turned into a link — opens the path afresh, as before. A
 * swap after that lstat is the race the containment check already accepts within one commit.
 *
 * A descriptor is closed only when no fsync of it is in flight (a closed number can be reused by the
 * next open, and the fsync would then reach another file): dropped ones wait for their users.
 */
import { constants, fstatSync, lstatSync, openSync } from 'node:fs';
import type { Stats } from 'node:fs';
import type { Checked } from './containment.js';
import { syncDirectoryShared } from './sync-group.js';
import { closeQuietly, SYNC_IO_LIMIT, writeAllSync } from './durable.js';

/** Directories (and journals) kept open at most; a store commits into a handful. */
const KEPT = 16;

interface Handle {
  readonly dir: string;
  readonly fd: number;
  readonly key: string;
  users: number;
  dropped: boolean;
}

/** The kept directory descriptors of one {@link LocalStorage}. */
export class DirectoryHandles {
  private readonly kept = new Map<string, Handle>();

  /**
   * fsyncs every directory in `dirs` (in parallel; rejects once all have settled, with the first
   * failure). Each fsync starts after this call and makes durable the entries made in it before.
   */
  async sync(dirs: Iterable<string>, seen: Checked): Promise<void> {
    const handles: Handle[] = [];
    try {
      for (const dir of dirs) handles.push(this.acquire(dir, seen));
      const results = await Promise.allSettled(handles.map((h) => syncDirectoryShared(h.fd, h.key)));
      results.forEach((r, i) => {
        // After a failed fsync the descriptor is not trusted again (Linux reports a write-back
        // error once per descriptor): the next commit opens the directory afresh.
        if (r.status === 'rejected') this.drop(handles[i]!);
      });
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } finally {
      for (const h of handles) this.release(h);
    }
  }

  /** Closes every kept descriptor (those in use once their fsync has returned). */
  close(): void {
    for (const h of [...this.kept.values()]) this.drop(h);
  }

  private acquire(dir: string, seen: Checked): Handle {
    const st = seen.get(dir) ?? lstatSync(dir, { throwIfNoEntry: false });
    if (st?.isDirectory()) seen.set(dir, st); // the commit's later checks of it cost nothing
    let h = this.kept.get(dir);
    if (h && (!st?.isDirectory() || `${st.dev}:${st.ino}` !== h.key)) {
      this.drop(h);
      h = undefined;
    }
    if (!h) {
      // Opened by path as before (a link inside the root is followed; ENOENT and EACCES are the commit's errors).
      const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
      const own = fstatSync(fd);
      const key = `${own.dev}:${own.ino}`;
      // Kept only when the path's own lstat is this directory (not a link to it, not swapped meanwhile).
      const keep = st?.isDirectory() === true && `${st.dev}:${st.ino}` === key;
      h = { dir, fd, key, users: 0, dropped: !keep };
      if (keep) {
        if (this.kept.size >= KEPT) this.drop(this.kept.values().next().value!);
        this.kept.set(dir, h);
      }
    }
    h.users++;
    return h;
  }

  private release(h: Handle): void {
    h.users--;
    if (h.dropped && h.users === 0) closeQuietly(h.fd);
  }

  private drop(h: Handle): void {
    if (this.kept.get(h.dir) === h) this.kept.delete(h.dir);
    if (h.dropped) return;
    h.dropped = true;
    if (h.users === 0) closeQuietly(h.fd);
  }
}

/**
 * Shared journals appended to without an fsync of their own (AppendOp.sync `'soon'`/`'lazy'`: the
 * audit log, the backup index), kept open for appending (O_APPEND: other processes' lines are
 * never overwritten). A kept descriptor is written only while the commit's own lstat of the path
 * (its containment check, see CommitEngine) names the same file; a journal rotated, removed or
 * replaced by a link is opened by path again, as before. Their fsyncs stay the background ones
 * made by path (deferred.ts).
 */
export class AppendHandles {
  private readonly kept = new Map<string, { fd: number; key: string }>();

  /**
   * Appends `data` through the kept descriptor of `file` when `known` (this commit's lstat of it)
   * is the file it was opened on; returns false when there is none, and the caller appends by path.
   */
  append(file: string, data: Uint8Array, known: Stats | undefined): boolean {
    const kept = this.kept.get(file);
    // Large lines are written on the thread pool: by path, so no write is ever in flight on a kept descriptor.
    if (data.byteLength > SYNC_IO_LIMIT) return false;
    if (kept === undefined || !known?.isFile() || `${known.dev}:${known.ino}` !== kept.key) {
      if (kept !== undefined) this.forget(file);
      return false;
    }
    try {
      writeAllSync(kept.fd, data, null);
    } catch (err) {
      this.forget(file); // ENOSPC, EIO...: the next line opens the journal afresh
      throw err;
    }
    return true;
  }

  /** Keeps `fd` (just opened on `file` and appended to) when `known` is the file it opened. */
  keep(file: string, fd: number, known: Stats | undefined): boolean {
    if (!known?.isFile() || this.kept.has(file)) return false;
    const own = fstatSync(fd);
    if (own.dev !== known.dev || own.ino !== known.ino) return false;
    if (this.kept.size >= KEPT) this.forget(this.kept.keys().next().value!);
    this.kept.set(file, { fd, key: `${own.dev}:${own.ino}` });
    return true;
  }

  /** Closes every kept descriptor. */
  close(): void {
    for (const file of [...this.kept.keys()]) this.forget(file);
  }

  private forget(file: string): void {
    const kept = this.kept.get(file);
    this.kept.delete(file);
    if (kept) closeQuietly(kept.fd); // writes are synchronous or awaited by their commit: none in flight
  }
}

/**
 * Closes `handles` once `owner` is garbage collected: a storage dropped without close() (an
 * instance made per request, say) must not keep its descriptors until the process runs out.
 * Descriptors in use by an fsync are closed when it returns (DirectoryHandles.close).
 */
export function closeWhenCollected(owner: object, handles: ReadonlyArray<{ close(): void }>): void {
  collected.register(owner, handles);
}

const collected = new FinalizationRegistry<ReadonlyArray<{ close(): void }>>((handles) => {
  for (const h of handles) h.close();
});
