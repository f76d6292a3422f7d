/**
 * Hot reload: turns "this key may have changed" notifications from the storage into deliveries of
 * complete, parsed and validated documents — never a half-written or invalid one.
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
 */
import { sha256, type Context, type OwnWriteEvent } from './context.js';
import { cloneDocument, deepEqual, diffDocuments } from './document.js';
import { validateDocument } from './documents.js';
import { ConfigPersistenceError, NotFoundError, ParseError } from './errors.js';
import type { StorageWatcher, StorageWatchEvent, WatchEvent, WatchHandle, WatchOptions } from './types.js';

/** Default debounce (ms): long enough to coalesce an editor's burst, short enough to go unnoticed. */
export const DEFAULT_DEBOUNCE_MS = 15;
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

/** Options of {@link watchKeys}. */
export interface WatchKeysOptions {
  /** Coalescing window (ms). Default {@link DEFAULT_DEBOUNCE_MS}. */
  debounceMs?: number;
  /** Validation of each key's document; default: the schema, with defaults filled in. */
  accept?: AcceptDocument;
  /** A valid external change of one key. Awaited: deliveries of a key never overlap. */
  onChange: (event: WatchEvent<unknown>) => void | Promise<void>;
  /** Invalid, unreadable or deleted content, and failures of the watch itself. */
  onError: (error: Error) => void;
}

/** A running {@link watchKeys}: one storage watch for several keys. */
export interface KeysWatch extends WatchHandle {
  /** The last good data of `key` (`undefined` when it never was valid or was removed by this store). */
  current(key: string): unknown;
  /** Watches exactly `keys` from now on; keys kept keep their state, new keys are read now. */
  update(keys: readonly string[]): Promise<void>;
}

/**
 * Watches several keys with ONE storage watch (one directory watcher per directory for local
 * storage). Resolves once the watch is armed and every key's current state is read: any change
 * made after that is seen. The initial state is not delivered; an invalid initial file goes to
 * `onError`.
 */
