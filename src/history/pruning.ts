/**
 * History pruning: contents are kept for the newest {@link historyKeep} versions of each file.
 * `cleanupBackups` removes the others in one pass; on the save path they are found every
 * {@link PRUNE_EVERY} saves of a file and removed in one background batch right after the save
 * that found them, never inside a save's commit. Measured (bench shapes, ext4): one unlink folded
 * into each save's commit cost +0.16x the disk's floor per save (the freed inode joins the journal
 * commit the save's directory fsync waits for); the same unlinks issued 16 or 64 at a time cost
 * +0.03x or less per save. What this instance has learned lives in `ctx.state.pruning`.
 */
import type { Context } from '../core/context.js';
import { allJournals, OBJECTS_DIR, objectKey, readJournal, type Journal } from './journal.js';

/** Versions whose content is kept per file (at least the instance's `maxBackups`). */
export const HISTORY_KEEP_VERSIONS = 100;
/** On the save path, look for a file's contents to prune on every this many saves of it. */
export const PRUNE_EVERY = 50;

/** How many versions per file keep their content. */
export function historyKeep(ctx: Context): number {
  return Math.max(HISTORY_KEEP_VERSIONS, ctx.options.maxBackups);
}

/**
 * Removes content objects that only versions beyond the newest {@link historyKeep} of every file
 * refer to. Objects no journal mentions are left alone: they may belong to a save in flight.
 */
export async function pruneHistoryObjects(ctx: Context): Promise<string[]> {
  return removeObjects(ctx, await unneededObjects(ctx));
}

/** The full pass of {@link pruneHistoryObjects}: contents on disk that no kept version needs. */
async function unneededObjects(ctx: Context): Promise<string[]> {
  const keep = historyKeep(ctx);
  const needed = new Set<string>();
  const old = new Set<string>();
  for (const { file, journal } of await allJournals(ctx)) {
    const cut = Math.max(0, journal.entries.length - keep);
    journal.entries.forEach((e, i) => {
      if (!e.sha256) return;
      (i >= cut ? needed : old).add(e.sha256);
    });
    prunedUpTo(ctx).set(file, { journal, cut });
  }
  const present = new Set((await ctx.storage.list(OBJECTS_DIR)).map((e) => e.name));
  return [...old].filter((sha) => !needed.has(sha) && present.has(sha));
}

/**
 * The save-path pass after a full one: only the versions of `key` that left the kept window since
 * the last pass are candidates, checked against the kept window of every file — O(files × kept),
 * not O(every version ever recorded) as the full pass.
 */
async function unneededSince(ctx: Context, key: string, journal: Journal): Promise<string[]> {
  const keep = historyKeep(ctx);
  const cut = Math.max(0, journal.entries.length - keep);
  const last = prunedUpTo(ctx).get(key);
  // A journal re-read since (another process appended, or it was repaired): start over for it.
  const from = last && last.journal === journal ? last.cut : 0;
  prunedUpTo(ctx).set(key, { journal, cut });
  const candidates = new Set<string>();
  for (let i = from; i < cut; i++) {
    const sha = journal.entries[i]!.sha256;
    if (sha) candidates.add(sha);
  }
  if (candidates.size === 0) return [];
  for (const { journal: other } of await allJournals(ctx)) {
    for (let i = Math.max(0, other.entries.length - keep); i < other.entries.length; i++) candidates.delete(other.entries[i]!.sha256);
  }
  return [...candidates];
}

/** How far each file's history has been pruned in this process (by the journal object it used). */
function prunedUpTo(ctx: Context): Map<string, { journal: Journal; cut: number }> {
  return ctx.state.pruning.cut;
}

/** Removes content objects (already gone ones count as removed). */
async function removeObjects(ctx: Context, doomed: string[]): Promise<string[]> {
  for (let i = 0; i < doomed.length; i += 200) {
    // Best-effort removals, not an all-or-nothing change: an unreferenced object left behind (a
    // failed unlink, a crash) is only removed by the next pass. Not synced: a removal lost in a
    // power cut leaves an object the next pass removes again. Batches of 200 keep each turn of the
    // event loop short.
    await ctx.storage.commit({ sync: false, cleanup: { keys: doomed.slice(i, i + 200).map(objectKey), records: () => [] } });
  }
  return doomed;
}

/** Contents found unneeded on the save path, waiting for a commit to remove them (in order). */
function doomedOf(ctx: Context): Set<string> {
  const pruning = ctx.state.pruning;
  if (!pruning.flushOnClose) {
    pruning.flushOnClose = true;
    // Best effort, like every removal here: what a failure leaves, the next process's first pass finds.
    ctx.closers.add(() => flushUnneeded(ctx).catch(() => undefined));
  }
  return pruning.unneeded;
}

/**
 * Save-path pruning: on the first and then every {@link PRUNE_EVERY}th save of `key` in this
 * process, once its history has more versions than it keeps, finds the contents no kept version
 * needs any more. They are removed by the commits of the next saves, a few each (removals cost
 * main-thread time a commit otherwise spends waiting for its fsyncs), not in one burst that one
 * save would wait for.
 */
export async function maybePruneHistory(ctx: Context, key: string): Promise<void> {
  const perCtx = ctx.state.pruning.saves;
  const n = perCtx.get(key) ?? 0;
  perCtx.set(key, n + 1);
  if (n % PRUNE_EVERY !== 0) return;
  const journal = await readJournal(ctx, key);
  if (journal.entries.length <= historyKeep(ctx)) return;
  // The first pass of this process looks at everything (objects earlier processes left); later
  // ones only at what this file's newer versions pushed out since.
  const found = n === 0 || !prunedUpTo(ctx).has(key) ? await unneededObjects(ctx) : await unneededSince(ctx, key, journal);
  const queue = doomedOf(ctx);
  for (const sha of found) queue.add(sha);
  startRemoval(ctx);
}

/**
 * Removes everything queued in one background batch (not awaited by the save that found it: its
 * unlinks run on the thread pool while the next saves proceed). One batch at a time.
 */
function startRemoval(ctx: Context): void {
  const pruning = ctx.state.pruning;
  if (pruning.removal || pruning.unneeded.size === 0) return;
  const shas = [...pruning.unneeded];
  pruning.unneeded.clear();
  for (const sha of shas) pruning.removing.add(sha);
  pruning.removal = removeObjects(ctx, shas)
    .then(
      () => undefined,
      () => undefined, // best effort: what is left, the next pass finds again
    )
    .finally(() => {
      pruning.removing.clear();
      pruning.removal = undefined;
    });
}

/**
 * Called before a commit that writes or replaces these contents: a save that brings a content back
 * needs it again, so it leaves the queue, and a batch already removing it is waited for (the
 * commit's link of the old content must not be the name the batch then unlinks).
 */
export async function keepContents(ctx: Context, shas: ReadonlyArray<string | undefined>): Promise<void> {
  const pruning = ctx.state.pruning;
  if (pruning.unneeded.size === 0 && !pruning.removal) return;
  let wait = false;
  for (const sha of shas) {
    if (sha === undefined) continue;
    pruning.unneeded.delete(sha);
    if (pruning.removing.has(sha)) wait = true;
  }
  if (wait) await pruning.removal;
}

/** Removes what is still queued (close(): the store is left tidy, nothing waits for a next save). */
export async function flushUnneeded(ctx: Context): Promise<void> {
  await ctx.state.pruning.removal;
  const queue = ctx.state.pruning.unneeded;
  if (queue.size === 0) return;
  const shas = [...queue];
  queue.clear();
  await removeObjects(ctx, shas);
}

