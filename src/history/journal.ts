/**
 * Version history. Each file has a journal `history/<file>.jsonl`, one JSON line per version,
 * appended in the same durable commit as the change it describes.
 *
 * Content: a version's bytes are its automatic backup while that exists (a hard link to the inode
 * that held them), and `history/objects/<sha256>` once the backup is removed (the backup is moved
 * there, see keepsHistory) or when no backup was taken (the old inode is linked there directly,
 * just before it is replaced: while a file is current it has no second name, so editors that write
 * in place when a file has hard links keep replacing it). No bytes are stored twice.
 *
 * Crash safety: a torn last line (crash mid-append) is ignored when reading and reported by verify;
 * the next append starts on a fresh line, and a version line glued to a torn fragment (written by a
 * version that did not know) is still recovered.
 * A journal line whose sha256 does not match the file (crash between append and rename) describes a
 * change that never landed. When the storage still holds the dead writer's staged content with that
 * hash (Storage.abandonedContent), the line is known never to have happened: readers leave it out
 * (see settledJournal) and the next append starts with a `{"void":n}` line that takes it back for
 * good. Without that evidence the file was edited outside the library, and the next save records
 * its real content as an `external` version.
 */
import { sha256, type Context } from '../core/context.js';
import { flattenKey, legacyFlattenKey, PROFILES_DIR, unflattenKey } from '../core/keys.js';
import type { BackupInfo, ChangedBy, VersionInfo } from '../types.js';
import type { AppendOp, CopyOp, StorageEntry } from '../storage/types.js';

/** Directory of journals and objects. */
export const HISTORY_DIR = 'history';
/** Content-addressed version bodies. */
export const OBJECTS_DIR = `${HISTORY_DIR}/objects`;

/** One journal line as stored. Short keys: journals of busy files grow long. */
export interface JournalLine {
  v: number;
  at: string;
  by: string;
  reason?: string;
  sha256: string;
  size: number;
  op: string;
  backup?: string;
}

/** A parsed journal. */
export interface Journal {
  entries: VersionInfo[];
  /** Lines that could not be parsed (a torn tail after a crash, or damage). */
  badLines: number[];
  /** Byte length of the journal when read; unchanged length means unchanged content (append-only). */
  size: number;
  /** The text does not end with a newline (a torn append): the next append must start a new line. */
  torn?: boolean;
  /** Read from the journal an older version named differently (see legacyJournalKey); moved on the next change. */
  from?: string;
  /** The tail from this version on never happened (see settledJournal): the next append voids it first. */
  voids?: number;
}

/** What the writer knows about the newest recorded version of a file. */
export interface VersionState {
  version: number;
  sha256: string | undefined;
}

/** Key of a file's journal. */
export function journalKey(key: string): string {
  return `${HISTORY_DIR}/${flattenKey(key)}.jsonl`;
}

/**
 * Whether a backup's file can serve as the history object of its content: an uncompressed file
 * backup holds exactly the bytes of a version. While it exists, a save that took it links no
 * object of its own; when it is removed it is moved to `history/objects/` instead (retention,
 * `deleteBackup`, `cleanupBackups`), so the content outlives it as before.
 */
export function keepsHistory(info: BackupInfo): boolean {
  return info.kind === 'file' && !info.compressed;
}

/** Where a backup goes when it is removed: the history object of its content, or nowhere. */
export function objectOfBackup(info: BackupInfo): string | undefined {
  return keepsHistory(info) ? objectKey(info.sha256) : undefined;
}

/** Key of a content object. */
export function objectKey(sha: string): string {
  return `${OBJECTS_DIR}/${sha}`;
}

/**
 * Reads a file's journal (cached while its length is unchanged). `listed`: the journal's entry as
 * a listing just returned it, which stands for the stat (allJournals: one listing instead of a
 * stat per journal, a round trip each on etcd).
 */
export async function readJournal(ctx: Context, key: string, listed?: StorageEntry): Promise<Journal> {
  const jkey = journalKey(key);
  const perCtx = ctx.state.journals;
  let stat = listed?.key === jkey ? listed : await ctx.storage.stat(jkey);
  let from: string | undefined;
  const legacy = stat ? undefined : legacyJournalKey(key);
  if (legacy) {
    stat = await ctx.storage.stat(legacy);
    if (stat) from = legacy;
  }
  const cached = perCtx.get(key);
  const size = stat?.size ?? 0;
  // Longer by exactly this instance's lines in flight (a background pass reading every journal
  // while saves of other files commit): the cached parse is the journal before them, which is what
  // a reader may see until those commits resolve; parsing it again made every pruning pass beside
  // concurrent saves cost O(versions) per file (16 files saved together: 66 µs a save after 600).
  if (cached && cached.from === from && (cached.size === size || cached.size + (ctx.state.appending.get(key) ?? 0) === size)) return cached;
  const bytes = stat ? await ctx.storage.read(from ?? jkey) : undefined;
  const journal = parseJournal(bytes ? Buffer.from(bytes).toString('utf8') : '');
  if (from) journal.from = from;
  perCtx.set(key, journal);
  return journal;
}

