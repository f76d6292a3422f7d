/**
 * Version history as users see it: list, read, diff and roll back the versions recorded in a
 * file's journal (history/journal.ts).
 *
 * Where a version's content comes from, in order: the file itself (newest version), the
 * content-addressed object `history/objects/<sha256>`, then any backup with the same sha256. Every
 * candidate is checked against the version's sha256, so a damaged copy is skipped, never returned.
 *
 * Retention: the journal (metadata, ~150 bytes a version) is kept whole. Contents are kept for the
 * newest {@link historyKeep} versions of each file: objects only referenced by older versions are
 * removed by `cleanupBackups` and, on the save path, found every {@link PRUNE_EVERY} saves of a file
 * and removed a few at a time by the commits of the saves that follow (see {@link historyPruner}).
 * While an automatic backup exists it is its version's content (no object); removing it moves it
 * to `history/objects/`, so after backup retention the object alone keeps the content.
 * Reading a pruned version fails with `E_NOT_FOUND` (its metadata stays in `history`).
 */
import { loadIndex } from '../backups/records.js';
import { backupKey, readBackup } from '../backups/backups.js';
import { sha256, type Context } from '../core/context.js';
import { diffDocuments } from '../document/tree.js';
import { historyPruner, writeBytes } from '../changeset/documents.js';
import { ChecksumError, NotFoundError } from '../errors.js';
import { unflattenKey } from '../core/keys.js';
import { HISTORY_DIR, OBJECTS_DIR, journalKey, objectKey, readJournal, type Journal } from './journal.js';
import type { Change, ChangeOptions, SaveResult, VersionInfo } from '../types.js';

/** Versions whose content is kept per file (at least the instance's `maxBackups`). */
export const HISTORY_KEEP_VERSIONS = 100;
/** On the save path, look for a file's contents to prune on every this many saves of it. */
export const PRUNE_EVERY = 50;
/** Contents a save's commit removes at most, after its change (while its directory fsyncs run). */
export const PRUNE_PER_COMMIT = 4;

/** How many versions per file keep their content. */
export function historyKeep(ctx: Context): number {
  return Math.max(HISTORY_KEEP_VERSIONS, ctx.options.maxBackups);
}

/** Versions of `key`, newest first (the same order as `listBackups`). */
export async function listVersions(ctx: Context, key: string): Promise<VersionInfo[]> {
  const journal = await readJournal(ctx, key);
  return journal.entries.map((e) => ({ ...e })).reverse();
}

/** The entry of `version`, or `E_NOT_FOUND` naming the versions that do exist. */
function entryOf(ctx: Context, key: string, journal: Journal, version: number): VersionInfo {
  for (let i = journal.entries.length - 1; i >= 0; i--) {
    if (journal.entries[i]!.version === version) return journal.entries[i]!;
  }
  const display = ctx.storage.describe(key);
  const range = journal.entries.length ? `versions ${journal.entries[0]!.version}–${journal.entries.at(-1)!.version} exist` : 'it has no recorded versions';
  throw new NotFoundError(`${display} has no version ${version} (${range}); see config-persistence history ${key}.`, display);
}

/**
 * The exact bytes of `version` of `key`, verified against its sha256. `E_NOT_FOUND` when the version
 * does not exist, is a deletion, or its content was pruned; `E_CHECKSUM` when every copy found is damaged.
 */
export async function versionBytes(ctx: Context, key: string, version: number): Promise<{ info: VersionInfo; bytes: Uint8Array }> {
  const display = ctx.storage.describe(key);
  const journal = await readJournal(ctx, key);
  const info = entryOf(ctx, key, journal, version);
  if (!info.sha256) {
    throw new NotFoundError(`Version ${version} of ${display} is its deletion (${info.createdAt}); it has no content. Pick an earlier version.`, display);
  }
  let damaged = 0;
  // The file itself is only a candidate (it holds some version); the object and the backups are
  // copies of this one, so a mismatch there is damage.
  const file = await ctx.storage.read(key);
  if (file && sha256(file) === info.sha256) return { info, bytes: file };
  for (const candidate of await copiesOf(ctx, info.sha256)) {
    const bytes = await candidate();
    if (!bytes) continue;
    if (sha256(bytes) === info.sha256) return { info, bytes };
    damaged++;
  }
  if (damaged > 0) {
    throw new ChecksumError(`Every stored copy of version ${version} of ${display} is damaged (sha256 mismatch); it cannot be read. Run config-persistence verify.`, display);
  }
  throw new NotFoundError(
    `The content of version ${version} of ${display} is no longer kept (history keeps the newest ${historyKeep(ctx)} versions' contents, and no backup holds it). Its metadata is still in the history.`,
    display,
  );
}

/** Readers of every stored copy of the content `sha`: its history object, then backups holding it. */
async function copiesOf(ctx: Context, sha: string): Promise<Array<() => Promise<Uint8Array | undefined>>> {
  const view = await loadIndex(ctx);
  const backups = [...view.records.values()].filter((b) => b.kind !== 'snapshot' && b.sha256 === sha && !b.compressed);
  const compressed = [...view.records.values()].filter((b) => b.kind !== 'snapshot' && b.sha256 === sha && b.compressed);
  return [
    () => ctx.storage.read(objectKey(sha)),
    ...backups.map((b) => () => ctx.storage.read(backupKey(b.id))),
    // A damaged gzip reads as an empty copy: counted as damage by the caller.
    ...compressed.map((b) => async () => (await readBackup(ctx, b).catch(() => ({ bytes: new Uint8Array(0) }))).bytes),
  ];
}

