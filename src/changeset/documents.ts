/**
 * The document pipeline every feature uses: bytes → codec → document → schema on the way in, and
 * back the same path on the way out, with the backup, history and audit records of each change
 * committed together with it.
 */
import { auditAppend } from './audit.js';
import { BACKUP_INDEX, planBackup } from '../backups/backups.js';
import { sha256, type Context } from '../core/context.js';
import { ConflictError, NotFoundError, TooLargeError } from '../errors.js';
import { journalKey, keepsHistory, planVersion, readJournal, rememberAppend, versionOf } from '../history/journal.js';
import type { BackupInfo, BackupTrigger, ChangedBy, SaveResult } from '../types.js';
import type { AppendOp, Commit, CopyOp, PutOp } from '../storage/types.js';
import { readSyncFrom } from '../storage/sync-read.js';

/** A file's content as read, with what the pipeline needs to know about it. */
export interface StoredDocument<T = unknown> {
  key: string;
  bytes: Uint8Array;
  text: string;
  data: T;
  sha256: string;
  /** Permission bits, when the storage has them. */
  mode?: number;
}

/** Reads and parses a file; `undefined` when it does not exist. Does not validate. */
export async function readDocument<T = unknown>(ctx: Context, key: string): Promise<StoredDocument<T> | undefined> {
  const bytes = await ctx.storage.read(key, { maxBytes: ctx.options.maxFileBytes });
  if (!bytes) return undefined;
  return decodeDocument<T>(ctx, key, bytes);
}

/** Sync variant of {@link readDocument}, for startup code. */
export function readDocumentSync<T = unknown>(ctx: Context, key: string): StoredDocument<T> | undefined {
  const bytes = readSyncFrom(ctx.storage, key, { maxBytes: ctx.options.maxFileBytes });
  if (!bytes) return undefined;
  return decodeDocument<T>(ctx, key, bytes);
}

function decodeDocument<T>(ctx: Context, key: string, bytes: Uint8Array): StoredDocument<T> {
  const display = ctx.storage.describe(key);
  const text = ctx.codecs.text(display, bytes);
  const data = ctx.codecs.parse(display, text) as T;
  return { key, bytes, text, data, sha256: sha256(bytes) };
}

/**
 * Validates a document read from (or about to be written to) `key` against the schema. With
 * `applyDefaults`, returns it with the schema's defaults filled in; `owned` says `data` was freshly
 * parsed and shared with nobody, so the defaults may go into it instead of into a copy.
 */
export function validateDocument<T>(ctx: Context, key: string, data: T, text?: string, applyDefaults = false, owned = false): T {
  const display = ctx.storage.describe(key);
  const locate = text === undefined ? undefined : (path: ReadonlyArray<string | number>, target?: 'key' | 'value') => ctx.codecs.locate(key, text, path, target);
  return ctx.schema.validate(display, data, { locate, applyDefaults, owned });
}

/** Reads, parses and validates a file, failing with `E_NOT_FOUND` when it is missing. */
export async function loadDocument<T>(ctx: Context, key: string, opts: { applyDefaults?: boolean; validate?: boolean } = {}): Promise<T> {
  const bytes = await ctx.storage.read(key, { maxBytes: ctx.options.maxFileBytes });
  if (!bytes) throw notFound(ctx, key);
  // Not readDocument: a load needs no sha256, and hashing a large file costs as much as validating it.
  const display = ctx.storage.describe(key);
  const text = ctx.codecs.text(display, bytes);
  const data = ctx.codecs.parse(display, text) as T;
  if (opts.validate === false) return data;
  await ctx.schema.ready();
  return validateDocument(ctx, key, data, text, opts.applyDefaults ?? true, true);
}

/** The `E_NOT_FOUND` error for a missing file. */
export function notFound(ctx: Context, key: string): NotFoundError {
  const display = ctx.storage.describe(key);
  return new NotFoundError(`${display} does not exist; save it first or check the name (see \`config-persistence status\`).`, display);
}

