/**
 * The profile verbs: load, save, list, copy, delete (and the checks they need: whether a profile
 * exists, which profiles extend it). The profile format and the `extends` chain are in
 * src/profiles/chain.ts.
 *
 * Writes go through changeset/documents.ts (backup, history, audit); callers hold the profile's lock.
 */
import { extensionOf } from '../codecs/index.js';
import type { Context } from '../core/context.js';
import { cloneDocument, isPlainObject, safeSet } from '../document/tree.js';
import { readDocument, removeDocument, writeBytes, writeDocument, type StoredDocument } from '../changeset/documents.js';
import { ConflictError, NotFoundError, ParseError, ValidationError } from '../errors.js';
import { PROFILES_DIR, profileKey } from '../core/keys.js';
import { mergeLayersIn, runAsync, validateLayers } from '../api/layers.js';
import type { ChangedBy, CopyProfileOptions, DeleteProfileOptions, Profile, ProfileInfo, ProfileMeta, SaveProfileOptions, SaveResult } from '../types.js';
import { assertProfile, parentsOf, PROFILE_META_KEY, profileLayer, resolveProfileLayers, splitProfile, type ProfileDocument } from './chain.js';

/** What profile files are checked against besides the schema: the `$profile` metadata rules. */
const PROFILE_FORMAT = 'the profile format ($profile: extends, description)';

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
  validateLayers(ctx, mergeLayersIn(ctx, layers), layers, { target: own.file });
  return { name, data: mergeLayersIn(ctx, chain.map(profileLayer)) as T, meta: own.meta, chain: chain.map((c) => c.name) };
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
  validateLayers(ctx, mergeLayersIn(ctx, layers), layers, { target: file });
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
  validateLayers(ctx, mergeLayersIn(ctx, layers), layers, { target });
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
