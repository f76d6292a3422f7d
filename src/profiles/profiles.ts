/**
 * Named profiles (`profiles/<name>.<ext>`) that inherit from each other.
 *
 * - A profile's own metadata sits in the file under a top-level `$profile` key (`extends`,
 *   `description`) where a human sees it; it is never part of the profile's data.
 * - `extends` names one parent or a list. The chain is linearised depth-first, parents in the order
 *   listed, each profile once (a diamond does not apply a shared grandparent twice, which would undo
 *   the overrides of the first branch), and merged lowest first with the SPEC's merge rules.
 * - A cycle, a missing parent or an invalid parent name is a coded error that names the whole chain.
 * - Profiles are validated in their resolved form: `default.*` ← the chain ← the profile.
 *
 * Writes go through changeset/documents.ts (backup, history, audit); callers hold the profile's lock.
 */
import { extensionOf } from '../codecs/index.js';
import type { Context } from '../core/context.js';
import { cloneDocument, isPlainObject, safeSet } from '../document/tree.js';
import { readDocument, removeDocument, writeBytes, writeDocument, type StoredDocument } from '../changeset/documents.js';
import { ConflictError, InvalidNameError, NotFoundError, ParseError, TooLargeError, ValidationError, type ValidationIssue } from '../errors.js';
import { PROFILES_DIR, profileKey } from '../core/keys.js';
import { fileLayer, mappingOf, mergeLayers, runAsync, validateLayers, type Found, type Layer, type Resolution } from '../api/layers.js';
import { assertProfileName } from '../core/names.js';
import type { ChangedBy, CopyProfileOptions, DeleteProfileOptions, Profile, ProfileInfo, ProfileMeta, SaveProfileOptions, SaveResult } from '../types.js';

/** The top-level key holding a profile's metadata. */
export const PROFILE_META_KEY = '$profile';

/** Longest `extends` chain followed before giving up (a guard against generated nonsense, not a design limit). */
export const MAX_CHAIN_DEPTH = 1000;

const META_FIELDS = new Set(['extends', 'description']);

/** A profile file split into its data and its metadata. */
export interface ProfileDocument {
  name: string;
  key: string;
  /** As shown to humans. */
  file: string;
  data: Record<string, unknown>;
  meta: ProfileMeta;
  /** The parents, normalised to a list. */
  parents: string[];
  text?: string;
  /** The whole document as stored, `$profile` included. */
  raw: Record<string, unknown>;
}

/** What profile files are checked against besides the schema: the `$profile` metadata rules. */
const PROFILE_FORMAT = 'the profile format ($profile: extends, description)';

/**
 * `E_VALIDATION` for an `extends` cycle: the data of the profiles is wrong, not a name. `chain` is the
 * cycle from the profile where resolution started (`['a', 'b', 'c', 'a']`).
 */
export class ProfileCycleError extends ValidationError {
  readonly chain: string[];

  constructor(file: string, chain: string[], position?: { line: number; column: number }) {
    const issue: ValidationIssue = { path: `${PROFILE_META_KEY}.extends`, message: `forms a cycle: ${chain.join(' → ')}`, keyword: 'extends' };
    if (position) {
      issue.line = position.line;
      issue.column = position.column;
    }
    super(file, [issue]);
    this.message = `Profile inheritance forms a cycle: ${chain.join(' → ')}. Remove one of these from $profile.extends (last link in ${file}${position ? `:${position.line}:${position.column}` : ''}).`;
    this.chain = chain;
  }
}

/**
 * Checks a profile name for use as a file name: safe (no separators, `..`, NUL, prototype keys) and
 * without a file extension (the format is the file's business).
 */
export function assertProfile(name: unknown, knows: (ext: string) => boolean): string {
  const safe = assertProfileName(name);
  const ext = extensionOf(safe);
  if (ext && knows(ext)) {
    throw new InvalidNameError(`Profile name "${safe}" must not include a file extension; use "${safe.slice(0, -(ext.length + 1))}".`);
  }
  return safe;
}

/** Parents of a profile as a list (`extends` may be one name or several). */
export function parentsOf(meta: ProfileMeta): string[] {
  if (meta.extends === undefined) return [];
  return typeof meta.extends === 'string' ? [meta.extends] : [...meta.extends];
}

/**
 * Splits a stored profile into data and metadata, checking the `$profile` block: unknown fields and
 * wrong types are `E_VALIDATION` with their position (a typo such as `extend:` must not silently
 * drop the inheritance).
 */
