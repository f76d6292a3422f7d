/**
 * The history verbs of `ConfigPersistence` over the `Store` (src/history/versions.ts does the
 * work): the file's key resolved first; a rollback queued and locked like every write of the file.
 */
import type { Change, ChangeOptions, SaveResult, VersionInfo } from '../types.js';
import * as versions from '../history/versions.js';
import type { Store } from './store.js';

/** The body of `ConfigPersistence#history`. */
export async function listVersions(s: Store, file: string | undefined): Promise<VersionInfo[]> {
  return versions.listVersions(s.ctx, await s.keyFor(file));
}

/** The body of `ConfigPersistence#getVersion`. */
export async function getVersion<T>(s: Store, file: string | undefined, version: number): Promise<T> {
  return versions.getVersion<T>(s.ctx, await s.keyFor(file), version);
}

/** The body of `ConfigPersistence#diff`. */
export async function diff(s: Store, file: string | undefined, from: number, to: number | undefined, opts: { includeSecrets?: boolean }): Promise<Change[]> {
  return versions.diffVersions(s.ctx, await s.keyFor(file), from, to, { ...opts });
}

/** The body of `ConfigPersistence#rollback`: in the file's queue, under its lock. */
export function rollback(s: Store, file: string | undefined, version: number, opts: ChangeOptions): Promise<SaveResult> {
  const options = { ...opts };
  return s.enqueue(file, 'exclusive', (key) => () => s.withLock(key, () => versions.rollback(s.ctx, key, version, options)));
}
