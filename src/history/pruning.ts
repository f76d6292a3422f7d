/**
 * History pruning: contents are kept for the newest {@link historyKeep} versions of each file.
 * `cleanupBackups` removes the others in one pass; on the save path they are found every
 * {@link PRUNE_EVERY} saves of a file by a background pass that no save waits for, and removed in
 * one batch, never inside a save's commit. Measured (bench shapes, ext4): one unlink folded
 * into each save's commit cost +0.16x the disk's floor per save (the freed inode joins the journal
 * commit the save's directory fsync waits for); the same unlinks issued 16 or 64 at a time cost
 * +0.03x or less per save. What this instance has learned lives in `ctx.state.pruning`.
 */
import type { Context } from '../core/context.js';
import { fileNamesOf } from '../storage/names.js';
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
async function unneededObjects(ctx: Context, known?: ReadonlyMap<string, Journal>): Promise<string[]> {
  const keep = historyKeep(ctx);
  const needed = new Set<string>();
  const old = new Set<string>();
  for (const { file, journal } of await allJournals(ctx, known)) {
    const cut = Math.max(0, journal.entries.length - keep);
    journal.entries.forEach((e, i) => {
      if (!e.sha256) return;
      (i >= cut ? needed : old).add(e.sha256);
    });
    prunedUpTo(ctx).set(file, { journal, cut });
  }
  // Names only: on etcd an entry costs its content (100 contents of a 1 MB file, 100 MB).
  const present = new Set(await fileNamesOf(ctx.storage, OBJECTS_DIR));
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
  for (const { journal: other } of await allJournals(ctx, new Map([[key, journal]]))) {
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
    // event loop short; a storage whose commit holds fewer (etcd's --max-txn-ops) removes what
    // fits, and the rest goes in the next commit, as long as each removes something.
    let left = doomed.slice(i, i + 200).map(objectKey);
    while (left.length > 0) {
      let gone: readonly string[] = [];
      await ctx.storage.commit({ sync: false, cleanup: { keys: left, records: (removed) => ((gone = removed), []) } });
      if (gone.length === 0) break;
      const done = new Set(gone);
      left = left.filter((k) => !done.has(k));
    }
  }
  return doomed;
}

/** Registers, once per instance, the close() step that waits for the background pass and removes what is queued. */
function flushOnClose(ctx: Context): void {
  const pruning = ctx.state.pruning;
  if (pruning.flushOnClose) return;
  pruning.flushOnClose = true;
  // Best effort, like every removal here: what a failure leaves, the next process's first pass finds.
  ctx.closers.add(() => flushUnneeded(ctx).catch(() => undefined));
}

/**
 * Save-path pruning: on the first and then every {@link PRUNE_EVERY}th save of `key` in this
 * process, a pass looks for the contents no kept version needs any more and removes them in one
 * batch. The pass runs in the background, after the save that started it has resolved, one at a
 * time: it reads every journal's state (a stat each, a listing; on etcd each a round trip, 4-11 ms
 * in all, measured), which no save should wait for — neither the one that started it nor the next
 * one. Costs no I/O itself (a count).
 */
export function maybePruneHistory(ctx: Context, key: string): void {
  const perCtx = ctx.state.pruning.saves;
  const n = perCtx.get(key) ?? 0;
  perCtx.set(key, n + 1);
  if (n % PRUNE_EVERY !== 0) return;
  flushOnClose(ctx);
  // The journal as this instance's commit just left it (history/journal.ts updates it in place):
  // the pass uses it instead of reading it again, as saves go on meanwhile — a read racing them
  // sees a length the cache does not know yet and re-reads the whole journal (~30 ms at 1,000
  // versions on etcd, measured).
  const journal = ctx.state.journals.get(key);
  inBackground(ctx, () => prunePass(ctx, key, n === 0, journal));
}

/**
 * Chains `job` after the background work already running (`ctx.state.pruning.removal`, which
 * keepContents and close() wait for). Best effort: a failed pass leaves contents the next pass
 * finds again, never a save's error (its commit has landed).
 */
function inBackground(ctx: Context, job: () => Promise<void>): void {
  const pruning = ctx.state.pruning;
  const run: Promise<void> = (pruning.removal ?? Promise.resolve())
    .then(job)
    .then(
      () => undefined,
      () => undefined, // best effort: what is left, the next pass finds again
    )
    .finally(() => {
      if (pruning.removal === run) pruning.removal = undefined;
    });
  pruning.removal = run;
}

/** One pass of {@link maybePruneHistory}: finds what left the kept window, then removes it. */
async function prunePass(ctx: Context, key: string, first: boolean, known: Journal | undefined): Promise<void> {
  const journal = known ?? (await readJournal(ctx, key));
  if (journal.entries.length <= historyKeep(ctx)) return;
  // The first pass of this process looks at everything (objects earlier processes left); later
  // ones only at what this file's newer versions pushed out since.
  const found = first || !prunedUpTo(ctx).has(key) ? await unneededObjects(ctx, new Map([[key, journal]])) : await unneededSince(ctx, key, journal);
  // Saves went on while the journals were read: a content one of them recorded since is needed
  // again. Checked against this instance's journals as they are now (in memory, updated by each
  // commit before any other code runs), in the same turn as the contents are queued — a save
  // after that finds them in the queue (keepContents).
  const kept = keptNow(ctx);
  const queue = ctx.state.pruning.unneeded;
  for (const sha of found) if (!kept.has(sha)) queue.add(sha);
  await removeQueued(ctx);
}

/** The contents of the kept window of every journal this instance holds in memory. */
function keptNow(ctx: Context): Set<string> {
  const keep = historyKeep(ctx);
  const kept = new Set<string>();
  for (const journal of ctx.state.journals.values()) {
    for (let i = Math.max(0, journal.entries.length - keep); i < journal.entries.length; i++) kept.add(journal.entries[i]!.sha256);
  }
  return kept;
}

/** Removes everything queued in one batch; a save that needs one of them waits for it (keepContents). */
async function removeQueued(ctx: Context): Promise<void> {
  const pruning = ctx.state.pruning;
  if (pruning.unneeded.size === 0) return;
  const shas = [...pruning.unneeded];
  pruning.unneeded.clear();
  for (const sha of shas) pruning.removing.add(sha);
  try {
    await removeObjects(ctx, shas);
  } finally {
    pruning.removing.clear();
  }
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

/** Waits for the background pass and removes what is still queued (close(): the store is left tidy). */
export async function flushUnneeded(ctx: Context): Promise<void> {
  // A pass may be chained behind the one awaited: wait until none is left.
  while (ctx.state.pruning.removal) await ctx.state.pruning.removal;
  const queue = ctx.state.pruning.unneeded;
  if (queue.size === 0) return;
  const shas = [...queue];
  queue.clear();
  await removeObjects(ctx, shas);
}

