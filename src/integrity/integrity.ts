/**
 * Integrity: `verify` walks everything in the managed directory and reports each problem with its
 * file, a kind and a message; `repair` fixes what can be fixed without losing anything.
 *
 * What is checked, and what repair does about it:
 *
 * | kind               | found where                                  | repair                                        |
 * |--------------------|----------------------------------------------|-----------------------------------------------|
 * | unparsable         | a config or profile that does not parse      | quarantine (or recover `current.*`, if asked) |
 * | schema-invalid     | a config, or a profile in its resolved form  | quarantine (or recover `current.*`, if asked) |
 * | missing-parent     | a profile whose `$profile.extends` is gone   | quarantine                                    |
 * | profile-cycle      | profiles that extend each other in a loop    | quarantine                                    |
 * | checksum-mismatch  | a backup or history object whose bytes differ from their record / name | quarantine (+ drop the record) |
 * | missing-backup     | an index record whose backup file is gone    | drop the record                               |
 * | unindexed-backup   | a backup file without a record               | add the record, or quarantine if unreadable   |
 * | broken-index       | damaged lines in `backups/index.jsonl`       | rewrite it with its readable records          |
 * | broken-history     | damaged or torn lines in a history journal   | rewrite it with its readable lines            |
 * | stray-temp         | a temp file left by an interrupted write     | remove it                                     |
 * | too-large          | a file over `maxFileBytes`                   | nothing (raise the limit or shrink the file)  |
 *
 * Never deleting user data: files go to `quarantine/` with a move (which never overwrites), under a
 * name that cannot collide (`current.20261123T081218.123Z.yaml`, then `-2`, `-3`...); journals and
 * the index are quarantined (hard link) before they are rewritten. Only our own temp files are
 * removed. Every action is its own durable commit with an audit line (`op: "repair"`), and a
 * quarantined config or profile gets a history version (`operation: "quarantine"`).
 *
 * The caller (ConfigPersistence) holds the locks of every config, profile and journal while
 * repairing, so no save interleaves with it.
 */
import { auditAppend } from '../changeset/audit.js';
import {
  BACKUP_INDEX,
  BACKUPS_DIR,
  backupKey,
  compactIndex,
  forgetIndex,
  indexAppendOp,
  INDEX_NAME,
  indexIdle,
  loadIndex,
  noteAppended,
  reconcile,
  serialize,
  type IndexLine,
} from '../backups/records.js';
import { compactStamp, listBackups, readBackup } from '../backups/backups.js';
import { extensionOf } from '../codecs/index.js';
import { sha256, type Context } from '../core/context.js';
import { readDocument, readForOverwrite, validateDocument, writeBytes } from '../changeset/documents.js';
import { ConfigPersistenceError, InvalidNameError, NotFoundError, ValidationError } from '../errors.js';
import { CURRENT, flattenKey, PROFILES_DIR, unflattenKey } from '../core/keys.js';
import { HISTORY_DIR, journalKey, OBJECTS_DIR, planVersion, readJournal, rememberAppend } from '../history/journal.js';
import { loadProfile, parentsOf, PROFILE_META_KEY, ProfileCycleError } from '../profiles/profiles.js';
import { configAndProfileKeys, readSnapshot } from '../backups/snapshots.js';
import type { AppendOp, BackupInfo, Problem, ProfileMeta, RepairAction, RepairOptions, RepairReport, VerifyResult } from '../types.js';
import { isPlainObject } from '../document/tree.js';

/** Directory where repair moves bad files. */
export const QUARANTINE_DIR = 'quarantine';

/** How many verify → fix rounds repair runs at most (fixing a parent can expose its children). */
const MAX_PASSES = 5;

/** What repair would do about a problem. */
type Fix =
  | { type: 'quarantine'; key: string; document: boolean }
  | { type: 'recover-or-quarantine'; key: string }
  | { type: 'quarantine-backup'; info: BackupInfo }
  | { type: 'drop-record'; info: BackupInfo }
  | { type: 'add-record'; info: BackupInfo }
  | { type: 'rewrite-index' }
  | { type: 'rewrite-journal'; key: string; file: string }
  | { type: 'remove-temp'; key: string };

/** A problem and its fix (none when repair cannot help). */
interface Finding extends Problem {
  fix?: Fix;
}

