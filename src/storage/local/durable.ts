/**
 * The durable write path: the few system calls that make "old or new complete content, never
 * anything else" true, each with the crash-safety reason next to it.
 *
 * We own this small writer instead of wrapping write-file-atomic: its 7.x/8.0 releases call
 * write() once and ignore a short count (on a full disk a 60 KB write left a 12 KB file and
 * reported success) and never fsync the directory (an acknowledged rename can vanish on power
 * loss). Neither can be fixed from outside, because the damage is done before it returns.
 * test/storage.test.ts and test/full-disk.test.ts hold the evidence.
 *
 * Sync and async: only fsync, and reads or writes of more than {@link SYNC_IO_LIMIT} bytes, go to
 * libuv's thread pool. Every other call (open, stat, write of a small file, rename, link, close)
 * is made synchronously: on a local file system each costs 1–10 µs, while a round trip through
 * the thread pool costs 30–60 µs of latency (measured: the durable save went from 3.1× to about
 * 1× the cost of a hand-written async temp+fsync+rename, see the README's benchmarks). The event
 * loop is never blocked for longer than one such call; waiting for the disk happens off-thread.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, fsync, ftruncateSync, openSync, promises as fs, read, readSync, statSync, unlinkSync, write, writeSync } from 'node:fs';
import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { syncDirectoryShared } from './sync-group.js';

/** Suffix of every temporary file we create; `strayTemps` and repair look for it. */
export const TEMP_SUFFIX = '.cp-tmp';

/**
 * Reads and writes up to this size are made synchronously (a memcpy into the page cache: well under
 * 100 µs); larger ones go to the thread pool so a 5 MB file cannot stall the event loop.
 */
export const SYNC_IO_LIMIT = 256 * 1024;

const fsyncAsync = promisify(fsync);
const writeAsync = promisify(write);
const readAsync = promisify(read);

let counter = 0;
// Drawn once per process: with the pid and the counter it keeps names unique even when a pid is
// reused by a later process that finds an earlier one's leftover temp file.
let nonce = randomBytes(4).toString('hex');
let noncePid = process.pid;

/** A unique temp name beside `target`: same directory so rename() stays atomic (no EXDEV). */
export function tempPathFor(target: string): string {
  const dir = path.dirname(target);
  const base = path.basename(target).slice(0, 60);
  if (noncePid !== process.pid) {
    nonce = randomBytes(4).toString('hex'); // a forked child must not share its parent's names
    noncePid = process.pid;
  }
  counter = (counter + 1) % 1_000_000;
  return path.join(dir, `.${base}.${process.pid}-${counter}-${nonce}${TEMP_SUFFIX}`);
}

function noProgress(): Error {
  // A zero-byte write makes no progress; looping would spin forever on a full device.
  return Object.assign(new Error('write made no progress (disk full?)'), { code: 'ENOSPC', syscall: 'write' });
}

/** Writes every byte: write() may legally write fewer bytes than asked (full disk, signals). */
export async function writeAll(handle: Pick<FileHandle, 'write'>, data: Uint8Array, position: number | null = 0): Promise<void> {
  let offset = 0;
  while (offset < data.byteLength) {
    const { bytesWritten } = await handle.write(data, offset, data.byteLength - offset, position === null ? null : position + offset);
    if (bytesWritten === 0) throw noProgress();
    offset += bytesWritten;
  }
}

/** {@link writeAll} for a file descriptor: synchronous for small data, through the thread pool beyond {@link SYNC_IO_LIMIT}. */
export async function writeAllFd(fd: number, data: Uint8Array, position: number | null = 0): Promise<void> {
  if (data.byteLength > SYNC_IO_LIMIT) {
    await writeAll({ write: (d, o, l, p) => writeAsync(fd, d as Uint8Array, o as number, l as number, p as number | null) } as Pick<FileHandle, 'write'>, data, position);
    return;
  }
  writeAllSync(fd, data, position);
}

/** Writes all of `data` synchronously (a short write continues; no progress at all is an error). */
export function writeAllSync(fd: number, data: Uint8Array, position: number | null): void {
  let offset = 0;
  while (offset < data.byteLength) {
    const written = writeSync(fd, data, offset, data.byteLength - offset, position === null ? null : position + offset);
    if (written === 0) throw noProgress();
    offset += written;
  }
}

/** fsync through the thread pool: the one call that waits for the disk. Never retried (see writeTemp). */
export function syncFd(fd: number): Promise<void> {
  return fsyncAsync(fd);
}

/** Closes quietly: on a path that is already reporting an error, or a descriptor whose data was already synced. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // the first error is the one worth reporting
  }
}

/** Options for {@link writeTemp}. */
export interface TempOptions {
  durable: boolean;
  /** Permission bits for a brand-new file (before umask). */
  mode?: number;
}

