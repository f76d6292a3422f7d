/**
 * The synchronous read `Configuration.openSync` needs: optional in the storage interface (a remote
 * store cannot block), so its absence is one clear error here instead of a TypeError at each caller.
 */
import { ConfigPersistenceError } from '../errors.js';
import type { ReadOptions, Storage } from './types.js';

/** `storage.readSync(key, opts)`, or `E_UNSUPPORTED` when the backend has no synchronous read. */
export function readSyncFrom(storage: Storage, key: string, opts?: ReadOptions): Uint8Array | undefined {
  if (typeof storage.readSync !== 'function') {
    throw new ConfigPersistenceError(
      'E_UNSUPPORTED',
      `${storage.location} cannot be read synchronously (its storage has no readSync), so Configuration.openSync cannot load ${storage.describe(key)}; use await Configuration.open() instead.`,
      { file: storage.describe(key) },
    );
  }
  return storage.readSync(key, opts);
}