/** Checks everything; see the module comment for what is checked. */
export async function verify(ctx: Context): Promise<VerifyResult> {
  const findings = await inspect(ctx);
  return { ok: findings.length === 0, problems: findings.map(toProblem) };
}

/**
 * Fixes what {@link verify} finds (see the module comment), re-checking after each round because a
 * fix can expose another problem (a quarantined parent leaves its children without one). A dry run
 * reports the first round's actions and writes nothing.
 */
export async function repair(ctx: Context, opts: RepairOptions = {}): Promise<RepairReport> {
  const dryRun = Boolean(opts.dryRun);
  let findings = await inspect(ctx);
  const actions: RepairAction[] = [];
  const taken = new Set<string>();
  if (dryRun) {
    for (const finding of ordered(findings)) if (finding.fix) actions.push(await describeFix(ctx, finding, finding.fix, opts, taken));
    return { dryRun, actions, remaining: findings.filter((f) => !f.fix).map(toProblem) };
  }
  let previous = '';
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const fixable = ordered(findings).filter((f) => f.fix);
    const signature = fixable.map((f) => `${f.kind}\u0000${f.path}`).join('\n');
    // The same problems again after a round means the fixes do not take: stop rather than loop.
    if (fixable.length === 0 || signature === previous) break;
    previous = signature;
    for (const finding of fixable) {
      const action = await applyFix(ctx, finding, finding.fix!, opts, taken);
      if (action) actions.push(action);
    }
    findings = await inspect(ctx);
  }
  return { dryRun, actions, remaining: findings.map(toProblem) };
}

/** The keys repair must hold the locks of: every config and profile, and every file with a journal. */
export async function repairLockKeys(ctx: Context): Promise<string[]> {
  const [documents, history] = await Promise.all([configAndProfileKeys(ctx), ctx.storage.list(HISTORY_DIR)]);
  const journaled = history
    .filter((e) => e.kind === 'file' && e.name.endsWith('.jsonl') && !e.name.startsWith('.'))
    .map((e) => unflattenKey(e.name.slice(0, -'.jsonl'.length)))
    .filter((file) => isSafeKey(file));
  return [...new Set([...documents, ...journaled])].sort();
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

async function inspect(ctx: Context): Promise<Finding[]> {
  await ctx.schema.ready();
  await indexIdle(ctx);
  const keys = await configAndProfileKeys(ctx);
  const findings: Finding[] = [];
  const unreadable = new Set<string>();
  for (const key of keys) {
    const finding = await checkDocument(ctx, key);
    if (!finding) continue;
    findings.push(finding);
    if (finding.kind === 'unparsable' || finding.kind === 'too-large') unreadable.add(key);
  }
  findings.push(...(await checkProfiles(ctx, keys, unreadable, findings)));
  findings.push(...(await checkBackups(ctx)));
  findings.push(...(await checkHistory(ctx)));
  findings.push(...(await checkTemps(ctx)));
  return findings;
}

/** Parses a config or profile; a root config is also validated on its own (as `loadConfig` does). */
async function checkDocument(ctx: Context, key: string): Promise<Finding | undefined> {
  const isProfile = key.startsWith(`${PROFILES_DIR}/`);
  const badFix: Fix = isCurrent(key) ? { type: 'recover-or-quarantine', key } : { type: 'quarantine', key, document: true };
  let doc;
  try {
    doc = await readDocument(ctx, key);
  } catch (err) {
    if (hasCode(err, 'E_PARSE')) return { path: key, kind: 'unparsable', message: (err as Error).message, fix: badFix };
    if (hasCode(err, 'E_TOO_LARGE')) {
      return { path: key, kind: 'too-large', message: `${(err as Error).message} Repair leaves it alone: raise maxFileBytes or shrink the file.` };
    }
    throw err;
  }
  if (!doc || isProfile) return undefined; // vanished meanwhile; profiles are validated resolved
  try {
    validateDocument(ctx, key, doc.data, doc.text);
  } catch (err) {
    if (err instanceof ValidationError) return { path: key, kind: 'schema-invalid', message: err.message, fix: badFix };
    throw err;
  }
  return undefined;
}

/**
 * Resolves every readable profile as `loadProfile` does. A failure caused by something already
 * reported (an unreadable or invalid `default.*`, a failing ancestor) is not reported again: the
 * cause is, and repair's next round sees what is left.
 */
async function checkProfiles(ctx: Context, keys: readonly string[], unreadable: ReadonlySet<string>, earlier: readonly Finding[]): Promise<Finding[]> {
  const defaultBroken = earlier.some((f) => isDefault(f.path));
  const profiles = keys.filter((k) => k.startsWith(`${PROFILES_DIR}/`));
  const parents = new Map<string, string[]>();
  const failed = new Map<string, Finding>();
  for (const key of profiles) {
    const name = profileName(key);
    if (unreadable.has(key)) {
      failed.set(name, { path: key, kind: 'unparsable', message: '' });
      continue;
    }
    parents.set(name, await declaredParents(ctx, key));
    if (defaultBroken) continue;
    const finding = await resolveProfile(ctx, key, name);
    if (finding) failed.set(name, finding);
  }
  const out: Finding[] = [];
  for (const [name, finding] of failed) {
    if (unreadable.has(finding.path)) continue; // reported by checkDocument
    const inherited = finding.kind !== 'profile-cycle' && ancestorsOf(name, parents).some((a) => failed.has(a));
    if (!inherited) out.push(finding);
  }
  return out;
}

async function resolveProfile(ctx: Context, key: string, name: string): Promise<Finding | undefined> {
  const fix: Fix = { type: 'quarantine', key, document: true };
  try {
    await loadProfile(ctx, name, true);
    return undefined;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof ProfileCycleError) return { path: key, kind: 'profile-cycle', message, fix };
    if (err instanceof ValidationError) return { path: key, kind: 'schema-invalid', message, fix };
    if (err instanceof NotFoundError || err instanceof InvalidNameError) return { path: key, kind: 'missing-parent', message, fix };
    // An unreadable parent or default.* is reported as itself.
    if (hasCode(err, 'E_PARSE') || hasCode(err, 'E_TOO_LARGE')) return undefined;
    throw err;
  }
}

