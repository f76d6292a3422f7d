/**
 * File-system change notifications for keys, with chokidar: the only chokidar-specific code of the
 * library, loaded on first use (`await import`) so that applications that never watch do not pay
 * for it at startup. Another backend (etcd, ...) provides its own `Storage.watch`; the engine
 * above (src/watch/watch.ts) only needs "something about this key may have changed".
 *
 * Why it is built the way it is (measured on Node 20, ext4, inotify; see FACTS.md):
 * - It watches the DIRECTORY of each key and filters by name. A single-file watch follows the inode,
 *   and after a rename-over (vim, VS Code, JetBrains safe write) or a delete + re-create it can go
 *   silent for good. One chokidar watch per directory, however many keys live there.
 * - Besides chokidar's normalised events it listens to the directory's raw events, filtered by
 *   name: chokidar 4/5 drop a `change` that arrives within 50 ms of the previous one for the same
 *   path and never emit it later. The engine also re-reads once after the last event, so a lost
 *   notification can delay the final state but never hide it.
 * - A raw `change` on the directory means the bytes were modified in place (the writer may still be
 *   writing): the event says so, and the engine waits until two reads agree before trusting them.
 * - A directory that does not exist yet (a fresh base directory, no `profiles/` yet) is watched
 *   through its nearest existing ancestor until it appears; a watched directory that is removed is
 *   handed back to its ancestor the same way.
 * - A directory is followed by its NAME, never by the inode it had: `mv profiles profiles.old`
 *   moves the inotify watch away with the inode and reports no event for the files in it, so each
 *   rebuild compares every watched directory's inode with the one it had, re-opens the watch of one
 *   that is gone or was replaced, and pokes the keys in it (their reader then finds them missing,
 *   or finds what the new directory holds).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import { ioError } from '../../errors.js';
import type { StorageWatcher, StorageWatchEvent } from '../types.js';

/** Absolute path of a key (validated by the storage: it never leaves the root). */
export type PathOf = (key: string) => string;

/**
 * Watches `keys` of a directory-backed storage and reports events for them. Resolves once the
 * watch is armed: a change made after that is reported.
 */
export async function watchLocalKeys(
  pathOf: PathOf,
  keys: readonly string[],
  onEvent: (event: StorageWatchEvent) => void,
  onError: (error: Error) => void,
): Promise<StorageWatcher> {
  const watcher = new LocalKeyWatcher(pathOf, onEvent, onError);
  await watcher.update(keys);
  return watcher;
}

class LocalKeyWatcher implements StorageWatcher {
  /** Absolute file path → key. */
  private targets = new Map<string, string>();
  /** Directories holding the targets. */
  private dirs = new Set<string>();
  /** What chokidar watches: each directory, or its nearest existing ancestor while it is missing. */
  private roots = new Set<string>();
  /** The inode (`dev:ino`) of each root when it was watched: a root renamed away or replaced has another. */
  private rootIds = new Map<string, string>();
  /** Directories on the way from an ancestor root down to a missing directory: their creation matters. */
  private awaited = new Set<string>();
  /** Keys whose file is a symbolic link (Kubernetes ConfigMaps swap a `..data` link beside them). */
  private linked = new Set<string>();
  private instance: FSWatcher | undefined;
  private rebuilding: Promise<void> = Promise.resolve();
  private recheckQueued = false;
  private closed = false;

  constructor(
    private readonly pathOf: PathOf,
    private readonly onEvent: (event: StorageWatchEvent) => void,
    private readonly onError: (error: Error) => void,
  ) {}

  update(keys: readonly string[]): Promise<void> {
    const targets = new Map<string, string>();
    for (const key of keys) targets.set(this.pathOf(key), key);
    this.targets = targets;
    this.dirs = new Set([...targets.keys()].map((file) => path.dirname(file)));
    return this.rebuild();
  }

  async close(): Promise<void> {
    this.closed = true;
    // Let a rebuild in progress finish first, so the instance it opens is the one closed here.
    await this.rebuilding;
    const instance = this.instance;
    this.instance = undefined;
    await instance?.close();
  }