export function splitProfile(ctx: Context, name: string, found: Found): ProfileDocument {
  const raw = mappingOf(ctx, found);
  const file = ctx.storage.describe(found.key);
  const text = found.doc?.text;
  const locate = (path: string[]) => (text === undefined ? undefined : ctx.codecs.locate(found.key, text, path));
  const issues: ValidationIssue[] = [];
  const issue = (path: string[], message: string): void => {
    const entry: ValidationIssue = { path: path.join('.'), message };
    const at = locate(path);
    if (at) {
      entry.line = at.line;
      entry.column = at.column;
    }
    issues.push(entry);
  };
  const data: Record<string, unknown> = {};
  for (const key of Object.keys(raw)) if (key !== PROFILE_META_KEY) safeSet(data, key, raw[key]);
  const block = raw[PROFILE_META_KEY];
  const meta: ProfileMeta = {};
  if (block !== undefined && block !== null) {
    if (!isPlainObject(block)) issue([PROFILE_META_KEY], 'must be a mapping with `extends` and/or `description`');
    else {
      for (const field of Object.keys(block)) {
        if (!META_FIELDS.has(field)) issue([PROFILE_META_KEY, field], 'is not a profile setting (known: extends, description); profile data goes outside $profile');
      }
      const ext = block.extends;
      if (typeof ext === 'string' || (Array.isArray(ext) && ext.every((p) => typeof p === 'string'))) {
        if (typeof ext === 'string' || ext.length > 0) meta.extends = typeof ext === 'string' ? ext : [...(ext as string[])];
      } else if (ext !== undefined && ext !== null) {
        issue([PROFILE_META_KEY, 'extends'], 'must be a profile name or a list of profile names');
      }
      const description = block.description;
      if (typeof description === 'string') meta.description = description;
      else if (description !== undefined && description !== null) issue([PROFILE_META_KEY, 'description'], 'must be a string');
    }
  }
  if (issues.length > 0) throw new ValidationError(file, issues);
  const doc: ProfileDocument = { name, key: found.key, file, data, meta, parents: parentsOf(meta), raw };
  if (text !== undefined) doc.text = text;
  return doc;
}

/**
 * Resolves a profile's `extends` chain: the profiles to merge, lowest first, ending with `name`.
 * `root` replaces the stored profile (a save checks the chain it is about to create); `chosenBy`
 * says in the not-found message why this profile was asked for.
 */
export function* resolveChain(ctx: Context, name: string, opts: { root?: ProfileDocument; chosenBy?: string } = {}): Resolution<ProfileDocument[]> {
  const knows = (ext: string): boolean => ctx.codecs.knows(ext);
  assertProfile(name, knows);
  let rootDoc = opts.root;
  if (!rootDoc) {
    const found = yield { kind: 'profile', name };
    if (!found.doc) {
      const why = opts.chosenBy ? ` It was chosen by ${opts.chosenBy}.` : '';
      throw new NotFoundError(
        `Profile "${name}" does not exist (${ctx.storage.describe(found.key)}).${why} Create it with saveProfile (or \`config-persistence profile save ${name}\`), or choose an existing profile (\`config-persistence profile list\`).`,
        ctx.storage.describe(found.key),
      );
    }
    rootDoc = splitProfile(ctx, name, found);
  }
  // Iterative depth-first walk: chains of any depth without deep recursion.
  const order: ProfileDocument[] = [];
  const done = new Set<string>();
  const stack: Array<{ doc: ProfileDocument; next: number }> = [{ doc: rootDoc, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next >= top.doc.parents.length) {
      stack.pop();
      done.add(top.doc.name);
      order.push(top.doc);
      continue;
    }
    const parent = top.doc.parents[top.next++]!;
    const path = stack.map((f) => f.doc.name);
    const chain = [...path, parent];
    // Only messages need the position, and finding it parses the file with `yaml`: not on the happy path.
    const extendsAt = (): { line: number; column: number } | undefined => locateExtends(ctx, top.doc);
    try {
      assertProfile(parent, knows);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new InvalidNameError(
        `${top.doc.file}${at(extendsAt())}: $profile.extends names ${JSON.stringify(parent)}, which is not a valid profile name (chain: ${describeChain(chain)}). ${reason} Fix $profile.extends in ${top.doc.file}.`,
        top.doc.file,
      );
    }
    if (path.includes(parent)) throw new ProfileCycleError(top.doc.file, chain.slice(path.indexOf(parent)), extendsAt());
    if (done.has(parent)) continue;
    if (stack.length >= MAX_CHAIN_DEPTH) {
      throw new TooLargeError(`The extends chain of profile "${name}" is deeper than ${MAX_CHAIN_DEPTH} profiles (at ${top.doc.file}); flatten it.`, top.doc.file);
    }
    const found = yield { kind: 'profile', name: parent };
    if (!found.doc) {
      const missing = ctx.storage.describe(found.key);
      throw new NotFoundError(
        `Profile "${top.doc.name}" extends "${parent}", which does not exist (${missing}); chain: ${describeChain(chain)}. Create profile "${parent}" or fix $profile.extends in ${top.doc.file}${at(extendsAt())}.`,
        missing,
      );
    }
    stack.push({ doc: splitProfile(ctx, parent, found), next: 0 });
  }
  return order;
}