/** What a write records about itself. */
export interface WriteMeta {
  changedBy?: ChangedBy;
  reason?: string;
  ifVersion?: number;
  /** The history/audit operation name: save, restore, rollback, import... */
  operation?: string;
  /** Why the automatic backup is taken. */
  trigger?: BackupTrigger;
  /** Skip the automatic backup (the caller took one already). */
  skipBackup?: boolean;
  /** Take the backup even with `backupOnWrite: false` (restore and rollback promise a safety backup). */
  alwaysBackup?: boolean;
  /** Permission bits when the write creates the file (a restored file gets its backup's bits). */
  mode?: number;
  /** Extra commit operations to make durable before the change (e.g. a safety backup). */
  extraPrepare?: Array<PutOp | CopyOp | AppendOp>;
  /** Audit details. */
  details?: Record<string, unknown>;
}

/** Hooks the backups module registers to run after an automatic backup (retention). */
export const afterBackupHooks: Array<(ctx: Context, info: BackupInfo) => Promise<void>> = [];

/**
 * Set by history/versions.ts (a registration, not an import: versions depends on this module). `take`:
 * history contents no kept version needs, as keys, for a commit to remove after its change (their
 * unlinks run while its directory fsyncs do), leaving out the contents in `keep`. `after`: once a
 * save committed, looks for more now and then.
 */
export const historyPruner: {
  take?: (ctx: Context, keep: ReadonlyArray<string | undefined>) => string[];
  after?: (ctx: Context, key: string) => Promise<void>;
} = {};

/** Retention folded into the commit that takes an automatic backup (see {@link retentionPlanner}). */
export interface RetentionPlan {
  /** The expired backups of the file, removed by the same commit once its change is visible. */
  cleanup: NonNullable<Commit['cleanup']>;
  /** Once the commit resolved: brings the index view up to date and runs the rare follow-ups. */
  done(): Promise<void>;
}

/**
 * Set by backups/retention.ts (a registration, not an import: retention depends on this module). When set,
 * a save that takes a backup also removes the backups it pushes past `maxBackups` in its own commit
 * instead of a second commit after it.
 */
export const retentionPlanner: { plan?: (ctx: Context, info: BackupInfo, indexLineBytes: number) => Promise<RetentionPlan> } = {};

/**
 * Writes a document to `key`: encodes it keeping the old file's layout, checks `ifVersion`, and
 * commits the new content together with a backup of the old content, the history line and the audit
 * line. The caller must hold the key's lock.
 */
export async function writeDocument(ctx: Context, key: string, data: unknown, meta: WriteMeta = {}): Promise<SaveResult> {
  const display = ctx.storage.describe(key);
  // Independent reads under the lock: issued together, a save waits for the slower one, not both.
  const [old, journal] = await Promise.all([readForOverwrite(ctx, key), readJournal(ctx, key)]);
  checkVersion(ctx, key, journal, old?.sha256, meta.ifVersion);
  const bytes = ctx.codecs.encode(key, data, old?.text);
  if (bytes.byteLength > ctx.options.maxFileBytes) {
    throw new TooLargeError(`${display} would be ${bytes.byteLength} bytes, over maxFileBytes (${ctx.options.maxFileBytes}); nothing was written.`, display);
  }
  return commitUnlessSame(ctx, key, bytes, old, journal, meta);
}

/**
 * Writes exact bytes to `key` (restore, rollback: byte-exact, comments and layout as they were)
 * with the same backup, history and audit records as a save. The bytes are not re-validated: they
 * are content this file already had. The caller must hold the key's lock.
 */
export async function writeBytes(ctx: Context, key: string, bytes: Uint8Array, meta: WriteMeta = {}): Promise<SaveResult> {
  const [old, journal] = await Promise.all([readForOverwrite(ctx, key), readJournal(ctx, key)]);
  checkVersion(ctx, key, journal, old?.sha256, meta.ifVersion);
  return commitUnlessSame(ctx, key, bytes, old, journal, meta);
}