export async function watchKeys(ctx: Context, keys: readonly string[], opts: WatchKeysOptions): Promise<KeysWatch> {
  const debounceMs = Math.max(0, opts.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  const settings: TrackerSettings = {
    debounceMs,
    // Two reads this far apart must agree before content modified in place is trusted.
    settleMs: Math.max(10, debounceMs),
    accept: opts.accept ?? defaultAccept(ctx),
    onChange: opts.onChange,
    onError: opts.onError,
  };
  const trackers = new Map<string, KeyTracker>();
  const open = storageWatch(ctx);
  const unsubscribe = ctx.ownWrites.subscribe((event) => trackers.get(event.key)?.noteOwn(event));
  const onEvent = (event: StorageWatchEvent): void => trackers.get(event.key)?.poke(event);
  const onStorageError = (error: Error): void => opts.onError(error);

  const unique = [...new Set(keys)];
  for (const key of unique) trackers.set(key, new KeyTracker(ctx, key, settings));
  let watcher: StorageWatcher;
  try {
    watcher = await open(unique, onEvent, onStorageError);
  } catch (err) {
    unsubscribe();
    throw err;
  }
  // Read after arming: a change between the read and the arming would otherwise be missed.
  await Promise.all([...trackers.values()].map((t) => t.init()));

  let closed = false;
  const handle: KeysWatch = {
    current: (key) => trackers.get(key)?.current(),
    async update(next) {
      if (closed) return;
      const wanted = [...new Set(next)];
      const added: KeyTracker[] = [];
      for (const key of wanted) {
        if (trackers.has(key)) continue;
        const tracker = new KeyTracker(ctx, key, settings);
        trackers.set(key, tracker);
        added.push(tracker);
      }
      for (const [key, tracker] of trackers) {
        if (wanted.includes(key)) continue;
        tracker.close();
        trackers.delete(key);
      }
      await watcher.update(wanted);
      await Promise.all(added.map((t) => t.init()));
    },
    async close() {
      if (closed) return;
      closed = true;
      ctx.closers.delete(handle.close);
      unsubscribe();
      for (const tracker of trackers.values()) tracker.close();
      await watcher.close();
    },
  };
  ctx.closers.add(handle.close);
  return handle;
}

/**
 * `ConfigPersistence.watch`: delivers each valid external change of one key to `listener` as
 * `{ file, data, previous, changes }`. Errors go to `opts.onError` (or become process warnings).
 */
export async function watchDocument<T>(
  ctx: Context,
  key: string,
  listener: (event: WatchEvent<T>) => void | Promise<void>,
  opts: WatchOptions = {},
): Promise<WatchHandle> {
  await ctx.schema.ready();
  const watch = await watchKeys(ctx, [key], {
    ...(opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {}),
    onChange: (event) => listener(event as WatchEvent<T>),
    onError: opts.onError ?? warn,
  });
  return { close: () => watch.close() };
}

/** Without an `onError`, problems still reach someone: a process warning (stderr by default). */
function warn(error: Error): void {
  process.emitWarning(error);
}

function defaultAccept(ctx: Context): AcceptDocument {
  return (key, data, text) => validateDocument(ctx, key, data, text, true);
}

type OpenWatch = (keys: readonly string[], onEvent: (event: StorageWatchEvent) => void, onError: (error: Error) => void) => Promise<StorageWatcher>;

/** The storage's own watch; for a file-system storage without one, chokidar on `pathOf`. */
function storageWatch(ctx: Context): OpenWatch {
  const storage = ctx.storage;
  if (storage.watch) return storage.watch.bind(storage);
  const pathOf = storage.pathOf?.bind(storage);
  if (pathOf) {
    return async (keys, onEvent, onError) => {
      const { watchLocalKeys } = await import('./storage/local-watch.js');
      return watchLocalKeys(pathOf, keys, onEvent, onError);
    };
  }
  throw new ConfigPersistenceError(
    'E_IO',
    `${storage.location} cannot be watched: its storage implements neither watch() nor pathOf(). Add watch() to the storage backend, or reload on a timer instead.`,
  );
}

interface TrackerSettings {
  debounceMs: number;
  settleMs: number;
  accept: AcceptDocument;
  onChange: (event: WatchEvent<unknown>) => void | Promise<void>;
  onError: (error: Error) => void;
}

/** What one read found: the bytes and their hash, or why they could not be read. */
type ReadResult = { sha: string; bytes: Uint8Array } | { sha: string; error: Error } | undefined;

/** The state machine of one watched key. */
class KeyTracker {
  private readonly display: string;
  /** The last good content: what the application should be running with. */
  private last: { sha: string; data: unknown } | undefined;
  /** Hash of the content last decided on (delivered, adopted or reported), or MISSING. */
  private seen: string | undefined;
  /** Own writes (hashes, in order) not seen by this tracker yet. */
  private own: string[] = [];
  /** Own writes that became visible before this tracker read them: the next check starts from them. */
  private landed: OwnWriteEvent[] = [];
  private inPlace = false;
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

  /** Reads the state the watch starts from. Invalid content is reported; nothing is delivered. */
  async init(): Promise<void> {
    const read = await this.read();
    if (this.closed) return;
    if (read === undefined) {
      this.seen = MISSING;
      return;
    }
    this.seen = read.sha;
    const judged = 'error' in read ? read : this.judge(read.bytes);
    if ('error' in judged) this.report(judged.error);
    else this.last = { sha: read.sha, data: judged.data };
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
    const first = await this.read();
    if (this.closed) return;
    if (this.adoptIfOwn(first)) return;
    // Not ours: the application runs with its last own write, whether or not it was ever read here
    // (a save followed at once by an external revert must still be delivered).
    if (landed) this.adoptLanded(landed);
    if (first === undefined) return this.missing();
    if (first.sha === this.seen) return;
    const judged = 'error' in first ? first : this.judge(first.bytes);
    if (inPlace || 'error' in judged) {
      // Maybe a writer is mid-way: decide only on content that reads the same twice.
      if (!(await this.wait(this.settings.settleMs))) return;
      const second = await this.read();
      if (this.closed) return;
      if (second?.sha !== first.sha) {
        this.inPlace ||= inPlace;
        this.again = true;
        return;
      }
    }
    this.seen = first.sha;
    this.forgetStaleOwn();
    if ('error' in judged) {
      this.report(judged.error);
      return;
    }
    await this.deliver(first.sha, judged.data);
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
    this.last = 'error' in judged ? undefined : { sha, data: judged.data };
  }

  /** An external state was decided on: own writes older than the one possibly in flight are moot. */
  private forgetStaleOwn(): void {
    const latest = this.ctx.ownWrites.get(this.key);
    this.own = latest !== undefined && this.own.at(-1) === latest ? [latest] : [];
  }

  private async deliver(sha: string, data: unknown): Promise<void> {
    const previous = this.last?.data;
    this.last = { sha, data };
    // A rewrite that changes only layout or comments changes nothing for the application.
    if (previous !== undefined && deepEqual(previous, data)) return;
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

  /** Parses and validates; empty content counts as unparsable (a writer that has just truncated it). */
  private judge(bytes: Uint8Array): { data: unknown } | { error: Error } {
    try {
      const data = this.ctx.codecs.decode(this.display, bytes);
      if (data === null || data === undefined) {
        return { error: new ParseError(this.display, 'the file is empty (a writer may have just truncated it; the last good data stays in effect)') };
      }
      const text = Buffer.from(bytes).toString('utf8');
      return { data: this.settings.accept(this.key, data, text) };
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
