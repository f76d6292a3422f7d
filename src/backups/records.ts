/**
 * The backup records: `backups/index.jsonl`, one JSON line per added or removed backup, and this
 * process's view of it.
 *
 * - Listing 10,000 backups reads this one file, never the backups themselves; every record carries
 *   the sha256 that restore verifies before it writes anything.
 * - The view is read once, then kept up to date from this process's own appends: after each commit
 *   one `stat` tells whether the index grew by exactly what we wrote. Any other growth (another
 *   process) or shrinkage (a compaction) makes the next use re-read it. So retention after a save
 *   costs a stat, not a directory scan.
 * - A crash can leave a record without its file (the record was appended, the link was not made)
 *   or a file without its record. Reads reconcile with one directory listing: records of vanished
 *   files are hidden (and dropped by the next cleanup), and complete files without a record are
 *   listed as `recovered` backups with a checksum computed from their content. Backup files are
 *   never partial: they are hard links or renamed temp files.
 * - Remove lines pile up under retention; when they outnumber the live records (and exceed a
 *   floor), the index is rewritten atomically with only the live records. An append by another
 *   process racing that rename can lose its record; its file then shows up as `recovered`.
 */
import { DecryptionError } from '../errors.js';
import { sha256, type Context } from '../core/context.js';
import { unflattenKey } from '../core/keys.js';
import { zlibLib } from '../core/lazy-deps.js';
import type { BackupInfo } from '../types.js';
import type { AppendOp } from '../storage/types.js';

/** Directory of backups. */
export const BACKUPS_DIR = 'backups';
/** The backup records journal. */
export const BACKUP_INDEX = `${BACKUPS_DIR}/index.jsonl`;
/** File name of the records journal inside {@link BACKUPS_DIR}. */
export const INDEX_NAME = 'index.jsonl';
/** Lines that no longer describe a live backup before a compaction is considered. */
export const COMPACT_MIN_DEAD_LINES = 1000;

/** A record line in the index. */
export type IndexLine = ({ op: 'add' } & BackupInfo) | { op: 'remove'; id: string; at: string };

/** This process's view of the index. */
export interface IndexView {
  /** Bytes of the index the view reflects (the index only grows, except when compacted). */
  size: number;
  /** Live records by id. */
  records: Map<string, BackupInfo>;
  /** Live records per file (`*` for snapshots), oldest first. */
  byFile: Map<string, BackupInfo[]>;
  /** Lines that no longer describe a live backup: compaction reclaims them. */
  deadLines: number;
  /** 1-based numbers of lines that could not be parsed (torn by a crash, or damaged). */
  badLines: number[];
  /** The index does not end with a newline: the next append must start a fresh line. */
  torn: boolean;
}

/** Records reconciled with the files actually present. */
export interface ReconciledIndex {
  /** Every listable backup, newest first. */
  backups: BackupInfo[];
  /** Records whose file is gone. */
  vanished: BackupInfo[];
  /** Files without a record, listed as `recovered`. */
  recovered: BackupInfo[];
  /** Bytes on disk per backup id. */
  sizes: Map<string, number>;
}


/** Key of a backup file. */
export function backupKey(id: string): string {
  return `${BACKUPS_DIR}/${id}`;
}

/**
 * Runs `fn` after every earlier call for this context has finished: the view and the retention
 * decisions based on it change one at a time.
 */
export function serialize<R>(ctx: Context, fn: () => Promise<R>): Promise<R> {
  const index = ctx.state.backupIndex;
  const run = index.chain.then(fn, fn);
  index.chain = run.then(
    () => undefined,
    () => undefined, // the failure belongs to its caller; the chain goes on
  );
  return run;
}

/** Resolves once every serialized index operation queued so far has finished. */
export async function indexIdle(ctx: Context): Promise<void> {
  await ctx.state.backupIndex.chain;
}

/** The cached view, if this process has read the index (no I/O). */
export function cachedView(ctx: Context): IndexView | undefined {
  return ctx.state.backupIndex.view;
}