function describeChain(chain: readonly string[]): string {
  return chain.map((n) => JSON.stringify(n)).join(' → ');
}

function at(position: { line: number; column: number } | undefined): string {
  return position ? `:${position.line}:${position.column}` : '';
}

function locateExtends(ctx: Context, doc: ProfileDocument): { line: number; column: number } | undefined {
  return doc.text === undefined ? undefined : ctx.codecs.locate(doc.key, doc.text, [PROFILE_META_KEY, 'extends']);
}

/** A profile as a configuration layer. */
export function profileLayer(doc: ProfileDocument): Layer {
  const layer: Layer = { kind: 'profile', key: doc.key, file: doc.file, profile: doc.name, data: doc.data, exists: true };
  if (doc.text !== undefined) layer.text = doc.text;
  return layer;
}

/** Resolves `name` over `default.*`: the layers, lowest first. */
export function* resolveProfileLayers(ctx: Context, name: string, opts: { root?: ProfileDocument; chosenBy?: string } = {}): Resolution<{ base: Layer; chain: ProfileDocument[] }> {
  const base = fileLayer(ctx, 'default', yield { kind: 'file', base: 'default' });
  const chain = yield* resolveChain(ctx, name, opts);
  return { base, chain };
}

/** Loads a profile: resolved over its chain (validated in resolved form), or only its own values. */
export async function loadProfile<T>(ctx: Context, name: string, resolve: boolean): Promise<Profile<T>> {
  assertProfile(name, (ext) => ctx.codecs.knows(ext));
  if (!resolve) {
    const key = await profileKey(ctx, name);
    const doc = await readDocument(ctx, key);
    if (!doc) throw new NotFoundError(`Profile "${name}" does not exist (${ctx.storage.describe(key)}); see \`config-persistence profile list\`.`, ctx.storage.describe(key));
    const own = splitProfile(ctx, name, { key, doc });
    return { name, data: cloneDocument(own.data) as T, meta: own.meta, chain: [name] };
  }
  await ctx.schema.ready();
  const { base, chain } = await runAsync(ctx, resolveProfileLayers(ctx, name));
  const own = chain[chain.length - 1]!;
  const layers = [base, ...chain.map(profileLayer)];
  validateLayers(ctx, mergeLayers(layers), layers, { target: own.file });
  return { name, data: mergeLayers(chain.map(profileLayer)) as T, meta: own.meta, chain: chain.map((c) => c.name) };
}

/**
 * Saves a profile under `key` (the caller holds its lock). Metadata not given in `opts` is kept from
 * the existing file; the chain it creates is resolved and the result validated over `default.*`
 * before anything is written. An existing YAML file keeps its comments and layout.
 */
export async function saveProfile(ctx: Context, key: string, name: string, data: unknown, opts: SaveProfileOptions): Promise<SaveResult> {
  const file = ctx.storage.describe(key);
  if (!isPlainObject(data)) {
    throw new ValidationError(file, [{ path: '', message: 'a profile must be an object of settings' }], PROFILE_FORMAT);
  }
  if (Object.hasOwn(data, PROFILE_META_KEY)) {
    throw new ValidationError(file, [
      { path: PROFILE_META_KEY, message: 'is reserved for profile metadata; pass `extends` and `description` in the options instead' },
    ], PROFILE_FORMAT);
  }
  const existing = await readExisting(ctx, key);
  const oldMeta = existing ? metaLeniently(existing) : {};
  const meta = nextMeta(oldMeta, opts, file);
  const own: ProfileDocument = { name, key, file, data, meta, parents: parentsOf(meta), raw: data };
  await ctx.schema.ready();
  const { base, chain } = await runAsync(ctx, resolveProfileLayers(ctx, name, { root: own }));
  const layers = [base, ...chain.map(profileLayer)];
  validateLayers(ctx, mergeLayers(layers), layers, { target: file });
  return writeDocument(ctx, key, profileDocument(meta, data), withReason({ changedBy: opts.changedBy ?? 'user', operation: 'save' }, opts.reason));
}

