/**
 * Backups: timestamped copies of a file's content, taken before every overwrite, delete and
 * restore (automatic), on request (manual) and on a timer (scheduled).
 *
 * - A backup of content that is about to be replaced by a rename is a hard link to the old inode:
 *   no bytes are copied, and the inode is never written again. A backup of a file that stays in
 *   place (manual, scheduled) is a real copy, because the live file may later be edited in place.
 *   Compressed backups are written as new gzip files. Either way a backup appears complete or not
 *   at all (link, or temp file + rename), and is never more readable than its source (links share
 *   the source's mode; copies get the source's bits without execute).
 * - Records live in `backups/index.jsonl` (see backups/records.ts); restore verifies the recorded
 *   sha256 (of the uncompressed content) before it writes anything.
 * - Ids sort by file then time: `current.20261123T081218.123Z.yaml`, with `_001`, `_002`... for
 *   several in one millisecond and an optional label slug: `current.20261123T081218.123Z.before-upgrade.yaml`.
 */
import { auditAppend } from '../changeset/audit.js';
import {
  BACKUP_INDEX,
  BACKUPS_DIR,
  backupKey,
  cachedView,
  indexAppendOp,
  loadIndex,
  noteAppended,
  noteOwnAppend,
  serialize,
  SNAPSHOT_FILE,
  type IndexLine,
} from './records.js';
import { reconcile } from './reconcile.js';
import { extensionOf } from '../codecs/index.js';
import { sha256, type Context } from '../core/context.js';
import { ChecksumError, InvalidNameError, IOError, NotFoundError, TooLargeError } from '../errors.js';
import { flattenKey } from '../core/keys.js';
import { zlibLib } from '../core/lazy-deps.js';
import { assertSafeName } from '../core/names.js';
import { objectOfBackup } from '../history/journal.js';
import type { BackupInfo, BackupOptions, BackupTrigger, ChangedBy } from '../types.js';
import type { AppendOp, AppendSync, CopyOp, MoveOp, PutOp, RemoveOp } from '../storage/types.js';

export { BACKUP_INDEX, BACKUPS_DIR, backupKey, type IndexLine };

/** `2026-11-23T08:12:18.123Z` → `20261123T081218.123Z` (sortable, no separators). */
export function compactStamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '');
}

/** Turns a free-text label into a name segment: lower-case letters, digits and dashes. */
export function labelSegment(label: string | undefined): string | undefined {
  if (!label) return undefined;
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return slug || undefined;
}

/**
 * A new backup id for `key` at `now`, unique even in the same millisecond: within this process by
 * a sequence number, across processes because callers hold the file's lock and the candidate is
 * checked against the directory (and the link that creates it never overwrites).
 * `base` overrides the name part (snapshots).
 */
export async function newBackupId(ctx: Context, key: string, now: Date, label: string | undefined, compressed: boolean, base?: string): Promise<string> {
  const found = await freeBackupId(ctx, key, now, label, compressed, base);
  found.take();
  return found.id;
}

/**
 * A free backup id for `key` at `now`, not yet taken: `take()` records its stamp, so that the next
 * id of the same millisecond gets the next sequence number (an id looked up but never used, by a
 * write that found no old content to back up, leaves no gap).
 */
export async function freeBackupId(ctx: Context, key: string, now: Date, label: string | undefined, compressed: boolean, base?: string): Promise<{ id: string; take(): void }> {
  const ext = base === undefined ? extensionOf(key) : 'json';
  const name = base ?? flattenKey(ext ? key.slice(0, -(ext.length + 1)) : key);
  const stamp = compactStamp(now);
  const previous = ctx.state.backupStamps.get(key);
  let seq = previous && previous.stamp === stamp ? previous.seq + 1 : 0;
  const slug = labelSegment(label);
  for (;;) {
    // `_` sorts after `.`: the first backup of a millisecond lists before its `_001` sibling.
    const id = `${name}.${stamp}${seq ? `_${String(seq).padStart(3, '0')}` : ''}${slug ? `.${slug}` : ''}${ext ? `.${ext}` : ''}${compressed ? '.gz' : ''}`;
    if (!(await ctx.storage.stat(backupKey(id)))) {
      const at = seq;
      return { id, take: () => ctx.state.backupStamps.set(key, { stamp, seq: at }) };
    }
    seq += 1;
  }
}

