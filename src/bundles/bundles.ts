/**
 * Bundles: configs and profiles exported as one JSON document, to move them between machines or
 * keep them with a release, and imported back all-or-nothing.
 *
 * The envelope (`format`, `version`, `tool`, `exportedAt`, `itemCount`, `items`, `checksum`) and
 * every item (`kind`, `name`, `format`, `data`, `sha256`) carry checksums over a canonical JSON
 * serialisation (keys sorted, no whitespace), so a bundle re-indented by an editor still verifies
 * while any change to a value, a name or the envelope does not.
 *
 * Import, in this order — nothing is written until every step has passed:
 * 1. the envelope and every checksum (`E_CHECKSUM`), then every item's kind, name and format
 *    (`E_INVALID_NAME` for names that could leave the directory or are not plain names);
 * 2. a plan: each item is created, renamed (`name-2`, `name-3`...), overwritten or skipped
 *    (`onConflict`; content identical to what is there is always skipped);
 * 3. validation of the state after the import: configs against the schema, profiles in their
 *    resolved form (parents from the bundle or the directory), and no existing profile that was
 *    valid may become invalid (an overwritten parent);
 * 4. a `pre-import` snapshot of every config and profile (when the caller provides one);
 * 5. ONE storage commit with every new file, the automatic backup of each overwritten file, the
 *    history lines and the audit line: the storage applies a multi-key commit all-or-nothing and
 *    rolls it forward after a crash.
 *
 * A dry run stops after step 3 and returns the plan.
 */
import { packageVersion } from '../core/lazy-deps.js';
import path from 'node:path';

import { extensionOf, jsonCodec } from '../codecs/index.js';
import { CodecSyntaxError } from '../codecs/shared.js';
import { sha256, type Context } from '../core/context.js';
import { assertDepth, cloneDocument, deepEqual, isPlainObject } from '../document/tree.js';
import { commitChangeset, type FileChange } from '../changeset/changeset.js';
import { readDocument, readForOverwrite, validateDocument, type StoredDocument } from '../changeset/documents.js';
import { ChecksumError, ConfigPersistenceError, InvalidNameError, NotFoundError, ParseError, TooLargeError, ValidationError } from '../errors.js';
import { configKey, findExisting, PROFILES_DIR, profileKey } from '../core/keys.js';
import { readJournal } from '../history/journal.js';
import { mergeLayers, runAsync, validateLayers } from '../api/layers.js';
import { assertFileName } from '../core/names.js';
import { assertProfile, PROFILE_META_KEY, profileLayer, resolveProfileLayers } from '../profiles/profiles.js';
import { configAndProfileKeys } from '../backups/snapshots.js';
import { readUserFile, writeUserFile } from '../storage/local/files.js';
import type { 
  BackupInfo,
  Bundle,
  BundleItem,
  BundleSelection,
  BundleWriteResult,
  ImportedItem,
  ImportOptions,
  ImportReport } from '../types.js';

/** `format` of a bundle. */
export const BUNDLE_FORMAT = 'config-persistence-bundle';
/** Layout version written by this release; newer bundles are refused with a clear message. */
export const BUNDLE_VERSION = 1;

/** A bundle read and checked by {@link readBundle}, with a name for messages. */
export interface CheckedBundle {
  bundle: Bundle;
  /** `path/to/bundle.json`, or `the bundle` for an object. */
  label: string;
}

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

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

/** Builds a bundle of the selected configs and profiles (all of them by default). */
export async function exportBundle(ctx: Context, selection: BundleSelection = {}): Promise<Bundle> {
  const keys = await selectKeys(ctx, selection);
  const items: BundleItem[] = [];
  for (const key of keys) {
    const doc = await readDocument(ctx, key);
    if (!doc) throw new NotFoundError(`${ctx.storage.describe(key)} disappeared while exporting; run the export again.`, ctx.storage.describe(key));
    const kind = key.startsWith(`${PROFILES_DIR}/`) ? 'profile' : 'config';
    items.push({ kind, name: baseName(key), format: extensionOf(key), data: doc.data, sha256: sha256(canonicalJson(doc.data)) });
  }
  const body = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    tool: { name: 'config-persistence', version: toolVersion() },
    exportedAt: new Date().toISOString(),
    itemCount: items.length,
    items,
  } as const;
  return { ...body, checksum: sha256(canonicalJson(body)) };
}

/**
 * Exports to one JSON file at `target` (relative to the working directory; inside or outside the
 * base directory), written atomically and durably with mode 0600 (configs hold secrets).
 */
