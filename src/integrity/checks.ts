/**
 * Integrity checks: what `verify` inspects (configs, profiles resolved as `loadProfile` does,
 * backups and their index, history journals and objects, the storage's own findings) and the
 * findings it reports, each with the fix repair would apply (src/integrity/repair.ts). The table of
 * kinds and fixes is in the module comment of src/integrity/integrity.ts.
 */
import {
  BACKUP_INDEX,
  BACKUPS_DIR,
  backupKey,
  INDEX_NAME,
  indexIdle,
  loadIndex,
} from '../backups/records.js';
import { reconcile } from '../backups/reconcile.js';
import { readBackup } from '../backups/backups.js';
import { extensionOf } from '../codecs/index.js';
import { sha256, type Context } from '../core/context.js';
import { readDocument, validateDocument } from '../changeset/documents.js';
import { ChecksumError, ConfigPersistenceError, DecryptionError, InvalidNameError, NotFoundError, ValidationError } from '../errors.js';
import { CURRENT, PROFILES_DIR, unflattenKey } from '../core/keys.js';
import { allJournals, HISTORY_DIR, journalKey, OBJECTS_DIR, readJournal, settledJournal, voidLine } from '../history/journal.js';
import { parentsOf, PROFILE_META_KEY, ProfileCycleError } from '../profiles/chain.js';
import { loadProfile } from '../profiles/profiles.js';
import { configAndProfileKeys, readSnapshot } from '../backups/snapshots.js';
import type { BackupInfo, Problem, ProfileMeta } from '../types.js';
import type { Commit } from '../storage/types.js';
import { isPlainObject } from '../document/tree.js';

/** What repair would do about a problem. */
export type Fix =
  | { type: 'quarantine'; key: string; document: boolean }
  | { type: 'recover-or-quarantine'; key: string }
  | { type: 'quarantine-backup'; info: BackupInfo }
  | { type: 'drop-record'; info: BackupInfo }
  | { type: 'add-record'; info: BackupInfo }
  | { type: 'rewrite-index' }
  | { type: 'rewrite-journal'; key: string; file: string }
  | { type: 'storage'; key: string; action: string; description: string; commit: Commit };

