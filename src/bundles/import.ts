/**
 * Importing a bundle all-or-nothing, in this order — nothing is written until every step has passed:
 * 1. the bundle is read and checked (format.ts);
 * 2. a plan: each item is created, renamed (`name-2`, `name-3`...), overwritten or skipped
 *    (`onConflict`; content identical to what is there is always skipped); a renamed profile's
 *    new name is followed by the bundle's own `extends` links to it;
 * 3. validation of the state after the import: configs against the schema, profiles in their
 *    resolved form (parents from the bundle or the directory), and, when the plan overwrites,
 *    no existing profile that was valid may become invalid (an overwritten parent);
 * 4. a `pre-import` snapshot of what the import writes (when the caller provides one);
 * 5. one changeset (changeset/changeset.ts) with every new file, the automatic backup of each
 *    overwritten file, the history lines and the audit line.
 *
 * A dry run stops after step 3 and returns the plan.
 */
import { sha256, type Context } from '../core/context.js';
import { deepEqual, isPlainObject } from '../document/tree.js';
import { commitChangeset, type FileChange } from '../changeset/changeset.js';
import { readCurrent, readDocument, readForOverwrite, validateDocument, type StoredDocument } from '../changeset/documents.js';
import { ConfigPersistenceError, ConflictError, TooLargeError, ValidationError } from '../errors.js';
import { findExisting, PROFILES_DIR } from '../core/keys.js';
import { mergeLayersIn, runAsync, validateLayers } from '../api/layers.js';
import { PROFILE_META_KEY, profileLayer, resolveProfileLayers } from '../profiles/chain.js';
import { configAndProfileKeys } from '../backups/snapshots.js';
import type { BackupInfo, BundleItem, ImportedItem, ImportOptions, ImportReport, Migration } from '../types.js';
import type { PutOp } from '../storage/types.js';
import { migrateStored, recordedVersion } from '../migrations/migrate.js';
import { REDACTED } from '../schema/secrets.js';
import { restoreSecrets } from './secrets.js';
import { baseName, canonicalJson, checkItemName, dirOf, keyOf, stripExtension, type CheckedBundle } from './format.js';

/** One file an import writes. */
interface PlannedWrite {
  item: BundleItem;
  key: string;
  name: string;
  action: 'create' | 'rename' | 'overwrite';
  /** What is written: the item's data, with `extends` links to renamed bundle profiles following them. */
  data: unknown;
  bytes: Uint8Array;
  sha256: string;
  text: string;
}

/** What an import will do. */
export interface ImportPlan {
  writes: PlannedWrite[];
  report: ImportReport;
}

/**
 * Plans an import and validates the state it would leave (steps 2–3 of the module comment;
 * `validate: false` only plans, to learn which keys to lock). Writes nothing; the caller holds the locks when it goes on to {@link commitImport}.
 */
