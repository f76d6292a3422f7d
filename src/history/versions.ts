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
 * by a background pass that no save waits for, and removed in one batch (see history/pruning.ts).
 * While an automatic backup exists it is its version's content (no object); removing it moves it
 * to `history/objects/`, so after backup retention the object alone keeps the content.
 * Reading a pruned version fails with `E_NOT_FOUND` (its metadata stays in `history`).
 */
import { redactorOf } from '../schema/secrets.js';
import { loadIndex } from '../backups/records.js';
import { backupKey, readBackup } from '../backups/backups.js';
import { sha256, type Context } from '../core/context.js';
import { diffDocuments } from '../document/tree.js';
import { writeBytes } from '../changeset/documents.js';
import { ChecksumError, DecryptionError, NotFoundError } from '../errors.js';
import { objectKey, readCurrentJournal, type Journal } from './journal.js';
import { historyKeep } from './pruning.js';
import type { Change, ChangeOptions, SaveResult, VersionInfo } from '../types.js';

/** Versions of `key`, newest first (the same order as `listBackups`). */
export async function listVersions(ctx: Context, key: string): Promise<VersionInfo[]> {
  const journal = await readCurrentJournal(ctx, key);
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
export async function versionBytes(ctx: Context, key: string, version: number): Promise<{ info: VersionInfo; bytes: Uint8Array; mode?: number }> {
  const display = ctx.storage.describe(key);
  const journal = await readCurrentJournal(ctx, key);
  const info = entryOf(ctx, key, journal, version);
  if (!info.sha256) {
    throw new NotFoundError(`Version ${version} of ${display} is its deletion (${info.createdAt}); it has no content. Pick an earlier version.`, display);
  }
  let damaged = 0;
  // The file itself is only a candidate (it holds some version); the object and the backups are
  // copies of this one, so a mismatch there is damage.
  const file = await ctx.storage.readEntry(key);
  if (file && sha256(file.bytes) === info.sha256) return { info, bytes: file.bytes, ...modeOf(file.entry.mode) };
  let undecryptable: DecryptionError | undefined;
  for (const candidate of await copiesOf(ctx, info.sha256)) {
    let copy: Copy;
    try {
      copy = await candidate();
    } catch (err) {
      // An encrypted copy this key cannot open: another copy may still serve (docs/encryption.md).
      if (!(err instanceof DecryptionError)) throw err;
      undecryptable ??= err;
      continue;
    }
    if (!copy) continue;
    if (sha256(copy.bytes) === info.sha256) return { info, bytes: copy.bytes, ...modeOf(copy.mode) };
    damaged++;
  }
  if (undecryptable) {
    const what = `version ${version} of ${display}`;
    throw new DecryptionError(undecryptable.reason, what, `${what} cannot be read: ${undecryptable.problem}`, 'Nothing was read or written.');
  }
  if (damaged > 0) {
    throw new ChecksumError(`Every stored copy of version ${version} of ${display} is damaged (sha256 mismatch); it cannot be read. Run config-persistence verify.`, display);
  }
  throw new NotFoundError(
    `The content of version ${version} of ${display} is no longer kept (history keeps the newest ${historyKeep(ctx)} versions' contents, and no backup holds it). Its metadata is still in the history.`,
    display,
  );
}

function modeOf(mode: number | undefined): { mode?: number } {
  return mode === undefined ? {} : { mode };
}

/** A stored copy of a content, with the permission bits it was kept with. */
type Copy = { bytes: Uint8Array; mode?: number | undefined } | undefined;

/** Readers of every stored copy of the content `sha`: its history object, then backups holding it. */
async function copiesOf(ctx: Context, sha: string): Promise<Array<() => Promise<Copy>>> {
  const view = await loadIndex(ctx);
  const backups = [...view.records.values()].filter((b) => b.kind !== 'snapshot' && b.sha256 === sha && !b.compressed);
  const compressed = [...view.records.values()].filter((b) => b.kind !== 'snapshot' && b.sha256 === sha && b.compressed);
  const entry = async (key: string): Promise<Copy> => {
    const read = await ctx.storage.readEntry(key);
    return read && { bytes: read.bytes, mode: read.entry.mode };
  };
  return [
    () => entry(objectKey(sha)),
    ...backups.map((b) => () => entry(backupKey(b.id))),
    // A damaged gzip reads as an empty copy: counted as damage by the caller.
    ...compressed.map((b) => () => readBackup(ctx, b).catch((err: unknown) => (err instanceof DecryptionError ? Promise.reject(err) : { bytes: new Uint8Array(0) }))),
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
export async function diffVersions(ctx: Context, key: string, from: number, to?: number, opts: { includeSecrets?: boolean } = {}): Promise<Change[]> {
  const journal = await readCurrentJournal(ctx, key);
  const target = to ?? journal.entries.at(-1)?.version ?? 0;
  const [before, after] = await Promise.all([documentOrDeletion(ctx, key, journal, from), documentOrDeletion(ctx, key, journal, target)]);
  // Values the schema marks secret are shown as "***" on both sides unless asked for.
  return (await redactorOf(ctx, opts)).changes(diffDocuments(before, after));
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
  const { bytes, mode } = await versionBytes(ctx, key, version);
  return writeBytes(ctx, key, bytes, {
    // Re-created after a delete: with the bits its content was kept with, never wider (an
    // existing file keeps its own).
    ...(mode !== undefined ? { mode: mode & 0o666 } : {}),
    changedBy: opts.changedBy ?? 'user',
    reason: opts.reason ?? `rollback to version ${version}`,
    operation: 'rollback',
    trigger: 'pre-rollback',
    alwaysBackup: true,
    details: { toVersion: version },
  });
}
