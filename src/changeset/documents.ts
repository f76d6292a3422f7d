/**
 * One document in and out: bytes → codec → document → schema on the way in, and back the same
 * path on the way out. Writes of one file go through the changeset pipeline (changeset.ts), which
 * commits the backup, history and audit records of the change together with it.
 */
import { commitChangeset, lookAhead, type FileChange, type Lookahead, type OldContent } from './changeset.js';
import { sha256, type Context } from '../core/context.js';
import { ConflictError, NotFoundError, TooLargeError } from '../errors.js';
import { readJournal, settledJournal, versionOf, type Journal } from '../history/journal.js';
import type { BackupInfo, BackupTrigger, ChangedBy, SaveResult } from '../types.js';
import type { AppendOp, CopyOp, PutOp } from '../storage/types.js';
import { readSyncFrom } from '../storage/sync-read.js';

export type { OldContent } from './changeset.js';

/** A file's content as read, with what the pipeline needs to know about it. */
export interface StoredDocument<T = unknown> {
  key: string;
  bytes: Uint8Array;
  text: string;
  data: T;
  sha256: string;
  /** Permission bits, when the storage has them. */
  mode?: number;
  /** The storage revision these bytes were read at (the compare of a later write based on them). */
  revision?: string;
}

/** Reads and parses a file; `undefined` when it does not exist. Does not validate. */
export async function readDocument<T = unknown>(ctx: Context, key: string): Promise<StoredDocument<T> | undefined> {
  // Bytes and revision from one read: a write based on this document is fenced by that revision.
  const read = await ctx.storage.readEntry(key, { maxBytes: ctx.options.maxFileBytes });
  if (!read) return undefined;
  const doc = decodeDocument<T>(ctx, key, read.bytes);
  if (read.entry.revision !== undefined) doc.revision = read.entry.revision;
  return doc;
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

/**
 * {@link loadDocument} with the version its content is at (`null`: changed outside
 * config-persistence or never saved through it) and its sha256, from the same read: what a
 * conditional save (`ifVersion`, `ifSha256`) based on this document compares against.
 */
export async function loadVersioned<T>(ctx: Context, key: string): Promise<{ data: T; version: number | null; sha256: string }> {
  const [read, journal] = await Promise.all([ctx.storage.readEntry(key, { maxBytes: ctx.options.maxFileBytes }), readJournal(ctx, key)]);
  if (!read) throw notFound(ctx, key);
  const hash = sha256(read.bytes);
  const version = versionOf(await settledJournal(ctx, key, journal, hash), hash);
  const display = ctx.storage.describe(key);
  const text = ctx.codecs.text(display, read.bytes);
  await ctx.schema.ready();
  const data = validateDocument(ctx, key, ctx.codecs.parse(display, text) as T, text, true, true);
  return { data, version: version ?? null, sha256: hash };
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
  /** The sha256 the current content must have (`''`: no file), see SaveOptions.ifSha256. */
  ifSha256?: string;
  /** The caller holds no lock on the key (an optimistic write, see Store.optimistic): nobody else may. */
  unlocked?: readonly string[];
  /** The backup's lookups, started beside the read of the old content (changeset.ts, lookAhead). */
  lookahead?: Lookahead;
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
  /**
   * The revision the new content was computed from (`null`: from no file), when that is older than
   * the lock's own read: `update()` passes the revision its function saw, so a commit after a stall
   * in which another writer moved the file on is refused (`StaleError`) instead of undoing theirs.
   */
  basedOn?: string | null;
}

/**
 * Writes a document to `key`: encodes it keeping the old file's layout, checks `ifVersion`, and
 * commits the new content together with a backup of the old content, the history line and the audit
 * line. The caller must hold the key's lock.
 */
export async function writeDocument(ctx: Context, key: string, data: unknown, meta: WriteMeta = {}): Promise<SaveResult> {
  const display = ctx.storage.describe(key);
  // In the same turn as the read: on etcd the backup's lookups then travel with it (one call).
  const lookahead = wantsBackup(ctx, meta) ? lookAhead(ctx, key) : undefined;
  const [old, journal] = await readCurrent(ctx, key);
  checkVersion(ctx, key, journal, old?.sha256, meta.ifVersion);
  checkContent(ctx, key, old?.sha256, meta.ifSha256);
  const bytes = ctx.codecs.encode(key, data, old?.text);
  if (bytes.byteLength > ctx.options.maxFileBytes) {
    throw new TooLargeError(`${display} would be ${bytes.byteLength} bytes, over maxFileBytes (${ctx.options.maxFileBytes}); nothing was written.`, display);
  }
  return commitUnlessSame(ctx, key, bytes, old, journal, lookahead ? Object.assign({}, meta, { lookahead }) : meta);
}

/**
 * Writes exact bytes to `key` (restore, rollback: byte-exact, comments and layout as they were)
 * with the same backup, history and audit records as a save. The bytes are not re-validated: they
 * are content this file already had. The caller must hold the key's lock.
 */
export async function writeBytes(ctx: Context, key: string, bytes: Uint8Array, meta: WriteMeta = {}): Promise<SaveResult> {
  const [old, journal] = await readCurrent(ctx, key);
  checkVersion(ctx, key, journal, old?.sha256, meta.ifVersion);
  return commitUnlessSame(ctx, key, bytes, old, journal, meta);
}

async function commitUnlessSame(ctx: Context, key: string, bytes: Uint8Array, old: OldContent | undefined, journal: Journal, meta: WriteMeta): Promise<SaveResult> {
  const hash = sha256(bytes);
  const current = versionOf(journal, old?.sha256);
  if (old && old.sha256 === hash && current !== undefined && !meta.extraPrepare?.length) {
    // Identical content: no new version, no backup spam.
    return { path: ctx.storage.describe(key), version: current, sha256: hash };
  }
  // The new bytes are known: the storage may start writing them while the changeset plans the rest.
  const staged = ctx.storage.prestage?.(key, bytes);
  try {
    return await commitChange(ctx, key, { bytes, sha256: hash, ...(meta.mode !== undefined ? { mode: meta.mode } : {}) }, old, journal, meta);
  } finally {
    staged?.release();
  }
}

/** Removes `key` after backing it up; the caller must hold the key's lock. */
export async function removeDocument(ctx: Context, key: string, meta: WriteMeta = {}): Promise<{ version: number; backup?: BackupInfo }> {
  const [old, journal] = await readCurrent(ctx, key);
  if (!old) throw notFound(ctx, key);
  checkVersion(ctx, key, journal, old.sha256, meta.ifVersion);
  checkContent(ctx, key, old.sha256, meta.ifSha256);
  const result = await commitChange(ctx, key, undefined, old, journal, { ...meta, operation: meta.operation ?? 'delete', trigger: meta.trigger ?? 'delete' });
  return { version: result.version, ...(result.backup ? { backup: result.backup } : {}) };
}

/** The file's content and its journal, settled against it (a version that never landed left out). */
export async function readCurrent(ctx: Context, key: string): Promise<[OldContent | undefined, Journal]> {
  // Independent reads under the lock: issued together, a save waits for the slower one, not both.
  const [old, journal] = await Promise.all([readForOverwrite(ctx, key), readJournal(ctx, key)]);
  return [old, await settledJournal(ctx, key, journal, old?.sha256)];
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
  if (stat?.revision !== undefined) content.revision = stat.revision;
  return content;
}

/** `E_CONFLICT` unless the current content has the `expected` sha256 (`''`: no file). */
function checkContent(ctx: Context, key: string, sha: string | undefined, expected: string | undefined): void {
  if (expected === undefined || expected === (sha ?? '')) return;
  const display = ctx.storage.describe(key);
  const now = sha === undefined ? 'it does not exist' : 'its content changed';
  throw new ConflictError(`${display} is not the content you read (sha256 ${expected === '' ? 'of no file' : expected.slice(0, 12)}…): ${now}. Reload it, reapply your change and save again.`, display);
}

function checkVersion(ctx: Context, key: string, journal: Journal, sha: string | undefined, expected: number | undefined): void {
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

/** Whether a write with `meta` takes the automatic backup of the content it replaces. */
function wantsBackup(ctx: Context, meta: WriteMeta): boolean {
  return (ctx.options.backupOnWrite || meta.alwaysBackup === true) && !meta.skipBackup;
}

/** One file's change through the changeset pipeline, with the single-file rules of backups and audit. */
async function commitChange(ctx: Context, key: string, next: FileChange['next'], old: OldContent | undefined, journal: Journal, meta: WriteMeta): Promise<SaveResult> {
  const backup = wantsBackup(ctx, meta);
  const operation = meta.operation ?? 'save';
  const { files } = await commitChangeset(ctx, {
    files: [
      { key, ...(next ? { next } : {}), old, journal, operation, ...(backup ? { backup: meta.trigger ?? 'overwrite' } : {}), ...(meta.basedOn !== undefined ? { basedOn: meta.basedOn } : {}) },
    ],
    changedBy: meta.changedBy ?? 'user',
    ...(meta.reason !== undefined ? { reason: meta.reason } : {}),
    now: meta.lookahead?.now ?? new Date(),
    ...(meta.extraPrepare ? { prepare: meta.extraPrepare } : {}),
    ...(meta.unlocked ? { unlocked: meta.unlocked } : {}),
    ...(meta.lookahead ? { lookahead: meta.lookahead } : {}),
    audit: ([file]) => ({
      op: operation,
      file: key,
      version: file!.version!,
      ...(next ? { sha256: next.sha256 } : {}),
      ...(file!.backup ? { backup: file!.backup.id } : {}),
      ...(meta.details ? { details: meta.details } : {}),
    }),
  });
  const done = files[0]!;
  const result: SaveResult = { path: ctx.storage.describe(key), version: done.version!, sha256: done.sha256 };
  if (done.backup) result.backup = done.backup;
  return result;
}