export async function writeBundle(ctx: Context, target: string, selection: BundleSelection = {}): Promise<BundleWriteResult> {
  const bundle = await exportBundle(ctx, selection);
  const file = path.resolve(target);
  const data = Buffer.from(`${JSON.stringify(bundle, null, 2)}\n`);
  await writeUserFile(file, data, { what: 'the bundle', durable: ctx.options.durable, mode: 0o600 });
  return { path: file, itemCount: bundle.itemCount, checksum: bundle.checksum, size: data.byteLength };
}

/**
 * The keys a selection names. Omitting both lists means everything; giving one limits the export
 * to that kind. A file shadowed by another of the same name in a preferred format (`current.json`
 * beside `current.yaml`) is never exported: the library does not read it either.
 */
async function selectKeys(ctx: Context, selection: BundleSelection): Promise<string[]> {
  const everything = selection.configs === undefined && selection.profiles === undefined;
  const all = await configAndProfileKeys(ctx);
  const visible: string[] = [];
  for (const key of all) {
    const dir = key.startsWith(`${PROFILES_DIR}/`) ? PROFILES_DIR : '';
    if ((await findExisting(ctx, dir, baseName(key))) === key) visible.push(key);
  }
  const pick = async (wanted: BundleSelection['configs'], kind: 'config' | 'profile'): Promise<string[]> => {
    const ofKind = visible.filter((k) => k.startsWith(`${PROFILES_DIR}/`) === (kind === 'profile'));
    if (wanted === true || (wanted === undefined && everything)) return ofKind;
    if (!wanted) return [];
    const keys: string[] = [];
    for (const name of wanted) {
      const key = kind === 'profile' ? await profileKey(ctx, name) : await configKey(ctx, name);
      if (!visible.includes(key)) {
        const display = ctx.storage.describe(key);
        throw new NotFoundError(`Cannot export ${kind} "${name}": ${display} does not exist. Check the name (config-persistence status).`, display);
      }
      if (!keys.includes(key)) keys.push(key);
    }
    return keys;
  };
  return [...(await pick(selection.configs, 'config')), ...(await pick(selection.profiles, 'profile'))];
}

// ---------------------------------------------------------------------------------------------
// Import
// ---------------------------------------------------------------------------------------------

/**
 * Reads (from a path) or takes (a copy of) a bundle and checks it completely: envelope, every
 * checksum, every kind, name and format. Throws `E_PARSE`, `E_CHECKSUM`, `E_INVALID_NAME` or
 * `E_TOO_LARGE` before anything else happens.
 */
export async function readBundle(ctx: Context, source: Bundle | string): Promise<CheckedBundle> {
  if (typeof source === 'string') {
    const file = path.resolve(source);
    const raw = parseBundleText(file, await readBundleFile(ctx, file));
    return { bundle: checkBundle(ctx, raw, source), label: source };
  }
  const label = 'the bundle';
  assertDepth(source, label);
  return { bundle: checkBundle(ctx, cloneDocument(source), label), label };
}

function readBundleFile(ctx: Context, file: string): Promise<string> {
  // A bundle holds many files: allow it 16× the per-file limit.
  return readUserFile(file, { what: 'a bundle (16× maxFileBytes)', maxBytes: ctx.options.maxFileBytes * 16, missingHint: 'check the path of the bundle' });
}

function parseBundleText(file: string, text: string): unknown {
  let raw: unknown;
  try {
    raw = jsonCodec.parse(text);
  } catch (err) {
    if (err instanceof CodecSyntaxError) throw new ParseError(file, `the bundle is not valid JSON (${err.message})`, err.position, err);
    throw new ParseError(file, `the bundle is not valid JSON (${(err as Error).message})`, undefined, err);
  }
  assertDepth(raw, file);
  return raw;
}

