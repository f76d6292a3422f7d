/**
 * Integrity fixes: what repair does about each finding of src/integrity/checks.ts (quarantine,
 * recovery from a backup, index and journal rewrites, the storage's own fixes), in which order,
 * and the dry-run descriptions of them. Each fix is its own durable commit with an audit line.
 */
import { auditAppend } from '../changeset/audit.js';
import {
  BACKUP_INDEX,
  backupKey,
  compactIndex,
  indexAppendOp,
  loadIndex,
  noteAppended,
  serialize,
  type IndexLine,
} from '../backups/records.js';
import { compactStamp, listBackups, readBackup } from '../backups/backups.js';
import { extensionOf } from '../codecs/index.js';
import type { Context } from '../core/context.js';
import { commitChangeset } from '../changeset/changeset.js';
import { readForOverwrite, validateDocument, writeBytes } from '../changeset/documents.js';
import { ConfigPersistenceError } from '../errors.js';
import { flattenKey } from '../core/keys.js';
import { readJournal, settledJournal } from '../history/journal.js';
import type { BackupInfo, RepairAction, RepairOptions } from '../types.js';
import type { AppendOp } from '../storage/types.js';
import type { Finding, Fix } from './checks.js';

/** Directory where repair moves bad files. */
export const QUARANTINE_DIR = 'quarantine';


// ---------------------------------------------------------------------------------------------
// Fixes
// ---------------------------------------------------------------------------------------------

/** Cheap fixes first; backups before documents, so a recovery sees the backups as repaired. */
const ORDER: Record<Fix['type'], number> = {
  storage: 0,
  'rewrite-index': 1,
  'drop-record': 2,
  'add-record': 3,
  'quarantine-backup': 4,
  'rewrite-journal': 5,
  quarantine: 6,
  'recover-or-quarantine': 7,
};

export function ordered(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => (a.fix ? ORDER[a.fix.type] : 99) - (b.fix ? ORDER[b.fix.type] : 99));
}

/** The action a fix would take, without writing anything. */
export async function describeFix(ctx: Context, finding: Finding, fix: Fix, opts: RepairOptions, taken: Set<string>): Promise<RepairAction> {
  const base = { path: finding.path, kind: finding.kind };
  const now = new Date();
  switch (fix.type) {
    case 'storage':
      return { ...base, action: fix.action as RepairAction['action'], message: `would ${fix.description}` };
    case 'rewrite-index':
      return { ...base, action: 'rewrite-index', message: `would rewrite ${ctx.storage.describe(BACKUP_INDEX)} with its readable records` };
    case 'drop-record':
      return { ...base, action: 'drop-record', message: `would drop the record of missing backup ${fix.info.id}` };
    case 'add-record':
      return { ...base, action: 'add-record', message: `would record backup ${fix.info.id} (of ${fix.info.file})` };
    case 'rewrite-journal':
      return { ...base, action: 'rewrite-history', message: `would rewrite ${ctx.storage.describe(fix.key)} with its readable lines` };
    case 'quarantine-backup':
    case 'quarantine': {
      const key = fix.type === 'quarantine' ? fix.key : backupKey(fix.info.id);
      const to = await quarantineKey(ctx, key, now, taken);
      return { ...base, action: 'quarantine', to, message: `would move ${ctx.storage.describe(key)} to ${to}` };
    }
    case 'recover-or-quarantine': {
      const source = opts.recoverFromBackup ? await newestValidBackup(ctx, fix.key) : undefined;
      const to = await quarantineKey(ctx, fix.key, now, taken);
      if (source) return { ...base, action: 'recover', to: source.info.id, message: `would restore ${ctx.storage.describe(fix.key)} from backup ${source.info.id} (the bad file goes to ${to})` };
      const why = opts.recoverFromBackup ? ' (no backup of it parses and validates)' : '';
      return { ...base, action: 'quarantine', to, message: `would move ${ctx.storage.describe(fix.key)} to ${to}${why}` };
    }
  }
}

