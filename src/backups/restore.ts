/**
 * Restoring a per-file backup: verify first (`E_CHECKSUM` and nothing written when the backup was
 * tampered with or truncated), then write its exact bytes back through the save pipeline, which
 * takes a `pre-restore` safety backup of what it replaces (even with `backupOnWrite: false`),
 * records a history version (operation `restore`) and an audit line, in one commit.
 * Snapshots are restored by backups/snapshots.ts.
 */
import { readBackup, type BackupActor } from './backups.js';
import type { Context } from '../core/context.js';
import { writeBytes } from '../changeset/documents.js';
import type { BackupInfo, RestoreResult } from '../types.js';

/**
 * Restores backup `info` of one file (the caller holds the file's lock). The content is not
 * re-validated: it is exactly what the file held before. A file that was deleted comes back with
 * its backup's permission bits.
 */
export async function restoreFileBackup(ctx: Context, info: BackupInfo, actor: BackupActor = {}): Promise<RestoreResult> {
  const { bytes, mode } = await readBackup(ctx, info);
  const result = await writeBytes(ctx, info.file, bytes, {
    changedBy: actor.changedBy ?? 'user',
    reason: actor.reason ?? `restore of backup ${info.id}`,
    operation: 'restore',
    trigger: 'pre-restore',
    alwaysBackup: true,
    details: { restoredFrom: info.id },
    ...(mode !== undefined ? { mode: mode & 0o666 } : {}),
  });
  return { restored: info, ...(result.backup ? { safetyBackup: result.backup } : {}) };
}