/** The `$profile.extends` names a profile file declares (nothing when it cannot be read). */
async function declaredParents(ctx: Context, key: string): Promise<string[]> {
  const doc = await readDocument(ctx, key);
  const block = isPlainObject(doc?.data) ? (doc.data as Record<string, unknown>)[PROFILE_META_KEY] : undefined;
  if (!isPlainObject(block)) return [];
  const ext = block.extends;
  if (typeof ext !== 'string' && !(Array.isArray(ext) && ext.every((p) => typeof p === 'string'))) return [];
  return parentsOf({ extends: ext } as ProfileMeta);
}

function ancestorsOf(name: string, parents: ReadonlyMap<string, string[]>): string[] {
  const seen = new Set<string>();
  const stack = [...(parents.get(name) ?? [])];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next) || next === name) continue;
    seen.add(next);
    stack.push(...(parents.get(next) ?? []));
  }
  return [...seen];
}

async function checkBackups(ctx: Context): Promise<Finding[]> {
  const out: Finding[] = [];
  const view = await loadIndex(ctx);
  const index = ctx.storage.describe(BACKUP_INDEX);
  if (view.badLines.length > 0) {
    out.push({
      path: BACKUP_INDEX,
      kind: 'broken-index',
      message: `${index}: line${view.badLines.length === 1 ? '' : 's'} ${view.badLines.join(', ')} cannot be read (a crash or an edit). Repair rewrites the index with its readable records (the old one goes to quarantine/).`,
      fix: { type: 'rewrite-index' },
    });
  }
  const { backups, vanished, recovered } = await reconcile(ctx);
  for (const info of vanished) {
    out.push({
      path: backupKey(info.id),
      kind: 'missing-backup',
      message: `Backup ${info.id} (of ${info.file}) is recorded in ${index} but its file is gone. Repair drops the record.`,
      fix: { type: 'drop-record', info },
    });
  }
  const recoveredIds = new Set(recovered.map((r) => r.id));
  for (const info of recovered) {
    out.push({
      path: backupKey(info.id),
      kind: 'unindexed-backup',
      message: `${ctx.storage.describe(backupKey(info.id))} is a complete backup without a record in ${index} (a crash between the two). Repair adds its record.`,
      fix: { type: 'add-record', info },
    });
  }
  const listed = new Set(backups.map((b) => b.id));
  for (const entry of await ctx.storage.list(BACKUPS_DIR)) {
    if (entry.kind !== 'file' || entry.name === INDEX_NAME || entry.name.startsWith('.') || listed.has(entry.name)) continue;
    out.push({
      path: entry.key,
      kind: 'unindexed-backup',
      message: `${ctx.storage.describe(entry.key)} has no record in ${index} and cannot be read as a backup. Repair moves it to quarantine/.`,
      fix: { type: 'quarantine', key: entry.key, document: false },
    });
  }
  for (const info of backups) {
    if (recoveredIds.has(info.id)) continue; // its checksum was just computed from its content
    const problem = await backupProblem(ctx, info);
    if (problem) {
      out.push({
        path: backupKey(info.id),
        kind: 'checksum-mismatch',
        message: `${problem} Repair moves it to quarantine/ and drops its record.`,
        fix: { type: 'quarantine-backup', info },
      });
    }
  }
  return out;
}

