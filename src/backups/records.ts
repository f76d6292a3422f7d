/**
 * The backup records: `backups/index.jsonl`, one JSON line per added or removed backup, and this
 * process's view of it.
 *
 * - Listing 10,000 backups reads this one file, never the backups themselves; every record carries
 *   the sha256 that restore verifies before it writes anything.
 * - The view is read once, then kept up to date from this process's own appends: before each use
 *   one `stat` tells whether the index grew by exactly what we wrote. Any other growth (another
 *   process, or a save of ours whose append landed but is not noted yet) is read and only the new
 *   lines are parsed, once the bytes the view holds are checked to be still there; a shrinkage or a
 *   rewrite (a compaction) makes it parse the whole index again. So retention after a save costs a
 *   stat, not a directory scan, and 16 saves in flight together do not parse the index 16 times.
 * - Reads reconcile the records with the directory (backups/reconcile.ts).
 * - Remove lines pile up under retention; when they outnumber the live records (and exceed a
 *   floor), the index is rewritten atomically with only the live records. An append by another
 *   process racing that rename can lose its record; its file then shows up as `recovered`.
 */
import type { Context } from '../core/context.js';
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
  /** The index's revision when the view last matched it exactly; unknown after an own append. */
  revision: string | undefined;
  /** The index's bytes as last read: a later read whose start differs was rewritten (compacted). */
  read: Uint8Array;
  /** Newlines in {@link read}: the number of the line that follows it, less one. */
  readLines: number;
  /** This process's appends applied since {@link read}, in the order they were noted. */
  own: Uint8Array[];
  /** How often a read extended the view in place (an append planned before one may be in it). */
  extensions: number;
}

/** The `file` of snapshot records. */
export const SNAPSHOT_FILE = '*';
/** Base name of snapshot ids (`snapshot.20261123T081218.123Z.json.gz`). */
export const SNAPSHOT_BASE = 'snapshot';
/** `format` of a snapshot document. */
export const SNAPSHOT_FORMAT = 'config-persistence-snapshot';

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

/**
 * The current view. One `stat` when nothing changed that this process did not account for; else
 * one read, and only the lines after what the view already holds are parsed — as long as the
 * index still starts with the bytes the view was read from and this process's own appends are
 * there too (in whatever order they landed). Anything else (a compaction, a rewrite, a torn tail)
 * parses the whole index again.
 */
export async function loadIndex(ctx: Context): Promise<IndexView> {
  const state = ctx.state.backupIndex;
  const before = new Set(state.landed);
  const stat = await ctx.storage.stat(BACKUP_INDEX);
  const cached = state.view;
  // Same length as accounted for: trusted, as ever (another process's append changes it); a known
  // revision also catches a rewrite to the same length.
  if (cached && cached.size === (stat?.size ?? 0) && (cached.revision === undefined || cached.revision === stat?.revision)) {
    cached.revision = stat?.revision;
    return cached;
  }
  // Longer by exactly this process's records written by commits not yet noted (16 files saved
  // together: the others' records): the view is the index before them, and noteOwnAppend takes
  // them in. Reading it here read the whole index every other save (80 reads of ~100-300 KB in 160).
  if (cached && !cached.torn && state.landed.size > 0 && isOwnTail(cached.size, stat?.size ?? 0, before, [...state.landed])) return cached;
  const cachedSize = cached?.size ?? 0;
  const read = stat ? await ctx.storage.readEntry(BACKUP_INDEX) : undefined;
  const bytes = read?.bytes ?? new Uint8Array(0);
  const view = (cached && extendView(cached, bytes)) || parseIndex(bytes);
  view.revision = read?.entry.revision;
  state.view = view;
  // Own appends the read brought in are in the view now, as anyone's lines (noteOwnAppend skips them).
  const from = cached && view === cached ? Math.max(0, cachedSize - 1) : 0;
  const buf = bufferOf(bytes);
  for (const chunk of state.landed) if (buf.indexOf(chunk, from) !== -1) state.landed.delete(chunk);
  return view;
}

/**
 * Whether an index `size` long is the view (`viewSize` long) plus exactly own appends written since:
 * those written before the stat (`before`, still `landed`), then some of those written while it
 * was made, in the order they were written.
 */
function isOwnTail(viewSize: number, size: number, before: ReadonlySet<Uint8Array>, landed: readonly Uint8Array[]): boolean {
  let total = viewSize;
  for (const chunk of landed) if (before.has(chunk)) total += chunk.byteLength;
  if (total === size) return true;
  for (const chunk of landed) {
    if (before.has(chunk)) continue;
    total += chunk.byteLength;
    if (total === size) return true;
  }
  return false;
}

/** Parses the whole index; never throws (damage is reported in `badLines`). */
export function parseIndex(bytes: Uint8Array): IndexView {
  const text = bufferOf(bytes).toString('utf8');
  const lines = text.split('\n');
  const view: IndexView = {
    size: bytes.byteLength,
    records: new Map(),
    byFile: new Map(),
    deadLines: 0,
    badLines: [],
    torn: text !== '' && !text.endsWith('\n'),
    revision: undefined,
    read: bytes,
    readLines: lines.length - 1,
    own: [],
    extensions: 0,
  };
  lines.forEach((line, i) => applyText(view, line, i + 1));
  return view;
}

/**
 * Extends `view` in place to the index now holding `bytes`, parsing only what it does not hold
 * yet; `undefined` (view untouched) when that is not possible and the index must be parsed whole.
 */