function checkBundle(ctx: Context, raw: unknown, label: string): Bundle {
  const notBundle = (why: string): never => {
    throw new ParseError(label, `it is not a config-persistence bundle (${why}); export one with writeBundle or \`config-persistence export\``);
  };
  if (!isPlainObject(raw)) return notBundle('not a JSON object');
  if (raw.format !== BUNDLE_FORMAT) return notBundle(`format is ${JSON.stringify(raw.format)}, expected "${BUNDLE_FORMAT}"`);
  if (typeof raw.version !== 'number' || !Number.isInteger(raw.version)) return notBundle('version is missing');
  if (raw.version > BUNDLE_VERSION) {
    throw new ParseError(label, `the bundle has layout version ${raw.version}, made by a newer config-persistence; this one reads up to ${BUNDLE_VERSION}. Upgrade to import it`);
  }
  if (!Array.isArray(raw.items)) return notBundle('items is not a list');
  if (typeof raw.checksum !== 'string') return notBundle('checksum is missing');
  // 1. The whole envelope: any change to any field (a value, a name, the count, the date) shows here.
  const { checksum, ...body } = raw;
  if (sha256(canonicalJson(body)) !== checksum) {
    throw new ChecksumError(`${label}: the bundle's checksum does not match its content; it was changed or damaged after export. Nothing was imported; export it again.`, label);
  }
  if (raw.itemCount !== raw.items.length) {
    throw new ChecksumError(`${label}: the bundle says it holds ${String(raw.itemCount)} items but has ${raw.items.length}. Nothing was imported; export it again.`, label);
  }
  // 2. Every item's own checksum.
  raw.items.forEach((item: unknown, i: number) => {
    if (!isPlainObject(item) || !('data' in item) || typeof item.sha256 !== 'string') return notBundle(`item ${i + 1} is not a bundle item`);
    if (sha256(canonicalJson(item.data)) !== item.sha256) {
      throw new ChecksumError(`${label}: item ${i + 1} (${String(item.kind)} ${JSON.stringify(item.name)}) does not match its checksum; it was changed after export. Nothing was imported.`, label);
    }
    return undefined;
  });
  // 3. Kinds, names and formats: these become file names.
  const seen = new Set<string>();
  const items = (raw.items as Array<Record<string, unknown>>).map((item, i): BundleItem => {
    const where = `${label}: item ${i + 1}`;
    if (item.kind !== 'config' && item.kind !== 'profile') return notBundle(`item ${i + 1} has kind ${JSON.stringify(item.kind)}, expected "config" or "profile"`);
    const format = checkFormat(ctx, item.format, where);
    const name = checkItemName(ctx, item.kind, item.name, where);
    const id = `${item.kind}\u0000${name}`;
    if (seen.has(id)) throw new InvalidNameError(`${where}: ${item.kind} "${name}" appears twice in the bundle; nothing was imported.`);
    seen.add(id);
    if (item.kind === 'profile' && !isPlainObject(item.data)) {
      throw new ValidationError(`${label} (profile "${name}")`, [{ path: '', message: 'a profile must be a mapping of settings' }]);
    }
    return { kind: item.kind, name, format, data: item.data, sha256: item.sha256 as string };
  });
  return { ...(raw as unknown as Bundle), items };
}

function checkFormat(ctx: Context, format: unknown, where: string): string {
  if (typeof format !== 'string' || !/^[a-z0-9]{1,16}$/.test(format) || !ctx.codecs.knows(format)) {
    throw new InvalidNameError(`${where} has format ${JSON.stringify(format)}, which is not a known file format (json, yaml, yml, or a registered codec); nothing was imported.`);
  }
  return format;
}