/** Why a backup does not match its record, or `undefined` when it does (snapshots: every file inside too). */
async function backupProblem(ctx: Context, info: BackupInfo): Promise<string | undefined> {
  try {
    if (info.kind === 'snapshot') await readSnapshot(ctx, info);
    else await readBackup(ctx, info);
    return undefined;
  } catch (err) {
    // The restore advice does not apply to verify; the sentence before it ends with its own full stop.
    if (hasCode(err, 'E_CHECKSUM')) return (err as Error).message.replace(/ Nothing was restored; pick another backup\.$/, '').replace(/; nothing was restored\.$/, '.');
    if (hasCode(err, 'E_NOT_FOUND')) return undefined; // removed meanwhile (retention): not damage
    throw err;
  }
}

async function checkHistory(ctx: Context): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const entry of await ctx.storage.list(HISTORY_DIR)) {
    if (entry.kind !== 'file' || !entry.name.endsWith('.jsonl') || entry.name.startsWith('.')) continue;
    const file = unflattenKey(entry.name.slice(0, -'.jsonl'.length));
    if (!isSafeKey(file) || journalKey(file) !== entry.key) continue;
    const journal = await readJournal(ctx, file);
    if (!journal.torn && journal.badLines.length === 0) continue;
    const display = ctx.storage.describe(entry.key);
    const torn = journal.torn;
    const lastLine = torn ? await lineCount(ctx, entry.key) : -1;
    const damaged = journal.badLines.filter((n) => n !== lastLine);
    if (!torn && damaged.length === 0) continue;
    const parts: string[] = [];
    if (torn) parts.push('its last line is torn (a crash interrupted an append)');
    if (damaged.length > 0) parts.push(`line${damaged.length === 1 ? '' : 's'} ${damaged.join(', ')} cannot be read`);
    out.push({
      path: entry.key,
      kind: 'broken-history',
      message: `${display}: ${parts.join('; ')}. Repair rewrites it with its readable lines (the old journal goes to quarantine/).`,
      fix: { type: 'rewrite-journal', key: entry.key, file },
    });
  }
  for (const entry of await ctx.storage.list(OBJECTS_DIR)) {
    if (entry.kind !== 'file' || entry.name.startsWith('.')) continue;
    const bytes = await ctx.storage.read(entry.key);
    if (!bytes) continue; // pruned meanwhile
    const actual = sha256(bytes);
    if (actual === entry.name) continue;
    out.push({
      path: entry.key,
      kind: 'checksum-mismatch',
      message: `${ctx.storage.describe(entry.key)}: its content hashes to ${actual.slice(0, 12)}…, not to its name; that version's content is damaged. Repair moves it to quarantine/ (other copies, such as backups, are used instead).`,
      fix: { type: 'quarantine', key: entry.key, document: false },
    });
  }
  return out;
}

/** Number of physical lines of a journal (the last one, when torn, has no newline). */
async function lineCount(ctx: Context, key: string): Promise<number> {
  const bytes = await ctx.storage.read(key);
  return bytes ? Buffer.from(bytes).toString('utf8').split('\n').length : -1;
}

async function checkTemps(ctx: Context): Promise<Finding[]> {
  const temps = (await ctx.storage.strayTemps?.()) ?? [];
  return temps.map((key) => ({
    path: key,
    kind: 'stray-temp',
    message: `${ctx.storage.describe(key)} is a temporary file left by an interrupted write (its writer is gone); the real file was never affected. Repair removes it.`,
    fix: { type: 'remove-temp', key } as Fix,
  }));
}

// ---------------------------------------------------------------------------------------------
// Fixes
// ---------------------------------------------------------------------------------------------