/** A temp file written but not yet synced and closed (see {@link stageTemp}). */
export interface StagedTemp {
  /** Where it is; the caller renames it into place once {@link StagedTemp.finish} resolved. */
  readonly path: string;
  /** fsync (when durable) and close; on failure the temp file is removed. */
  finish(durable: boolean): Promise<void>;
  /** The fsync alone (several temps synced together, then closed in a fixed order); on failure the temp file is removed. */
  sync(): Promise<void>;
  /** The checked close after {@link StagedTemp.sync}; on failure the temp file is removed. */
  close(): void;
  /** Closes and removes it (an error elsewhere); safe to call after finish. */
  discard(): void;
}

/**
 * Writes `data` to a fresh temp file beside `target`, leaving it open so that the caller can fsync
 * it together with the other files of a commit (fsyncs issued together share one journal commit).
 */
export async function stageTemp(target: string, data: Uint8Array, mode?: number, known?: Stats): Promise<StagedTemp> {
  if (data.byteLength <= SYNC_IO_LIMIT) return stageTempSync(target, data, mode, known);
  const temp = openTemp(target, mode, known);
  try {
    await writeAllFd(temp.fd, data);
    temp.settle();
  } catch (err) {
    temp.discard();
    throw err;
  }
  return temp.staged;
}

/**
 * {@link stageTemp} for up to {@link SYNC_IO_LIMIT} bytes, in the caller's turn: whoever stages it
 * can issue its fsync before anything else runs (Storage.prestage).
 */
export function stageTempSync(target: string, data: Uint8Array, mode?: number, known?: Stats): StagedTemp {
  const temp = openTemp(target, mode, known);
  try {
    writeAllSync(temp.fd, data, 0);
    temp.settle();
  } catch (err) {
    temp.discard();
    throw err;
  }
  return temp.staged;
}

/** A temp file created for {@link stageTemp}, before its bytes are written. */
function openTemp(target: string, mode: number | undefined, known: Stats | undefined): { fd: number; staged: StagedTemp; settle(): void; discard(): void } {
  // `known`: the target's stat, when the caller has just made it.
  const old = known ?? statSync(target, { throwIfNoEntry: false });
  const temp = tempPathFor(target);
  // O_EXCL: never follow or reuse a file someone else planted at the temp name. Created with the old
  // file's permission bits: the umask can only narrow them, so the new bytes are never more readable
  // than the old ones were, not even for a moment.
  let fd: number | undefined = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode ?? (old ? old.mode & 0o777 : 0o666));
  const opened = fd;
  const discard = (): void => {
    if (fd !== undefined) closeQuietly(fd);
    fd = undefined;
    removeQuietly(temp);
  };
  try {
    // Root rewriting another user's file must not hand it to root.
    if (old && process.getuid?.() === 0 && (old.uid !== 0 || old.gid !== 0)) fchownSync(fd, old.uid, old.gid);
  } catch (err) {
    discard();
    throw err;
  }
  const settle = (): void => {
    // Overwriting keeps the file's permission bits: what the umask dropped (and any special bit) is
    // put back. Rare: the umask usually takes nothing from a file's own bits.
    if (old && (fstatSync(opened).mode & 0o7777) !== (old.mode & 0o7777)) fchmodSync(opened, old.mode & 0o7777);
  };
  const sync = async (): Promise<void> => {
    try {
      // fsync before rename: otherwise a power cut after the rename can leave a zero-length file
      // (delayed allocation). A failed fsync is never retried: the page cache may already have
      // dropped the dirty pages, so a retry could "succeed" without the data.
      await syncFd(fd!);
    } catch (err) {
      discard();
      throw err;
    }
  };
  const close = (): void => {
    try {
      // close() can report deferred write errors (NFS, quotas); it must be checked, not ignored.
      const open = fd!;
      fd = undefined;
      closeSync(open);
    } catch (err) {
      discard();
      throw err;
    }
  };
  const staged: StagedTemp = {
    path: temp,
    discard,
    sync,
    close,
    finish: async (durable) => {
      if (durable) await sync();
      close();
    },
  };
  return { fd: opened, staged, settle, discard };
}

/**
 * Writes `data` to a fresh temp file beside `target` and returns its path once the bytes are on
 * disk. The caller renames it into place (or unlinks it on failure).
 */
export async function writeTemp(target: string, data: Uint8Array, opts: TempOptions): Promise<string> {
  const staged = await stageTemp(target, data, opts.mode);
  await staged.finish(opts.durable);
  return staged.path;
}

/**
 * fsync a directory so that a rename, link or unlink inside it survives a power cut. Without it the
 * new name can be lost even though the file's data was synced (write-file-atomic and conf skip this).
 * Concurrent callers for one directory share an fsync that started after their call (sync-group.ts).
 */
export async function syncDirectory(dir: string): Promise<void> {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await syncDirectoryShared(fd);
  } finally {
    closeQuietly(fd); // a directory has no deferred write errors to report at close
  }
}

/**
 * fsync several directories at once: opened in order, synced in parallel, closed in order once all
 * have settled (so the calls a commit makes come in the same order whichever fsync finishes first).
 */
