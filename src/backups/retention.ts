/**
 * Backup retention: which backups to keep, applied after every backup the library takes and on
 * request (`cleanupBackups`).
 *
 * Policy, per file (all snapshots count as one file, `*`):
 * - keep the newest `maxBackups` (default 10); remove older ones;
 * - remove those older than `maxBackupAgeMs`, when set;
 * - a backup with a label is pinned: it is neither counted nor removed by retention, only by
 *   `deleteBackup` (an operator's "before-upgrade" backup must not be pushed out by ten saves).
 *
 * After a save the decision needs only this process's view of the index (kept current by one
 * `stat`, see backups/records.ts): no directory scan on the save path. `cleanupBackups` reconciles with
 * the directory first, so records of vanished files are dropped and recovered files are counted.
 */
import { auditAppend } from '../changeset/audit.js';
import { backupKey, cachedView, compactIndex, indexAppendOp, indexIdle, loadIndex, needsCompaction, noteOwnAppend, serialize, type IndexLine, type IndexView, type OwnAppend } from './records.js';
import { reconcile } from './reconcile.js';
import { removeBackups } from './backups.js';
import type { Context } from '../core/context.js';
import { ConfigPersistenceError } from '../errors.js';
import { objectOfBackup } from '../history/journal.js';
import { pruneHistoryObjects } from '../history/pruning.js';
import type { BackupInfo, CleanupOptions, CleanupResult } from '../types.js';
import type { AppendOp, Commit } from '../storage/types.js';

/** A retention policy. */
export interface RetentionPolicy {
  maxBackups: number;
  maxAgeMs?: number | undefined;
}

/** The instance's policy (`maxBackups`, `maxBackupAgeMs`). */
export function defaultPolicy(ctx: Context): RetentionPolicy {
  return { maxBackups: ctx.options.maxBackups, maxAgeMs: ctx.options.maxBackupAgeMs };
}

/** Backups of one file (oldest first) that the policy removes. Pure. */
export function selectExpired(oldestFirst: readonly BackupInfo[], policy: RetentionPolicy, now: number): BackupInfo[] {
  let unpinned = 0;
  for (const b of oldestFirst) if (!b.label) unpinned++;
  let excess = Math.max(0, unpinned - policy.maxBackups);
  const cutoff = policy.maxAgeMs === undefined ? undefined : now - policy.maxAgeMs;
  const out: BackupInfo[] = [];
  for (const b of oldestFirst) {
    if (b.label) continue;
    if (excess > 0) {
      excess--;
      out.push(b);
    } else if (cutoff !== undefined && Date.parse(b.createdAt) < cutoff) out.push(b);
    else if (cutoff === undefined) break; // the rest are within the count and no age limit applies
  }
  return out;
}

/**
 * Applies the instance's policy to the backups of `file` as this process's view knows them (the
 * caller holds the file's lock, or accepts a concurrent backup being counted next time).
 */
export async function applyRetention(ctx: Context, file: string): Promise<void> {
  const expired = await serialize(ctx, async () => {
    const view = cachedView(ctx) ?? (await loadIndex(ctx));
    return selectExpired(view.byFile.get(file) ?? [], defaultPolicy(ctx), Date.now());
  });
  if (expired.length > 0) {
    // Not synced: losing this removal in a power cut only brings back a backup that the next
    // pass removes again, and the next save's synced commit persists it anyway.
    await removeBackups(ctx, expired, { op: 'retention', details: { file, maxBackups: ctx.options.maxBackups, maxAgeMs: ctx.options.maxBackupAgeMs ?? null } }, false);
  }
  compactInBackground(ctx);
}

async function compactIfNeeded(ctx: Context): Promise<void> {
  const view = cachedView(ctx);
  if (view && !needsCompaction(view)) return;
  await serialize(ctx, async () => {
    if (needsCompaction(await loadIndex(ctx))) await compactIndex(ctx);
  });
}

/** Dead lines a failed background compaction waits for before it is tried again. */
const COMPACT_RETRY_LINES = 100;

/**
 * After a save or a backup: the compaction its records made worthwhile runs once it has resolved,
 * not inside it (`cleanupBackups`, which is asked for it, compacts before it resolves). Rewriting
 * the index is a durable commit of its own: the save that crossed the threshold took 8-24 ms
 * locally and ~37 ms on etcd instead of ~2 (measured at 1,000 dead lines), and a failure there
 * rejected a save whose change had landed. It runs in the order of the index's other updates, so
 * a save planned while it runs waits for it: with a pause between saves nobody waits, back to back
 * the next save does (3.5-4.5 ms locally, ~22 ms on etcd). One at a time; close() waits for it.
 * Best effort: a failed pass is tried again once more lines have piled up.
 */
function compactInBackground(ctx: Context): void {
  const state = ctx.state.backupIndex;
  const view = cachedView(ctx);
  if (state.compaction || (view && (!needsCompaction(view) || view.deadLines < state.retryAt))) return;
  const run = compactIfNeeded(ctx)
    .then(
      () => {
        state.retryAt = 0;
      },
      () => {
        state.retryAt = (cachedView(ctx)?.deadLines ?? 0) + COMPACT_RETRY_LINES;
      },
    )
    .finally(() => {
      state.compaction = undefined;
      ctx.closers.delete(wait);
    });
  const wait = (): Promise<void> => run;
  state.compaction = run;
  ctx.closers.add(wait);
}