/** The document of `version` of `key`, parsed with the file's codec (not validated: it is history). */
export async function getVersion<T>(ctx: Context, key: string, version: number): Promise<T> {
  const { bytes } = await versionBytes(ctx, key, version);
  return ctx.codecs.decode(ctx.storage.describe(key), bytes) as T;
}

/**
 * Changes from version `from` to version `to` (default: the newest) by dot path. A deletion reads as
 * "no document", so diffing against it lists everything as added or removed.
 */
export async function diffVersions(ctx: Context, key: string, from: number, to?: number): Promise<Change[]> {
  const journal = await readJournal(ctx, key);
  const target = to ?? journal.entries.at(-1)?.version ?? 0;
  const [before, after] = await Promise.all([documentOrDeletion(ctx, key, journal, from), documentOrDeletion(ctx, key, journal, target)]);
  return diffDocuments(before, after);
}

async function documentOrDeletion(ctx: Context, key: string, journal: Journal, version: number): Promise<unknown> {
  const info = entryOf(ctx, key, journal, version);
  if (!info.sha256) return undefined;
  return getVersion(ctx, key, version);
}

/**
 * Writes the exact bytes of `version` back to `key` as a new version (operation `rollback`), after a
 * `pre-rollback` backup of the current content. The caller holds the key's lock.
 */
export async function rollback(ctx: Context, key: string, version: number, opts: ChangeOptions = {}): Promise<SaveResult> {
  const { bytes } = await versionBytes(ctx, key, version);
  return writeBytes(ctx, key, bytes, {
    changedBy: opts.changedBy ?? 'user',
    reason: opts.reason ?? `rollback to version ${version}`,
    operation: 'rollback',
    trigger: 'pre-rollback',
    alwaysBackup: true,
    details: { toVersion: version },
  });
}

/** Every journal key under `history/` with the file it belongs to. */
async function journals(ctx: Context): Promise<Array<{ file: string; journal: Journal }>> {
  const entries = await ctx.storage.list(HISTORY_DIR);
  const out: Array<{ file: string; journal: Journal }> = [];
  for (const e of entries) {
    if (e.kind !== 'file' || !e.name.endsWith('.jsonl') || e.name.startsWith('.')) continue;
    const file = unflattenKey(e.name.slice(0, -'.jsonl'.length));
    if (journalKey(file) !== e.key) continue;
    out.push({ file, journal: await readJournal(ctx, file) });
  }
  return out;
}

/** Every file's journal (for stats and verify). */
export async function allJournals(ctx: Context): Promise<Array<{ file: string; journal: Journal }>> {
  return journals(ctx);
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
  for (const { file, journal } of await journals(ctx)) {
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
  for (const { journal: other } of await journals(ctx)) {
    for (let i = Math.max(0, other.entries.length - keep); i < other.entries.length; i++) candidates.delete(other.entries[i]!.sha256);
  }
  return [...candidates];
}

/** How far each file's history has been pruned in this process (by the journal object it used). */
const pruned = new WeakMap<Context, Map<string, { journal: Journal; cut: number }>>();
function prunedUpTo(ctx: Context): Map<string, { journal: Journal; cut: number }> {
  let perCtx = pruned.get(ctx);
  if (!perCtx) pruned.set(ctx, (perCtx = new Map()));
  return perCtx;
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

const calls = new WeakMap<Context, Map<string, number>>();
/** Contents found unneeded on the save path, waiting for a commit to remove them (in order). */
const doomed = new WeakMap<Context, Set<string>>();

function doomedOf(ctx: Context): Set<string> {
  let set = doomed.get(ctx);
  if (!set) {
    doomed.set(ctx, (set = new Set()));
    // Best effort, like every removal here: what a failure leaves, the next process's first pass finds.
    ctx.closers.add(() => flushUnneeded(ctx).catch(() => undefined));
  }
  return set;
}

/**
 * Save-path pruning: on the first and then every {@link PRUNE_EVERY}th save of `key` in this
 * process, once its history has more versions than it keeps, finds the contents no kept version
 * needs any more. They are removed by the commits of the next saves, a few each (removals cost
 * main-thread time a commit otherwise spends waiting for its fsyncs), not in one burst that one
 * save would wait for.
 */
export async function maybePruneHistory(ctx: Context, key: string): Promise<void> {
  let perCtx = calls.get(ctx);
  if (!perCtx) calls.set(ctx, (perCtx = new Map()));
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
}

/**
 * Up to `max` queued contents for a commit to remove, as object keys, leaving out those in `keep`
 * (the contents the commit itself writes or replaces: a save that brings a content back needs it
 * again, so it leaves the queue).
 */
function takeUnneeded(ctx: Context, max: number, keep: ReadonlyArray<string | undefined>): string[] {
  const queue = doomed.get(ctx);
  if (!queue || queue.size === 0) return [];
  for (const sha of keep) if (sha !== undefined) queue.delete(sha);
  const out: string[] = [];
  for (const sha of queue) {
    if (out.length >= max) break;
    out.push(objectKey(sha));
    queue.delete(sha);
  }
  return out;
}

/** Removes what is still queued (close(): the store is left tidy, nothing waits for a next save). */
export async function flushUnneeded(ctx: Context): Promise<void> {
  const queue = doomed.get(ctx);
  if (!queue || queue.size === 0) return;
  const shas = [...queue];
  queue.clear();
  await removeObjects(ctx, shas);
}

historyPruner.take = (ctx, keep) => takeUnneeded(ctx, PRUNE_PER_COMMIT, keep);
historyPruner.after = maybePruneHistory;