async function commitUnlessSame(
  ctx: Context,
  key: string,
  bytes: Uint8Array,
  old: OldContent | undefined,
  journal: Awaited<ReturnType<typeof readJournal>>,
  meta: WriteMeta,
): Promise<SaveResult> {
  const hash = sha256(bytes);
  const current = versionOf(journal, old?.sha256);
  if (old && old.sha256 === hash && current !== undefined && !meta.extraPrepare?.length) {
    // Identical content: no new version, no backup spam.
    return { path: ctx.storage.describe(key), version: current, sha256: hash };
  }
  return commitChange(ctx, key, { bytes, sha256: hash }, old, journal, meta);
}

/** Removes `key` after backing it up; the caller must hold the key's lock. */
export async function removeDocument(ctx: Context, key: string, meta: WriteMeta = {}): Promise<{ version: number; backup?: BackupInfo }> {
  const old = await readForOverwrite(ctx, key);
  if (!old) throw notFound(ctx, key);
  const journal = await readJournal(ctx, key);
  checkVersion(ctx, key, journal, old.sha256, meta.ifVersion);
  const result = await commitChange(ctx, key, undefined, old, journal, { ...meta, operation: meta.operation ?? 'delete', trigger: meta.trigger ?? 'delete' });
  return { version: result.version, ...(result.backup ? { backup: result.backup } : {}) };
}

/** A file's content before a change, as the pipeline backs it up. */
export interface OldContent {
  bytes: Uint8Array;
  text: string;
  sha256: string;
  mode?: number;
}

/** Reads the content about to be replaced (past maxFileBytes: it must be backed up whatever its size). */
export async function readForOverwrite(ctx: Context, key: string): Promise<OldContent | undefined> {
  // Read past maxFileBytes: an oversized old file must still be backed up before it is replaced.
  const read = await ctx.storage.readEntry(key);
  if (!read) return undefined;
  const { bytes, entry: stat } = read;
  // Codecs fall back to a fresh layout when the old text does not parse; it is still backed up.
  const content: OldContent = { bytes, text: Buffer.from(bytes).toString('utf8'), sha256: sha256(bytes) };
  if (stat?.mode !== undefined) content.mode = stat.mode;
  return content;
}

function checkVersion(ctx: Context, key: string, journal: Awaited<ReturnType<typeof readJournal>>, sha: string | undefined, expected: number | undefined): void {
  if (expected === undefined) return;
  const actual = versionOf(journal, sha);
  if (actual === expected) return;
  const display = ctx.storage.describe(key);
  const now = actual === undefined ? 'it was changed outside config-persistence' : `it is at version ${actual}`;
  throw new ConflictError(
    `${display} is not at version ${expected}: ${now}. Reload it, reapply your change and save again.`,
    display,
    actual === undefined ? { expected } : { expected, actual },
  );
}