/** Inputs of {@link planBackup}. */
export interface BackupPlanInput {
  key: string;
  /** The content being backed up (already read by the caller, who holds the file's lock). */
  content: { bytes: Uint8Array; sha256: string; mode?: number };
  trigger: BackupTrigger;
  label?: string;
  now: Date;
  /**
   * `replaced` (default): the file is about to be replaced or removed in the same commit, so a hard
   * link keeps the old bytes for free. `live`: the file stays, so the backup must be a copy.
   */
  source?: 'replaced' | 'live';
  /**
   * How durable the backup's index record must be before the commit's change (AppendOp.sync). The
   * backup file itself is always durable first. Default `'commit'`.
   */
  recordSync?: AppendSync;
  /** Its id, when already looked up (Lookahead: beside the read of the content); taken here. */
  id?: Promise<{ id: string; take(): void }>;
}

/** The commit operations that take a backup of `key`'s current content, and the record it adds. */
export async function planBackup(ctx: Context, input: BackupPlanInput): Promise<{ ops: Array<CopyOp | PutOp | AppendOp>; info: BackupInfo }> {
  const compressed = ctx.options.compressBackups;
  const looked = input.id ? await input.id : undefined;
  looked?.take();
  const id = looked?.id ?? (await newBackupId(ctx, input.key, input.now, input.label, compressed));
  const info: BackupInfo = {
    id,
    file: input.key,
    createdAt: input.now.toISOString(),
    size: input.content.bytes.byteLength,
    sha256: input.content.sha256,
    compressed,
    trigger: input.trigger,
    kind: 'file',
  };
  if (input.label) info.label = input.label;
  // Never more readable than the source: its permission bits without execute (umask may remove more).
  const mode = (input.content.mode ?? 0o600) & 0o666;
  const ops: Array<CopyOp | PutOp | AppendOp> = [];
  // A fresh id that only the index line below names: a split commit may write it first (PutOp.unreferenced).
  if (compressed) ops.push({ type: 'put', key: backupKey(id), data: zlibLib().gzipSync(input.content.bytes), mode, unreferenced: true });
  else if (input.source === 'live') ops.push({ type: 'put', key: backupKey(id), data: input.content.bytes, mode, unreferenced: true });
  else ops.push({ type: 'copy', from: input.key, to: backupKey(id), unreferenced: true });
  const record = indexAppendOp(ctx, [{ op: 'add', ...info }]);
  ops.push(input.recordSync ? { ...record, sync: input.recordSync } : record);
  return { ops, info };
}

/** Who and why, for the audit line of a backup operation. */
export interface BackupActor {
  changedBy?: ChangedBy;
  reason?: string;
}

/**
 * Takes a backup of `key` as it is now (a copy: the file stays). The caller holds the key's lock.
 * Fails with `E_NOT_FOUND` when the file does not exist.
 */
export async function createBackup(ctx: Context, key: string, opts: BackupOptions & BackupActor = {}, trigger: BackupTrigger = 'manual'): Promise<BackupInfo> {
  const read = await ctx.storage.readEntry(key);
  const bytes = read?.bytes;
  const stat = read?.entry;
  if (!bytes) {
    const display = ctx.storage.describe(key);
    throw new NotFoundError(`Cannot back up ${display}: it does not exist. Check the name (config-persistence status).`, display);
  }
  const now = new Date();
  const planned = await planBackup(ctx, {
    key,
    content: { bytes, sha256: sha256(bytes), ...(stat?.mode !== undefined ? { mode: stat.mode } : {}) },
    trigger,
    ...(opts.label !== undefined ? { label: opts.label } : {}),
    now,
    source: 'live',
  });
  await commitRecorded(ctx, {
    prepare: planned.ops,
    lines: [{ op: 'add', ...planned.info }],
    audit: {
      at: now.toISOString(),
      op: 'backup',
      file: key,
      changedBy: String(opts.changedBy ?? (trigger === 'scheduled' ? 'system' : 'user')),
      ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
      sha256: planned.info.sha256,
      backup: planned.info.id,
      details: { trigger, ...(opts.label !== undefined ? { label: opts.label } : {}) },
    },
  });
  return planned.info;
}

/**
 * Commits backup bookkeeping (prepare ops that already contain the index append, plus an audit
 * line) and brings the index view up to date.
 */
