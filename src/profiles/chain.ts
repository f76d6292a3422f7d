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
 * This file holds the profile format and the chain: `$profile` metadata, names, resolution over
 * `default.*`. The verbs (load, save, list, copy, delete) are in src/profiles/profiles.ts.
 */
import { extensionOf } from '../codecs/index.js';
import type { Context } from '../core/context.js';
import { isPlainObject, safeSet } from '../document/tree.js';
import { InvalidNameError, NotFoundError, TooLargeError, ValidationError, type ValidationIssue } from '../errors.js';
import { fileLayer, mappingOf, type Found, type Layer, type Resolution } from '../api/layers.js';
import { assertProfileName } from '../core/names.js';
import type { ProfileMeta } from '../types.js';

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

/** Layers of a resolved profile for messages and explain: `default.*` then the chain. */
export function chainLayers(base: Layer, chain: readonly ProfileDocument[]): Layer[] {
  return [base, ...chain.map(profileLayer)];
}
