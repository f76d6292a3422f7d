/**
 * Hot reload, one key at a time: the state machine (`KeyTracker`) that turns "this key may have
 * changed" notifications from the storage into deliveries of complete, parsed and validated
 * documents — never a half-written or invalid one.
 *
 * For each watched key, after a short debounce the file is read and judged by its content:
 * - the bytes this instance wrote itself (`ctx.ownWrites`, recorded before the change is visible)
 *   are taken as the new current state without a delivery: own saves are not echoed, decided by
 *   content, not by timing;
 * - bytes that were modified in place, or that do not parse or validate, must read the same twice,
 *   `settleMs` apart, before anything is decided: a writer may be mid-way. Then valid content is
 *   delivered and invalid content goes to `onError`, once, while the last good data stays current;
 * - content replaced by a rename (how careful editors and this library write) is complete the
 *   moment it is visible and is delivered after the first read;
 * - a missing file is confirmed after a grace period (editors that delete and re-create) and then
 *   reported as `E_NOT_FOUND`; the last good data stays current and a re-created file is delivered
 *   with it as `previous`. The store's own deletes are silent.
 * One more read follows every burst (`TRAILING_MS` after the last event), because the notification
 * layer may drop events (chokidar 4/5 do, within 50 ms); a lost event can delay the final state,
 * never hide it.
 *
 * The watches built on it are in src/watch/watch.ts (`watchKeys`, `watchDocument`) and
 * src/watch/layers.ts (the layer stack of `Configuration`).
 */
import { sha256, type Context, type OwnWriteEvent } from '../core/context.js';
import { cloneDocument, deepEqual, diffDocuments } from '../document/tree.js';
import type { StoredDocument } from '../changeset/documents.js';
import { NotFoundError, ParseError } from '../errors.js';
import type { WatchEvent } from '../types.js';
import type { StorageWatchEvent } from '../storage/types.js';

/** The re-read after the last event (ms): past chokidar's 50 ms window in which it drops changes. */
export const TRAILING_MS = 60;
/** How long a missing file may stay missing before it counts as deleted (ms). */
export const DELETE_GRACE_MS = 100;
/** Under a continuous stream of events, read at least this often (in debounce windows). */
const MAX_WAIT_WINDOWS = 4;
/** Own writes remembered per key while the watcher has not seen them yet. */
const MAX_PENDING_OWN = 32;
/** The "hash" of a missing file, as in own-write events for a removal. */
const MISSING = '';

/**
 * Decides whether a parsed document may be delivered and returns what to deliver (the default
 * validates against the schema and fills defaults, exactly like `loadConfig`). Throws coded errors.
 */
export type AcceptDocument = (key: string, data: unknown, text: string) => unknown;

export interface TrackerSettings {
  debounceMs: number;
  settleMs: number;
  accept: AcceptDocument;
  emptyDocument: Record<string, unknown> | undefined;
  deletions: 'error' | 'change';
  onChange: (event: WatchEvent<unknown>) => void | Promise<void>;
  onError: (error: Error) => void;
}

/** A good state of a file: its bytes, as parsed, and as delivered (validated, defaults filled). */
interface Good {
  sha: string;
  bytes: Uint8Array;
  parsed: unknown;
  data: unknown;
}

/** What one read found: the bytes and their hash, or why they could not be read. */
type ReadResult = { sha: string; bytes: Uint8Array } | { sha: string; error: Error } | undefined;

/** The state machine of one watched key. */
export class KeyTracker {
  private readonly display: string;
  /** The last good content: what the application should be running with. */
  private last: Good | undefined;
  /** Hash of the content last decided on (delivered, adopted or reported), or MISSING. */
  private seen: string | undefined;
  /** Own writes (hashes, in order) not seen by this tracker yet. */
  private own: string[] = [];
  /** Own writes that became visible before this tracker read them: the next check starts from them. */
  private landed: OwnWriteEvent[] = [];
  private inPlace = false;
  /** Content the storage's event carried, newer than anything read so far: the next check uses it. */
  private pushed: Uint8Array | undefined;
  private running = false;
  private again = false;
  private closed = false;
  private debounceTimer: NodeJS.Timeout | undefined;
  private maxWaitTimer: NodeJS.Timeout | undefined;
  private trailingTimer: NodeJS.Timeout | undefined;
  private waiting: { timer: NodeJS.Timeout; resolve: (ok: boolean) => void } | undefined;

  constructor(
    private readonly ctx: Context,
    readonly key: string,
    private readonly settings: TrackerSettings,
  ) {
    this.display = ctx.storage.describe(key);
  }

  current(): unknown {
    return this.last === undefined ? undefined : cloneDocument(this.last.data);
  }

