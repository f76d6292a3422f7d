/**
 * Secrets (SPEC, Schema power): schema nodes marked `"x-secret": true` or `"writeOnly": true` are
 * shown as `"***"` wherever a document leaves the library for a human (CLI output, explain, diffs,
 * the audit log, exports, the admin server). The one place redaction is decided, so every output
 * path redacts alike.
 */
import { cloneDocument, getPath, hasPath, isPlainObject, safeSet, setPath } from '../document/tree.js';
import { ValidationError } from '../errors.js';
import type { Context } from '../core/context.js';
import type { Change } from '../types.js';
import { itemNodes, nodesAt, propertyNodes, rootNodes, type Nodes } from './nodes.js';

/** What a secret value is shown as. */
export const REDACTED = '***';

/** The keyword as ajv learns it: `"x-secret": "yes"` is a schema error, not a secret left in the clear. */
export const X_SECRET_KEYWORD = { keyword: 'x-secret', metaSchema: { type: 'boolean' } } as const;

/** Whether a schema node marks its value secret. */
export function isSecretNode(node: unknown): boolean {
  return isPlainObject(node) && (node['x-secret'] === true || node.writeOnly === true);
}

/** Whether the schema marks anything secret (lets callers skip the walk). */
export function declaresSecrets(schema: unknown): boolean {
  if (isSecretNode(schema)) return true;
  if (Array.isArray(schema)) return schema.some(declaresSecrets);
  return isPlainObject(schema) && Object.values(schema).some((v) => typeof v === 'object' && v !== null && declaresSecrets(v));
}

/**
 * A copy of `doc` with every value the schema marks secret replaced by {@link REDACTED}. A value is
 * secret when any schema node applying to it says so: through `properties`, `patternProperties`,
 * `additionalProperties`, `items`, `prefixItems`, local `$ref`s, `allOf` / `anyOf` / `oneOf` and
 * `if` / `then` / `else` (see nodes.ts). Without a schema, or with nothing secret, the copy equals
 * the input.
 */
export function redact<T>(doc: T, schema: unknown): T {
  return redactNode(doc, rootNodes(schema), schema) as T;
}

/** The secret dot paths (`db.password`, `users.0.token`) present in `doc`. */
export function secretPaths(doc: unknown, schema: unknown): string[] {
  const out: string[] = [];
  walk(doc, rootNodes(schema), schema, [], out);
  return out;
}

const secret = (nodes: Nodes): boolean => nodes.some(isSecretNode);

function redactNode(value: unknown, nodes: Nodes, root: unknown): unknown {
  if (value === undefined) return value;
  if (secret(nodes)) return REDACTED;
  if (Array.isArray(value)) return value.map((item, i) => redactNode(item, itemNodes(nodes, i, root), root));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) safeSet(out, key, redactNode(value[key], propertyNodes(nodes, key, root), root));
    return out;
  }
  return cloneDocument(value);
}

function walk(value: unknown, nodes: Nodes, root: unknown, at: string[], out: string[]): void {
  if (value === undefined) return;
  if (secret(nodes)) {
    out.push(at.join('.'));
    return;
  }
  if (Array.isArray(value)) value.forEach((item, i) => walk(item, itemNodes(nodes, i, root), root, [...at, String(i)], out));
  else if (isPlainObject(value)) for (const key of Object.keys(value)) walk(value[key], propertyNodes(nodes, key, root), root, [...at, key], out);
}

/**
 * {@link redact} for a value found at `segments` of a document: `"***"` when the path or one of
 * its parents is secret, otherwise the value with its secret parts redacted.
 */
export function redactAt(value: unknown, schema: unknown, segments: readonly string[]): unknown {
  const nodes = nodesAt(schema, segments, secret);
  return redactNode(value, nodes, schema);
}

/** An explanation of a path (`Configuration#explain`) with every value in it redacted. */
export function redactExplanation<E extends { path: string; value: unknown; source?: { value: unknown }; layers: Array<{ value: unknown }> }>(explained: E, schema: unknown): E {
  const segments = explained.path === '' ? [] : explained.path.split('.');
  const hide = <S extends { value: unknown }>(s: S): S => ({ ...s, value: redactAt(s.value, schema, segments) });
  const layers = explained.layers.map(hide);
  const out: E = { ...explained, value: redactAt(explained.value, schema, segments), layers };
  if (explained.source) out.source = explained.layers[0] === explained.source ? layers[0]! : hide(explained.source);
  return out;
}

/**
 * What an output path redacts with, built once per schema: documents, values at a path, and diffs.
 * `includeSecrets` (the caller asked to see secrets) and a schema without secrets give one that
 * returns its input unchanged.
 */
export interface Redactor {
  /** Whether anything is hidden (false: every method returns its input). */
  readonly active: boolean;
  /** A copy of a whole document with its secrets hidden. */
  doc<D>(doc: D): D;
  /** A value found at a dot path (`db.password`) or its segments, with its secrets hidden. */
  at(value: unknown, path: string | readonly string[]): unknown;
  /** Changes by dot path (diffs, watch events) with both sides' secrets hidden. */
  changes(changes: readonly Change[]): Change[];
}

/** A {@link Redactor} for `schema`; see there. */
export function redactor(schema: unknown, opts: { includeSecrets?: boolean } = {}): Redactor {
  if (opts.includeSecrets === true || !declaresSecrets(schema)) {
    return { active: false, doc: (d) => d, at: (v) => v, changes: (c) => [...c] };
  }
  const at = (value: unknown, path: string | readonly string[]): unknown =>
    redactAt(value, schema, typeof path === 'string' ? (path === '' ? [] : path.split('.')) : path);
  const side = (change: Change, key: 'oldValue' | 'newValue'): Partial<Change> => (key in change ? { [key]: at(change[key], change.path) } : {});
  return {
    active: true,
    doc: (d) => redact(d, schema),
    at,
    changes: (list) => list.map((c) => ({ ...c, ...side(c, 'oldValue'), ...side(c, 'newValue') })),
  };
}

/** The {@link Redactor} for a store's schema (loaded on first use). */
export async function redactorOf(ctx: Context, opts: { includeSecrets?: boolean } = {}): Promise<Redactor> {
  if (opts.includeSecrets === true) return redactor(undefined);
  await ctx.schema.ready();
  return redactor(ctx.schema.document);
}

/**
 * The inverse of {@link redact} for an edited document sent back by a client that was shown
 * `"***"`: each secret path still holding the placeholder takes the value `existing` has there,
 * so an edit of another value never writes the placeholder over a password. `E_VALIDATION`
 * naming every placeholder that has no stored value to keep (nothing is written).
 */
export function keepRedacted<T>(doc: T, schema: unknown, existing: unknown, label: string): T {
  let data: unknown = doc;
  const missing: string[] = [];
  for (const path of secretPaths(doc, schema)) {
    const segments = path === '' ? [] : path.split('.');
    if (getPath(data, segments) !== REDACTED) continue;
    if (existing !== undefined && hasPath(existing, segments) && getPath(existing, segments) !== REDACTED) data = setPath(data, segments, getPath(existing, segments));
    else missing.push(path);
  }
  if (missing.length > 0) {
    throw new ValidationError(label, missing.map((path) => ({ path, message: `is "${REDACTED}", the placeholder shown for a secret, and there is no stored value to keep: send the real value` })));
  }
  return data as T;
}
