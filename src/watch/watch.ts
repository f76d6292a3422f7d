/**
 * Hot reload: `watchKeys` watches several keys with one storage watch, each key judged by its
 * content (src/watch/tracker.ts: never a half-written or invalid document is delivered), and
 * `watchDocument` is `ConfigPersistence.watch` on top of it. The layer watch of `Configuration`
 * is src/watch/layers.ts.
 */
import type { Context } from '../core/context.js';
import { validateDocument, type StoredDocument } from '../changeset/documents.js';
import { ConfigPersistenceError, ValidationError } from '../errors.js';
import type { WatchEvent, WatchHandle, WatchOptions } from '../types.js';
import type { StorageWatcher, StorageWatchEvent } from '../storage/types.js';
import { KeyTracker, type AcceptDocument, type TrackerSettings } from './tracker.js';

export { DELETE_GRACE_MS, TRAILING_MS, type AcceptDocument } from './tracker.js';

/** Default debounce (ms): long enough to coalesce an editor's burst, short enough to go unnoticed. */
export const DEFAULT_DEBOUNCE_MS = 15;

/** Options of {@link watchKeys}. */
export interface WatchKeysOptions {
  /** Coalescing window (ms). Default {@link DEFAULT_DEBOUNCE_MS}. */
  debounceMs?: number;
  /** A random delay of 0..jitterMs ms before each delivery (see {@link WatchOptions.jitterMs}). */
  jitterMs?: number;
  /** Validation of each key's document; default: the schema, with defaults filled in. */
  accept?: AcceptDocument;
  /**
   * What a file without a document (empty, or only comments) counts as once it has settled. Default:
   * none — it is an `E_PARSE` (a writer that truncates and rewrites in place passes through it).
   */
  emptyDocument?: Record<string, unknown>;
  /**
   * A confirmed external deletion: `error` (default) reports `E_NOT_FOUND` and keeps the last good
   * data; `change` delivers it as a change to `data: undefined` (for optional files such as layers).
   */
  deletions?: 'error' | 'change';
  /** A valid external change of one key. Awaited: deliveries of a key never overlap. */
  onChange: (event: WatchEvent<unknown>) => void | Promise<void>;
  /** Invalid, unreadable or deleted content, and failures of the watch itself. */
  onError: (error: Error) => void;
}

/** A running {@link watchKeys}: one storage watch for several keys. */
export interface KeysWatch extends WatchHandle {
  /** The last good data of `key` (`undefined` when it never was valid or was removed by this store). */
  current(key: string): unknown;
  /**
   * The last good document of a watched `key` as it was read (`doc` absent: the file does not
   * exist), or `undefined` when the watch knows nothing good about it (not watched, never valid).
   */
  snapshot(key: string): { doc?: StoredDocument } | undefined;
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
    emptyDocument: opts.emptyDocument,
    deletions: opts.deletions ?? 'error',
    onChange: jittered(keys[0] ?? '', opts.jitterMs, opts.onChange),
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
    snapshot: (key) => trackers.get(key)?.snapshot(),
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
    ...(opts.jitterMs !== undefined ? { jitterMs: opts.jitterMs } : {}),
    onChange: (event) => listener(event as WatchEvent<T>),
    onError: opts.onError ?? warn,
  });
  return { close: () => watch.close() };
}

/**
 * `onChange` behind a random wait of up to `jitterMs`: the tracker awaits `onChange`, so the wait
 * holds the next delivery back too and the order is kept. A bad value is refused before arming.
 */
function jittered(key: string, jitterMs: number | undefined, onChange: WatchKeysOptions['onChange']): WatchKeysOptions['onChange'] {
  if (jitterMs === undefined || jitterMs === 0) return onChange;
  if (typeof jitterMs !== 'number' || !Number.isFinite(jitterMs) || jitterMs < 0) {
    throw new ValidationError(key, [{ path: 'jitterMs', message: 'must be a number of milliseconds >= 0' }], 'the watch options');
  }
  return async (event) => {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * jitterMs));
    return onChange(event);
  };
}

/** Without an `onError`, problems still reach someone: a process warning (stderr by default). */
function warn(error: Error): void {
  process.emitWarning(error);
}

function defaultAccept(ctx: Context): AcceptDocument {
  return (key, data, text) => validateDocument(ctx, key, data, text, true);
}

type OpenWatch = (keys: readonly string[], onEvent: (event: StorageWatchEvent) => void, onError: (error: Error) => void) => Promise<StorageWatcher>;

/** The storage's watch (every backend has one; a JavaScript caller's hand-made storage may not). */
function storageWatch(ctx: Context): OpenWatch {
  const storage = ctx.storage;
  if (typeof storage.watch === 'function') return storage.watch.bind(storage);
  throw new ConfigPersistenceError(
    'E_UNSUPPORTED',
    `${storage.location} cannot be watched: its storage does not implement watch(). Add watch() to the storage backend, or reload on a timer instead.`,
  );
}
