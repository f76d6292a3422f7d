/**
 * `stats()`: counts and sizes of everything in the managed directory, from directory listings and
 * the backup index (no backup is opened; journals are read through the history cache).
 */
import { AUDIT_LOG } from '../changeset/audit.js';
import { indexIdle } from '../backups/records.js';
import { reconcile } from '../backups/reconcile.js';
import type { Context } from '../core/context.js';
import { PROFILES_DIR } from '../core/keys.js';
import { HISTORY_DIR, OBJECTS_DIR } from '../history/journal.js';
import { configAndProfileKeys } from '../backups/snapshots.js';
import type { Stats } from '../types.js';
import { allJournals } from '../history/journal.js';

/** Collects {@link Stats} for the directory behind `ctx`. */
export async function collectStats(ctx: Context): Promise<Stats> {
  await indexIdle(ctx);
  const [keys, root, profiles, reconciled, journals, historyFiles, objects, audit] = await Promise.all([
    configAndProfileKeys(ctx),
    ctx.storage.list(''),
    ctx.storage.list(PROFILES_DIR),
    reconcile(ctx, { sizes: true }),
    allJournals(ctx),
    ctx.storage.list(HISTORY_DIR),
    ctx.storage.list(OBJECTS_DIR),
    ctx.storage.stat(AUDIT_LOG),
  ]);
  const documents = new Set(keys);
  const sizeOf = (entries: typeof root): number => entries.filter((e) => documents.has(e.key)).reduce((n, e) => n + e.size, 0);
  const configBytes = sizeOf(root);
  const profileBytes = sizeOf(profiles);
  const { backups, sizes } = reconciled;
  const backupBytes = backups.reduce((n, b) => n + (sizes?.get(b.id) ?? 0), 0);
  const historyBytes = [...historyFiles, ...objects].filter((e) => e.kind === 'file').reduce((n, e) => n + e.size, 0);
  const auditBytes = audit?.size ?? 0;
  const backupStats: Stats['backups'] = {
    count: backups.length,
    snapshots: backups.filter((b) => b.kind === 'snapshot').length,
    totalBytes: backupBytes,
  };
  if (backups.length > 0) {
    backupStats.newest = backups[0]!.createdAt;
    backupStats.oldest = backups[backups.length - 1]!.createdAt;
  }
  return {
    configs: keys.filter((k) => !k.startsWith(`${PROFILES_DIR}/`)).length,
    profiles: keys.filter((k) => k.startsWith(`${PROFILES_DIR}/`)).length,
    backups: backupStats,
    history: {
      files: journals.length,
      entries: journals.reduce((n, j) => n + j.journal.entries.length, 0),
      bytes: historyBytes,
    },
    bytes: {
      configs: configBytes,
      profiles: profileBytes,
      backups: backupBytes,
      history: historyBytes,
      audit: auditBytes,
      total: configBytes + profileBytes + backupBytes + historyBytes + auditBytes,
    },
    ...(ctx.storage.appliedRevision !== undefined ? { appliedRevision: ctx.storage.appliedRevision } : {}),
  };
}
