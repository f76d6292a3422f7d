/**
 * Snapshots: every config and profile (or a chosen scope) as one gzipped JSON document under
 * `backups/`, recorded in the same index as the per-file backups (`file: '*'`, `kind: 'snapshot'`),
 * so listing, retention, verify and the auto-backup timer cover them too.
 *
 * The document keeps each file's raw bytes (UTF-8 text, or base64 for anything else) with its
 * sha256 and permission bits: restoring is byte-exact, comments and layout included.
 *
 * Restoring one is all-or-nothing: the safety snapshot of the current state, a per-file backup of
 * everything replaced or removed, the history lines and the new contents go into ONE storage commit
 * whose changes (puts and removes) the storage applies all-or-nothing and rolls forward after a crash.
 */
import { indexAppendOp, SNAPSHOT_BASE, SNAPSHOT_FILE, SNAPSHOT_FORMAT, type IndexLine } from './records.js';
import { backupKey, commitRecorded, newBackupId, readBackup, type BackupActor } from './backups.js';
import { extensionOf } from '../codecs/index.js';
import { sha256, type Context } from '../core/context.js';
import { commitChangeset, type FileChange } from '../changeset/changeset.js';
import { readForOverwrite, type OldContent } from '../changeset/documents.js';
import { ChecksumError, NotFoundError } from '../errors.js';
import { configKey, PROFILES_DIR } from '../core/keys.js';
import { readJournal, settledJournal } from '../history/journal.js';
import { zlibLib } from '../core/lazy-deps.js';
import { RESERVED_NAMES } from '../core/names.js';
import { parseSettings, readSettingsAsync, SETTINGS_FILE, withSchemaVersion } from '../core/settings.js';
import type { BackupInfo, BackupTrigger, RestoreResult, SnapshotOptions } from '../types.js';
import type { PutOp } from '../storage/types.js';

/** The advice of a snapshot that cannot be restored. */
const NOTHING_RESTORED = 'Nothing was restored; pick another backup.';

/** Version of the snapshot document layout. */
export const SNAPSHOT_VERSION = 1;

/** One file inside a snapshot. */
interface SnapshotEntry {
  file: string;
  sha256: string;
  size: number;
  encoding: 'utf8' | 'base64';
  content: string;
  mode?: number;
}

/** The snapshot document (before gzip). */
interface SnapshotDocument {
  format: typeof SNAPSHOT_FORMAT;
  version: number;
  createdAt: string;
  label?: string;
  /** `all`: every config and profile; otherwise the keys the snapshot was limited to. */
  scope: 'all' | string[];
  files: SnapshotEntry[];
  /**
   * The directory's schema version (src/migrations/migrate.ts; 0 when none was recorded) when the
   * snapshot was taken: restoring brings it back with the files, so their layout and the recorded
   * version always agree and the next open with migrations migrates them again. Absent in
   * snapshots made before versions existed, whose restore leaves the version alone.
   */
  schemaVersion?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Keys of every config (top-level documents) and profile, sorted. */
export async function configAndProfileKeys(ctx: Context): Promise<string[]> {
  const [root, profiles] = await Promise.all([ctx.storage.list(''), ctx.storage.list(PROFILES_DIR)]);
  const isDocument = (name: string): boolean => !name.startsWith('.') && ctx.codecs.knows(extensionOf(name)) && !RESERVED_NAMES.has(name.toLowerCase());
  return [...root, ...profiles]
    .filter((e) => e.kind === 'file' && isDocument(e.name))
    .map((e) => e.key)
    .sort();
}

/** Resolves a snapshot scope (names as the other methods take them) to existing keys. */
export async function scopeKeys(ctx: Context, scope: readonly string[]): Promise<string[]> {
  const keys = new Set<string>();
  for (const name of scope) {
    const key = await configKey(ctx, name);
    if (!(await ctx.storage.stat(key))) {
      const display = ctx.storage.describe(key);
      throw new NotFoundError(`Cannot snapshot ${display}: it does not exist. Remove it from the scope or check the name.`, display);
    }
    keys.add(key);
  }
  return [...keys].sort();
}

/** Current content of each key that exists (the caller holds their locks). */
async function readAll(ctx: Context, keys: readonly string[]): Promise<Map<string, OldContent>> {
  const out = new Map<string, OldContent>();
  const contents = await Promise.all(keys.map((key) => readForOverwrite(ctx, key)));
  keys.forEach((key, i) => {
    const c = contents[i];
    if (c) out.set(key, c);
  });
  return out;
}

/** The operations that store a snapshot of `contents`, and its record. */
async function planSnapshot(
  ctx: Context,
  contents: Map<string, OldContent>,
  scope: 'all' | string[],
  opts: { label?: string; trigger: BackupTrigger; now: Date; schemaVersion: number | undefined },
): Promise<{ ops: PutOp[]; info: BackupInfo }> {
  const files: SnapshotEntry[] = [];
  let mode = 0o666;
  for (const [file, c] of [...contents].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const text = decodeUtf8(c.bytes);
    const entry: SnapshotEntry = {
      file,
      sha256: c.sha256,
      size: c.bytes.byteLength,
      encoding: text === undefined ? 'base64' : 'utf8',
      content: text ?? Buffer.from(c.bytes).toString('base64'),
    };
    if (c.mode !== undefined) {
      entry.mode = c.mode & 0o777;
      mode &= c.mode;
    }
    files.push(entry);
  }
  const doc: SnapshotDocument = { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, createdAt: opts.now.toISOString(), scope, files };
  if (opts.label) doc.label = opts.label;
  if (opts.schemaVersion !== undefined) doc.schemaVersion = opts.schemaVersion;
  const bytes = Buffer.from(JSON.stringify(doc));
  const id = await newBackupId(ctx, SNAPSHOT_FILE, opts.now, opts.label, true, SNAPSHOT_BASE);
  const info: BackupInfo = {
    id,
    file: SNAPSHOT_FILE,
    createdAt: opts.now.toISOString(),
    size: bytes.byteLength,
    sha256: sha256(bytes),
    compressed: true,
    trigger: opts.trigger,
    kind: 'snapshot',
    files: files.map((f) => f.file),
  };
  if (opts.label) info.label = opts.label;
  // Holds every file: never more readable than the least readable of them.
  // Named only by the index line of the commit it goes in (PutOp.unreferenced).
  const put: PutOp = { type: 'put', key: backupKey(id), data: zlibLib().gzipSync(bytes), mode: contents.size ? mode & 0o666 : 0o600, unreferenced: true };
  return { ops: [put], info };
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined; // not text: stored as base64
  }
}