function extendView(view: IndexView, bytes: Uint8Array): IndexView | undefined {
  const buf = bufferOf(bytes);
  if (view.torn || bytes.byteLength < view.size || !matchesAt(buf, 0, view.read)) return undefined;
  const own = [...view.own];
  const foreign: Array<{ text: string; number: number }> = [];
  let pos = view.read.byteLength;
  let lines = view.readLines;
  while (pos < buf.byteLength) {
    const mine = own.findIndex((chunk) => matchesAt(buf, pos, chunk));
    if (mine !== -1) {
      // Already applied when it was noted: only its place is learnt here.
      const chunk = own.splice(mine, 1)[0]!;
      pos += chunk.byteLength;
      lines += newlines(chunk);
      continue;
    }
    const end = buf.indexOf(0x0a, pos);
    if (end === -1) return undefined; // a torn tail (or an append half read): the whole parse reports it
    foreign.push({ text: buf.toString('utf8', pos, end), number: lines + 1 });
    lines += 1;
    pos = end + 1;
  }
  if (own.length > 0) return undefined; // an own append is not where it was: rewritten meanwhile
  for (const line of foreign) applyText(view, line.text, line.number);
  view.size = bytes.byteLength;
  view.read = bytes;
  view.readLines = lines;
  view.own = [];
  view.extensions += 1;
  return view;
}

/** Applies one line of index text (line `number`, 1-based) to a view. */
function applyText(view: IndexView, line: string, number: number): void {
  if (line === '') return;
  let parsed = parseLine(line);
  if (!parsed) {
    view.badLines.push(number);
    // A torn fragment followed by a complete record on the same physical line: keep the record.
    const glued = line.lastIndexOf('{"op":');
    parsed = glued > 0 ? parseLine(line.slice(glued)) : undefined;
    if (!parsed) return;
  }
  applyLine(view, parsed);
}

/** Whether `buf` holds `chunk` at `pos`. */
function matchesAt(buf: Buffer, pos: number, chunk: Uint8Array): boolean {
  return pos + chunk.byteLength <= buf.byteLength && buf.compare(chunk, 0, chunk.byteLength, pos, pos + chunk.byteLength) === 0;
}

function newlines(chunk: Uint8Array): number {
  let n = 0;
  for (const byte of chunk) if (byte === 0x0a) n++;
  return n;
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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

/**
 * Index lines as one append operation (starting a fresh line after a torn tail). Where the view
 * stood is remembered with its bytes: {@link noteOwnAppend} then knows where they can have landed.
 */
export function indexAppendOp(ctx: Context, lines: readonly IndexLine[]): AppendOp {
  const state = ctx.state.backupIndex;
  const view = state.view;
  const data = Buffer.from((view?.torn ? '\n' : '') + lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  if (view) state.planned.set(data, { view, extensions: view.extensions, size: view.size });
  return { type: 'append', key: BACKUP_INDEX, data };
}

/** Index lines this process appended, and the bytes they were appended as (an {@link indexAppendOp}'s data). */
export interface OwnAppend {
  lines: readonly IndexLine[];
  data: Uint8Array;
}

/**
 * Brings the view up to date after this process's append (in a commit that has resolved): noted
 * as below, then checked against the index with {@link loadIndex} (a `stat` when nothing else
 * changed, else a read that parses only the lines the view lacks).
 */
export async function noteAppended(ctx: Context, append: OwnAppend): Promise<IndexView> {
  noteOwnAppend(ctx, [append]);
  return loadIndex(ctx);
}

/**
 * Applies appends this process made (their commits resolved) without I/O. A later
 * {@link loadIndex} compares sizes and checks, when it reads, that each is in the index: any
 * append by someone else in between still shows there. An append that a read since its planning
 * already brought in (another save's plan ran after it landed) is not applied twice.
 */
export function noteOwnAppend(ctx: Context, appends: readonly OwnAppend[]): void {
  const state = ctx.state.backupIndex;
  for (const { lines, data } of appends) {
    const view = state.view;
    if (!view) return; // the next loadIndex reads it all
    if (readAlready(view, state.planned.get(data), data)) continue;
    for (const line of lines) applyLine(view, line);
    view.own.push(data);
    view.size += data.byteLength;
    view.torn = false;
    view.revision = undefined;
  }
}

/** Whether the view's last read holds `data`, an append planned at `mark`. */
function readAlready(view: IndexView, mark: IndexMark | undefined, data: Uint8Array): boolean {
  if (mark?.view === view && mark.extensions === view.extensions) return false; // not read since it was planned
  // An append lands at the end, so no earlier than the view's length when planned (what the view
  // holds had landed) — where a read extended that view; after a whole parse, anywhere.
  return bufferOf(view.read).indexOf(data, mark?.view === view ? mark.size : 0) !== -1;
}

/** Where the view stood when an append was planned (see {@link indexAppendOp}). */
export interface IndexMark {
  view: IndexView;
  extensions: number;
  size: number;
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
 * {@link serialize}. The view is brought up to date, not read again whole: it already holds every
 * record (a full parse of 1,000 lines was a third of a compaction's time on etcd, measured).
 */
export async function compactIndex(ctx: Context): Promise<IndexView> {
  const view = await loadIndex(ctx);
  const live = [...view.records.values()]; // in record order, which is the order they were taken in
  const text = live.map((info) => `${JSON.stringify({ op: 'add', ...info })}\n`).join('');
  await ctx.storage.commit({ changes: [{ type: 'put', key: BACKUP_INDEX, data: Buffer.from(text), mode: 0o600 }] });
  forgetIndex(ctx);
  return loadIndex(ctx);
}