/** Retention folded into the commit that takes automatic backups (see changeset/changeset.ts). */
export interface RetentionPlan {
  /** The expired backups of the files, removed by the same commit once its change is visible. */
  cleanup: NonNullable<Commit['cleanup']>;
  /**
   * Once the commit resolved: brings the index view up to date and runs the rare follow-ups;
   * `noted` runs in the same turn as the view takes the commit's records in.
   */
  done(noted?: () => void): Promise<void>;
}

/**
 * Retention for backups a changeset is about to commit (`added`, recorded by the index append
 * `record`): the older backups of the same files they push past the policy are removed by that
 * commit (after its change is visible, see Commit.cleanup), their records and audit lines written
 * with its own. `view` is the index as just loaded; the caller holds the files' locks, so no
 * other change of these files can decide at the same time.
 */
export function planRetention(ctx: Context, view: IndexView, record: OwnAppend, added: readonly BackupInfo[]): RetentionPlan {
  const now = Date.now();
  const ids = new Map<string, { id: string; file: string }>();
  // A save with a backup links no history object (the backup holds that content); the backup
  // becomes the object when it expires here (see keepsHistory in history/journal.ts).
  const keepAs = new Map<string, string>();
  for (const file of new Set(added.map((b) => b.file))) {
    const mine = added.filter((b) => b.file === file);
    const fresh = new Set(mine.map((b) => b.id));
    for (const b of selectExpired([...(view.byFile.get(file) ?? []), ...mine], defaultPolicy(ctx), now)) {
      if (fresh.has(b.id)) continue;
      ids.set(backupKey(b.id), { id: b.id, file });
      const object = objectOfBackup(b);
      if (object !== undefined) keepAs.set(backupKey(b.id), object);
    }
  }
  let removal: OwnAppend | undefined;
  return {
    cleanup: {
      keys: [...ids.keys()],
      keepAs,
      records: (removed) => {
        if (removed.length === 0) return [];
        const at = new Date().toISOString();
        const lines: IndexLine[] = removed.map((key) => ({ op: 'remove', id: ids.get(key)!.id, at }));
        // Not fsynced (like the removals): a lost record names a backup that is gone, which the
        // next retention pass or cleanupBackups records again.
        const indexOp: AppendOp = { ...indexAppendOp(ctx, lines), sync: 'lazy' };
        removal = { lines, data: indexOp.data };
        return [indexOp, ...retentionAudits(ctx, at, removed.map((key) => ids.get(key)!))];
      },
    },
    done: async (noted) => {
      // No stat here: the next loadIndex (the next save's plan) compares sizes and reads what another process appended.
      await serialize(ctx, async () => {
        noteOwnAppend(ctx, removal ? [record, removal] : [record]);
        noted?.();
      });
      // A backup the cleanup could not remove stays listed and is selected again by the next pass.
      compactInBackground(ctx);
    },
  };
}

/** One audit line per file whose backups retention removed. */
function retentionAudits(ctx: Context, at: string, removed: ReadonlyArray<{ id: string; file: string }>): AppendOp[] {
  const byFile = new Map<string, string[]>();
  for (const { id, file } of removed) byFile.set(file, [...(byFile.get(file) ?? []), id]);
  return [...byFile].map(([file, list]) =>
    auditAppend({
      at,
      op: 'retention',
      file,
      changedBy: 'system',
      ...(list.length === 1 ? { backup: list[0]! } : {}),
      details: { file, maxBackups: ctx.options.maxBackups, maxAgeMs: ctx.options.maxBackupAgeMs ?? null, removed: list },
    }),
  );
}

/**
 * Applies a retention policy to every file's backups (defaults: the instance options), after
 * reconciling the records with the directory; also drops records of vanished files, compacts the
 * index when worthwhile and prunes history contents no kept version needs.
 */
export async function cleanupBackups(ctx: Context, opts: CleanupOptions = {}): Promise<CleanupResult> {
  const policy: RetentionPolicy = {
    maxBackups: checkCount(opts.maxBackups ?? ctx.options.maxBackups, 'maxBackups'),
    maxAgeMs: opts.maxAgeMs === undefined ? ctx.options.maxBackupAgeMs : checkCount(opts.maxAgeMs, 'maxAgeMs'),
  };
  await indexIdle(ctx);
  const { backups, vanished } = await reconcile(ctx);
  const byFile = new Map<string, BackupInfo[]>();
  for (const b of [...backups].reverse()) {
    let list = byFile.get(b.file);
    if (!list) byFile.set(b.file, (list = []));
    list.push(b);
  }
  const now = Date.now();
  const removed: BackupInfo[] = [];
  for (const list of byFile.values()) removed.push(...selectExpired(list, policy, now));
  if (vanished.length > 0) await removeBackups(ctx, vanished, { op: 'cleanup', details: { reason: 'records of backups whose files are gone' } });
  if (removed.length > 0) {
    await removeBackups(ctx, removed, { op: 'cleanup', changedBy: 'user', details: { maxBackups: policy.maxBackups, maxAgeMs: policy.maxAgeMs ?? null } });
  }
  await compactIfNeeded(ctx);
  await pruneHistoryObjects(ctx);
  return { removed };
}

function checkCount(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigPersistenceError('E_VALIDATION', `cleanupBackups: ${name} must be a number >= 0, got ${String(value)}.`);
  }
  return value;
}