/** Reads the old profile for its metadata; an unparsable one is being replaced, so it has none. */
async function readExisting(ctx: Context, key: string): Promise<StoredDocument | undefined> {
  try {
    return await readDocument(ctx, key);
  } catch (err) {
    // The save replaces a broken file (writeDocument still backs it up first); its metadata is lost with it.
    if (err instanceof ParseError) return undefined;
    throw err;
  }
}

function metaLeniently(doc: StoredDocument): ProfileMeta {
  const block = isPlainObject(doc.data) ? doc.data[PROFILE_META_KEY] : undefined;
  if (!isPlainObject(block)) return {};
  const meta: ProfileMeta = {};
  const ext = block.extends;
  if (typeof ext === 'string') meta.extends = ext;
  else if (Array.isArray(ext) && ext.length > 0 && ext.every((p) => typeof p === 'string')) meta.extends = [...(ext as string[])];
  if (typeof block.description === 'string') meta.description = block.description;
  return meta;
}

function nextMeta(old: ProfileMeta, opts: SaveProfileOptions, file: string): ProfileMeta {
  const meta: ProfileMeta = {};
  const ext = opts.extends === undefined ? old.extends : opts.extends;
  if (typeof ext === 'string') meta.extends = ext;
  else if (Array.isArray(ext)) {
    if (!ext.every((p) => typeof p === 'string')) {
      throw new ValidationError(file, [{ path: `${PROFILE_META_KEY}.extends`, message: 'must be a profile name or a list of profile names' }], PROFILE_FORMAT);
    }
    if (ext.length > 0) meta.extends = [...ext];
  } else if (ext !== undefined && ext !== null) {
    throw new ValidationError(file, [{ path: `${PROFILE_META_KEY}.extends`, message: 'must be a profile name or a list of profile names' }], PROFILE_FORMAT);
  }
  const description = opts.description === undefined ? old.description : opts.description;
  if (typeof description === 'string') meta.description = description;
  else if (description !== undefined && description !== null) {
    throw new ValidationError(file, [{ path: `${PROFILE_META_KEY}.description`, message: 'must be a string' }], PROFILE_FORMAT);
  }
  return meta;
}

/** The document stored for a profile: `$profile` first (when there is metadata), then the data. */
function profileDocument(meta: ProfileMeta, data: Record<string, unknown>): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  if (meta.extends !== undefined || meta.description !== undefined) {
    const block: Record<string, unknown> = {};
    if (meta.extends !== undefined) block.extends = meta.extends;
    if (meta.description !== undefined) block.description = meta.description;
    doc[PROFILE_META_KEY] = block;
  }
  for (const key of Object.keys(data)) safeSet(doc, key, cloneDocument(data[key]));
  return doc;
}

function withReason<M extends { changedBy: ChangedBy; operation: string }>(meta: M, reason: string | undefined): M & { reason?: string } {
  return reason === undefined ? meta : { ...meta, reason };
}

/** Every profile file, with its metadata; a file that cannot be read as a profile is listed with its `problem`. */
export async function listProfiles(ctx: Context): Promise<ProfileInfo[]> {
  const entries = await ctx.storage.list(PROFILES_DIR);
  const infos: ProfileInfo[] = [];
  for (const entry of entries) {
    if (entry.kind !== 'file' || entry.name.startsWith('.')) continue;
    const format = extensionOf(entry.name);
    if (!format || !ctx.codecs.knows(format)) continue;
    const name = entry.name.slice(0, -(format.length + 1));
    const info: ProfileInfo = { name, format, size: entry.size, updatedAt: new Date(entry.mtimeMs).toISOString() };
    try {
      assertProfile(name, (ext) => ctx.codecs.knows(ext));
      const doc = await readDocument(ctx, entry.key);
      if (!doc) continue; // deleted since the listing
      const { meta } = splitProfile(ctx, name, { key: entry.key, doc });
      if (meta.extends !== undefined) info.extends = meta.extends;
      if (meta.description !== undefined) info.description = meta.description;
    } catch (err) {
      // Listed, not hidden: a broken profile is exactly what the user needs to see.
      info.problem = err instanceof Error ? err.message : String(err);
    }
    infos.push(info);
  }
  return infos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.format < b.format ? -1 : 1));
}

/** Names of the profiles whose `extends` names `name` (directly). */
export async function dependantsOf(ctx: Context, name: string): Promise<string[]> {
  const infos = await listProfiles(ctx);
  return infos.filter((info) => info.name !== name && parentsOf(info).includes(name)).map((info) => info.name);
}