export async function planImport(ctx: Context, checked: CheckedBundle, opts: ImportOptions, validate = true): Promise<ImportPlan> {
  const onConflict = opts.onConflict ?? 'skip';
  if (!['skip', 'rename', 'overwrite'].includes(onConflict)) {
    throw new ConfigPersistenceError('E_VALIDATION', `onConflict must be "skip", "rename" or "overwrite", not ${JSON.stringify(onConflict)}.`);
  }
  const report: ImportReport = { dryRun: Boolean(opts.dryRun), created: [], renamed: [], overwritten: [], skipped: [], ...(checked.migrated ? { migrated: checked.migrated } : {}) };
  const writes: PlannedWrite[] = [];
  const decided: Array<{ item: BundleItem; data: unknown; key: string; name: string; action: PlannedWrite['action']; previousText: string | undefined }> = [];
  const labelOf = (item: BundleItem): string => `${checked.label} (${item.kind} "${item.name}")`;
  const claimed = new Set<string>(); // `kind\0name` of every name this import takes
  const conflicts: Array<{ item: BundleItem; existing: string }> = [];
  for (const item of checked.bundle.items) {
    const existing = await findExisting(ctx, dirOf(item.kind), item.name);
    if (existing) conflicts.push({ item, existing });
    else {
      claimed.add(`${item.kind}\u0000${item.name}`);
      const data = restoreSecrets(item, { label: labelOf(item) });
      decided.push({ item, data, key: keyOf(item.kind, item.name, item.format), name: item.name, action: 'create', previousText: undefined });
    }
  }
  for (const { item, existing } of conflicts) {
    const old = await readForOverwrite(ctx, existing);
    const entry: ImportedItem = { kind: item.kind, name: item.name, file: existing };
    const existingData = old ? parsedOrUndefined(ctx, existing, old.text) : undefined;
    const data = importedData(item, labelOf(item), onConflict, existingData);
    if (existingData !== undefined && deepEqual(existingData, data)) {
      report.skipped.push({ ...entry, reason: 'identical' });
      continue;
    }
    if (onConflict === 'skip') report.skipped.push({ ...entry, reason: 'exists' });
    else if (onConflict === 'overwrite') decided.push({ item, data, key: existing, name: item.name, action: 'overwrite', previousText: old?.text });
    else {
      const name = await freeName(ctx, item, claimed);
      claimed.add(`${item.kind}\u0000${name}`);
      decided.push({ item, data, key: keyOf(item.kind, name, item.format), name, action: 'rename', previousText: undefined });
    }
  }
  const renamed = new Map(decided.filter((d) => d.action === 'rename' && d.item.kind === 'profile').map((d) => [d.item.name, d.name]));
  for (const d of decided) writes.push(encodeWrite(ctx, d, renamed));
  if (validate) await validatePlan(ctx, checked.label, writes);
  const order = new Map(checked.bundle.items.map((item, i) => [item, i]));
  writes.sort((a, b) => order.get(a.item)! - order.get(b.item)!);
  for (const w of writes) {
    const entry: ImportedItem = { kind: w.item.kind, name: w.name, file: w.key };
    if (w.action === 'create') report.created.push(entry);
    else if (w.action === 'overwrite') report.overwritten.push(entry);
    else report.renamed.push({ ...entry, originalName: w.item.name });
  }
  return { writes, report };
}

/**
 * The bundle with its items at the directory's schema version. Items exported from a directory at
 * an older version are brought forward by `steps` (the store's `migrations`), as that directory's
 * own files would have been, before anything is planned or validated; secrets exported as "***"
 * stay placeholders wherever the steps moved them. A bundle from a newer directory is refused
 * (`E_CONFLICT`): this code does not know its layout.
 */
export async function alignSchema(ctx: Context, checked: CheckedBundle, steps: readonly Migration[]): Promise<CheckedBundle> {
  const from = checked.bundle.schemaVersion ?? 0;
  const to = recordedVersion(ctx.settings.values);
  if (from === to) return checked;
  if (from > to) {
    throw new ConflictError(
      `${checked.label} was exported from a directory at schema version ${from}; ${ctx.storage.location} is at ${to}. Open this directory with the migrations up to ${from} first (they bring it there), or import into a directory at version ${from}. Nothing was imported.`,
      checked.label,
    );
  }
  const items: BundleItem[] = [];
  for (const item of checked.bundle.items) {
    const target = { key: keyOf(item.kind, item.name, item.format), file: `${checked.label} (${item.kind} "${item.name}")`, kind: item.kind, ...(item.kind === 'profile' ? { profile: item.name } : {}) };
    const data = await migrateStored(steps, target, item.data, from, to);
    const { redacted: _was, ...rest } = item;
    const redacted = item.redacted ? placeholderPaths(data) : [];
    items.push({ ...rest, data, sha256: sha256(canonicalJson(data)), ...(redacted.length > 0 ? { redacted } : {}) });
  }
  return { ...checked, bundle: { ...checked.bundle, items }, migrated: { from, to } };
}

/** Dot paths of every "***" placeholder in `data` (where an export's redacted secrets are after migrating). */
function placeholderPaths(data: unknown, prefix: string[] = [], out: string[] = []): string[] {
  if (data === REDACTED) out.push(prefix.join('.'));
  else if (Array.isArray(data)) data.forEach((v, i) => placeholderPaths(v, [...prefix, String(i)], out));
  else if (isPlainObject(data)) for (const [k, v] of Object.entries(data)) placeholderPaths(v, [...prefix, k], out);
  return out;
}