export async function applyFix(ctx: Context, finding: Finding, fix: Fix, opts: RepairOptions, taken: Set<string>): Promise<RepairAction | undefined> {
  const base = { path: finding.path, kind: finding.kind };
  const now = new Date();
  const audit = (file: string, details: Record<string, unknown>): AppendOp =>
    auditAppend({ at: now.toISOString(), op: 'repair', file, changedBy: 'system', details: { kind: finding.kind, ...details } });
  switch (fix.type) {
    case 'storage': {
      await ctx.storage.commit({ ...fix.commit, after: [...(fix.commit.after ?? []), audit(fix.key, { action: fix.action })] });
      return { ...base, action: fix.action as RepairAction['action'], message: `${fix.description}: done` };
    }
    case 'rewrite-index': {
      const to = await quarantineKey(ctx, BACKUP_INDEX, now, taken);
      await ctx.storage.commit({ prepare: [{ type: 'copy', from: BACKUP_INDEX, to }], after: [audit(BACKUP_INDEX, { action: 'rewrite-index', quarantined: to })] });
      await serialize(ctx, () => compactIndex(ctx));
      return { ...base, action: 'rewrite-index', to, message: `rewrote ${ctx.storage.describe(BACKUP_INDEX)} with its readable records (the old one is ${to})` };
    }
    case 'drop-record': {
      await appendIndex(ctx, [{ op: 'remove', id: fix.info.id, at: now.toISOString() }], audit(fix.info.file, { action: 'drop-record', backup: fix.info.id }));
      return { ...base, action: 'drop-record', message: `dropped the record of missing backup ${fix.info.id}` };
    }
    case 'add-record': {
      await appendIndex(ctx, [{ op: 'add', ...fix.info }], audit(fix.info.file, { action: 'add-record', backup: fix.info.id }));
      return { ...base, action: 'add-record', message: `recorded backup ${fix.info.id} (of ${fix.info.file})` };
    }
    case 'rewrite-journal':
      return rewriteJournal(ctx, finding, fix.key, fix.file, now, taken, audit);
    case 'quarantine-backup': {
      const key = backupKey(fix.info.id);
      if (!(await ctx.storage.stat(key))) return undefined; // removed meanwhile (retention)
      const to = await quarantineKey(ctx, key, now, taken);
      const lines: IndexLine[] = [{ op: 'remove', id: fix.info.id, at: now.toISOString() }];
      const indexOp = indexAppendOp(ctx, lines);
      await ctx.storage.commit({ changes: [{ type: 'move', from: key, to }], after: [indexOp, audit(fix.info.file, { action: 'quarantine', backup: fix.info.id, to })] });
      await serialize(ctx, () => noteAppended(ctx, { lines, data: indexOp.data }));
      return { ...base, action: 'quarantine', to, message: `moved ${ctx.storage.describe(key)} to ${to} and dropped its record` };
    }
    case 'quarantine':
      return quarantine(ctx, finding, fix.key, fix.document, now, taken, audit);
    case 'recover-or-quarantine': {
      const source = opts.recoverFromBackup ? await newestValidBackup(ctx, fix.key) : undefined;
      if (!source) return quarantine(ctx, finding, fix.key, true, now, taken, audit, opts.recoverFromBackup ? ' (no backup of it parses and validates)' : '');
      const to = await quarantineKey(ctx, fix.key, now, taken);
      // The normal write path: the bad content is backed up (pre-repair) and kept in quarantine too,
      // and the recovery is a new history version.
      await writeBytes(ctx, fix.key, source.bytes, {
        changedBy: 'system',
        operation: 'repair',
        trigger: 'pre-repair',
        reason: `recovered from backup ${source.info.id}`,
        extraPrepare: [{ type: 'copy', from: fix.key, to }],
        details: { kind: finding.kind, action: 'recover', backup: source.info.id, quarantined: to },
      });
      return {
        ...base,
        action: 'recover',
        to: source.info.id,
        message: `restored ${ctx.storage.describe(fix.key)} from backup ${source.info.id} (the bad file is ${to})`,
      };
    }
  }
}

async function quarantine(
  ctx: Context,
  finding: Finding,
  key: string,
  document: boolean,
  now: Date,
  taken: Set<string>,
  audit: (file: string, details: Record<string, unknown>) => AppendOp,
  why = '',
): Promise<RepairAction | undefined> {
  const old = document ? await readForOverwrite(ctx, key) : undefined;
  if (document && !old) return undefined; // gone meanwhile
  if (!document && !(await ctx.storage.stat(key))) return undefined;
  const to = await quarantineKey(ctx, key, now, taken);
  if (old) {
    // A config or profile leaving its place is a change of that file: recorded in its history.
    await commitChangeset(ctx, {
      files: [{ key, moveTo: to, old, journal: await settledJournal(ctx, key, await readJournal(ctx, key), old.sha256), operation: 'quarantine' }],
      changedBy: 'system',
      reason: `quarantined by repair (${finding.kind})`,
      now,
      audit: ([file]) => ({ op: 'repair', file: key, details: { kind: finding.kind, action: 'quarantine', to, version: file!.version } }),
    });
  } else {
    await ctx.storage.commit({ changes: [{ type: 'move', from: key, to }], after: [audit(key, { action: 'quarantine', to })] });
  }
  return { path: finding.path, kind: finding.kind, action: 'quarantine', to, message: `moved ${ctx.storage.describe(key)} to ${to}${why}` };
}