/** Whether a profile file exists (any format). */
export async function profileExists(ctx: Context, name: string): Promise<boolean> {
  assertProfile(name, (ext) => ctx.codecs.knows(ext));
  const key = await profileKey(ctx, name);
  return (await ctx.storage.stat(key))?.kind === 'file';
}

/**
 * Deletes a profile after backing it up (the caller holds its lock). Refused with `E_CONFLICT` when
 * other profiles extend it or it is the persisted active profile, unless `force`.
 */
export async function deleteProfile(ctx: Context, key: string, name: string, opts: DeleteProfileOptions, active: string | undefined): Promise<void> {
  const file = ctx.storage.describe(key);
  if (!(await ctx.storage.stat(key))) {
    throw new NotFoundError(`Profile "${name}" does not exist (${file}); nothing was deleted.`, file);
  }
  if (!opts.force) {
    const children = await dependantsOf(ctx, name);
    if (children.length > 0) {
      throw new ConflictError(
        `Profile "${name}" is extended by ${children.map((c) => `"${c}"`).join(', ')}; deleting it would break them. Change their $profile.extends first, or pass { force: true } (CLI: --force).`,
        file,
      );
    }
    if (active === name) {
      throw new ConflictError(
        `Profile "${name}" is the active profile (chosen with useProfile); choose another one first (\`config-persistence profile use <name>\`), or pass { force: true } to delete it and clear the choice.`,
        file,
      );
    }
  }
  await removeDocument(ctx, key, withReason({ changedBy: opts.changedBy ?? 'user', operation: 'delete' }, opts.reason));
}

/**
 * Copies profile `from` to `to` byte for byte (comments and layout included) under `toKey`, which
 * the caller has locked. The copy keeps the source's `$profile` block, so it extends the same parents.
 */
export async function copyProfile(ctx: Context, from: { name: string; key: string }, to: { name: string; key: string }, opts: CopyProfileOptions, operation: 'copy' | 'rename'): Promise<SaveResult> {
  const source = await readDocument(ctx, from.key);
  if (!source) throw new NotFoundError(`Profile "${from.name}" does not exist (${ctx.storage.describe(from.key)}); nothing was copied.`, ctx.storage.describe(from.key));
  const target = ctx.storage.describe(to.key);
  if (!opts.overwrite && (await ctx.storage.stat(to.key))) {
    throw new ConflictError(`Profile "${to.name}" already exists (${target}); choose another name or pass { overwrite: true } (it is backed up first).`, target);
  }
  const own = splitProfile(ctx, to.name, { key: to.key, doc: source });
  await ctx.schema.ready();
  const { base, chain } = await runAsync(ctx, resolveProfileLayers(ctx, to.name, { root: own }));
  const layers = [base, ...chain.map(profileLayer)];
  validateLayers(ctx, mergeLayers(layers), layers, { target });
  // A new target gets the source's permission bits: a copy of a 0600 profile is no more readable.
  const mode = (await ctx.storage.stat(from.key))?.mode;
  const meta = withReason({ changedBy: opts.changedBy ?? 'user', operation, details: { from: from.key }, ...(mode !== undefined ? { mode: mode & 0o666 } : {}) }, opts.reason);
  if (extensionOf(from.key) === extensionOf(to.key)) return writeBytes(ctx, to.key, source.bytes, meta);
  // An existing target in another format keeps its format: re-encode (its own layout is kept).
  return writeDocument(ctx, to.key, source.data, meta);
}

/** The key a new profile `name` gets when copied from `sourceKey`: the existing file, else the source's format. */
export async function copyTargetKey(ctx: Context, name: string, sourceKey: string): Promise<string> {
  const existing = await profileKey(ctx, name);
  if (await ctx.storage.stat(existing)) return existing;
  return `${PROFILES_DIR}/${name}.${extensionOf(sourceKey)}`;
}

/** Refuses a rename that would leave other profiles extending a name that no longer exists. */
export async function assertNoDependants(ctx: Context, name: string, file: string): Promise<void> {
  const children = await dependantsOf(ctx, name);
  if (children.length > 0) {
    throw new ConflictError(
      `Profile "${name}" is extended by ${children.map((c) => `"${c}"`).join(', ')}; renaming it would break them. Change their $profile.extends first.`,
      file,
    );
  }
}

/** Layers of a resolved profile for messages and explain: `default.*` then the chain. */
export function chainLayers(base: Layer, chain: readonly ProfileDocument[]): Layer[] {
  return [base, ...chain.map(profileLayer)];
}