/** The current view: re-read when the index changed in a way this process did not record. */
export async function loadIndex(ctx: Context): Promise<IndexView> {
  const stat = await ctx.storage.stat(BACKUP_INDEX);
  const cached = ctx.state.backupIndex.view;
  if (cached && cached.size === (stat?.size ?? 0)) return cached;
  const bytes = stat ? await ctx.storage.read(BACKUP_INDEX) : undefined;
  const view = parseIndex(bytes ? Buffer.from(bytes).toString('utf8') : '');
  ctx.state.backupIndex.view = view;
  return view;
}

/** Parses index text; never throws (damage is reported in `badLines`). */
export function parseIndex(text: string): IndexView {
  const view: IndexView = { size: Buffer.byteLength(text), records: new Map(), byFile: new Map(), deadLines: 0, badLines: [], torn: text !== '' && !text.endsWith('\n') };
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line === '') return;
    let parsed = parseLine(line);
    if (!parsed) {
      view.badLines.push(i + 1);
      // A torn fragment followed by a complete record on the same physical line: keep the record.
      const glued = line.lastIndexOf('{"op":');
      parsed = glued > 0 ? parseLine(line.slice(glued)) : undefined;
      if (!parsed) return;
    }
    applyLine(view, parsed);
  });
  return view;
}

function parseLine(line: string): IndexLine | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined; // torn or damaged: reported as a bad line by the caller
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (r.op === 'remove' && typeof r.id === 'string') return r as IndexLine;
  if (r.op === 'add' && typeof r.id === 'string' && typeof r.file === 'string' && typeof r.sha256 === 'string' && typeof r.createdAt === 'string') {
    return r as IndexLine;
  }
  return undefined;
}

/** Applies one line to a view (in memory). */
function applyLine(view: IndexView, line: IndexLine): void {
  if (line.op === 'remove') {
    view.deadLines += 1;
    const old = view.records.get(line.id);
    if (!old) return;
    view.deadLines += 1; // its add line is dead too
    view.records.delete(line.id);
    const list = view.byFile.get(old.file);
    const at = list ? list.indexOf(old) : -1;
    if (list && at !== -1) list.splice(at, 1);
    if (list && list.length === 0) view.byFile.delete(old.file);
    return;
  }
  const { op: _op, ...rest } = line;
  const info = toInfo(rest);
  const previous = view.records.get(info.id);
  if (previous) applyLine(view, { op: 'remove', id: info.id, at: info.createdAt }); // a re-added id replaces its record
  view.records.set(info.id, info);
  let list = view.byFile.get(info.file);
  if (!list) view.byFile.set(info.file, (list = []));
  // Record order is the order the backups were taken in (a file's records are appended under its
  // lock): retention and listings follow it, not `createdAt`, which a clock stepped back would
  // turn around (the two newest backups removed, older ones kept).
  list.push(info);
}

/** The public record: only the fields of {@link BackupInfo}, in a stable order. */
function toInfo(raw: BackupInfo): BackupInfo {
  const info: BackupInfo = {
    id: raw.id,
    file: raw.file,
    createdAt: raw.createdAt,
    size: raw.size,
    sha256: raw.sha256,
    compressed: Boolean(raw.compressed),
    trigger: raw.trigger,
    kind: raw.kind === 'snapshot' ? 'snapshot' : 'file',
  };
  if (raw.label !== undefined) info.label = raw.label;
  if (raw.files !== undefined) info.files = [...raw.files];
  return info;
}

/** Oldest first by time, then by id: only for backups without a record, whose order is unknown. */
function compareOldestFirst(a: BackupInfo, b: BackupInfo): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Index lines as one append operation (starting a fresh line after a torn tail). */
export function indexAppendOp(ctx: Context, lines: IndexLine[]): AppendOp {
  const prefix = ctx.state.backupIndex.view?.torn ? '\n' : '';
  return { type: 'append', key: BACKUP_INDEX, data: Buffer.from(prefix + lines.map((l) => `${JSON.stringify(l)}\n`).join('')) };
}

