/**
 * Temp files written before their commit (Storage.prestage). A save knows its new bytes as soon as
 * they are encoded, but its commit starts only after the changeset has planned the backup, the
 * history line and the audit line; the temp file's write and fsync start at once instead, so the
 * disk works while the main thread plans. The commit then takes the staged temp file in place of
 * writing one; its order of calls from there on (link, journal lines, fsyncs, rename) is unchanged.
 *
 * Only an overwrite of an existing regular file is staged early: a new file may need its parent
 * directory made (nothing may be created for a save that is then refused), and a name that is a
 * link is the commit's to check. The temp file takes the old file's bits and owner as they were at
 * staging; the commit checks they still are, and writes a fresh temp file otherwise.
 */
import type { Stats } from 'node:fs';
import type { PrestagedPut, PutOp } from '../types.js';
import type { Checked, Containment } from './containment.js';
import { removeQuietly, stageTempSync, SYNC_IO_LIMIT, type StagedTemp } from './durable.js';

/** One staged temp file, until a commit takes it or its caller releases it. */
interface Entry {
  readonly key: string;
  readonly target: string;
  /** The target's lstat the temp file copied its bits and owner from. */
  readonly stat: Stats;
  /** The temp file, or why it could not be made (the commit that takes it reports that). */
  readonly staged: { temp: StagedTemp } | { error: unknown };
  /** Its fsync, started as soon as the bytes were written (undefined when not durable). */
  readonly synced: Promise<void> | undefined;
}

/** A staged temp file handed to a commit: the temp (rejects with its failure) and the fsync in flight. */
export interface ClaimedTemp {
  readonly temp: Promise<StagedTemp>;
  readonly synced: Promise<void> | undefined;
}

const NOTHING: PrestagedPut = { release: () => undefined };

/** The temp files one {@link LocalStorage} has staged ahead of their commits. */
export class PrestagedTemps {
  /** By the put's data array: the commit's op carries the very array that was staged. */
  private readonly entries = new Map<Uint8Array, Entry>();
  /** Descriptors waiting for their fsync to return before they are closed. */
  private readonly closing = new Set<Promise<void>>();

  constructor(
    private readonly paths: Containment,
    private readonly durable: boolean,
  ) {}

  /** Starts writing `data` for `key` (see Storage.prestage); nothing is staged for a new file or a link. */
  stage(key: string, data: Uint8Array): PrestagedPut {
    if (this.entries.has(data)) return NOTHING;
    let target: string;
    let stat: Stats | undefined;
    try {
      target = this.paths.resolve(key);
      const seen: Checked = new Map();
      this.paths.checkInside(target, seen);
      stat = seen.get(target);
    } catch {
      return NOTHING; // an invalid or escaping name: the commit refuses it with its own error
    }
    // Larger contents are written on the thread pool: the commit stages those itself.
    if (!stat?.isFile() || data.byteLength > SYNC_IO_LIMIT) return NOTHING;
    let staged: Entry['staged'];
    let synced: Promise<void> | undefined;
    try {
      const temp = stageTempSync(target, data, undefined, stat);
      staged = { temp };
      // Issued in this turn, before the caller goes on planning: the disk starts at once.
      synced = this.durable ? temp.sync() : undefined;
      synced?.catch(() => undefined); // awaited by the commit that takes it, or before the close
    } catch (err) {
      // ENOSPC, EACCES...: the commit that takes this reports it as its own failure (E_IO, nothing
      // written), exactly as if it had made the call itself; stageTempSync left no temp file.
      staged = { error: err };
    }
    const entry: Entry = { key, target, stat, staged, synced };
    this.entries.set(data, entry);
    return {
      release: () => {
        if (this.entries.get(data) !== entry) return; // taken by a commit, or released already
        this.entries.delete(data);
        this.discard(entry);
      },
    };
  }

  /**
   * The temp file staged for `op`, whose target resolved to `target` and lstats as `known` now;
   * undefined when none was, or when the target changed bits or owner since (that one is discarded).
   */
  claim(op: PutOp, target: string, known: Stats | undefined): ClaimedTemp | undefined {
    const entry = this.entries.get(op.data);
    if (!entry || entry.key !== op.key || entry.target !== target) return undefined;
    this.entries.delete(op.data);
    const was = entry.stat;
    if (!known?.isFile() || known.mode !== was.mode || known.uid !== was.uid || known.gid !== was.gid) {
      this.discard(entry);
      return undefined;
    }
    const temp = 'temp' in entry.staged ? Promise.resolve(entry.staged.temp) : Promise.reject(entry.staged.error);
    return { temp, synced: entry.synced };
  }

  /** Discards everything staged and waits for their descriptors to close (the storage is closing). */
  async close(): Promise<void> {
    for (const entry of this.entries.values()) this.discard(entry);
    this.entries.clear();
    await Promise.all([...this.closing]);
  }

  private discard(entry: Entry): void {
    if (!('temp' in entry.staged)) return; // never created
    const temp = entry.staged.temp;
    // The name goes now, the descriptor once its fsync has returned: a caller whose save failed may
    // exit at once, and must leave no temp file behind.
    removeQuietly(temp.path);
    const task = (entry.synced ?? Promise.resolve()).then(
      () => temp.discard(),
      () => temp.discard(),
    );
    this.closing.add(task);
    void task.finally(() => this.closing.delete(task));
  }
}
