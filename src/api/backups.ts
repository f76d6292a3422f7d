/**
 * The backup and snapshot verbs of `ConfigPersistence` over the `Store` (src/backups/ does the
 * work): taking, listing, restoring and deleting backups and snapshots, and automatic backups,
 * each under the file's queue and lock (snapshots under the locks of every file in scope).
 */
import { SNAPSHOT_LOCK, Store } from './store.js';
import type { AutoBackupOptions, BackupInfo, BackupOptions, ChangeOptions, CleanupOptions, CleanupResult, RestoreResult, SnapshotOptions } from '../types.js';
import * as autoBackup from '../backups/auto-backup.js';
import { SNAPSHOT_FILE } from '../backups/records.js';
import * as backups from '../backups/backups.js';
import * as restore from '../backups/restore.js';
import * as retention from '../backups/retention.js';
import * as snapshots from '../backups/snapshots.js';

/** The body of `ConfigPersistence#createBackup` (documented there), after its open check. */
export function createBackup(s: Store, file: string | undefined, opts: BackupOptions): Promise<BackupInfo> {
  const options = { ...opts };
  return s.enqueue(file, 'exclusive', (key) => () =>
    s.withLock(key, async () => {
      const info = await backups.createBackup(s.ctx, key, options);
      await retention.applyRetention(s.ctx, key);
      return info;
    }),
  );
}

/** The body of `ConfigPersistence#createSnapshot` (documented there), after its open check. */
export async function createSnapshot(s: Store, opts: SnapshotOptions): Promise<BackupInfo> {
  const scope = opts.scope ? [...opts.scope] : undefined;
  await s.settle();
  const keys = scope ? await snapshots.scopeKeys(s.ctx, scope) : await snapshots.configAndProfileKeys(s.ctx);
  return s.withSnapshotLocks(
    async () => keys,
    async () => {
      const info = await snapshots.createSnapshot(s.ctx, keys, scope ? keys : 'all', { ...(opts.label !== undefined ? { label: opts.label } : {}) });
      await retention.applyRetention(s.ctx, SNAPSHOT_FILE);
      return info;
    },
  );
}

/** The body of `ConfigPersistence#listBackups` (documented there), after its open check. */
export async function listBackups(s: Store, file: string | undefined): Promise<BackupInfo[]> {
  if (file === undefined) return backups.listBackups(s.ctx);
  return backups.listBackups(s.ctx, backups.backupsOf(file, file === SNAPSHOT_FILE ? file : await s.keyFor(file)));
}

/** The body of `ConfigPersistence#restoreBackup` (documented there), after its open check. */
export async function restoreBackup(s: Store, id: string, opts: ChangeOptions): Promise<RestoreResult> {
  const actor = { ...opts };
  const info = await backups.findBackup(s.ctx, id);
  if (info.kind !== 'snapshot') {
    return s.enqueue(info.file, 'exclusive', (key) => () => s.withLock(key, () => restore.restoreFileBackup(s.ctx, { ...info, file: key }, actor)));
  }
  const doc = await snapshots.readSnapshot(s.ctx, info); // verified before anything is locked or written
  await s.settle();
  const result = await s.withSnapshotLocks(
    () => snapshots.restoreTargets(s.ctx, doc),
    async (targets) => (await snapshots.restoreSnapshot(s.ctx, info, doc, targets, actor)).result,
  );
  // A snapshot from before a migration brought its version back with its files: migrate them again.
  await s.migrateIfBehind();
  return result;
}

/** The body of `ConfigPersistence#deleteBackup` (documented there), after its open check. */
export async function deleteBackup(s: Store, id: string): Promise<BackupInfo> {
  const info = await backups.findBackup(s.ctx, id);
  return s.withLock(info.kind === 'snapshot' ? SNAPSHOT_LOCK : info.file, () => backups.deleteBackup(s.ctx, id));
}

/** The body of `ConfigPersistence#startAutoBackup` (documented there), after its open check. */
export function startAutoBackup(s: Store, opts: AutoBackupOptions): () => Promise<void> {
  return autoBackup.startAutoBackup(s.ctx, { ...opts }, {
    onFile: (key, fn) => s.enqueue(key, 'exclusive', () => () => s.withLock(key, fn)),
    onFiles: (keys, fn) => s.withSnapshotLocks(async () => keys, fn),
  });
}

/** The body of `ConfigPersistence#cleanupBackups`. */
export function cleanupBackups(s: Store, opts: CleanupOptions): Promise<CleanupResult> {
  return retention.cleanupBackups(s.ctx, { ...opts });
}
