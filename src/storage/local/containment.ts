/**
 * Keys to paths, and the guarantee that no path leaves the root: key validation, the per-component
 * symlink check made on every access, and `mkdir -p` of parent directories (made durable).
 */
import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { InvalidNameError, isErrno } from '../../errors.js';
import { keySegments } from '../keys.js';
import { syncDirectory } from './durable.js';

/** Keys whose path {@link Containment.resolve} keeps (a pure function of the key: cleared when full). */
const RESOLVED_CACHE = 2048;

/** Paths one commit has checked (see {@link Containment.checkInside}), with the lstat of those that are not links. */
export type Checked = Map<string, Stats | undefined>;

/** The root of a local storage and every check that keeps paths inside it. */
export class Containment {
  private realRoot: string | undefined;
  private readonly checkedDirs = new Set<string>();
  private readonly resolved = new Map<string, string>();

  constructor(
    readonly location: string,
    private readonly durable: boolean,
  ) {}

  /** Resolves a key to an absolute path inside the root; anything else is `E_INVALID_NAME`. */
  resolve(key: string): string {
    // A save resolves its few keys a dozen times (every operation and check names one): the
    // validation and path.join were ~40 µs of a save's main thread. Only valid keys are kept.
    let file = this.resolved.get(key);
    if (file === undefined) {
      file = path.join(this.location, ...keySegments(key));
      if (this.resolved.size >= RESOLVED_CACHE) this.resolved.clear();
      this.resolved.set(key, file);
    }
    return file;
  }

  /**
   * Refuses a path that leads outside the root through a symbolic link: each component below the
   * root is checked with lstat, and only a link is resolved. Checked on every access, never cached:
   * a directory that was inside a moment ago can have been replaced by a link to elsewhere since.
   * A component below the root costs one lstat (~1 µs synchronously), where a realpath from `/`
   * costs a readlink per component of the whole path. Returns whether the final component is a link.
   * `seen`: paths already checked by the same commit (one operation: a swap in between is the same
   * race as one between a check and the call it guards), skipped; a checked entry that is not a link
   * is recorded there with its lstat.
   */
  checkInside(file: string, seen?: Checked): boolean {
    if (file === this.location) return false;
    const root = this.rootSync();
    const rest = file.slice(this.location.length + 1).split(path.sep);
    let current = this.location;
    const last = rest.length - 1;
    for (const [i, segment] of rest.entries()) {
      current = `${current}${path.sep}${segment}`;
      if (seen?.has(current)) continue;
      let st;
      try {
        st = lstatSync(current, { throwIfNoEntry: false });
      } catch {
        return false; // ENOTDIR, EACCES...: the operation itself fails with that error; nothing is followed
      }
      if (!st) return false; // missing: nothing below it can lead anywhere
      if (!st.isSymbolicLink()) {
        seen?.set(current, st);
        continue;
      }
      let real: string;
      try {
        real = realpathSync.native(current);
      } catch {
        return false; // dangling link: opening it fails with ENOENT, creating through it is refused by O_EXCL
      }
      if (!isWithin(root, real)) throw this.escapes(file);
      if (i === last) return true; // not recorded: the caller must learn again that it is a link
      seen?.set(current, undefined);
    }
    return false;
  }

  /**
   * Creates the parent directory of `file` when needed and checks the path; `final: false` when the
   * call that follows never follows a link at the final name (link(2) targets, O_NOFOLLOW opens).
   */
  async ensureParent(file: string, seen?: Checked, final = true): Promise<void> {
    const dir = path.dirname(file);
    // Already checked by this commit and there (its expectation's lstat): so is its directory.
    if (final && seen?.get(file) !== undefined) return;
    // A directory made earlier may have been removed or renamed away since (`mv backups old`): one
    // lstat, unless this commit has checked it already, says whether it must be made again.
    if (this.checkedDirs.has(dir) && !seen?.has(dir)) {
      const st = lstatSync(dir, { throwIfNoEntry: false });
      if (!st) this.checkedDirs.delete(dir);
      // The same lstat checkInside would make next: recorded, so the directory costs one call, not two.
      else if (seen && !st.isSymbolicLink()) seen.set(dir, st);
    }
    if (!this.checkedDirs.has(dir)) {
      this.checkInside(dir, seen); // before mkdir: never create directories through a link that escapes
      if (!seen?.has(dir)) seen?.set(dir, undefined); // missing until the mkdir below
      const created = makeDirectory(dir);
      if (created !== undefined && this.durable) {
        // A new directory's entry lives in its parent: sync the parent so the directory survives too.
        await syncDirectory(path.dirname(created));
      }
      this.checkedDirs.add(dir);
    }
    if (final) this.checkInside(file, seen);
    else this.checkInside(dir, seen);
  }

  /** The real path of the root (cached once it exists). */
  private rootSync(): string {
    if (this.realRoot === undefined) {
      try {
        this.realRoot = realpathSync.native(this.location);
      } catch {
        return this.location; // not created yet
      }
    }
    return this.realRoot;
  }

  private escapes(file: string): InvalidNameError {
    return new InvalidNameError(
      `${path.relative(process.cwd(), file) || file} is a symbolic link (or inside one) that leads outside ${this.location}; refusing to follow it.`,
    );
  }
}

function isWithin(root: string, target: string): boolean {
  return target === root || target.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/**
 * `mkdir -p`, reporting the real errno: Node's recursive mkdir reports ENOENT on a read-only file
 * system (and for EACCES in some layouts), which would name the wrong cause. Returns the first
 * directory created, like `mkdirSync(dir, { recursive: true })`.
 */
export function makeDirectory(dir: string): string | undefined {
  try {
    return mkdirSync(dir, { recursive: true });
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    // Find the deepest existing ancestor and create the next level without recursion: its error is the true one.
    let missing = dir;
    while (path.dirname(missing) !== missing && !lstatSync(path.dirname(missing), { throwIfNoEntry: false })) missing = path.dirname(missing);
    mkdirSync(missing); // throws EROFS, EACCES... (or succeeds if the cause went away, then retry once)
    return mkdirSync(dir, { recursive: true }) ?? missing;
  }
}