/** `name-2`, `name-3`...: the first that neither exists nor is taken by this import. */
async function freeName(ctx: Context, item: BundleItem, claimed: ReadonlySet<string>): Promise<string> {
  for (let n = 2; ; n++) {
    const candidate = `${item.name}-${n}`;
    checkItemName(ctx, item.kind, candidate, `renaming ${item.kind} "${item.name}"`);
    if (claimed.has(`${item.kind}\u0000${candidate}`)) continue;
    if (!(await findExisting(ctx, dirOf(item.kind), candidate))) return candidate;
  }
}

/**
 * An item's data as an import of it writes it: redacted secrets (an export without
 * `includeSecrets`) taken from the file it overwrites — a renamed item is a new file, so it has
 * none to keep. A skipped item is never written, so its secrets need no value.
 */
function importedData(item: BundleItem, label: string, onConflict: string, existing: unknown): unknown {
  try {
    return restoreSecrets(item, { label, ...(onConflict !== 'rename' && existing !== undefined ? { existing } : {}) });
  } catch (err) {
    if (onConflict === 'skip' && err instanceof ValidationError) return item.data;
    throw err;
  }
}

function encodeWrite(
  ctx: Context,
  d: { item: BundleItem; data: unknown; key: string; name: string; action: PlannedWrite['action']; previousText: string | undefined },
  renamed: ReadonlyMap<string, string>,
): PlannedWrite {
  const { item, key, name, action, previousText } = d;
  const data = item.kind === 'profile' ? followRenames(d.data, renamed) : d.data;
  const bytes = ctx.codecs.encode(key, data, previousText);
  if (bytes.byteLength > ctx.options.maxFileBytes) {
    const display = ctx.storage.describe(key);
    throw new TooLargeError(`${display} would be ${bytes.byteLength} bytes, over maxFileBytes (${ctx.options.maxFileBytes}); nothing was imported.`, display);
  }
  return { item, key, name, action, data, bytes, sha256: sha256(bytes), text: Buffer.from(bytes).toString('utf8') };
}

/**
 * A profile's data with its `extends` links to bundle profiles imported under another name
 * pointing at that name: the bundle's `staging` extends the bundle's `production`, so when that
 * arrives as `production-2`, `staging` must extend `production-2`, not the local `production`.
 */
function followRenames(data: unknown, renamed: ReadonlyMap<string, string>): unknown {
  if (renamed.size === 0 || !isPlainObject(data)) return data;
  const meta = data[PROFILE_META_KEY];
  if (!isPlainObject(meta) || meta.extends === undefined) return data;
  const follow = (parent: unknown): unknown => (typeof parent === 'string' ? (renamed.get(parent) ?? parent) : parent);
  const parents = Array.isArray(meta.extends) ? meta.extends.map(follow) : follow(meta.extends);
  if (deepEqual(parents, meta.extends)) return data;
  return { ...data, [PROFILE_META_KEY]: { ...meta, extends: parents } };
}

function parsedOrUndefined(ctx: Context, key: string, text: string): unknown {
  try {
    return ctx.codecs.parse(ctx.storage.describe(key), text);
  } catch (err) {
    if (err instanceof ConfigPersistenceError) return undefined; // an unparsable file has no content to compare or keep
    throw err;
  }
}

/**
 * Validates the directory as the import would leave it: every written config against the schema,
 * every written profile resolved (parents from the bundle or the directory), and every other
 * profile that is valid now must stay valid.
 */
