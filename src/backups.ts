/**
 * Backups: timestamped copies of a file's old content, taken before every overwrite and delete.
 *
 * - A backup of content that is about to be replaced by a rename is a hard link to the old inode:
 *   no bytes are copied, and the inode is never written again. Where links are impossible the
 *   storage falls back to a durable copy. Compressed backups are written as new gzip files.
 * - Records live in `backups/index.jsonl` (one JSON line per added or removed backup), so listing
 *   10,000 backups reads one file, and every record carries the sha256 that restore verifies.
 * - Ids sort by file then time: `current.20261123T081218.123Z.yaml`, with `-N` for several in one
 *   millisecond and an optional label: `current.20261123T081218.123Z.before-upgrade.yaml`.
 */
import { gzipSync } from 'node:zlib';
import type { Context } from './context.js';
import { extensionOf } from './codecs/index.js';
import { flattenKey } from './files.js';
import type { AppendOp, BackupInfo, BackupTrigger, CopyOp, PutOp } from './types.js';

/** Directory of backups. */
export const BACKUPS_DIR = 'backups';
/** The backup records journal. */
export const BACKUP_INDEX = `${BACKUPS_DIR}/index.jsonl`;

/** A record line in the index. */
export type IndexLine = ({ op: 'add' } & BackupInfo) | { op: 'remove'; id: string; at: string };

const lastStamp = new Map<string, { stamp: string; seq: number }>();

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

/** Key of a backup file. */
export function backupKey(id: string): string {
  return `${BACKUPS_DIR}/${id}`;
}

/**
 * A new backup id for `key` at `now`, unique within this process even in the same millisecond.
 * (Cross-process uniqueness: callers hold the file's lock, and `taken` reports existing ids.)
 */
export async function newBackupId(ctx: Context, key: string, now: Date, label: string | undefined, compressed: boolean): Promise<string> {
  const ext = extensionOf(key);
  const base = flattenKey(ext ? key.slice(0, -(ext.length + 1)) : key);
  const stamp = compactStamp(now);
  const previous = lastStamp.get(key);
  let seq = previous && previous.stamp === stamp ? previous.seq + 1 : 0;
  const slug = labelSegment(label);
  for (;;) {
    const id = `${base}.${stamp}${seq ? `-${seq}` : ''}${slug ? `.${slug}` : ''}${ext ? `.${ext}` : ''}${compressed ? '.gz' : ''}`;
    if (!(await ctx.storage.stat(backupKey(id)))) {
      lastStamp.set(key, { stamp, seq });
      return id;
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
}

/** The commit operations that take a backup of `key`'s current content, and the record it adds. */
export async function planBackup(ctx: Context, input: BackupPlanInput): Promise<{ ops: Array<CopyOp | PutOp | AppendOp>; info: BackupInfo }> {
  const compressed = ctx.options.compressBackups;
  const id = await newBackupId(ctx, input.key, input.now, input.label, compressed);
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
  const slug = input.label;
  if (slug) info.label = slug;
  const ops: Array<CopyOp | PutOp | AppendOp> = [];
  if (compressed) {
    // Never more readable than the source: keep its permission bits (minus execute).
    ops.push({ type: 'put', key: backupKey(id), data: gzipSync(input.content.bytes), mode: (input.content.mode ?? 0o600) & 0o666 });
  } else {
    ops.push({ type: 'copy', from: input.key, to: backupKey(id) });
  }
  ops.push(indexAppend({ op: 'add', ...info }));
  return { ops, info };
}

/** An index line as a commit operation. */
export function indexAppend(line: IndexLine): AppendOp {
  return { type: 'append', key: BACKUP_INDEX, data: Buffer.from(`${JSON.stringify(line)}\n`) };
}