/**
 * The journal a version before the injective names kept for `key`, when its name differs from
 * today's (the name holds a `~` or `%`) and it is this key's: `history/profiles~x.jsonl` was shared
 * by the profile `profiles/x` and a top-level file named `profiles~x`, and stays the profile's. The
 * next change of the file carries it over (changeset.ts), so history goes on where it was.
 */
function legacyJournalKey(key: string): string | undefined {
  const legacy = `${HISTORY_DIR}/${legacyFlattenKey(key)}.jsonl`;
  if (legacy === journalKey(key)) return undefined;
  if (!key.startsWith(`${PROFILES_DIR}/`) && legacy.startsWith(`${HISTORY_DIR}/${PROFILES_DIR}~`)) return undefined;
  return legacy;
}

/** Parses journal text; never throws (damage is reported in `badLines`). */
export function parseJournal(text: string): Journal {
  const entries: VersionInfo[] = [];
  const badLines: number[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line === '') return;
    const voided = voidOf(line);
    if (voided !== undefined) {
      // Versions from `voided` on were recorded for writes that never landed.
      while (entries.length && entries[entries.length - 1]!.version >= voided) entries.pop();
      return;
    }
    const info = parseLine(line);
    if (info) {
      entries.push(info);
      return;
    }
    badLines.push(i + 1);
    // A torn fragment followed by a complete line on the same physical line: keep the complete one.
    const glued = line.lastIndexOf('{"v":');
    const recovered = glued > 0 ? parseLine(line.slice(glued)) : undefined;
    if (recovered) entries.push(recovered);
  });
  return { entries, badLines, size: Buffer.byteLength(text), torn: text !== '' && !text.endsWith('\n') };
}

