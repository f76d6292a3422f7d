/**
 * Plain files outside any store, named by the user with a path: a bundle to export or import, the
 * schema in `schemaDir`. They are not keys of a backend (they may live anywhere, whatever the
 * storage is), so they are read and written here, the one place beside the local backend that
 * touches the file system; writes are as durable as the backend's own (durable.ts).
 */
import { promises as fs, readFileSync, statSync } from 'node:fs';
import { writeFileDurable } from './durable.js';
import { ioError, isErrno, NotFoundError, TooLargeError } from '../../errors.js';

/** What a file is, for messages: "bundle", "schema". */
export interface FileRole {
  /** A noun for messages: `the bundle`, `the schema`. */
  what: string;
  /** Larger files are refused with `E_TOO_LARGE` before they are read. */
  maxBytes?: number;
  /** The hint after `E_NOT_FOUND`. */
  missingHint?: string;
}

/** Reads a UTF-8 file (`E_NOT_FOUND`, `E_TOO_LARGE`, `E_IO` with the path). */
export async function readUserFile(file: string, role: FileRole): Promise<string> {
  try {
    const handle = await fs.open(file, 'r');
    try {
      const { size } = await handle.stat();
      if (role.maxBytes !== undefined && size > role.maxBytes) {
        throw new TooLargeError(`${file} is ${size} bytes, over the limit of ${role.maxBytes} for ${role.what}.`, file);
      }
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new NotFoundError(`${file} does not exist; ${role.missingHint ?? 'check the path'}.`, file);
    if (err instanceof TooLargeError) throw err;
    throw ioError(`read ${role.what}`, file, err);
  }
}

/** Synchronous {@link readUserFile} without the size check, for startup code; raw system errors. */
export function readUserFileSync(file: string): string {
  // Not readFileSync(file, 'utf8'): Node 20's C++ fast path for it aborts the process when close(2) fails.
  return readFileSync(file).toString('utf8');
}

/**
 * Reads a secret's file (an encryption key) synchronously, with its permission bits: the caller
 * refuses one that others may read. Raw system errors (the caller words them).
 */
export function readPrivateFileSync(file: string): { bytes: Buffer; mode: number } {
  const mode = statSync(file).mode;
  return { bytes: readFileSync(file), mode };
}

/** Reads a UTF-8 file asynchronously; raw system errors (the caller words them). */
export function readUserFileRaw(file: string): Promise<string> {
  return fs.readFile(file, 'utf8');
}

/** Writes `data` to `file` atomically (temp file, rename) and, with `durable`, fsynced with its directory. */
export async function writeUserFile(file: string, data: Uint8Array, opts: { what: string; durable: boolean; mode: number }): Promise<void> {
  try {
    await writeFileDurable(file, data, { durable: opts.durable, mode: opts.mode });
  } catch (err) {
    throw ioError(`write ${opts.what}`, file, err);
  }
}
