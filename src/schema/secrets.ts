/**
 * Secrets (SPEC, Schema power): schema nodes marked `"x-secret": true` or `"writeOnly": true` are
 * shown as `"***"` wherever a document leaves the library for a human (CLI output, explain, diffs,
 * the audit log, exports, the admin server). The one place redaction is decided, so every output
 * path redacts alike.
 */
import { cloneDocument, isPlainObject, safeSet } from '../document/tree.js';

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
 * A copy of `doc` with every value the schema marks secret replaced by {@link REDACTED}. Nodes are
 * found through `properties`, `patternProperties`, `additionalProperties` and `items` (not `$ref`).
 * Without a schema, or with nothing secret, the copy equals the input.
 */
export function redact<T>(doc: T, schema: unknown): T {
  return redactNode(doc, schema) as T;
}

/** The secret dot paths (`db.password`, `users.0.token`) present in `doc`. */
export function secretPaths(doc: unknown, schema: unknown): string[] {
  const out: string[] = [];
  walk(doc, schema, [], out);
  return out;
}

function redactNode(value: unknown, node: unknown): unknown {
  if (value === undefined) return value;
  if (isSecretNode(node)) return REDACTED;
  if (Array.isArray(value)) return value.map((item) => redactNode(item, itemsOf(node)));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) safeSet(out, key, redactNode(value[key], childOf(node, key)));
    return out;
  }
  return cloneDocument(value);
}

function walk(value: unknown, node: unknown, at: string[], out: string[]): void {
  if (value === undefined) return;
  if (isSecretNode(node)) {
    out.push(at.join('.'));
    return;
  }
  if (Array.isArray(value)) value.forEach((item, i) => walk(item, itemsOf(node), [...at, String(i)], out));
  else if (isPlainObject(value)) for (const key of Object.keys(value)) walk(value[key], childOf(node, key), [...at, key], out);
}

function itemsOf(node: unknown): unknown {
  return isPlainObject(node) && isPlainObject(node.items) ? node.items : undefined;
}

function childOf(node: unknown, key: string): unknown {
  if (!isPlainObject(node)) return undefined;
  if (isPlainObject(node.properties) && Object.hasOwn(node.properties, key)) return node.properties[key];
  if (isPlainObject(node.patternProperties)) {
    for (const [pattern, sub] of Object.entries(node.patternProperties)) {
      // A pattern ajv accepted but JavaScript cannot compile (unicode flags) just does not match here.
      if (safeTest(pattern, key)) return sub;
    }
  }
  return isPlainObject(node.additionalProperties) ? node.additionalProperties : undefined;
}

function safeTest(pattern: string, key: string): boolean {
  try {
    return new RegExp(pattern, 'u').test(key);
  } catch {
    // An invalid pattern would have failed ajv's compile; treat it as matching nothing.
    return false;
  }
}

/**
 * {@link redact} for a value found at `segments` of a document: `"***"` when the path or one of
 * its parents is secret, otherwise the value with its secret parts redacted.
 */
export function redactAt(value: unknown, schema: unknown, segments: readonly string[]): unknown {
  let node = schema;
  for (const segment of segments) {
    if (isSecretNode(node)) return REDACTED;
    node = /^(?:0|[1-9][0-9]*)$/.test(segment) && isPlainObject(node) && isPlainObject(node.items) ? node.items : childOf(node, segment);
  }
  return redactNode(value, node);
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
