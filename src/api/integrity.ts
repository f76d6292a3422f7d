/**
 * `verify`, `repair` and `stats` of `ConfigPersistence` over the `Store` (src/integrity/ does the work):
 * after every queued call; repair holds the snapshot lock and every file's lock meanwhile.
 */
import { Store } from './store.js';
import * as integrity from '../integrity/integrity.js';
import { collectStats } from '../integrity/stats.js';
import type { RepairOptions, RepairReport, Stats, VerifyResult } from '../types.js';

/** The body of `ConfigPersistence#verify` (documented there). */
export async function verify(s: Store): Promise<VerifyResult> {
  await s.settle();
  return integrity.verify(s.ctx);
}

/** The body of `ConfigPersistence#repair` (documented there); a dry run reads without locks. */
export async function repair(s: Store, options: RepairOptions): Promise<RepairReport> {
  if (options.dryRun) return integrity.repair(s.ctx, options);
  await s.settle();
  return s.withSnapshotLocks(
    () => integrity.repairLockKeys(s.ctx),
    () => integrity.repair(s.ctx, options),
  );
}

/** The body of `ConfigPersistence#stats`. */
export function stats(s: Store): Promise<Stats> {
  return collectStats(s.ctx);
}