/** Cheap fixes first; backups before documents, so a recovery sees the backups as repaired. */
const ORDER: Record<Fix['type'], number> = {
  'remove-temp': 0,
  'rewrite-index': 1,
  'drop-record': 2,
  'add-record': 3,
  'quarantine-backup': 4,
  'rewrite-journal': 5,
  quarantine: 6,
  'recover-or-quarantine': 7,
};

function ordered(findings: readonly Finding[]): Finding[] {
  return [...findings].sort((a, b) => (a.fix ? ORDER[a.fix.type] : 99) - (b.fix ? ORDER[b.fix.type] : 99));
}

/** The action a fix would take, without writing anything. */
async function describeFix(ctx: Context, finding: Finding, fix: Fix, opts: RepairOptions, taken: Set<string>): Promise<RepairAction> {
  const base = { path: finding.path, kind: finding.kind };
  const now = new Date();
  switch (fix.type) {
    case 'remove-temp':
      return { ...base, action: 'remove-temp', message: `would remove ${ctx.storage.describe(fix.key)}` };
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

async function applyFix(ctx: Context, finding: Finding, fix: Fix, opts: RepairOptions, taken: Set<string>): Promise<RepairAction | undefined> {
  const base = { path: finding.path, kind: finding.kind };
  const now = new Date();
  const audit = (file: string, details: Record<string, unknown>): AppendOp =>
    auditAppend({ at: now.toISOString(), op: 'repair', file, changedBy: 'system', details: { kind: finding.kind, ...details } });
  switch (fix.type) {
    case 'remove-temp': {
      await ctx.storage.commit({ changes: [{ type: 'remove', key: fix.key }], after: [audit(fix.key, { action: 'remove-temp' })] });
      return { ...base, action: 'remove-temp', message: `removed ${ctx.storage.describe(fix.key)}` };
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
      await serialize(ctx, () => noteAppended(ctx, lines, indexOp.data.byteLength));
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
    // A config or profile leaving its place is a change of that file: record it in its history.
    const journal = await readJournal(ctx, key);
    const plan = planVersion({ key, journal, old: { sha256: old.sha256, size: old.bytes.byteLength }, changedBy: 'system', reason: `quarantined by repair (${finding.kind})`, operation: 'quarantine', now });
    ctx.ownWrites.delete(key);
    await ctx.storage.commit({ prepare: plan.ops, changes: [{ type: 'move', from: key, to }], after: [audit(key, { action: 'quarantine', to, version: plan.version })] });
    const append = plan.ops.find((op): op is AppendOp => op.type === 'append' && op.key === journalKey(key));
    if (append) rememberAppend(ctx, key, journal, append.data);
    ctx.ownWrites.landed(key, '', undefined);
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
    const raw = JSON.parse(line) as { v?: unknown; sha256?: unknown } | null;
    return typeof raw === 'object' && raw !== null && typeof raw.v === 'number' && typeof raw.sha256 === 'string';
  } catch {
    return false; // not JSON: a torn or damaged line
  }
}

async function appendIndex(ctx: Context, lines: IndexLine[], audit: AppendOp): Promise<void> {
  await loadIndex(ctx); // so indexAppendOp knows whether the index ends with a torn line
  const op = indexAppendOp(ctx, lines);
  await ctx.storage.commit({ prepare: [op], after: [audit] });
  await serialize(ctx, () => noteAppended(ctx, lines, op.data.byteLength));
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

// ---------------------------------------------------------------------------------------------

function toProblem(finding: Finding): Problem {
  return { path: finding.path, kind: finding.kind, message: finding.message };
}

function hasCode(err: unknown, code: string): boolean {
  return err instanceof ConfigPersistenceError && err.code === code;
}

function isCurrent(key: string): boolean {
  return !key.includes('/') && key.startsWith(`${CURRENT}.`);
}

function isDefault(key: string): boolean {
  return !key.includes('/') && key.startsWith('default.');
}

function profileName(key: string): string {
  const name = key.slice(PROFILES_DIR.length + 1);
  const ext = extensionOf(name);
  return ext ? name.slice(0, -(ext.length + 1)) : name;
}

/** A journal name that unflattens to a key storage accepts (a hand-made `..` name is skipped). */
function isSafeKey(key: string): boolean {
  return key.split('/').every((s) => s !== '' && s !== '.' && s !== '..') && !key.includes('\\') && !key.includes('\0');
}
