/**
 * Migrations: the steps that bring every config and profile from the document layout an older
 * version of the application wrote to the one this code expects.
 *
 * - The directory records the version its files are at (`schemaVersion` in the settings file,
 *   `config-persistence.json`); a directory without one is at version 0.
 * - A run takes the snapshot lock and every file's lock, re-reads the recorded version under them
 *   (another process may have migrated meanwhile), runs each newer step over a copy of every
 *   document, validates the results against the schema, and commits every changed file and the
 *   new version in ONE changeset: each file backed up first (`pre-migrate`), a history version
 *   with reason `migrate to <version>`, one audit line. A step that throws, a result the schema
 *   refuses or a crash anywhere leaves every file and the recorded version as they were.
 * - A directory at a newer version than the newest step is refused (`E_CONFLICT`): code that does
 *   not know a layout must not write over it, and a downgrade is never silent.
 *
 * A profile's `$profile` metadata (extends, description) is not part of the document a step sees;
 * it is written back as it was.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Context } from '../core/context.js';
import { sha256 } from '../core/context.js';
import { commitChangeset, type FileChange } from '../changeset/changeset.js';
import { readForOverwrite, validateDocument, type OldContent, type StoredDocument } from '../changeset/documents.js';
import { configAndProfileKeys } from '../backups/snapshots.js';
import { PROFILES_DIR } from '../core/keys.js';
import { parseSettings, SETTINGS_FILE, withSchemaVersion } from '../core/settings.js';
import { cloneDocument, diffDocuments, getPath, isPlainObject } from '../document/tree.js';
import { ConfigPersistenceError, ConflictError, TooLargeError, ValidationError, type ValidationIssue } from '../errors.js';
import { readJournal, settledJournal } from '../history/journal.js';
import { mergeLayersIn, runAsync, validateLayers } from '../api/layers.js';
import { PROFILE_META_KEY, profileLayer, resolveProfileLayers } from '../profiles/chain.js';
import { REDACTED, redactorOf, secretPaths } from '../schema/secrets.js';
import type { Change, MigrateOptions, MigratedFile, Migration, MigrationContext, MigrationReport } from '../types.js';

/**
 * `E_VALIDATION` for a migration that could not be applied: a step threw, or its result is not a
 * document the schema (or the profile format) accepts. Names the file and the step; nothing was
 * written. `issues` holds the schema's findings when there are any.
 */
export class MigrationError extends ValidationError {
  /** The step that failed (for a refused result: the last step, whose output was checked). */
  readonly migration: number;

