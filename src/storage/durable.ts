/**
 * The durable write path: the few system calls that make "old or new complete content, never
 * anything else" true, each with the crash-safety reason next to it.
 *
 * We own this small writer instead of wrapping write-file-atomic: its 7.x/8.0 releases call
 * write() once and ignore a short count (on a full disk a 60 KB write left a 12 KB file and
 * reported success) and never fsync the directory (an acknowledged rename can vanish on power
 * loss). Neither can be fixed from outside, because the damage is done before it returns.
 * test/storage.test.ts and test/full-disk.test.ts hold the evidence.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** Suffix of every temporary file we create; `strayTemps` and repair look for it. */
export const TEMP_SUFFIX = '.cp-tmp';

let counter = 0;

/** A unique temp name beside `target`: same directory so rename() stays atomic (no EXDEV). */
export function tempPathFor(target: string): string {
  const dir = path.dirname(target);
  const base = path.basename(target).slice(0, 60);
  counter = (counter + 1) % 1_000_000;
  return path.join(dir, `.${base}.${process.pid}-${counter}-${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
}

/** Writes every byte: write() may legally write fewer bytes than asked (full disk, signals). */
export async function writeAll(handle: FileHandle, data: Uint8Array, position: number | null = 0): Promise<void> {
  let offset = 0;
  while (offset < data.byteLength) {
    const { bytesWritten } = await handle.write(
      data,
      offset,
      data.byteLength - offset,
      position === null ? null : position + offset,
    );
    // A zero-byte write makes no progress; looping would spin forever on a full device.
    if (bytesWritten === 0) throw Object.assign(new Error('write made no progress (disk full?)'), { code: 'ENOSPC', syscall: 'write' });
    offset += bytesWritten;
  }
}

/** Options for {@link writeTemp}. */
export interface TempOptions {
  durable: boolean;
  /** Permission bits for a brand-new file (before umask). */
  mode?: number;
}

/**
 * Writes `data` to a fresh temp file beside `target` and returns its path once the bytes are on
 * disk. The caller renames it into place (or unlinks it on failure).
 */
export async function writeTemp(target: string, data: Uint8Array, opts: TempOptions): Promise<string> {
  const old = await fs.stat(target).catch(() => undefined);
  const temp = tempPathFor(target);
  // O_EXCL: never follow or reuse a file someone else planted at the temp name.
  const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, opts.mode ?? 0o666);
  try {
    if (old) {
      // Overwriting keeps the file's permission bits (umask applied at open would drop some).
      await handle.chmod(old.mode & 0o7777);
      // Root rewriting another user's file must not hand it to root.
      if (process.getuid?.() === 0 && (old.uid !== 0 || old.gid !== 0)) await handle.chown(old.uid, old.gid);
    }
    await writeAll(handle, data);
    // fsync before rename: otherwise a power cut after the rename can leave a zero-length file
    // (delayed allocation). A failed fsync is never retried: the page cache may already have
    // dropped the dirty pages, so a retry could "succeed" without the data.
    if (opts.durable) await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined); // the write error is the one worth reporting
    await removeQuietly(temp);
    throw err;
  }
  try {
    // close() can report deferred write errors (NFS, quotas); it must be checked, not ignored.
    await handle.close();
  } catch (err) {
    await removeQuietly(temp);
    throw err;
  }
  return temp;
}

/**
 * fsync a directory so that a rename, link or unlink inside it survives a power cut. Without it the
 * new name can be lost even though the file's data was synced (write-file-atomic and conf skip this).
 */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Appends to a journal and returns its open handle unsynced, so the caller can fsync it in
 * parallel with other work (fsyncs issued together share one journal commit on ext4).
 */
export async function appendUnsynced(file: string, data: Uint8Array): Promise<FileHandle> {
  const handle = await fs.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
  try {
    await writeAll(handle, data, null);
  } catch (err) {
    await handle.close().catch(() => undefined); // the write error is the one worth reporting
    throw err;
  }
  return handle;
}

/** Deletes a file, ignoring "already gone"; used on cleanup paths where the first error matters. */
export async function removeQuietly(file: string): Promise<void> {
  await fs.unlink(file).catch(() => undefined); // best effort: the caller is already reporting an error
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
    await removeQuietly(temp);
    throw err;
  }
  if (opts.durable) await syncDirectory(path.dirname(target));
}