function checkItemName(ctx: Context, kind: 'config' | 'profile', name: unknown, where: string): string {
  try {
    if (kind === 'profile') return assertProfile(name, (ext) => ctx.codecs.knows(ext));
    const safe = assertFileName(name);
    if (ctx.codecs.knows(extensionOf(safe))) throw new InvalidNameError(`Config name "${safe}" must not include a file extension (the item's format is its extension).`);
    return safe;
  } catch (err) {
    if (err instanceof InvalidNameError) throw new InvalidNameError(`${where}: ${err.message} Nothing was imported.`);
    throw err;
  }
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
  const report: ImportReport = { dryRun: Boolean(opts.dryRun), created: [], renamed: [], overwritten: [], skipped: [] };
  const writes: PlannedWrite[] = [];
  const decided: Array<{ item: BundleItem; key: string; name: string; action: PlannedWrite['action']; previousText: string | undefined }> = [];
  const claimed = new Set<string>(); // `kind\0name` of every name this import takes
  const conflicts: Array<{ item: BundleItem; existing: string }> = [];
  for (const item of checked.bundle.items) {
    const existing = await findExisting(ctx, dirOf(item.kind), item.name);
    if (existing) conflicts.push({ item, existing });
    else {
      claimed.add(`${item.kind}\u0000${item.name}`);
      decided.push({ item, key: keyOf(item.kind, item.name, item.format), name: item.name, action: 'create', previousText: undefined });
    }
  }
  for (const { item, existing } of conflicts) {
    const old = await readForOverwrite(ctx, existing);
    const entry: ImportedItem = { kind: item.kind, name: item.name, file: existing };
    if (old && sameData(ctx, existing, old.text, item.data)) {
      report.skipped.push({ ...entry, reason: 'identical' });
      continue;
    }
    if (onConflict === 'skip') report.skipped.push({ ...entry, reason: 'exists' });
    else if (onConflict === 'overwrite') decided.push({ item, key: existing, name: item.name, action: 'overwrite', previousText: old?.text });
    else {
      const name = await freeName(ctx, item, claimed);
      claimed.add(`${item.kind}\u0000${name}`);
      decided.push({ item, key: keyOf(item.kind, name, item.format), name, action: 'rename', previousText: undefined });
    }
  }
  const renamed = new Map(decided.filter((d) => d.action === 'rename' && d.item.kind === 'profile').map((d) => [d.item.name, d.name]));
  for (const d of decided) writes.push(encodeWrite(ctx, d.item, d.key, d.name, d.action, d.previousText, renamed));
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

/** `name-2`, `name-3`...: the first that neither exists nor is taken by this import. */
async function freeName(ctx: Context, item: BundleItem, claimed: ReadonlySet<string>): Promise<string> {
  for (let n = 2; ; n++) {
    const candidate = `${item.name}-${n}`;
    checkItemName(ctx, item.kind, candidate, `renaming ${item.kind} "${item.name}"`);
    if (claimed.has(`${item.kind}\u0000${candidate}`)) continue;
    if (!(await findExisting(ctx, dirOf(item.kind), candidate))) return candidate;
  }
}

function encodeWrite(
  ctx: Context,
  item: BundleItem,
  key: string,
  name: string,
  action: PlannedWrite['action'],
  previousText: string | undefined,
  renamed: ReadonlyMap<string, string>,
): PlannedWrite {
  const data = item.kind === 'profile' ? followRenames(item.data, renamed) : item.data;
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

function sameData(ctx: Context, key: string, text: string, data: unknown): boolean {
  try {
    return deepEqual(ctx.codecs.parse(ctx.storage.describe(key), text), data);
  } catch (err) {
    if (err instanceof ConfigPersistenceError) return false; // an unparsable file is not the same content
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
  validateLayers(ctx, mergeLayers(layers), layers, { target });
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
  /** Takes the `pre-import` snapshot (the caller holds every lock); returns its record. */
  snapshot?: () => Promise<BackupInfo>;
}

/**
 * Writes a plan (the caller holds the locks of every config and profile and of every key the plan
 * writes, and re-planned under them): the pre-import snapshot, then ONE commit with every file,
 * backup, history line and the audit line.
 */
export async function commitImport(ctx: Context, checked: CheckedBundle, plan: ImportPlan, opts: ImportOptions, hooks: ImportHooks = {}): Promise<ImportReport> {
  const report = plan.report;
  if (plan.writes.length === 0) return report;
  if (hooks.snapshot) report.snapshot = (await hooks.snapshot()).id;
  const files: FileChange[] = [];
  for (const w of plan.writes) {
    const old = await readForOverwrite(ctx, w.key);
    const journal = await readJournal(ctx, w.key);
    files.push({ key: w.key, next: { bytes: w.bytes, sha256: w.sha256 }, old, journal, operation: 'import', ...(old && ctx.options.backupOnWrite ? { backup: 'overwrite' } : {}) });
  }
  const done = await commitChangeset(ctx, {
    files,
    changedBy: opts.changedBy ?? 'user',
    reason: opts.reason ?? `import of ${checked.label}`,
    now: new Date(),
    audit: () => ({
      op: 'import',
      file: '*',
      details: {
        bundle: checked.bundle.checksum,
        created: report.created.map((e) => e.file),
        renamed: report.renamed.map((e) => e.file),
        overwritten: report.overwritten.map((e) => e.file),
        skipped: report.skipped.map((e) => e.file),
        ...(report.snapshot ? { snapshot: report.snapshot } : {}),
      },
    }),
  });
  for (const file of done.files) {
    const entry = file.backup && report.overwritten.find((e) => e.file === file.key);
    if (entry) entry.backup = file.backup!.id;
  }
  return report;
}

// ---------------------------------------------------------------------------------------------

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no whitespace, `undefined` members
 * left out as JSON.stringify does. Equal documents give equal text whatever their key order or
 * indentation, so checksums survive re-formatting.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const members = Object.keys(obj)
    .sort()
    .filter((k) => obj[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
  return `{${members.join(',')}}`;
}

let cachedVersion: string | undefined;

/** This package's version (package.json beside dist/ and src/). */
function toolVersion(): string {
  if (cachedVersion === undefined) {
    try {
      cachedVersion = packageVersion();
    } catch {
      cachedVersion = '0.0.0'; // informational only: a bundle stays importable without it
    }
  }
  return cachedVersion;
}

function dirOf(kind: 'config' | 'profile'): string {
  return kind === 'profile' ? PROFILES_DIR : '';
}

function keyOf(kind: 'config' | 'profile', name: string, format: string): string {
  return kind === 'profile' ? `${PROFILES_DIR}/${name}.${format}` : `${name}.${format}`;
}

/** `profiles/dev.yaml` → `dev`, `current.yaml` → `current`. */
function baseName(key: string): string {
  const name = key.startsWith(`${PROFILES_DIR}/`) ? key.slice(PROFILES_DIR.length + 1) : key;
  return stripExtension(name);
}

function stripExtension(key: string): string {
  const ext = extensionOf(key.slice(key.lastIndexOf('/') + 1));
  return ext ? key.slice(0, -(ext.length + 1)) : key;
}