export async function syncDirectories(dirs: Iterable<string>): Promise<void> {
  const fds: number[] = [];
  try {
    for (const dir of dirs) fds.push(openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY));
    const results = await Promise.allSettled(fds.map((fd) => syncDirectoryShared(fd)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    for (const fd of fds) closeQuietly(fd); // a directory has no deferred write errors to report at close
  }
}

/** A journal opened for appending, written but not yet synced. */
export interface OpenJournal {
  /** fsync; issued together with the other syncs of a commit (they share one journal commit on ext4). */
  sync(): Promise<void>;
  /**
   * Takes the append back (truncates to the length before it, then fsyncs): for a commit that
   * failed before its change became visible, so history never records what did not happen.
   * Only for journals no other writer appends to meanwhile (a file's own, under its lock), opened
   * with `ownLine`; for any other it does nothing.
   */
  undo(): Promise<void>;
  /** Closes; errors after a successful sync are not data errors. */
  close(): void;
  /** The descriptor, for a caller that keeps it open instead of closing it (handles.ts). */
  readonly fd?: number;
}

/**
 * Appends to a journal and returns it open and unsynced, so the caller can fsync it in parallel
 * with other work.
 */
export async function appendUnsynced(file: string, data: Uint8Array, noFollow = false, ownLine = false): Promise<OpenJournal> {
  // O_APPEND: concurrent appenders (other processes) never overwrite each other's lines.
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | (noFollow ? constants.O_NOFOLLOW : 0), 0o600);
  let before: number | undefined;
  try {
    // The length before the line, for taking it back: only a line of its own can be (a shared
    // journal such as the audit log needs no fstat, one system call fewer per append).
    if (ownLine) before = fstatSync(fd).size;
    await writeAllFd(fd, data, null);
  } catch (err) {
    // A line of its own (`ownLine`: nobody else appends here meanwhile) that failed half written
    // is taken back, so the journal is as before; a shared journal keeps the torn tail its
    // readers skip.
    if (ownLine && before !== undefined) takeBack(file, fd, before);
    closeQuietly(fd);
    throw err;
  }
  return {
    sync: () => syncFd(fd),
    undo: async () => {
      // Only while nothing was appended after this line (a writer that took over a lost lock):
      // truncating then would take its line too; a line left behind is what a crash leaves anyway.
      if (before === undefined || fstatSync(fd).size !== before + data.byteLength) return;
      if (before === 0) {
        // It held nothing before (most likely this append created it): gone again, as it was.
        unlinkSync(file);
        return;
      }
      ftruncateSync(fd, before);
      await syncFd(fd);
    },
    close: () => closeQuietly(fd),
    fd,
  };
}

/** Truncates a journal back to `before` bytes (removed when it was empty); best effort. */
function takeBack(file: string, fd: number, before: number): void {
  try {
    if (before === 0) unlinkSync(file);
    else ftruncateSync(fd, before);
  } catch {
    // left as it is: readers skip a torn tail, and verify reports it
  }
}

/**
 * Reads a regular file completely through an open descriptor of `size` bytes (from fstat): one
 * read asking for one byte more than expected tells "complete" apart from "grew meanwhile" without
 * a second fstat. Small files are read synchronously, large ones through the thread pool.
 */
export async function readAllFd(fd: number, size: number): Promise<Uint8Array> {
  const large = size > SYNC_IO_LIMIT;
  let buffer = large ? Buffer.allocUnsafeSlow(size + 1) : Buffer.allocUnsafe(size + 1);
  let offset = 0;
  let grew = false;
  for (;;) {
    if (offset === buffer.length) {
      // Grew since fstat (someone is appending): read on until the end of the file.
      grew = true;
      const bigger = Buffer.allocUnsafeSlow(buffer.length * 2);
      buffer.copy(bigger, 0, 0, offset);
      buffer = bigger;
    }
    const n = large
      ? (await readAsync(fd, buffer, offset, buffer.length - offset, offset)).bytesRead
      : readSync(fd, buffer, offset, buffer.length - offset, offset);
    if (n === 0) break;
    offset += n;
    if (!grew && offset >= size && offset < buffer.length) break; // a short read at the expected size is the end
  }
  return buffer.subarray(0, offset);
}

/** Deletes a file, ignoring "already gone"; used on cleanup paths where the first error matters. */
export function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // best effort: the caller is already reporting an error
  }
}

/**
 * Replaces `target` (any path the user chose, such as an export bundle) atomically and durably:
 * temp file beside it, fsync, rename, fsync of the directory. A failure leaves the old file and no
 * temp file.
 */
export async function writeFileDurable(target: string, data: Uint8Array, opts: TempOptions): Promise<void> {
  const temp = await writeTemp(target, data, opts);
  try {
    await fs.rename(temp, target);
  } catch (err) {
    removeQuietly(temp);
    throw err;
  }
  if (opts.durable) await syncDirectory(path.dirname(target));
}
