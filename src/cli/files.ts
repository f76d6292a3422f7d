/**
 * Files the CLI creates outside the library's pipeline (`init`): new files only, never an
 * overwrite, and durable like everything else in the directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, unlink, link } from 'node:fs/promises';
import path from 'node:path';
import { ioError, isErrno } from '../errors.js';

/**
 * Creates `file` with `text` unless it exists; resolves to whether it was created. Written to a
 * temporary file, fsynced, then hard-linked to its name: `link` fails when the name exists, so an
 * existing file is never replaced (even one created a moment ago by another process), and a crash
 * leaves either no file or the complete one.
 */
export async function createNew(file: string, text: string): Promise<boolean> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    await writeSynced(temp, text, 'wx');
    try {
      await link(temp, file);
    } catch (err) {
      if (isErrno(err, 'EEXIST')) return false;
      throw err;
    }
    await syncDir(dir);
    return true;
  } catch (err) {
    throw ioError('create', file, err);
  } finally {
    await unlink(temp).catch(() => undefined); // gone already, or never made: nothing to clean up
  }
}

/**
 * Appends the `lines` that `file` does not hold yet (creating it if needed); resolves to the lines
 * added. Existing content is never rewritten, only appended to.
 */
export async function addLines(file: string, lines: readonly string[]): Promise<string[]> {
  let current = '';
  try {
    current = await readFile(file, 'utf8');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw ioError('read', file, err);
  }
  const have = new Set(current.split(/\r?\n/).map((l) => l.trim()));
  const missing = lines.filter((l) => !have.has(l));
  if (missing.length === 0) return [];
  const prefix = current === '' || current.endsWith('\n') ? '' : '\n';
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeSynced(file, `${prefix}${current === '' ? '# config-persistence: runtime state, not source\n' : ''}${missing.join('\n')}\n`, 'a');
    await syncDir(path.dirname(file));
  } catch (err) {
    throw ioError('write', file, err);
  }
  return missing;
}

async function writeSynced(file: string, text: string, flag: 'wx' | 'a'): Promise<void> {
  const handle = await open(file, flag, 0o644);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