export async function commitRecorded(
  ctx: Context,
  work: { prepare: Array<CopyOp | PutOp | AppendOp>; lines: IndexLine[]; audit: Parameters<typeof auditAppend>[0] },
): Promise<void> {
  const indexOp = work.prepare.find((op): op is AppendOp => op.type === 'append' && op.key === BACKUP_INDEX);
  await ctx.storage.commit({ prepare: work.prepare, after: [auditAppend(work.audit)] });
  await serialize(ctx, () => (indexOp ? noteAppended(ctx, { lines: work.lines, data: indexOp.data }) : loadIndex(ctx)));
}

/** Longest backup id: a file name (≤ 120 bytes) plus time, sequence, label and extensions, under NAME_MAX. */
export const MAX_BACKUP_ID_BYTES = 255;

/** Checks a backup id's shape: one plain name, never a path. `E_INVALID_NAME` otherwise. */
export function assertBackupId(id: unknown): string {
  const safe = assertSafeName(id, 'backup id', MAX_BACKUP_ID_BYTES);
  if (safe === 'index.jsonl') throw new InvalidNameError('"index.jsonl" is the backup records journal, not a backup id; see config-persistence backup list.');
  return safe;
}

/** The record of backup `id` (present on disk), or `E_NOT_FOUND`. */
export async function findBackup(ctx: Context, id: string): Promise<BackupInfo> {
  assertBackupId(id);
  const view = await loadIndex(ctx);
  const known = view.records.get(id);
  const present = await ctx.storage.stat(backupKey(id));
  if (known && present) return known;
  if (!known && present) {
    // A complete file whose record was lost (crash): offer it as `recovered`.
    const rec = (await reconcile(ctx)).recovered.find((r) => r.id === id);
    if (rec) return rec;
  }
  const display = ctx.storage.describe(backupKey(id));
  const why = known ? 'its file is missing (removed by hand?)' : 'no backup has this id';
  throw new NotFoundError(`Backup ${id} cannot be used: ${why}. List the backups with config-persistence backup list.`, display);
}

/**
 * The content of a backup (uncompressed), after checking it against its record: `E_CHECKSUM` for
 * a tampered, truncated or undecompressable file, `E_NOT_FOUND` when it is gone.
 */
export async function readBackup(ctx: Context, info: BackupInfo): Promise<{ bytes: Uint8Array; mode?: number }> {
  const key = backupKey(info.id);
  const display = ctx.storage.describe(key);
  const read = await ctx.storage.readEntry(key);
  const stored = read?.bytes;
  const stat = read?.entry;
  if (!stored) throw new NotFoundError(`Backup ${info.id} is missing from ${ctx.storage.describe(BACKUPS_DIR)}; pick another one (config-persistence backup list).`, display);
  let bytes: Uint8Array = stored;
  if (info.compressed) {
    try {
      bytes = zlibLib().gunzipSync(stored);
    } catch (err) {
      throw new ChecksumError(
        `${display} cannot be decompressed (${(err as Error).message}): it is truncated or damaged.`,
        display,
        'Nothing was restored; pick another backup.',
      );
    }
  }
  const actual = sha256(bytes);
  if (actual !== info.sha256 || bytes.byteLength !== info.size) {
    throw new ChecksumError(
      `${display} does not match its record (sha256 ${actual.slice(0, 12)}… and ${bytes.byteLength} bytes, recorded ${info.sha256.slice(0, 12)}… and ${info.size} bytes): it was modified or truncated after it was taken.`,
      display,
      'Nothing was restored; pick another backup.',
    );
  }
  return { bytes, ...(stat?.mode !== undefined ? { mode: stat.mode } : {}) };
}

/** Every backup, newest first; `match` narrows the list (by file, usually). */
export async function listBackups(ctx: Context, match?: (info: BackupInfo) => boolean): Promise<BackupInfo[]> {
  const { backups } = await reconcile(ctx);
  return match === undefined ? backups : backups.filter(match);
}

/**
 * The filter for `listBackups(name)`: the file's key; a name without an extension (`current`,
 * `profiles/dev`) matches that file in every format, so a deleted `current.yaml` is still found.
 */
export function backupsOf(name: string, key: string): (info: BackupInfo) => boolean {
  if (name === SNAPSHOT_FILE) return (info) => info.file === SNAPSHOT_FILE;
  if (extensionOf(name)) return (info) => info.file === key;
  const base = withoutExtension(key);
  return (info) => info.file !== SNAPSHOT_FILE && withoutExtension(info.file) === base;
}

function withoutExtension(key: string): string {
  const ext = extensionOf(key);
  return ext ? key.slice(0, -(ext.length + 1)) : key;
}