/** The version a `{"void":n}` line takes back, else undefined. */
function voidOf(line: string): number | undefined {
  if (!line.startsWith('{"void":')) return undefined;
  try {
    const raw = JSON.parse(line) as { void?: unknown };
    return typeof raw.void === 'number' && Number.isInteger(raw.void) ? raw.void : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `journal` without a newest version that never happened: its sha256 is not the file's
 * (`currentSha`, undefined when the file is absent) but is the content a dead writer staged and
 * never renamed into place. Returned as a copy marked `voids`, so the next append takes the line
 * back; otherwise `journal` itself.
 */
export async function settledJournal(ctx: Context, key: string, journal: Journal, currentSha: string | undefined): Promise<Journal> {
  const tail = journal.entries[journal.entries.length - 1];
  if (!tail || !tail.sha256 || tail.sha256 === (currentSha ?? '') || !ctx.storage.abandonedContent) return journal;
  const abandoned = await ctx.storage.abandonedContent(key);
  if (!abandoned.includes(tail.sha256)) return journal;
  return { ...journal, entries: journal.entries.slice(0, -1), voids: tail.version };
}

/** The line that takes back a settled journal's versions that never happened (see settledJournal). */
export function voidLine(journal: Journal): Uint8Array {
  return Buffer.from(`${journal.torn ? '\n' : ''}{"void":${journal.voids}}\n`);
}

/** A file's journal as readers should see it: settled against the file's content as it is now. */
export async function readCurrentJournal(ctx: Context, key: string): Promise<Journal> {
  const [journal, file] = await Promise.all([readJournal(ctx, key), ctx.storage.abandonedContent ? ctx.storage.readEntry(key) : undefined]);
  return settledJournal(ctx, key, journal, file ? sha256(file.bytes) : undefined);
}

function parseLine(line: string): VersionInfo | undefined {
  let raw: JournalLine;
  try {
    raw = JSON.parse(line) as JournalLine;
  } catch {
    return undefined; // damaged or torn: the caller records it as a bad line
  }
  if (typeof raw !== 'object' || raw === null || typeof raw.v !== 'number' || typeof raw.sha256 !== 'string') return undefined;
  return toInfo(raw);
}

function toInfo(raw: JournalLine): VersionInfo {
  const info: VersionInfo = {
    version: raw.v,
    createdAt: raw.at,
    changedBy: raw.by,
    sha256: raw.sha256,
    size: raw.size,
    operation: raw.op,
  };
  if (raw.reason !== undefined) info.reason = raw.reason;
  return info;
}

/** The newest recorded version. */
export function latest(journal: Journal): VersionState {
  const last = journal.entries[journal.entries.length - 1];
  return { version: last?.version ?? 0, sha256: last?.sha256 };
}

/** Inputs of {@link planVersion}. */
export interface VersionPlan {
  key: string;
  journal: Journal;
  /** The file's current content (before the change), when it exists. */
  old?: { sha256: string; size: number };
  /** The new content; `undefined` for a delete. */
  next?: { sha256: string; size: number };
  changedBy: ChangedBy;
  reason?: string;
  operation: string;
  backupId?: string;
  now: Date;
}

/**
 * The commit operations that record a change: the old content kept as an object, an `external`
 * version when the file was edited outside the library, and the new version line.
 */
export function planVersion(plan: VersionPlan): { ops: Array<AppendOp | CopyOp>; version: number; lines: JournalLine[] } {
  const tail = latest(plan.journal);
  const ops: Array<AppendOp | CopyOp> = [];
  const lines: JournalLine[] = [];
  let version = tail.version;
  const at = plan.now.toISOString();
  if (plan.old) {
    ops.push({ type: 'copy', from: plan.key, to: objectKey(plan.old.sha256), ifMissing: true });
    if (plan.old.sha256 !== tail.sha256) {
      version += 1;
      lines.push({ v: version, at, by: 'external', sha256: plan.old.sha256, size: plan.old.size, op: 'external' });
    }
  }
  version += 1;
  const line: JournalLine = {
    v: version,
    at,
    by: String(plan.changedBy),
    sha256: plan.next?.sha256 ?? '',
    size: plan.next?.size ?? 0,
    op: plan.operation,
  };
  if (plan.reason !== undefined) line.reason = plan.reason;
  if (plan.backupId !== undefined) line.backup = plan.backupId;
  lines.push(line);
  // After a torn tail, start on a new line so the fragment cannot swallow this version.
  const voided = plan.journal.voids !== undefined ? `{"void":${plan.journal.voids}}\n` : '';
  const text = `${plan.journal.torn ? '\n' : ''}${voided}${lines.map((l) => `${JSON.stringify(l)}\n`).join('')}`;
  ops.push({ type: 'append', key: journalKey(plan.key), data: Buffer.from(text), ofChange: true });
  return { ops, version, lines };
}

/**
 * The current version of a file given its content hash: the newest entry when it matches the
 * file, otherwise `undefined` (the file was changed outside the library since).
 */
export function versionOf(journal: Journal, sha: string | undefined): number | undefined {
  const tail = latest(journal);
  if (sha === undefined) return tail.sha256 === '' || tail.sha256 === undefined ? tail.version : undefined;
  return tail.sha256 === sha ? tail.version : undefined;
}

/**
 * Records lines this instance just appended, so the next save does not re-read and re-parse the
 * whole journal (its length moved only by what we wrote). Another process's append changes the
 * length differently and forces a full read.
 */
export function rememberAppend(ctx: Context, key: string, before: Journal, appended: Uint8Array, lines?: readonly JournalLine[]): void {
  if (ctx.state.journals.get(key) !== before) return;
  // `lines`: what planVersion encoded into `appended`, so it need not be parsed back.
  const added = lines ? lines.map(toInfo) : parseJournal(Buffer.from(appended).toString('utf8')).entries;
  // In place: copying the entries would make every save cost O(versions).
  for (const entry of added) before.entries.push(entry);
  before.size += appended.byteLength;
  before.torn = false;
}

/** Every journal key under `history/` with the file it belongs to (`known`: journals already in hand, not read again). */
async function journalsOf(ctx: Context, known?: ReadonlyMap<string, Journal>): Promise<Array<{ file: string; journal: Journal }>> {
  const entries = await ctx.storage.list(HISTORY_DIR);
  const out: Array<{ file: string; journal: Journal }> = [];
  for (const e of entries) {
    if (e.kind !== 'file' || !e.name.endsWith('.jsonl') || e.name.startsWith('.')) continue;
    const file = unflattenKey(e.name.slice(0, -'.jsonl'.length));
    if (journalKey(file) !== e.key) continue;
    out.push({ file, journal: known?.get(file) ?? (await readJournal(ctx, file, e)) });
  }
  return out;
}

/**
 * Every file's journal (for stats, verify and pruning). `known`: journals the caller holds as
 * current (pruning's own file, just committed), used instead of a read.
 */
export async function allJournals(ctx: Context, known?: ReadonlyMap<string, Journal>): Promise<Array<{ file: string; journal: Journal }>> {
  return journalsOf(ctx, known);
}