/**
 * Brings the view up to date after this process appended `lines` (`bytes` long) in a commit that
 * has resolved: applied in memory when the index grew by exactly that much, else re-read.
 */
export async function noteAppended(ctx: Context, lines: IndexLine[], bytes: number): Promise<IndexView> {
  const view = ctx.state.backupIndex.view;
  const stat = await ctx.storage.stat(BACKUP_INDEX);
  if (view && stat && stat.size === view.size + bytes) {
    for (const line of lines) applyLine(view, line);
    view.size = stat.size;
    view.torn = false;
    return view;
  }
  ctx.state.backupIndex.view = undefined;
  return loadIndex(ctx);
}

/**
 * Applies lines this process just appended without checking the index size: the next
 * {@link noteAppended} or {@link loadIndex} compares sizes, and any append by someone else in
 * between still shows as a mismatch there (and a re-read). Saves a `stat` per retention pass.
 */
export function noteOwnAppend(ctx: Context, lines: IndexLine[], bytes: number): void {
  const view = ctx.state.backupIndex.view;
  if (!view) return;
  for (const line of lines) applyLine(view, line);
  view.size += bytes;
  view.torn = false;
}

/** Forgets the view (after a compaction this process wrote, or to force a re-read). */
export function forgetIndex(ctx: Context): void {
  ctx.state.backupIndex.view = undefined;
}

/** Whether the view has enough dead lines to be worth rewriting. */
export function needsCompaction(view: IndexView): boolean {
  return view.deadLines >= COMPACT_MIN_DEAD_LINES && view.deadLines > view.records.size;
}

/**
 * Rewrites the index with only its live records, atomically (temp file + rename). Call through
 * {@link serialize}.
 */
export async function compactIndex(ctx: Context): Promise<IndexView> {
  forgetIndex(ctx);
  const view = await loadIndex(ctx);
  const live = [...view.records.values()]; // in record order, which is the order they were taken in
  const text = live.map((info) => `${JSON.stringify({ op: 'add', ...info })}\n`).join('');
  await ctx.storage.commit({ changes: [{ type: 'put', key: BACKUP_INDEX, data: Buffer.from(text), mode: 0o600 }] });
  forgetIndex(ctx);
  return loadIndex(ctx);
}

/**
 * The records reconciled with one listing of `backups/`: vanished files hidden, files without a
 * record listed as `recovered` (their checksum computed from their content).
 */
export async function reconcile(ctx: Context): Promise<ReconciledIndex> {
  const view = await loadIndex(ctx);
  const entries = await ctx.storage.list(BACKUPS_DIR);
  const sizes = new Map<string, number>();
  for (const entry of entries) {
    if (entry.kind === 'file' && entry.name !== INDEX_NAME && !entry.name.startsWith('.')) sizes.set(entry.name, entry.size);
  }
  const backups: BackupInfo[] = [];
  const vanished: BackupInfo[] = [];
  for (const info of view.records.values()) {
    if (sizes.has(info.id)) backups.push(info);
    else vanished.push(info);
  }
  const recovered: BackupInfo[] = [];
  for (const [name] of sizes) {
    if (view.records.has(name)) continue;
    const info = await recoverRecord(ctx, name);
    if (info) recovered.push(info);
  }
  // Newest first: the recorded ones in reverse record order, then those without a record (their
  // place among the others is unknown), by the time in their names.
  backups.reverse();
  backups.push(...recovered.sort((a, b) => compareOldestFirst(b, a)));
  return { backups, vanished, recovered, sizes };
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

/** The `file` of snapshot records. */
export const SNAPSHOT_FILE = '*';
/** Base name of snapshot ids (`snapshot.20261123T081218.123Z.json.gz`). */
export const SNAPSHOT_BASE = 'snapshot';
/** `format` of a snapshot document. */
export const SNAPSHOT_FORMAT = 'config-persistence-snapshot';

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
