/**
 * The backup records reconciled with the files actually present in `backups/`.
 *
 * A crash can leave a record without its file (the record was appended, the link was not made) or
 * a file without its record (an append lost to a compaction's rename). Reads reconcile with one
 * directory listing: records of vanished files are hidden (and dropped by the next cleanup), and
 * complete files without a record are listed as `recovered` backups with a checksum computed from
 * their content. Backup files are never partial: they are hard links or renamed temp files.
 */
import { DecryptionError } from '../errors.js';
import { sha256, type Context } from '../core/context.js';
import { unflattenKey } from '../core/keys.js';
import { zlibLib } from '../core/lazy-deps.js';
import { backupKey, BACKUPS_DIR, INDEX_NAME, loadIndex, SNAPSHOT_BASE, SNAPSHOT_FILE, SNAPSHOT_FORMAT } from './records.js';
import type { BackupInfo } from '../types.js';
import { fileNamesOf } from '../storage/names.js';

/** Records reconciled with the files actually present. */
export interface ReconciledIndex {
  /** Every listable backup, newest first. */
  backups: BackupInfo[];
  /** Records whose file is gone. */
  vanished: BackupInfo[];
  /** Files without a record, listed as `recovered`. */
  recovered: BackupInfo[];
  /** Bytes on disk per backup id, when asked for (`stats()`): on etcd each costs its content. */
  sizes?: Map<string, number>;
}


/** Oldest first by time, then by id: only for backups without a record, whose order is unknown. */
function compareOldestFirst(a: BackupInfo, b: BackupInfo): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The records reconciled with one listing of `backups/`: vanished files hidden, files without a
 * record listed as `recovered` (their checksum computed from their content).
 */
export async function reconcile(ctx: Context, opts: { sizes?: boolean } = {}): Promise<ReconciledIndex> {
  const view = await loadIndex(ctx);
  // Names are enough to reconcile; an etcd listing with sizes reads every backup's content (10
  // backups of a 1 MB file: 10 MB for each listBackups()), so they are read only when asked for.
  const entries = opts.sizes ? (await ctx.storage.list(BACKUPS_DIR)).filter((e) => e.kind === 'file') : (await fileNamesOf(ctx.storage, BACKUPS_DIR)).map((name) => ({ name, size: 0 }));
  const files = new Map<string, number>(); // backup id → size (0 unless asked for)
  for (const entry of entries) {
    if (entry.name !== INDEX_NAME && !entry.name.startsWith('.')) files.set(entry.name, entry.size);
  }
  const backups: BackupInfo[] = [];
  const vanished: BackupInfo[] = [];
  for (const info of view.records.values()) {
    if (files.has(info.id)) backups.push(info);
    else vanished.push(info);
  }
  const recovered: BackupInfo[] = [];
  for (const [name] of files) {
    if (view.records.has(name)) continue;
    const info = await recoverRecord(ctx, name);
    if (info) recovered.push(info);
  }
  // Newest first: the recorded ones in reverse record order, then those without a record (their
  // place among the others is unknown), by the time in their names.
  backups.reverse();
  backups.push(...recovered.sort((a, b) => compareOldestFirst(b, a)));
  return { backups, vanished, recovered, ...(opts.sizes ? { sizes: files } : {}) };
}

/** A record for a complete backup file whose record was lost (crash, compaction race). */
async function recoverRecord(ctx: Context, id: string): Promise<BackupInfo | undefined> {
  const parsed = parseBackupId(id);
  if (!parsed) return undefined; // not a backup name: someone else's file, left alone
  let stored: Uint8Array | undefined;
  try {
    stored = await ctx.storage.read(backupKey(id));
  } catch (err) {
    if (err instanceof DecryptionError) return undefined; // nothing this key can offer; verify reports it as undecryptable
    throw err;
  }
  if (!stored) return undefined; // removed meanwhile
  let bytes: Uint8Array = stored;
  if (parsed.compressed) {
    try {
      bytes = zlibLib().gunzipSync(stored);
    } catch {
      return undefined; // not a complete gzip file: nothing to offer; verify reports the directory's strays
    }
  }
  const snapshotFiles = parsed.snapshotCandidate ? snapshotFilesOf(bytes) : undefined;
  const info: BackupInfo = {
    id,
    file: snapshotFiles ? SNAPSHOT_FILE : parsed.file,
    createdAt: parsed.createdAt,
    size: bytes.byteLength,
    sha256: sha256(bytes),
    compressed: parsed.compressed,
    trigger: 'recovered',
    kind: snapshotFiles ? 'snapshot' : 'file',
  };
  if (parsed.label) info.label = parsed.label;
  if (snapshotFiles) info.files = snapshotFiles;
  return info;
}

/** The file list of a snapshot document, or `undefined` when the bytes are not one. */
function snapshotFilesOf(bytes: Uint8Array): string[] | undefined {
  try {
    const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as { format?: unknown; files?: Array<{ file?: unknown }> };
    if (doc.format !== SNAPSHOT_FORMAT || !Array.isArray(doc.files)) return undefined;
    return doc.files.map((f) => String(f.file));
  } catch {
    return undefined; // a config file's backup that happens to be named like a snapshot
  }
}

const ID_PATTERN = /^(.+?)\.(\d{8}T\d{6}\.\d{3}Z)(?:_(\d+))?(?:\.([a-z0-9-]+))??(?:\.([A-Za-z0-9]+))?(\.gz)?$/;

/** What an id says about its backup (for records lost in a crash). */
export function parseBackupId(id: string): ParsedId | undefined {
  const m = ID_PATTERN.exec(id);
  if (!m) return undefined;
  const [, base, stamp, , label, ext, gz] = m;
  const iso = `${stamp!.slice(0, 4)}-${stamp!.slice(4, 6)}-${stamp!.slice(6, 8)}T${stamp!.slice(9, 11)}:${stamp!.slice(11, 13)}:${stamp!.slice(13)}`;
  if (Number.isNaN(Date.parse(iso))) return undefined;
  const out: ParsedId = {
    file: `${unflattenKey(base!)}${ext ? `.${ext}` : ''}`,
    createdAt: new Date(iso).toISOString(),
    compressed: Boolean(gz),
    snapshotCandidate: base === SNAPSHOT_BASE && ext === 'json' && Boolean(gz),
  };
  if (label) out.label = label;
  return out;
}

/** What an id says about its backup. */
export interface ParsedId {
  file: string;
  createdAt: string;
  label?: string;
  compressed: boolean;
  /** Named like a snapshot; only its content can tell (a file called `snapshot.json` has the same shape). */
  snapshotCandidate: boolean;
}
