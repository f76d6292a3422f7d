/**
 * Layers: the documents that are merged into one configuration (`default.*`, a profile chain,
 * `current.*`, the environment) and the two ways of reading them.
 *
 * Resolution logic (which files to read, in which order, what is an error) is written once, as a
 * generator that yields what it needs to read; `runAsync` answers with `readDocument`, `runSync`
 * with `readDocumentSync`, so `Configuration.openSync` is truly synchronous without a second copy
 * of the rules.
 */
import type { Context } from '../core/context.js';
import { hasPath, isPlainObject, mergeDocuments } from '../document/tree.js';
import { mergeWithSchema } from '../schema/merge.js';
import { readDocument, readDocumentSync, type StoredDocument } from '../changeset/documents.js';
import { ValidationError, type ValidationIssue } from '../errors.js';
import { configKey, formatOfDefault, DEFAULT, defaultExtension, findExisting, profileKey, PROFILES_DIR } from '../core/keys.js';
import { readSyncFrom } from '../storage/sync-read.js';

/** What a resolution step needs read: a profile by name, or a root file (`default.*`, `current.*`, `local.*`, `<hostname>.*`). */
export type Need = { kind: 'profile'; name: string } | { kind: 'file'; base: string };

/** The answer to a {@link Need}: the key it resolved to, and the document when the file exists. */
export interface Found {
  key: string;
  doc?: StoredDocument;
}

/** A resolution: yields reads, receives their results, returns `R`. */
export type Resolution<R> = Generator<Need, R, Found>;

/** One document that contributes to a merged configuration. */
export interface Layer {
  kind: 'default' | 'profile' | 'host' | 'local' | 'current' | 'env';
  /** Storage key; absent for the environment. */
  key?: string;
  /** As shown to humans: `config/default.yaml`, or `environment` for the env layer. */
  file: string;
  profile?: string;
  data: Record<string, unknown>;
  /** Source text, for positions in messages. */
  text?: string;
  exists: boolean;
  /** For the env layer: the variable that set each path, to name it in messages. */
  variables?: ReadonlyArray<{ variable: string; path: readonly string[] }>;
}

/** Runs a resolution, reading with the async storage API (`read`: hot reload reads what its watch settled on). */
export async function runAsync<R>(ctx: Context, resolution: Resolution<R>, read: (ctx: Context, key: string) => Promise<StoredDocument | undefined> = readDocument): Promise<R> {
  let step = resolution.next(undefined as unknown as Found);
  while (!step.done) step = resolution.next(await findAsync(ctx, step.value, read));
  return step.value;
}

/** Runs a resolution synchronously (`storage.readSync`); `extensions` are the formats to probe. */
export function runSync<R>(ctx: Context, resolution: Resolution<R>, extensions: readonly string[]): R {
  let step = resolution.next(undefined as unknown as Found);
  while (!step.done) step = resolution.next(findSync(ctx, step.value, extensions));
  return step.value;
}

async function findAsync(ctx: Context, need: Need, read: (ctx: Context, key: string) => Promise<StoredDocument | undefined>): Promise<Found> {
  let key: string;
  if (need.kind === 'profile') key = await profileKey(ctx, need.name);
  else if (need.base === 'current') key = await configKey(ctx, undefined);
  else key = (await findExisting(ctx, '', need.base)) ?? `${need.base}.${await defaultExtension(ctx)}`;
  const doc = await read(ctx, key);
  return doc ? { key, doc } : { key };
}

/**
 * Sync lookup without listing (storage has no sync list): probes `<base>.<ext>` in the same order
 * `findExisting` prefers (yaml, yml, json, jsonc, json5, toml, then the extra codecs).
 */
function findSync(ctx: Context, need: Need, extensions: readonly string[]): Found {
  const dir = need.kind === 'profile' ? PROFILES_DIR : '';
  const base = need.kind === 'profile' ? need.name : need.base;
  const prefix = dir ? `${dir}/${base}` : base;
  for (const ext of extensions) {
    const key = `${prefix}.${ext}`;
    const doc = readDocumentSync(ctx, key);
    if (doc) return { key, doc };
  }
  return { key: `${prefix}.${defaultExtensionSync(ctx, extensions)}` };
}

function defaultExtensionSync(ctx: Context, extensions: readonly string[]): string {
  if (ctx.options.defaultFormat) return ctx.options.defaultFormat;
  for (const ext of extensions) {
    if (readSyncFrom(ctx.storage, `${DEFAULT}.${ext}`) !== undefined) return formatOfDefault(ext);
  }
  return 'json';
}

/** The extensions to probe, in preference order: the built-ins, then those of extra codecs. */
export function probeOrder(extraExtensions: readonly string[]): string[] {
  const order = ['yaml', 'yml', 'json', 'jsonc', 'json5', 'toml'];
  for (const ext of extraExtensions) {
    const clean = ext.replace(/^\./, '').toLowerCase();
    if (!order.includes(clean)) order.push(clean);
  }
  return order;
}

/**
 * The data of a root document (`default.*`, `current.*`, a profile): an empty file is `{}`, anything
 * but a mapping is refused with `E_VALIDATION`, since layers can only merge objects.
 */
