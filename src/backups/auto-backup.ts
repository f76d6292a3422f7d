/**
 * The auto-backup timer (`startAutoBackup`): every `intervalMs`, back up each config and profile
 * whose content is not already the newest backup of that file (trigger `scheduled`), or take one
 * snapshot when anything changed since the newest snapshot. The timer never keeps the process
 * alive, rounds never overlap, and `close()` stops it and waits for a round in flight.
 */
import { loadIndex, SNAPSHOT_FILE } from './records.js';
import { createBackup } from './backups.js';
import { sha256, type Context } from '../core/context.js';
import { ConfigPersistenceError } from '../errors.js';
import { applyRetention } from './retention.js';
import { configAndProfileKeys, createSnapshot, digestOf, snapshotDigest } from './snapshots.js';
import type { AutoBackupOptions, BackupInfo } from '../types.js';

/** How the timer reaches the locks it needs (the class owns locking and queues). */
export interface AutoBackupRunner {
  /** Runs `fn` holding `key`'s lock, in call order with the other work on that file. */
  onFile<R>(key: string, fn: () => Promise<R>): Promise<R>;
  /** Runs `fn` holding the locks of `keys` and the snapshot lock. */
  onFiles<R>(keys: readonly string[], fn: () => Promise<R>): Promise<R>;
}

/** Backs up `key` unless its newest backup already holds its content (caller holds its lock). */
export async function backupIfChanged(ctx: Context, key: string): Promise<BackupInfo | undefined> {
  const bytes = await ctx.storage.read(key);
  if (!bytes) return undefined; // deleted since the listing: its delete took a backup already
  const newest = (await loadIndex(ctx)).byFile.get(key)?.at(-1);
  if (newest?.sha256 === sha256(bytes)) return undefined;
  const info = await createBackup(ctx, key, { changedBy: 'system' }, 'scheduled');
  await applyRetention(ctx, key);
  return info;
}

/** Takes a snapshot of `keys` unless the newest snapshot holds the same contents (caller holds the locks). */
export async function snapshotIfChanged(ctx: Context, keys: readonly string[]): Promise<BackupInfo | undefined> {
  const pairs = await Promise.all(
    keys.map(async (key): Promise<[string, string] | undefined> => {
      const bytes = await ctx.storage.read(key);
      return bytes ? [key, sha256(bytes)] : undefined;
    }),
  );
  const digest = digestOf(pairs.filter((p): p is [string, string] => p !== undefined));
  const newest = (await loadIndex(ctx)).byFile.get(SNAPSHOT_FILE)?.at(-1);
  if (newest) {
    let known = ctx.state.snapshotDigests.get(newest.sha256);
    if (known === undefined) {
      known = await snapshotDigest(ctx, newest);
      if (known !== undefined) ctx.state.snapshotDigests.set(newest.sha256, known);
    }
    if (known === digest) return undefined;
  }
  const info = await createSnapshot(ctx, keys, 'all', { trigger: 'scheduled', changedBy: 'system' });
  await applyRetention(ctx, SNAPSHOT_FILE);
  return info;
}

/** Starts the timer; returns the function that stops it (also registered in `ctx.closers`). */
export function startAutoBackup(ctx: Context, opts: AutoBackupOptions, runner: AutoBackupRunner): () => Promise<void> {
  const { intervalMs } = opts;
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs < 1 || intervalMs > 2 ** 31 - 1) {
    throw new ConfigPersistenceError('E_VALIDATION', `startAutoBackup: intervalMs must be a number of milliseconds between 1 and 2147483647, got ${String(intervalMs)}.`);
  }
  const report = opts.onError ?? ((error: Error) => process.emitWarning(error.message, { code: 'CONFIG_PERSISTENCE_AUTO_BACKUP' }));
  const fail = (err: unknown): void => report(err instanceof Error ? err : new Error(String(err)));
  let round: Promise<void> | undefined;
  let stopped = false;

  const run = async (): Promise<void> => {
    const keys = await configAndProfileKeys(ctx);
    if (opts.snapshot) {
      await runner.onFiles(keys, () => snapshotIfChanged(ctx, keys));
      return;
    }
    for (const key of keys) {
      if (stopped) return;
      // One file's failure (a lock held too long, a disk error) must not skip the others.
      await runner.onFile(key, () => backupIfChanged(ctx, key)).catch(fail);
    }
  };
  const timer = setInterval(() => {
    if (round || stopped) return; // the previous round is still running: skip, never overlap
    round = run()
      .catch(fail)
      .finally(() => {
        round = undefined;
      });
  }, intervalMs);
  timer.unref(); // a backup timer alone must not keep the application running

  const stop = async (): Promise<void> => {
    stopped = true;
    clearInterval(timer);
    ctx.closers.delete(stop);
    await round;
  };
  ctx.closers.add(stop);
  return stop;
}