  constructor(file: string, migration: number, problem: string, issues: ValidationIssue[] = [], cause?: unknown) {
    super(file, issues);
    this.migration = migration;
    const listed = issues.map((i) => `\n  ${i.line !== undefined ? `${file}:${i.line}:${i.column ?? 1}` : file} ${i.path || '(root)'} ${i.message}`).join('');
    this.message = `Migration to version ${migration} failed on ${file}: ${problem}${listed}\nNothing was changed: every file and the directory's version are as they were. Fix the migration (or the file) and open the directory again.`;
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

/** The steps sorted by version, checked: whole numbers >= 1, unique, each with an `up` function. */
export function checkMigrations(list: unknown): Migration[] {
  if (!Array.isArray(list)) throw invalidList('must be a list of { version, up(doc) } steps');
  const seen = new Set<number>();
  for (const [i, step] of list.entries()) {
    const version = (step as Migration | undefined)?.version;
    if (!Number.isSafeInteger(version) || (version as number) < 1) throw invalidList(`step ${i} has version ${JSON.stringify(version)}; versions are whole numbers >= 1`);
    if (typeof (step as Migration).up !== 'function') throw invalidList(`step ${i} (version ${version}) has no up(doc) function`);
    if (seen.has(version as number)) throw invalidList(`version ${version} appears twice`);
    seen.add(version as number);
  }
  return [...(list as Migration[])].sort((a, b) => a.version - b.version);
}

function invalidList(problem: string): ConfigPersistenceError {
  return new ConfigPersistenceError('E_VALIDATION', `The migrations option ${problem}. Give each step a distinct version and an up(doc) function, e.g. { version: 2, up: (doc) => ({ ...doc, port: Number(doc.port) }) }.`);
}

/** The newest version a list of steps brings a directory to (0 for none). */
export function latestVersion(steps: readonly Migration[]): number {
  return steps.reduce((max, s) => Math.max(max, s.version), 0);
}

/** The version recorded in the settings `values` (0 when none). */
export function recordedVersion(values: { schemaVersion?: number }): number {
  return values.schemaVersion ?? 0;
}

/** `E_CONFLICT` for a directory at a version newer than the code knows. */
export function tooNew(ctx: Context, at: number, latest: number): ConflictError {
  const file = ctx.storage.describe(SETTINGS_FILE);
  return new ConflictError(
    `${ctx.storage.location} is at schema version ${at} (${file}), newer than this code's newest migration (${latest}). A newer version of the application wrote it; run that version, or add the missing migrations. Nothing was changed.`,
    file,
  );
}

/** What a run needs to hold: the snapshot lock, every config and profile, and the settings file. */
export async function migrationLockKeys(ctx: Context): Promise<string[]> {
  return [...(await configAndProfileKeys(ctx)), SETTINGS_FILE];
}

/** A document as the chain sees it, and how to put it back. */
interface Subject {
  key: string;
  file: string;
  kind: 'config' | 'profile';
  profile?: string;
  old: OldContent;
  /** The document's data at the start (a profile without its `$profile` block). */
  before: unknown;
  after: unknown;
  /** A profile's `$profile` block as stored, written back unchanged. */
  meta?: unknown;
  hasMeta: boolean;
  next?: { bytes: Uint8Array; text: string; sha256: string };
}

/**
 * Runs `steps` over the directory (the caller holds every lock {@link migrationLockKeys} names,
 * unless this is a dry run). Returns what was done; when the directory is already at the newest
 * version, nothing is read beyond the settings file and nothing is written.
 */
export async function migrate(ctx: Context, steps: readonly Migration[], opts: MigrateOptions = {}): Promise<MigrationReport> {
  const settingsOld = await readForOverwrite(ctx, SETTINGS_FILE);
  const settings = parseSettings(ctx.storage.describe(SETTINGS_FILE), settingsOld?.bytes);
  const from = recordedVersion(settings.values);
  const to = latestVersion(steps);
  const dryRun = opts.dryRun === true;
  if (from > to) throw tooNew(ctx, from, to);
  const pending = steps.filter((s) => s.version > from);
  const report: MigrationReport = { from, to: Math.max(from, to), dryRun, steps: pending.map((s) => ({ version: s.version, ...(s.description !== undefined ? { description: s.description } : {}) })), files: [] };
  if (pending.length === 0) return report;

  await ctx.schema.ready();
  const subjects: Subject[] = [];
  for (const key of await configAndProfileKeys(ctx)) {
    const old = await readForOverwrite(ctx, key);
    if (old) subjects.push(await runChain(subjectOf(ctx, key, old), pending));
  }
  const changed = subjects.filter((s) => !isDeepStrictEqual(s.before, s.after));
  for (const s of changed) encodeSubject(ctx, s, to);
  await validateAll(ctx, subjects, changed, to);

  const redactor = await redactorOf(ctx, opts);
  const changedSet = new Set(changed);
  const hide = redactor.active ? movedSecrets(ctx.schema.document, subjects) : (c: Change[]) => c;
  report.files = subjects.map((s): MigratedFile => ({ key: s.key, file: s.file, kind: s.kind, changed: changedSet.has(s), changes: hide(redactor.changes(diffDocuments(s.before, s.after))) }));
  if (dryRun) return report;

  const settingsNext = withSchemaVersion(ctx, settingsOld, to);
  const files: FileChange[] = [];
  for (const s of changed) {
    files.push({
      key: s.key,
      next: { bytes: s.next!.bytes, sha256: s.next!.sha256 },
      old: s.old,
      journal: await settledJournal(ctx, s.key, await readJournal(ctx, s.key), s.old.sha256),
      operation: 'migrate',
      backup: 'pre-migrate',
    });
  }
  // The recorded version moves in the same commit as the files: a crash leaves both old or both new.
  files.push({ key: SETTINGS_FILE, next: { bytes: settingsNext, sha256: sha256(settingsNext) }, old: settingsOld, operation: 'migrate' });
  const done = await commitChangeset(ctx, {
    files,
    changedBy: opts.changedBy ?? 'system',
    reason: `migrate to ${to}`,
    now: new Date(),
    audit: () => ({ op: 'migrate', file: '*', details: { from, to, steps: pending.map((s) => s.version), written: changed.map((s) => s.key) } }),
  });
  Object.assign(ctx as { settings: Context['settings'] }, { settings: parseSettings(settings.file, settingsNext) });
  const entries = new Map(report.files.map((f) => [f.key, f]));
  for (const planned of done.files) {
    const entry = entries.get(planned.key);
    if (!entry) continue; // the settings file
    if (planned.version !== undefined) entry.version = planned.version;
    if (planned.backup) entry.backup = planned.backup;
  }
  return report;
}

function subjectOf(ctx: Context, key: string, old: OldContent): Subject {
  const file = ctx.storage.describe(key);
  const doc = ctx.codecs.parse(file, ctx.codecs.text(file, old.bytes));
  if (!key.startsWith(`${PROFILES_DIR}/`)) return { key, file, kind: 'config', old, before: doc, after: doc, hasMeta: false };
  const profile = key.slice(PROFILES_DIR.length + 1).replace(/\.[^.]+$/, '');
  const { body, meta, hasMeta } = splitProfile(file, doc, { line: 1, column: 1 });
  return { key, file, kind: 'profile', profile, old, before: body, after: body, meta, hasMeta };
}

/** A profile document without its `$profile` block (what a step sees), and that block. */
function splitProfile(file: string, doc: unknown, at: { line?: number; column?: number } = {}): { body: Record<string, unknown>; meta: unknown; hasMeta: boolean } {
  const raw = doc === null || doc === undefined ? {} : doc;
  if (!isPlainObject(raw)) throw new ValidationError(file, [{ path: '', message: 'a profile must be a mapping of settings', ...at }]);
  const body: Record<string, unknown> = {};
  for (const k of Object.keys(raw)) if (k !== PROFILE_META_KEY) body[k] = raw[k];
  return { body, meta: raw[PROFILE_META_KEY], hasMeta: Object.hasOwn(raw, PROFILE_META_KEY) };
}

/** The stored form of a migrated subject: a profile's `$profile` block put back first, as it was. */
function storedForm(s: Pick<Subject, 'kind' | 'hasMeta' | 'meta'>, after: unknown): unknown {
  return s.kind === 'profile' && s.hasMeta ? { [PROFILE_META_KEY]: s.meta, ...(after as Record<string, unknown>) } : after;
}

/** Runs every pending step over a copy of the subject's document, in version order. */
async function runChain(s: Subject, pending: readonly Migration[]): Promise<Subject> {
  return { ...s, after: await runSteps(s, s.before, pending) };
}

/** What a step is told about the document it migrates (MigrationContext without the versions). */
type Target = Pick<MigrationContext, 'key' | 'file' | 'kind' | 'profile'>;

/** `doc` (a profile without its `$profile` block) through `pending`, in version order. */
async function runSteps(t: Target, start: unknown, pending: readonly Migration[]): Promise<unknown> {
  let doc = start;
  let at = pending[0]!.version - 1;
  for (const step of pending) {
    const mctx: MigrationContext = { key: t.key, file: t.file, kind: t.kind, ...(t.profile !== undefined ? { profile: t.profile } : {}), from: at, to: step.version };
    const copy = cloneDocument(doc);
    let result: unknown;
    try {
      result = await step.up(copy, mctx);
    } catch (err) {
      throw new MigrationError(t.file, step.version, `up() threw: ${err instanceof Error ? err.message : String(err)}`, [], err);
    }
    doc = result === undefined ? copy : result;
    if (t.kind === 'profile') {
      if (!isPlainObject(doc)) throw new MigrationError(t.file, step.version, `up() returned ${Array.isArray(doc) ? 'a list' : typeof doc}; a profile must stay a mapping of settings`);
      if (Object.hasOwn(doc, PROFILE_META_KEY)) throw new MigrationError(t.file, step.version, `up() returned a "${PROFILE_META_KEY}" key; profile metadata is not part of the document a migration sees`);
    }
    at = step.version;
  }
  return doc;
}

/**
 * One document stored at schema version `from` (a bundle item exported from an older directory)
 * brought to `to` by `steps`, exactly as a directory run would bring a file: a profile's
 * `$profile` block is kept out of what the steps see and put back. `E_CONFLICT` when `steps` lack
 * a version between the two (the caller must be given the chain that built the directory);
 * `MigrationError` when a step throws.
 */
export async function migrateStored(steps: readonly Migration[], t: Target, data: unknown, from: number, to: number): Promise<unknown> {
  const pending = steps.filter((s) => s.version > from && s.version <= to);
  const missing: number[] = [];
  for (let v = from + 1; v <= to; v++) if (!pending.some((s) => s.version === v)) missing.push(v);
  if (missing.length > 0) {
    throw new ConflictError(
      `${t.file} is at schema version ${from} and must be brought to ${to}, but ${steps.length === 0 ? 'no migrations were given' : `the migrations given have no step ${missing.join(', ')}`}. Give the store the migrations that built this directory (the \`migrations\` option; CLI: --migrations <module>); nothing was changed.`,
      t.file,
    );
  }
  if (pending.length === 0) return data;
  if (t.kind !== 'profile') return runSteps(t, data, pending);
  const { body, meta, hasMeta } = splitProfile(t.file, data);
  return storedForm({ kind: 'profile', meta, hasMeta }, await runSteps(t, body, pending));
}

/** The new bytes of a changed subject, in its file's layout (YAML comments and JSON indentation kept). */
function encodeSubject(ctx: Context, s: Subject, to: number): void {
  const stored = storedForm(s, s.after);
  let bytes: Uint8Array;
  try {
    bytes = ctx.codecs.encode(s.key, stored, s.old.text);
  } catch (err) {
    throw new MigrationError(s.file, to, `its result cannot be written as ${s.key.slice(s.key.lastIndexOf('.') + 1)}: ${err instanceof Error ? err.message : String(err)}`, [], err);
  }
  if (bytes.byteLength > ctx.options.maxFileBytes) {
    throw new TooLargeError(`Migration to version ${to} would make ${s.file} ${bytes.byteLength} bytes, over maxFileBytes (${ctx.options.maxFileBytes}); nothing was changed.`, s.file);
  }
  s.next = { bytes, text: Buffer.from(bytes).toString('utf8'), sha256: sha256(bytes) };
}

/**
 * Validates what the chain changed as `verify` would see it afterwards: each changed root config
 * on its own, and every profile whose resolved form (`default.*` ← chain ← profile) includes a
 * changed file, resolved over the migrated documents.
 */
async function validateAll(ctx: Context, subjects: readonly Subject[], changed: readonly Subject[], to: number): Promise<void> {
  if (!ctx.schema.isReady || ctx.schema.document === undefined || changed.length === 0) return;
  const refused = (s: Subject, err: unknown): unknown =>
    err instanceof ValidationError && !(err instanceof MigrationError) ? new MigrationError(err.file ?? s.file, to, 'its result does not match the schema', err.issues, err) : err;
  for (const s of changed) {
    if (s.kind !== 'config') continue;
    try {
      validateDocument(ctx, s.key, s.after, s.next!.text);
    } catch (err) {
      throw refused(s, err);
    }
  }
  const byKey = new Map(subjects.map((s) => [s.key, s]));
  const changedKeys = new Set(changed.map((s) => s.key));
  // Reads answered with the migrated documents: each chain is resolved as it will be stored.
  const read = async (_ctx: Context, key: string): Promise<StoredDocument | undefined> => {
    const s = byKey.get(key);
    if (!s) return undefined;
    const data = storedForm(s, s.after);
    return { key, bytes: s.next?.bytes ?? s.old.bytes, text: s.next?.text ?? s.old.text, data, sha256: s.next?.sha256 ?? s.old.sha256 };
  };
  for (const s of subjects) {
    if (s.kind !== 'profile') continue;
    let resolved;
    try {
      resolved = await runAsync(ctx, resolveProfileLayers(ctx, s.profile!), read);
    } catch {
      continue; // a broken chain (missing parent, cycle) is verify's to report, not the migration's
    }
    const layers = [resolved.base, ...resolved.chain.map(profileLayer)];
    if (!layers.some((l) => l.key !== undefined && changedKeys.has(l.key))) continue;
    try {
      validateLayers(ctx, mergeLayersIn(ctx, layers), layers, { target: s.file });
    } catch (err) {
      throw refused(s, err);
    }
  }
}

/**
 * Hides the values the migrated documents keep at secret paths wherever else they appear in the
 * changes: the old layout's field (`dbPassword`) is not secret by the new schema, but its value
 * is the password `db.password` now holds.
 */
function movedSecrets(schema: unknown, subjects: readonly Subject[]): (changes: Change[]) => Change[] {
  const values = new Set<unknown>();
  for (const { after: doc } of subjects) {
    for (const p of secretPaths(doc, schema)) {
      const v = getPath(doc, p.split('.'));
      if ((typeof v === 'string' && v !== '' && v !== REDACTED) || typeof v === 'number') values.add(v);
    }
  }
  if (values.size === 0) return (c) => c;
  const scrub = (v: unknown): unknown => {
    if (values.has(v)) return REDACTED;
    if (Array.isArray(v)) return v.map(scrub);
    if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrub(x)]));
    return v;
  };
  return (changes) => changes.map((c) => ({ ...c, ...('oldValue' in c ? { oldValue: scrub(c.oldValue) } : {}), ...('newValue' in c ? { newValue: scrub(c.newValue) } : {}) }));
}