  snapshot(): { doc?: StoredDocument } | undefined {
    // An own write that is visible but not checked yet is what the file holds now (a reload right
    // after a save, triggered by another file, must not resolve the stack with the pre-save bytes).
    // Read-only: the check that comes for it still decides (and adopts) as usual.
    const landed = this.landed.at(-1);
    if (landed && landed.sha !== this.seen && this.own.includes(landed.sha)) {
      if (landed.bytes === undefined) return {};
      const judged = this.judge(landed.bytes);
      if (!('error' in judged)) {
        const text = Buffer.from(landed.bytes).toString('utf8');
        return { doc: { key: this.key, bytes: landed.bytes, text, data: judged.parsed, sha256: landed.sha } };
      }
    }
    const last = this.last;
    if (last) {
      const text = Buffer.from(last.bytes).toString('utf8');
      return { doc: { key: this.key, bytes: last.bytes, text, data: cloneDocument(last.parsed), sha256: last.sha } };
    }
    return this.seen === MISSING ? {} : undefined;
  }

  /** Reads the state the watch starts from. Invalid content is reported; nothing is delivered. */
  async init(): Promise<void> {
    const read = await this.read();
    if (this.closed) return;
    if (read === undefined) {
      this.seen = MISSING;
      return;
    }
    this.seen = read.sha;
    if ('error' in read) return this.report(read.error);
    const judged = this.judge(read.bytes);
    if ('error' in judged) this.report(judged.error);
    else this.last = { sha: read.sha, bytes: read.bytes, data: judged.data, parsed: judged.parsed };
  }

  /** Hears of an own write: before it becomes visible, and once it is. */
  noteOwn(event: OwnWriteEvent): void {
    if (event.phase === 'pending') {
      this.own.push(event.sha);
      if (this.own.length > MAX_PENDING_OWN) this.own.shift();
    } else if (this.own.includes(event.sha)) {
      this.landed.push(event);
    }
  }