/**
 * A snapshot of `keys` planned into another changeset (its `prepare` and `taken`), so that it is
 * written together with the change it guards or not at all: an import's `pre-import` snapshot.
 * The caller holds the keys' locks and the snapshot lock.
 */
export async function planSafetySnapshot(ctx: Context, keys: readonly string[], scope: 'all' | string[], trigger: BackupTrigger): Promise<{ ops: PutOp[]; info: BackupInfo }> {
  const contents = await readAll(ctx, keys);
  const schemaVersion = (await readSettingsAsync(ctx.storage)).values.schemaVersion ?? 0;
  return planSnapshot(ctx, contents, scope, { trigger, now: new Date(), schemaVersion });
}

/**
 * Takes a snapshot of `keys` (the caller holds their locks). `scope` is what the snapshot covers:
 * `all`, or the keys it was limited to (restore then leaves other files alone).
 */
export async function createSnapshot(
  ctx: Context,
  keys: readonly string[],
  scope: 'all' | string[],
  opts: SnapshotOptions & BackupActor & { trigger?: BackupTrigger } = {},
): Promise<BackupInfo> {
  const now = new Date();
  const trigger = opts.trigger ?? 'manual';
  const contents = await readAll(ctx, keys);
  // Under the snapshot lock a migration cannot run: the version read now is the files' version.
  const schemaVersion = (await readSettingsAsync(ctx.storage)).values.schemaVersion ?? 0;
  const planned = await planSnapshot(ctx, contents, scope, { ...(opts.label !== undefined ? { label: opts.label } : {}), trigger, now, schemaVersion });
  const line: IndexLine = { op: 'add', ...planned.info };
  await commitRecorded(ctx, {
    prepare: [...planned.ops, indexAppendOp(ctx, [line])],
    lines: [line],
    audit: {
      at: now.toISOString(),
      op: 'snapshot',
      file: SNAPSHOT_FILE,
      changedBy: String(opts.changedBy ?? (trigger === 'scheduled' ? 'system' : 'user')),
      ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
      sha256: planned.info.sha256,
      backup: planned.info.id,
      details: { trigger, files: planned.info.files, ...(opts.label !== undefined ? { label: opts.label } : {}) },
    },
  });
  return planned.info;
}

/** The verified document of a snapshot: its own checksum, then every file's. */
export async function readSnapshot(ctx: Context, info: BackupInfo): Promise<SnapshotDocument & { contents: Map<string, Uint8Array> }> {
  const { bytes } = await readBackup(ctx, info);
  const display = ctx.storage.describe(backupKey(info.id));
  let doc: SnapshotDocument;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as SnapshotDocument;
  } catch (err) {
    throw new ChecksumError(`${display} is not a snapshot document (${(err as Error).message}).`, display, NOTHING_RESTORED);
  }
  if (doc.format !== SNAPSHOT_FORMAT || !Array.isArray(doc.files)) {
    throw new ChecksumError(`${display} is not a config-persistence snapshot.`, display, NOTHING_RESTORED);
  }
  const contents = new Map<string, Uint8Array>();
  for (const entry of doc.files) {
    const key = await configKey(ctx, entry.file); // refuses names that could leave the base directory
    if (key !== entry.file) throw new ChecksumError(`${display} names a file "${entry.file}" that is not a config or profile.`, display, NOTHING_RESTORED);
    const data = entry.encoding === 'base64' ? Buffer.from(entry.content, 'base64') : Buffer.from(entry.content, 'utf8');
    if (sha256(data) !== entry.sha256) {
      throw new ChecksumError(`${display}: the copy of ${entry.file} inside does not match its checksum.`, display, NOTHING_RESTORED);
    }
    contents.set(key, data);
  }
  return { ...doc, contents };
}