async function validatePlan(ctx: Context, label: string, writes: readonly PlannedWrite[]): Promise<void> {
  await ctx.schema.ready();
  const planned = new Map<string, StoredDocument>();
  for (const w of writes) planned.set(stripExtension(w.key), { key: w.key, bytes: w.bytes, text: w.text, data: w.data, sha256: w.sha256 });
  const after = (c: Context, key: string): Promise<StoredDocument | undefined> => {
    const doc = planned.get(stripExtension(key));
    return doc ? Promise.resolve(doc) : readDocument(c, key);
  };
  for (const w of writes) {
    const target = `${label} (${w.item.kind} "${w.item.name}"${w.name !== w.item.name ? ` as "${w.name}"` : ''})`;
    try {
      if (w.item.kind === 'config') validateDocument(ctx, w.key, w.data);
      else await validateProfile(ctx, w.name, after, target);
    } catch (err) {
      if (err instanceof ValidationError && err.file !== target) throw new ValidationError(target, err.issues);
      throw err;
    }
  }
  if (!touchesOthers(writes)) return;
  const written = new Set(writes.map((w) => w.key));
  for (const key of await configAndProfileKeys(ctx)) {
    if (!key.startsWith(`${PROFILES_DIR}/`) || written.has(key)) continue;
    const name = baseName(key);
    if ((await findExisting(ctx, PROFILES_DIR, name)) !== key) continue;
    const target = `${ctx.storage.describe(key)} (after importing ${label})`;
    try {
      await validateProfile(ctx, name, after, target);
    } catch (err) {
      if (!(err instanceof ConfigPersistenceError)) throw err;
      if (!(await validNow(ctx, name))) continue; // already broken: not this import's doing (verify reports it)
      const message = `Importing ${label} would break profile "${name}": ${err.message} Nothing was imported.`;
      if (!(err instanceof ValidationError)) throw new ConfigPersistenceError(err.code, message, { file: ctx.storage.describe(key), cause: err });
      const broken = new ValidationError(ctx.storage.describe(key), err.issues);
      broken.message = message;
      throw broken;
    }
  }
}

/**
 * Whether a plan can change how other files resolve: only an overwrite can. A created or renamed
 * name did not exist, so no profile that is valid now extends it; skipping the check keeps an
 * import of one new profile next to 10,000 as cheap as into an empty directory.
 */
export function touchesOthers(writes: readonly PlannedWrite[]): boolean {
  return writes.some((w) => w.action === 'overwrite');
}

async function validateProfile(ctx: Context, name: string, read: (ctx: Context, key: string) => Promise<StoredDocument | undefined>, target: string): Promise<void> {
  const { base, chain } = await runAsync(ctx, resolveProfileLayers(ctx, name), read);
  const layers = [base, ...chain.map(profileLayer)];
  validateLayers(ctx, mergeLayersIn(ctx, layers), layers, { target });
}

async function validNow(ctx: Context, name: string): Promise<boolean> {
  try {
    await validateProfile(ctx, name, readDocument, name);
    return true;
  } catch (err) {
    if (err instanceof ConfigPersistenceError) return false;
    throw err;
  }
}

/** Hooks the class provides to an import. */
export interface ImportHooks {
  /**
   * Plans the `pre-import` snapshot (the caller holds every lock): its operations go into the
   * import's own commit, so a failed import leaves no snapshot behind (and retention drops none).
   */
  snapshot?: () => Promise<{ ops: PutOp[]; info: BackupInfo }>;
}

/**
 * Writes a plan (the caller holds the locks of every config and profile and of every key the plan
 * writes, and re-planned under them): the pre-import snapshot, then ONE commit with every file,
 * backup, history line and the audit line.
 */
export async function commitImport(ctx: Context, checked: CheckedBundle, plan: ImportPlan, opts: ImportOptions, hooks: ImportHooks = {}): Promise<ImportReport> {
  const report = plan.report;
  if (plan.writes.length === 0) return report;
  const safety = hooks.snapshot ? await hooks.snapshot() : undefined;
  const files: FileChange[] = [];
  for (const w of plan.writes) {
    const [old, journal] = await readCurrent(ctx, w.key);
    files.push({ key: w.key, next: { bytes: w.bytes, sha256: w.sha256 }, old, journal, operation: 'import', ...(old && ctx.options.backupOnWrite ? { backup: 'overwrite' } : {}) });
  }
  const done = await commitChangeset(ctx, {
    files,
    changedBy: opts.changedBy ?? 'user',
    reason: opts.reason ?? `import of ${checked.label}`,
    now: new Date(),
    ...(safety ? { prepare: safety.ops, taken: [safety.info] } : {}),
    audit: () => ({
      op: 'import',
      file: '*',
      details: {
        bundle: checked.bundle.checksum,
        created: report.created.map((e) => e.file),
        renamed: report.renamed.map((e) => e.file),
        overwritten: report.overwritten.map((e) => e.file),
        skipped: report.skipped.map((e) => e.file),
        ...(safety ? { snapshot: safety.info.id } : {}),
      },
    }),
  });
  if (safety) report.snapshot = safety.info.id;
  for (const file of done.files) {
    const entry = file.backup && report.overwritten.find((e) => e.file === file.key);
    if (entry) entry.backup = file.backup!.id;
  }
  return report;
}
