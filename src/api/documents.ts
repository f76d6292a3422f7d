/**
 * The core verbs of `ConfigPersistence` (save, load, list, delete, update) over the `Store`: queued per file,
 * locked across processes, validated before anything is written; `update` is retried when another
 * writer moved the file on.
 */
import { Store } from './store.js';
import { cloneDocument } from '../document/tree.js';
import { loadDocument, loadVersioned as loadWithVersion, readDocument, removeDocument, validateDocument, writeDocument, type WriteMeta } from '../changeset/documents.js';
import { configAndProfileKeys } from '../backups/snapshots.js';
import { ConflictError, StaleError } from '../errors.js';
import type { SaveOptions, SaveResult } from '../types.js';

/** The body of `ConfigPersistence#saveConfig` (documented there), after its open check. */
export function saveConfig<T>(s: Store, data: T, file: string | undefined, opts: SaveOptions): Promise<SaveResult> {
  // Snapshot now: the caller may change `data` as soon as this returns.
  const snapshot = cloneDocument(data);
  const meta: WriteMeta = {
    changedBy: opts.changedBy ?? 'user',
    operation: 'save',
    ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
    ...(opts.ifVersion !== undefined ? { ifVersion: opts.ifVersion } : {}),
    ...(opts.ifSha256 !== undefined ? { ifSha256: opts.ifSha256 } : {}),
  };
  // A conditional save must be checked against exactly the state before it: never merge it.
  return s.enqueue(file, opts.ifVersion === undefined && opts.ifSha256 === undefined ? 'coalesce' : 'exclusive', (key) => {
    validateDocument(s.ctx, key, snapshot);
    return () => s.optimistic(key, ({ ctx, ...unlocked }) => writeDocument(ctx ?? s.ctx, key, snapshot, Object.assign({}, meta, unlocked)));
  });
}

/** The body of `ConfigPersistence#deleteConfig` (documented there), after its open check. */
export function deleteConfig(s: Store, file: string, opts: SaveOptions): Promise<void> {
  return s.enqueue(file, 'exclusive', (key) => async () => {
    await s.withLock(key, () =>
      removeDocument(s.ctx, key, {
        changedBy: opts.changedBy ?? 'user',
        ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
        ...(opts.ifVersion !== undefined ? { ifVersion: opts.ifVersion } : {}),
        ...(opts.ifSha256 !== undefined ? { ifSha256: opts.ifSha256 } : {}),
      }),
    );
  });
}

/** The body of `ConfigPersistence#update` (documented there), after its open check. */
export function update<T>(s: Store, file: string | undefined, fn: (current: T | undefined) => T | Promise<T>, opts: Omit<SaveOptions, 'ifVersion' | 'ifSha256'>): Promise<SaveResult> {
  return s.enqueue(file, 'exclusive', (key) => () =>
    s.withLock(key, () =>
      retryStale(s.ctx.storage.describe(key), async () => {
        const current = await readDocument<T>(s.ctx, key);
        const next = await fn(current ? cloneDocument(current.data) : undefined);
        const snapshot = cloneDocument(next);
        validateDocument(s.ctx, key, snapshot);
        return writeDocument(s.ctx, key, snapshot, {
          changedBy: opts.changedBy ?? 'user',
          operation: 'update',
          ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
          // The commit is fenced by what `fn` saw, not by the state at the end of the stall.
          basedOn: current ? current.revision : null,
        });
      }),
    ),
  );
}

/** How often `update()` runs its function again after another writer moved the file on. */
const STALE_RETRIES = 5;

/** Runs a read-modify-write again on `StaleError`, a bounded number of times, then fails with `E_CONFLICT`. */
async function retryStale<R>(display: string, attempt: () => Promise<R>): Promise<R> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof StaleError)) throw err;
      if (n >= STALE_RETRIES) {
        throw new ConflictError(`${display} kept changing under update() (${STALE_RETRIES} attempts, each overtaken by another writer); nothing was written. Retry later.`, display);
      }
    }
  }
}

/** The body of `ConfigPersistence#loadConfig`. */
export async function loadConfig<T>(s: Store, file: string | undefined): Promise<T> {
  return loadDocument<T>(s.ctx, await s.keyFor(file));
}

/** The body of `ConfigPersistence#loadVersioned`. */
export async function loadVersioned<T>(s: Store, file: string | undefined): Promise<{ data: T; version: number | null; sha256: string }> {
  return loadWithVersion<T>(s.ctx, await s.keyFor(file));
}

/** The body of `ConfigPersistence#listConfigs`: the root's config files (profiles are under `profiles/`). */
export async function listConfigs(s: Store): Promise<string[]> {
  return (await configAndProfileKeys(s.ctx)).filter((key) => !key.includes('/'));
}