/** What the audit line of a removal says: the operation, who, why. */
type RemovalAudit = { op: string; changedBy?: ChangedBy; reason?: string; details?: Record<string, unknown> };

/**
 * Removes backups (files, then their records) in batches; each batch is one commit whose audit line
 * names what it removed and why (`op`). `sync: false` for retention after a save: see Commit.sync.
 */
export async function removeBackups(ctx: Context, infos: readonly BackupInfo[], audit: RemovalAudit, sync = true): Promise<void> {
  const BATCH = 500;
  for (let i = 0; i < infos.length; i += BATCH) await removeBatch(ctx, infos.slice(i, i + BATCH), audit, sync);
}

/**
 * One batch of {@link removeBackups} in one commit; a batch over the storage's limit of one commit
 * (E_TOO_LARGE, nothing written: etcd's --max-txn-ops) is removed in two halves instead.
 */
async function removeBatch(ctx: Context, batch: readonly BackupInfo[], audit: RemovalAudit, sync: boolean): Promise<void> {
  try {
    await removeInOneCommit(ctx, batch, audit, sync);
  } catch (err) {
    if (!(err instanceof TooLargeError) || batch.length < 2) throw err;
    const half = Math.ceil(batch.length / 2);
    await removeBatch(ctx, batch.slice(0, half), audit, sync);
    await removeBatch(ctx, batch.slice(half), audit, sync);
  }
}

async function removeInOneCommit(ctx: Context, batch: readonly BackupInfo[], audit: RemovalAudit, sync: boolean): Promise<void> {
  const at = new Date().toISOString();
  const lines: IndexLine[] = batch.map((b) => ({ op: 'remove', id: b.id, at }));
  const indexOp = indexAppendOp(ctx, lines);
  const commit = async (): Promise<void> =>
    ctx.storage.commit({
      sync,
      changes: await removalsOf(ctx, batch),
      // The records go after the files: a crash in between leaves records of vanished files,
      // which reads hide and cleanup drops, never a backup file nobody knows about.
      after: [
        indexOp,
        auditAppend({
          at,
          op: audit.op,
          file: batch.length === 1 ? batch[0]!.file : '*',
          changedBy: String(audit.changedBy ?? 'system'),
          ...(audit.reason !== undefined ? { reason: audit.reason } : {}),
          ...(batch.length === 1 ? { backup: batch[0]!.id } : {}),
          details: { ...audit.details, removed: batch.map((b) => b.id) },
        }),
      ],
    });
  try {
    await commit();
  } catch (err) {
    // Another process's retention removed (or moved) one of these backups between our look and
    // the move; the commit changed nothing, so plan it again from what is there now.
    if (!(err instanceof IOError && err.syscallCode === 'ENOENT')) throw err;
    await commit();
  }
  await serialize(ctx, async () => noteOwnAppend(ctx, [{ lines, data: indexOp.data }]));
}

/**
 * How `batch` leaves `backups/`: a backup whose content has no history object yet becomes it (see
 * keepsHistory) by a move, so the content is under one name or the other whatever happens; the
 * others are removed.
 */
async function removalsOf(ctx: Context, batch: readonly BackupInfo[]): Promise<Array<RemoveOp | MoveOp>> {
  const claimed = new Set<string>();
  const changes: Array<RemoveOp | MoveOp> = [];
  for (const b of batch) {
    const object = objectOfBackup(b);
    if (object !== undefined && !claimed.has(object) && !(await ctx.storage.stat(object)) && (await ctx.storage.stat(backupKey(b.id)))) {
      claimed.add(object);
      changes.push({ type: 'move', from: backupKey(b.id), to: object });
    } else changes.push({ type: 'remove', key: backupKey(b.id) });
  }
  return changes;
}

/** Deletes one backup by id (`E_INVALID_NAME` for a malformed id, `E_NOT_FOUND` for an unknown one). */
export async function deleteBackup(ctx: Context, id: string, actor: BackupActor = {}): Promise<BackupInfo> {
  const info = await findBackup(ctx, id);
  await removeBackups(ctx, [info], { op: 'backup-delete', changedBy: actor.changedBy ?? 'user', ...(actor.reason !== undefined ? { reason: actor.reason } : {}) });
  return info;
}

/** The newest backup record of `fileKey` in this process's view, if the view is loaded (no I/O). */
export function newestCached(ctx: Context, fileKey: string): BackupInfo | undefined {
  return cachedView(ctx)?.byFile.get(fileKey)?.at(-1);
}