  /**
   * Brings the chokidar instance in line with the directories that exist now. A new instance is
   * opened (and armed) before the old one is closed, so no moment goes unwatched; chokidar shares
   * the underlying `fs.watch` handle of a directory between instances.
   */
  private rebuild(): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.closed) return;
      // The first build reports nothing: the caller reads the initial state once the watch is armed.
      const announce = this.instance !== undefined;
      const before = this.rootIds;
      const roots = new Map<string, string>();
      const awaited = new Set<string>();
      for (const dir of this.dirs) {
        const root = await nearestExistingDirectory(dir);
        roots.set(root.path, root.id);
        for (let d = dir; d !== root.path && d !== path.dirname(d); d = path.dirname(d)) awaited.add(d);
      }
      this.awaited = awaited;
      this.linked = await symlinkedKeys(this.targets);
      const replaced = [...roots].some(([root, id]) => before.has(root) && before.get(root) !== id);
      if (!this.instance || replaced || !sameSet(new Set(roots.keys()), this.roots)) {
        // A replaced directory's old watch follows the old inode, and chokidar would hand the same
        // handle to a new instance: close it first. The keys in it are poked below, once armed.
        if (replaced) await this.closeInstance();
        const next = await this.open(new Set(roots.keys()));
        if (this.closed) {
          await next.close();
          return;
        }
        const old = this.instance;
        this.instance = next;
        this.roots = new Set(roots.keys());
        this.rootIds = roots;
        await old?.close();
      }
      if (!announce) return;
      // A directory that just became watched may already hold the file (created together with it);
      // one that stopped being watched (removed, renamed away) or was replaced took its files along
      // without an event for each: their keys are checked again.
      for (const [file, key] of this.targets) {
        const dir = path.dirname(file);
        if (roots.get(dir) !== before.get(dir)) this.onEvent({ type: roots.has(dir) ? 'change' : 'remove', key });
      }
    };
    this.rebuilding = this.rebuilding.then(run).catch((err: unknown) => this.onError(ioError('watch', [...this.dirs].join(', '), err)));
    return this.rebuilding;
  }

  private async closeInstance(): Promise<void> {
    const old = this.instance;
    this.instance = undefined;
    this.roots = new Set();
    this.rootIds = new Map();
    await old?.close();
  }

  /** Re-checks the directories soon (one pending check at a time). */
  private recheck(): void {
    if (this.recheckQueued || this.closed) return;
    this.recheckQueued = true;
    setImmediate(() => {
      this.recheckQueued = false;
      void this.rebuild();
    });
  }

  private async open(roots: Set<string>): Promise<FSWatcher> {
    const { watch } = await import('chokidar');
    const instance = watch([...roots], {
      depth: 0,
      ignoreInitial: true,
      persistent: true,
      // Everything but our files and the directories on the way to them: no per-file handle,
      // stat or event for the rest of the directory (backups, history, audit log, temp files).
      ignored: (p: string) => !(roots.has(p) || this.targets.has(p) || this.awaited.has(p)),
    });
    instance.on('all', (event: string, p: string) => this.normalised(event, p));
    instance.on('raw', (event: string, name: string | null, details: unknown) => this.raw(event, name, details as { watchedPath?: string }, roots));
    instance.on('error', (err: unknown) => this.onError(ioError('watch', [...roots].join(', '), err)));
    await new Promise<void>((resolve) => instance.once('ready', () => resolve()));
    return instance;
  }

  private normalised(event: string, p: string): void {
    if (this.closed) return;
    const key = this.targets.get(p);
    if (key !== undefined) {
      this.onEvent({ type: event === 'unlink' ? 'remove' : 'change', key });
      if (event === 'unlink') this.recheck(); // the whole directory may be gone
    } else if (event === 'addDir' || event === 'unlinkDir') this.recheck();
  }

  private raw(event: string, name: string | null, details: { watchedPath?: string }, roots: Set<string>): void {
    if (this.closed) return;
    const watched = details.watchedPath;
    // Only the directory watchers' events: a per-file watcher follows the old inode after a rename.
    if (watched === undefined || !roots.has(watched)) return;
    // An event without a name, or with the directory's own name (inotify's IN_MOVE_SELF and
    // IN_DELETE_SELF carry it): something happened to the directory itself.
    if (!name || name === path.basename(watched)) {
      this.recheck();
      if (!name) return;
    }
    const full = path.join(watched, name);
    const key = this.targets.get(full);
    if (key !== undefined) {
      this.onEvent({ type: 'change', key, inPlace: event === 'change' });
      return;
    }
    if (this.awaited.has(full) || full === watched) {
      this.recheck();
      return;
    }
    // A link swap beside a symlinked file changes what the file reads without touching its name.
    for (const linkedKey of this.linked) {
      if (path.dirname(this.pathOf(linkedKey)) === watched) this.onEvent({ type: 'change', key: linkedKey });
    }
  }
}

/** `dir` itself when it exists, else the closest ancestor that does; with its inode. */
async function nearestExistingDirectory(dir: string): Promise<{ path: string; id: string }> {
  let current = dir;
  for (;;) {
    const stat = await fs.stat(current).catch(() => undefined); // missing or unreadable: go up
    const parent = path.dirname(current);
    if (stat?.isDirectory() || parent === current) return { path: current, id: stat ? `${stat.dev}:${stat.ino}` : '' };
    current = parent;
  }
}

async function symlinkedKeys(targets: Map<string, string>): Promise<Set<string>> {
  const linked = new Set<string>();
  await Promise.all(
    [...targets].map(async ([file, key]) => {
      const stat = await fs.lstat(file).catch(() => undefined); // missing: not a link (yet)
      if (stat?.isSymbolicLink()) linked.add(key);
    }),
  );
  return linked;
}

function sameSet<T>(a: Set<T>, b: Set<T>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}