async function rewriteJournal(
  ctx: Context,
  finding: Finding,
  key: string,
  file: string,
  now: Date,
  taken: Set<string>,
  audit: (file: string, details: Record<string, unknown>) => AppendOp,
): Promise<RepairAction | undefined> {
  const bytes = await ctx.storage.read(key);
  if (!bytes) return undefined;
  const kept = readableJournalLines(Buffer.from(bytes).toString('utf8'));
  const to = await quarantineKey(ctx, key, now, taken);
  await ctx.storage.commit({
    // The hard link keeps the old journal's inode; the put then replaces the name atomically.
    prepare: [{ type: 'copy', from: key, to }],
    changes: [{ type: 'put', key, data: Buffer.from(kept.map((l) => `${l}\n`).join('')), mode: 0o600 }],
    after: [audit(file, { action: 'rewrite-history', quarantined: to, kept: kept.length })],
  });
  return { path: finding.path, kind: finding.kind, action: 'rewrite-history', to, message: `rewrote ${ctx.storage.describe(key)} with its ${kept.length} readable line(s) (the old one is ${to})` };
}

/**
 * The lines of a journal that parse as version records, as written (unknown fields kept). A torn
 * fragment glued to a complete line (crash, then a later append) gives up only the fragment.
 */
export function readableJournalLines(text: string): string[] {
  const kept: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (isJournalLine(line)) {
      kept.push(line);
      continue;
    }
    const glued = line.lastIndexOf('{"v":');
    if (glued > 0 && isJournalLine(line.slice(glued))) kept.push(line.slice(glued));
  }
  return kept;
}

function isJournalLine(line: string): boolean {
  try {
    const raw = JSON.parse(line) as { v?: unknown; sha256?: unknown; void?: unknown } | null;
    if (typeof raw !== 'object' || raw === null) return false;
    // A void line takes back versions that never happened: dropping it would bring them back.
    return (typeof raw.v === 'number' && typeof raw.sha256 === 'string') || typeof raw.void === 'number';
  } catch {
    return false; // not JSON: a torn or damaged line
  }
}

async function appendIndex(ctx: Context, lines: IndexLine[], audit: AppendOp): Promise<void> {
  await loadIndex(ctx); // so indexAppendOp knows whether the index ends with a torn line
  const op = indexAppendOp(ctx, lines);
  await ctx.storage.commit({ prepare: [op], after: [audit] });
  await serialize(ctx, () => noteAppended(ctx, { lines, data: op.data }));
}

/** The newest per-file backup of `key` whose checksum matches and whose content parses and validates. */
async function newestValidBackup(ctx: Context, key: string): Promise<{ info: BackupInfo; bytes: Uint8Array } | undefined> {
  for (const info of await listBackups(ctx, (b) => b.file === key)) {
    if (info.kind === 'snapshot') continue;
    try {
      const { bytes } = await readBackup(ctx, info);
      // Parsed with the codec of the file it would become, named after the backup in messages.
      const text = ctx.codecs.text(ctx.storage.describe(backupKey(info.id)), bytes);
      validateDocument(ctx, key, ctx.codecs.parse(ctx.storage.describe(key), text));
      return { info, bytes };
    } catch (err) {
      if (err instanceof ConfigPersistenceError && err.code !== 'E_IO') continue; // damaged, unparsable or invalid: try an older one
      throw err;
    }
  }
  return undefined;
}

/** A fresh name under quarantine/ for `key`: flattened, stamped, never an existing or planned one. */
async function quarantineKey(ctx: Context, key: string, now: Date, taken: Set<string>): Promise<string> {
  const flat = flattenKey(key);
  const ext = extensionOf(flat);
  const stem = ext ? flat.slice(0, -(ext.length + 1)) : flat;
  const stamp = compactStamp(now);
  for (let n = 1; ; n++) {
    const candidate = `${QUARANTINE_DIR}/${stem}.${stamp}${n > 1 ? `-${n}` : ''}${ext ? `.${ext}` : ''}`;
    if (!taken.has(candidate) && !(await ctx.storage.stat(candidate))) {
      taken.add(candidate);
      return candidate;
    }
  }
}