  /** Something may have changed: debounce, bound the wait under a stream, re-read after the last event. */
  poke(event: StorageWatchEvent): void {
    if (this.closed) return;
    if (event.value !== undefined) {
      // The content of an atomic change at one revision: complete now, so no debounce and no re-read
      // (a burst still coalesces: pushes during a check leave only the newest for the next one).
      this.pushed = event.value;
      return this.fire();
    }
    if (event.inPlace) this.inPlace = true;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.fire(), this.settings.debounceMs);
    this.maxWaitTimer ??= setTimeout(() => this.fire(), this.settings.debounceMs * MAX_WAIT_WINDOWS);
    clearTimeout(this.trailingTimer);
    this.trailingTimer = setTimeout(() => this.fire(), Math.max(TRAILING_MS, this.settings.debounceMs * 2));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.debounceTimer);
    clearTimeout(this.maxWaitTimer);
    clearTimeout(this.trailingTimer);
    if (this.waiting) {
      clearTimeout(this.waiting.timer);
      this.waiting.resolve(false);
      this.waiting = undefined;
    }
  }

  private fire(): void {
    clearTimeout(this.debounceTimer);
    clearTimeout(this.maxWaitTimer);
    this.debounceTimer = undefined;
    this.maxWaitTimer = undefined;
    void this.run();
  }

  /** One check at a time; events during a check ask for another one after it. */
  private async run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        await this.check();
      } while (this.again && !this.closed);
    } catch (err) {
      this.report(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.running = false;
    }
  }

  private async check(): Promise<void> {
    const inPlace = this.inPlace;
    this.inPlace = false;
    // Own writes visible before this read started: what is read now is at least as new as them.
    const landed = this.landed.splice(0).at(-1);
    const first = this.takePushed() ?? (await this.read());
    if (this.closed) return;
    if (this.adoptIfOwn(first)) return;
    // Not ours: the application runs with its last own write, whether or not it was ever read here
    // (a save followed at once by an external revert must still be delivered).
    if (landed) this.adoptLanded(landed);
    if (first === undefined) return this.missing();
    if (first.sha === this.seen) return;
    if ('error' in first) {
      // Reported once the same failure is seen twice (a file replaced mid-read fails only once).
      if (!(await this.settled(first.sha, inPlace))) return;
      this.seen = first.sha;
      return this.report(first.error);
    }
    // An empty file is accepted (if at all) only once it has settled, like anything written in place.
    const judged = this.judge(first.bytes);
    // Maybe a writer is mid-way: decide only on content that reads the same twice.
    if ((inPlace || 'error' in judged || judged.empty) && !(await this.settled(first.sha, inPlace))) return;
    this.seen = first.sha;
    this.forgetStaleOwn();
    if ('error' in judged) {
      this.report(judged.error);
      return;
    }
    await this.deliver({ sha: first.sha, bytes: first.bytes, data: judged.data, parsed: judged.parsed });
  }

  /**
   * True when the content still hashes to `sha` after `settleMs`. Otherwise another check is queued
   * (still treated as written in place when it was), and nothing is decided on this content.
   */
  private async settled(sha: string, inPlace: boolean): Promise<boolean> {
    if (!(await this.wait(this.settings.settleMs))) return false;
    const second = await this.read();
    if (this.closed) return false;
    if (second?.sha === sha) return true;
    this.inPlace ||= inPlace;
    this.again = true;
    return false;
  }

  /** The file is gone: confirm after a grace period, then report it (unless this store removed it). */
  private async missing(): Promise<void> {
    if (this.seen === MISSING) return;
    // Some editors delete and then re-create: give them a moment.
    if (!(await this.wait(DELETE_GRACE_MS))) return;
    const again = await this.read();
    if (this.closed) return;
    if (again !== undefined) {
      this.again = true;
      return;
    }
    this.seen = MISSING;
    if (this.settings.deletions === 'change') {
      await this.deliver(undefined);
      return;
    }
    this.report(
      new NotFoundError(
        `${this.display} was deleted; the last good configuration stays in effect. Write the file again (or restore a backup) to change it.`,
        this.display,
      ),
    );
  }

  /** Own bytes (or an own removal) become the current state silently; older own writes are superseded. */
  private adoptIfOwn(read: ReadResult): boolean {
    if (read !== undefined && 'error' in read) return false;
    const sha = read?.sha ?? MISSING;
    const index = this.own.lastIndexOf(sha);
    if (index < 0) return false;
    this.own.splice(0, index + 1);
    this.adopt(sha, read?.bytes);
    return true;
  }

  /** Starts from an own write that became visible unseen (if nothing newer of ours was seen since). */
  private adoptLanded(event: OwnWriteEvent): void {
    const index = this.own.lastIndexOf(event.sha);
    if (index < 0) return;
    this.own.splice(0, index + 1);
    this.adopt(event.sha, event.bytes);
  }

  private adopt(sha: string, bytes: Uint8Array | undefined): void {
    if (sha === this.seen) return;
    this.seen = sha;
    if (bytes === undefined) {
      this.last = undefined; // removed by this store: nothing is in effect from this file
      return;
    }
    const judged = this.judge(bytes);
    // Saves are validated before they are written, so this fails only if the schema changed since.
    this.last = 'error' in judged ? undefined : { sha, bytes, data: judged.data, parsed: judged.parsed };
  }

  /** An external state was decided on: own writes older than the one possibly in flight are moot. */
  private forgetStaleOwn(): void {
    const latest = this.ctx.ownWrites.get(this.key);
    this.own = latest !== undefined && this.own.at(-1) === latest ? [latest] : [];
  }

  /** Makes `next` (`undefined`: the file is gone) the current state and tells the listener. */
  private async deliver(next: Good | undefined): Promise<void> {
    const previous = this.last?.data;
    const data = next?.data;
    this.last = next;
    // A rewrite that changes only layout or comments changes nothing for the application.
    if (deepEqual(previous, data)) return;
    if (this.closed) return;
    const event: WatchEvent<unknown> = {
      file: this.key,
      data: cloneDocument(data),
      previous: previous === undefined ? undefined : cloneDocument(previous),
      changes: diffDocuments(previous, data),
    };
    try {
      await this.settings.onChange(event);
    } catch (err) {
      // The listener's own failure: report it, keep watching.
      this.report(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** The pushed content, unless it is over maxFileBytes (then a read reports that with its code). */
  private takePushed(): ReadResult {
    const bytes = this.pushed;
    this.pushed = undefined;
    const max = this.ctx.options.maxFileBytes;
    if (bytes === undefined || (max !== undefined && bytes.length > max)) return undefined;
    return { sha: sha256(bytes), bytes };
  }

  private async read(): Promise<ReadResult> {
    try {
      const bytes = await this.ctx.storage.read(this.key, { maxBytes: this.ctx.options.maxFileBytes });
      return bytes === undefined ? undefined : { sha: sha256(bytes), bytes };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const code = (error as { code?: unknown }).code;
      // Keyed by the error, so the same failure is reported once, not on every event.
      return { sha: `error:${String(code)}:${error.message}`, error };
    }
  }

  /**
   * Parses and validates. Content without a document (empty, only comments) is what an in-place
   * writer leaves right after truncating: an error, unless `emptyDocument` says what it means.
   */
  private judge(bytes: Uint8Array): { data: unknown; parsed: unknown; empty?: true } | { error: Error } {
    try {
      const parsed = this.ctx.codecs.decode(this.display, bytes);
      const text = Buffer.from(bytes).toString('utf8');
      if (parsed === null || parsed === undefined) {
        const empty = this.settings.emptyDocument;
        if (empty === undefined) {
          return { error: new ParseError(this.display, 'the file is empty (a writer may have just truncated it; the last good data stays in effect)') };
        }
        return { data: this.settings.accept(this.key, cloneDocument(empty), text), parsed: null, empty: true };
      }
      // `accept` may fill defaults into what it gets: give it its own copy, keep the parsed form.
      return { data: this.settings.accept(this.key, cloneDocument(parsed), text), parsed };
    } catch (err) {
      return { error: err instanceof Error ? err : new Error(String(err)) };
    }
  }

  private report(error: Error): void {
    if (this.closed) return;
    try {
      this.settings.onError(error);
    } catch (err) {
      // An onError that throws must not stop the watch; the process still hears of it.
      process.emitWarning(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Sleeps `ms`; resolves false when the tracker is closed meanwhile. */
  private wait(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve(!this.closed);
      }, ms);
      this.waiting = { timer, resolve };
    });
  }
}