/** A problem and its fix (none when repair cannot help). */
export interface Finding extends Problem {
  fix?: Fix;
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

export async function inspect(ctx: Context): Promise<Finding[]> {
  await ctx.schema.ready();
  await indexIdle(ctx);
  const keys = await configAndProfileKeys(ctx);
  const findings: Finding[] = [];
  const unreadable = new Set<string>();
  for (const key of keys) {
    const finding = await checkDocument(ctx, key);
    if (!finding) continue;
    findings.push(finding);
    if (finding.kind === 'unparsable' || finding.kind === 'too-large' || finding.kind === 'unreadable' || finding.kind === 'undecryptable') unreadable.add(key);
  }
  findings.push(...(await checkProfiles(ctx, keys, unreadable, findings)));
  findings.push(...(await area(BACKUPS_DIR, () => checkBackups(ctx))));
  findings.push(...(await area(HISTORY_DIR, async () => [...(await checkHistory(ctx)), ...(await checkPhantoms(ctx))])));
  const own = await area('.', () => checkStorage(ctx));
  // What a storage fix removes (the backups of a commit interrupted between its etcd transactions)
  // is reported once, as that: not also as an unindexed backup whose record repair would add.
  const removed = new Set(own.flatMap((f) => (f.fix?.type === 'storage' ? (f.fix.commit.changes ?? []).flatMap((c) => (c.type === 'remove' ? [c.key] : [])) : [])));
  return [...findings.filter((f) => !removed.has(f.path)), ...own];
}

/**
 * A file verify cannot read (permissions, a failing disk) or may not follow (a link that leaves
 * the base directory) is a problem to report, not a reason to stop checking the rest. Repair
 * leaves it alone: it needs a person.
 */
export function unreadableFinding(path: string, err: unknown): Finding | undefined {
  if (err instanceof DecryptionError) return undecryptableFinding(path, err);
  if (hasCode(err, 'E_IO')) return { path, kind: 'unreadable', message: `${(err as Error).message} Fix its permissions or the disk, then verify again; repair leaves it alone.` };
  if (hasCode(err, 'E_INVALID_NAME')) return { path, kind: 'unsafe-path', message: `${(err as Error).message} Replace the link with a plain file or directory; repair leaves it alone.` };
  return undefined;
}

/**
 * An encrypted object this process cannot open (no key, another key, changed bytes): reported with
 * no fix, because repair must never move or drop what it cannot read; a person decides (the right
 * key, a restore of another backup). docs/encryption.md.
 */
export function undecryptableFinding(path: string, err: DecryptionError): Finding {
  return { path, kind: 'undecryptable', message: `${err.problem} Repair leaves it alone: open the store with the key it was encrypted with, or restore another copy.` };
}

/** Runs one area's checks; an area that cannot be read at all is one finding, and the others go on. */
async function area(path: string, check: () => Promise<Finding[]>): Promise<Finding[]> {
  try {
    return await check();
  } catch (err) {
    const finding = unreadableFinding(path, err);
    if (finding) return [finding];
    throw err;
  }
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
    const unsafe = unreadableFinding(key, err);
    if (unsafe) return unsafe;
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
    // Each file of a cycle is valid on its own and a human decides which link goes: quarantining
    // one would leave the others without a parent (and repair would then take them too), so a
    // cycle is reported for a person to fix, never moved away.
    if (err instanceof ProfileCycleError) return { path: key, kind: 'profile-cycle', message };
    if (err instanceof ValidationError) return { path: key, kind: 'schema-invalid', message, fix };
    if (err instanceof NotFoundError || err instanceof InvalidNameError) return { path: key, kind: 'missing-parent', message, fix };
    // An unreadable parent or default.* is reported as itself.
    if (hasCode(err, 'E_PARSE') || hasCode(err, 'E_TOO_LARGE') || hasCode(err, 'E_IO') || err instanceof DecryptionError) return undefined;
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
    const undecryptable = await decryptionProblem(ctx, entry.key);
    if (undecryptable) {
      out.push(undecryptableFinding(entry.key, undecryptable));
      continue;
    }
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
    if (problem instanceof DecryptionError) out.push(undecryptableFinding(backupKey(info.id), problem));
    else if (problem) {
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

/**
 * Why a backup does not match its record, or `undefined` when it does (snapshots: every file
 * inside too); the DecryptionError itself when it cannot be decrypted.
 */
async function backupProblem(ctx: Context, info: BackupInfo): Promise<string | DecryptionError | undefined> {
  try {
    if (info.kind === 'snapshot') await readSnapshot(ctx, info);
    else await readBackup(ctx, info);
    return undefined;
  } catch (err) {
    if (err instanceof DecryptionError) return err;
    if (err instanceof ChecksumError) return err.problem;
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
    let bytes: Uint8Array | undefined;
    try {
      bytes = await ctx.storage.read(entry.key);
    } catch (err) {
      if (!(err instanceof DecryptionError)) throw err;
      out.push(undecryptableFinding(entry.key, err));
      continue;
    }
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

/**
 * Newest versions recorded for a write that never landed (its writer was killed between the
 * history line and the rename; its staged content is still there as evidence). Readers already
 * leave them out; repair takes them back in the journal itself, so the evidence may go.
 */
async function checkPhantoms(ctx: Context): Promise<Finding[]> {
  if (!ctx.storage.abandonedContent) return [];
  const out: Finding[] = [];
  for (const { file, journal } of await allJournals(ctx)) {
    const entry = await ctx.storage.readEntry(file).catch(() => undefined); // unreadable: reported by the document checks
    const settled = await settledJournal(ctx, file, journal, entry ? sha256(entry.bytes) : undefined);
    if (settled.voids === undefined) continue;
    const key = journalKey(file);
    const display = ctx.storage.describe(file);
    out.push({
      path: key,
      kind: 'phantom-version',
      message: `${display}: version ${settled.voids} is recorded but never happened (its writer was killed before the file was replaced; the file is still at version ${settled.voids - 1}). It is not listed in its history; repair takes it back in ${ctx.storage.describe(key)}.`,
      fix: {
        type: 'storage',
        key: file,
        action: 'rewrite-history',
        description: `take back version ${settled.voids} of ${display}, which never happened`,
        commit: { prepare: [{ type: 'append', key, data: voidLine(settled), sync: 'commit' }] },
      },
    });
  }
  return out;
}

/** The DecryptionError reading `key` gives, if any (other failures are left to the checks that follow). */
async function decryptionProblem(ctx: Context, key: string): Promise<DecryptionError | undefined> {
  try {
    await ctx.storage.read(key);
    return undefined;
  } catch (err) {
    if (err instanceof DecryptionError) return err;
    throw err;
  }
}

/** Number of physical lines of a journal (the last one, when torn, has no newline). */
async function lineCount(ctx: Context, key: string): Promise<number> {
  const bytes = await ctx.storage.read(key);
  return bytes ? Buffer.from(bytes).toString('utf8').split('\n').length : -1;
}

/** The backend's own findings (local storage: stray temp files), with the commit that fixes each. */
async function checkStorage(ctx: Context): Promise<Finding[]> {
  const found = (await ctx.storage.findings?.()) ?? [];
  return found.map(({ key, kind, message, fix }) => ({
    path: key,
    kind,
    message,
    ...(fix ? { fix: { type: 'storage', key, ...fix } as Fix } : {}),
  }));
}

// ---------------------------------------------------------------------------------------------

export function toProblem(finding: Finding): Problem {
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
export function isSafeKey(key: string): boolean {
  return key.split('/').every((s) => s !== '' && s !== '.' && s !== '..') && !key.includes('\\') && !key.includes('\0');
}