async function commitChange(
  ctx: Context,
  key: string,
  next: { bytes: Uint8Array; sha256: string } | undefined,
  old: OldContent | undefined,
  journal: Awaited<ReturnType<typeof readJournal>>,
  meta: WriteMeta,
): Promise<SaveResult> {
  const display = ctx.storage.describe(key);
  const now = new Date();
  const prepare: NonNullable<Commit['prepare']> = [...(meta.extraPrepare ?? [])];
  let backup: BackupInfo | undefined;
  if (old && (ctx.options.backupOnWrite || meta.alwaysBackup) && !meta.skipBackup) {
    const planned = await planBackup(ctx, {
      key,
      content: { bytes: old.bytes, sha256: old.sha256, ...(old.mode !== undefined ? { mode: old.mode } : {}) },
      trigger: meta.trigger ?? 'overwrite',
      now,
      // The backup file is durable before the change; its record soon after: a power cut in between
      // loses only the trigger (listings rebuild the record from the file, as `recovered`).
      recordSync: 'soon',
    });
    prepare.push(...planned.ops);
    backup = planned.info;
  }
  const changedBy = meta.changedBy ?? 'user';
  const operation = meta.operation ?? 'save';
  const versionPlan = planVersion({
    key,
    journal,
    ...(old ? { old: { sha256: old.sha256, size: old.bytes.byteLength } } : {}),
    ...(next ? { next: { sha256: next.sha256, size: next.bytes.byteLength } } : {}),
    changedBy,
    ...(meta.reason !== undefined ? { reason: meta.reason } : {}),
    operation,
    ...(backup ? { backupId: backup.id } : {}),
    now,
  });
  for (const op of versionPlan.ops) {
    // The backup just planned holds the old content: no history object until it is removed (it
    // then becomes the object, see keepsHistory), one link and one directory fsync fewer.
    if (op.type === 'copy' && backup && keepsHistory(backup)) continue;
    prepare.push(op);
  }
  const change: PutOp | { type: 'remove'; key: string } = next
    ? { type: 'put', key, data: next.bytes, ...(meta.mode !== undefined ? { mode: meta.mode } : {}) }
    : { type: 'remove', key };
  // Recorded before the change becomes visible: a watcher that reads the new bytes must already know
  // they are ours (decided by content, not timing). A failed commit leaves a stale entry, which at
  // worst hides an external write of exactly the bytes this store tried to write.
  if (next) ctx.ownWrites.set(key, next.sha256);
  else ctx.ownWrites.delete(key);
  const retention = backup && retentionPlanner.plan ? await retentionPlanner.plan(ctx, backup, indexBytes(prepare)) : undefined;
  const unneeded = historyPruner.take?.(ctx, [next?.sha256, old?.sha256]) ?? [];
  const cleanup = withRemovals(retention?.cleanup, unneeded);
  await ctx.storage.commit({
    prepare,
    changes: [change],
    ...(cleanup ? { cleanup } : {}),
    after: [
      auditAppend({
        at: now.toISOString(),
        op: operation,
        file: key,
        changedBy: String(changedBy),
        ...(meta.reason !== undefined ? { reason: meta.reason } : {}),
        version: versionPlan.version,
        ...(next ? { sha256: next.sha256 } : {}),
        ...(backup ? { backup: backup.id } : {}),
        ...(meta.details ? { details: meta.details } : {}),
      }),
    ],
  });
  const journalLine = versionPlan.ops.find((op): op is AppendOp => op.type === 'append' && op.key === journalKey(key));
  if (journalLine) rememberAppend(ctx, key, journal, journalLine.data, versionPlan.lines);
  ctx.ownWrites.landed(key, next?.sha256 ?? '', next?.bytes);
  if (retention) await retention.done();
  else if (backup) for (const hook of afterBackupHooks) await hook(ctx, backup);
  await historyPruner.after?.(ctx, key);
  const result: SaveResult = { path: display, version: versionPlan.version, sha256: next?.sha256 ?? '' };
  if (backup) result.backup = backup;
  return result;
}

/** A commit's cleanup with `keys` removed too (records only for the cleanup's own keys). */
function withRemovals(cleanup: Commit['cleanup'], keys: readonly string[]): Commit['cleanup'] {
  if (keys.length === 0) return cleanup;
  if (!cleanup) return { keys, records: () => [] };
  const own = new Set(cleanup.keys);
  return {
    ...cleanup,
    keys: [...cleanup.keys, ...keys],
    records: (removed) => cleanup.records(removed.filter((key) => own.has(key))),
  };
}

/** Bytes the commit appends to the backup index (its `add` line). */
function indexBytes(prepare: NonNullable<Commit['prepare']>): number {
  let bytes = 0;
  for (const op of prepare) if (op.type === 'append' && op.key === BACKUP_INDEX) bytes += op.data.byteLength;
  return bytes;
}