export function mappingOf(ctx: Context, found: Found): Record<string, unknown> {
  const data = found.doc?.data;
  if (data === undefined || data === null) return {};
  if (isPlainObject(data)) return data;
  const file = ctx.storage.describe(found.key);
  throw new ValidationError(file, [
    { path: '', message: `must be a mapping of settings (found ${Array.isArray(data) ? 'a list' : typeof data}); configuration layers merge objects`, line: 1, column: 1 },
  ]);
}

/** A file layer from what a resolution read. */
export function fileLayer(ctx: Context, kind: 'default' | 'host' | 'local' | 'current', found: Found): Layer {
  const layer: Layer = { kind, key: found.key, file: ctx.storage.describe(found.key), data: mappingOf(ctx, found), exists: Boolean(found.doc) };
  if (found.doc) layer.text = found.doc.text;
  return layer;
}

/**
 * Validates `merged` (the layers already merged) against the schema. Each issue is attributed to the
 * highest layer that holds the offending value, with its file:line:column, so an error in a parent
 * profile or an environment variable points there and not at the file being saved.
 * With `applyDefaults`, returns it with the schema's defaults filled in: `merged` must be a fresh
 * document the caller owns (as `mergeLayers` returns), since the defaults go into it.
 */
export function validateLayers<T>(ctx: Context, merged: T, layers: readonly Layer[], opts: { target?: string; applyDefaults?: boolean } = {}): T {
  const target = opts.target ?? layers[layers.length - 1]?.file ?? ctx.storage.location;
  try {
    return ctx.schema.validate(target, merged, { applyDefaults: opts.applyDefaults ?? false, owned: true });
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    throw attribute(ctx, err, layers, opts.target);
  }
}

function attribute(ctx: Context, err: ValidationError, layers: readonly Layer[], target: string | undefined): ValidationError {
  const owners = err.issues.map((issue) => ownerOf(layers, issue));
  const file = target ?? owners[0]?.layer.file ?? err.file ?? ctx.storage.location;
  const issues = err.issues.map((issue, i): ValidationIssue => {
    const owner = owners[i];
    const out: ValidationIssue = { path: issue.path, message: issue.message };
    if (issue.keyword !== undefined) out.keyword = issue.keyword;
    if (issue.value !== undefined) out.value = issue.value;
    if (!owner) return out;
    const { layer, segments } = owner;
    if (layer.kind === 'env') {
      const variable = layer.variables?.find((v) => startsWith(segments, v.path) || startsWith(v.path, segments))?.variable;
      out.message += variable ? ` (set by environment variable ${variable})` : ' (set by the environment)';
      return out;
    }
    // At the offending value, as a single document's issues are (src/schema/validator.ts); a
    // missing or unknown property has no value of its own, so its key is what is shown.
    const at = issue.keyword === 'required' || issue.keyword === 'additionalProperties' || issue.keyword === 'unevaluatedProperties' || segments.length < full(issue).length ? 'key' : 'value';
    const position = layer.key && layer.text !== undefined ? ctx.codecs.locate(layer.key, layer.text, segments, at) : undefined;
    if (layer.file === file) {
      if (position) {
        out.line = position.line;
        out.column = position.column;
      }
    } else {
      out.message += ` (set in ${layer.file}${position ? `:${position.line}:${position.column}` : ''})`;
    }
    return out;
  });
  return new ValidationError(file, issues.sort(byPosition));
}

function full(issue: ValidationIssue): string[] {
  return issue.path === '' ? [] : issue.path.split('.');
}

/** In file order: located issues by line and column, then the others (other layers, env) by path. */
function byPosition(a: ValidationIssue, b: ValidationIssue): number {
  const rank = (i: ValidationIssue): number => (i.line === undefined ? Number.MAX_SAFE_INTEGER : i.line * 1e6 + (i.column ?? 0));
  return rank(a) - rank(b) || (a.line === undefined ? a.path.localeCompare(b.path) : 0);
}

/** The highest layer holding the value at the issue's path (or its nearest existing parent). */
function ownerOf(layers: readonly Layer[], issue: ValidationIssue): { layer: Layer; segments: string[] } | undefined {
  const full = issue.path === '' ? [] : issue.path.split('.');
  for (let n = full.length; n >= 0; n--) {
    const segments = full.slice(0, n);
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i]!;
      if (segments.length === 0 ? layer.exists && Object.keys(layer.data).length > 0 : hasPath(layer.data, segments)) return { layer, segments };
    }
  }
  return undefined;
}

function startsWith(path: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
}

/** Merges layers' data, lowest first, into a new object (never `undefined`). */
export function mergeLayers(layers: readonly Layer[], ...extra: unknown[]): Record<string, unknown> {
  return mergeDocuments({}, ...layers.map((l) => l.data), ...extra) as Record<string, unknown>;
}

/**
 * {@link mergeLayers} following the schema's `x-merge` strategies (src/schema/merge.ts). The schema
 * is only consulted once loaded: every caller has awaited `ctx.schema.ready()` before merging.
 */
export function mergeLayersIn(ctx: Context, layers: readonly Layer[], ...extra: unknown[]): Record<string, unknown> {
  const schema = ctx.schema.isReady ? ctx.schema.document : undefined;
  if (schema === undefined) return mergeLayers(layers, ...extra);
  return mergeWithSchema(schema, {}, ...layers.map((l) => l.data), ...extra) as Record<string, unknown>;
}