/**
 * The keys a restore of `doc` touches: its files, plus whatever is in its scope now, plus the
 * settings file when the snapshot records a schema version (locked, and rewritten if it differs).
 */
export async function restoreTargets(ctx: Context, doc: { scope: 'all' | string[]; contents: Map<string, Uint8Array>; schemaVersion?: number }): Promise<string[]> {
  const present = doc.scope === 'all' ? await configAndProfileKeys(ctx) : [...doc.scope];
  const settings = doc.schemaVersion === undefined ? [] : [SETTINGS_FILE];
  return [...new Set([...present, ...doc.contents.keys(), ...settings])].sort();
}

/**
 * Brings every key in `targets` back to the snapshot (the caller verified it with
 * {@link readSnapshot} and holds every target's lock): one commit, all-or-nothing.
 */
export async function restoreSnapshot(
  ctx: Context,
  info: BackupInfo,
  doc: SnapshotDocument & { contents: Map<string, Uint8Array> },
  targets: readonly string[],
  actor: BackupActor = {},
): Promise<{ result: RestoreResult; backups: BackupInfo[] }> {
  const now = new Date();
  const documents = targets.filter((key) => key !== SETTINGS_FILE);
  const current = await readAll(ctx, documents);
  const changed = documents.filter((key) => {
    const want = doc.contents.get(key);
    const have = current.get(key);
    return want ? have?.sha256 !== sha256(want) : have !== undefined;
  });
  const settingsOld = await readForOverwrite(ctx, SETTINGS_FILE);
  const settings = parseSettings(ctx.storage.describe(SETTINGS_FILE), settingsOld?.bytes);
  const version = settings.values.schemaVersion;
  const versionChange = doc.schemaVersion !== undefined && doc.schemaVersion !== (version ?? 0) ? withSchemaVersion(ctx, settingsOld, doc.schemaVersion) : undefined;
  if (changed.length === 0 && !versionChange) return { result: { restored: info, files: [] }, backups: [] };

  const scope = doc.scope === 'all' ? 'all' : [...documents];
  const safety = await planSnapshot(ctx, current, scope, { trigger: 'pre-restore', now, schemaVersion: version ?? 0 });
  const modes = new Map(doc.files.map((f) => [f.file, f.mode]));
  const files: FileChange[] = [];
  for (const key of changed) {
    const have = current.get(key);
    const want = doc.contents.get(key);
    const mode = modes.get(key);
    files.push({
      key,
      ...(want ? { next: { bytes: want, sha256: sha256(want), ...(mode !== undefined ? { mode: mode & 0o666 } : {}) } } : {}),
      old: have,
      journal: await settledJournal(ctx, key, await readJournal(ctx, key), have?.sha256),
      operation: 'restore',
      // Replaced or removed in this commit: a hard link keeps the old bytes for free.
      ...(have ? { backup: 'pre-restore' as const } : {}),
    });
  }
  // The recorded version goes back with the files, in the same commit.
  if (versionChange) files.push({ key: SETTINGS_FILE, next: { bytes: versionChange, sha256: sha256(versionChange) }, old: settingsOld, operation: 'restore' });
  const done = await commitChangeset(ctx, {
    files,
    changedBy: actor.changedBy ?? 'user',
    reason: actor.reason ?? `restore of snapshot ${info.id}`,
    now,
    prepare: safety.ops,
    taken: [safety.info],
    audit: () => ({
      op: 'restore',
      file: SNAPSHOT_FILE,
      backup: info.id,
      details: {
        safetySnapshot: safety.info.id,
        written: files.filter((f) => f.next && f.key !== SETTINGS_FILE).map((f) => f.key),
        removed: files.filter((f) => !f.next).map((f) => f.key),
        ...(versionChange ? { schemaVersion: doc.schemaVersion } : {}),
      },
    }),
  });
  if (versionChange) Object.assign(ctx as { settings: Context['settings'] }, { settings: parseSettings(settings.file, versionChange) });
  return { result: { restored: info, safetyBackup: safety.info, files: changed }, backups: done.backups };
}

/** The digest of a stored snapshot's contents (for the auto-backup timer's skip check); `undefined` when unreadable. */
export async function snapshotDigest(ctx: Context, info: BackupInfo): Promise<string | undefined> {
  const key = backupKey(info.id);
  const stored = await ctx.storage.read(key);
  if (!stored) return undefined;
  try {
    const doc = JSON.parse(zlibLib().gunzipSync(stored).toString('utf8')) as SnapshotDocument;
    return digestOf(doc.files.map((f) => [f.file, f.sha256]));
  } catch {
    return undefined; // damaged: the next round takes a fresh snapshot (verify reports the damage)
  }
}

/** A digest of (file, sha256) pairs: equal digests mean identical content. */
export function digestOf(pairs: Array<[string, string]>): string {
  return sha256(
    pairs
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([f, s]) => `${f}\u0000${s}\n`)
      .join(''),
  );
}
