/**
 * Per-field merge strategies declared in the schema with `"x-merge"` (SPEC, Schema power):
 * `"replace"` (default for arrays and scalars), `"merge"` (default for objects), `"append"` (arrays,
 * lower layers first) and `{ "by": "<key>" }` (arrays of objects merged element by element on that
 * key). One module so every layering (profile chains, Configuration's layers) merges alike.
 */
import { cloneDocument, isPlainObject, safeSet } from '../document/tree.js';

/** The keyword as ajv learns it: a typo such as `"apend"` makes the schema invalid (`E_PARSE`). */
export const X_MERGE_KEYWORD = {
  keyword: 'x-merge',
  metaSchema: {
    anyOf: [
      { enum: ['replace', 'merge', 'append'] },
      { type: 'object', properties: { by: { type: 'string', minLength: 1 } }, required: ['by'], additionalProperties: false },
    ],
  },
} as const;

/** A declared strategy; `undefined` means the default for the value's kind. */
export type MergeStrategy = 'replace' | 'merge' | 'append' | { by: string };

type SchemaNode = Record<string, unknown>;

/** The strategy a schema node declares, if it declares a valid one. */
export function strategyOf(node: unknown): MergeStrategy | undefined {
  if (!isPlainObject(node)) return undefined;
  const value = node['x-merge'];
  if (value === 'replace' || value === 'merge' || value === 'append') return value;
  if (isPlainObject(value) && typeof value.by === 'string') return { by: value.by };
  return undefined;
}

/** The schema node for the entry `key` of an object described by `node` (no `$ref` resolution). */
function propertyNode(node: unknown, key: string): unknown {
  if (!isPlainObject(node)) return undefined;
  const props = node.properties;
  if (isPlainObject(props) && Object.hasOwn(props, key)) return props[key];
  return isPlainObject(node.additionalProperties) ? node.additionalProperties : undefined;
}

/** The schema node for the items of a list described by `node`. */
function itemsNode(node: unknown): unknown {
  return isPlainObject(node) && isPlainObject(node.items) ? node.items : undefined;
}

/**
 * Merges documents lowest first, following the strategies `schema` declares. Without a schema (or
 * where it declares nothing) this is exactly {@link mergeDocuments}' rule: objects merge, the rest
 * is replaced.
 */
export function mergeWithSchema(schema: unknown, ...layers: unknown[]): unknown {
  let result: unknown = undefined;
  for (const layer of layers) {
    if (layer === undefined) continue;
    result = result === undefined ? cloneDocument(layer) : mergeNode(schema, result, layer);
  }
  return result;
}

function mergeNode(node: unknown, base: unknown, over: unknown): unknown {
  const strategy = strategyOf(node);
  if (Array.isArray(base) && Array.isArray(over)) {
    if (strategy === 'append') return [...cloneDocument(base), ...cloneDocument(over)];
    if (typeof strategy === 'object') return mergeByKey(itemsNode(node), strategy.by, base, over);
    return cloneDocument(over);
  }
  if (strategy === 'replace' || !isPlainObject(base) || !isPlainObject(over)) return cloneDocument(over);
  const out = cloneDocument(base) as SchemaNode;
  for (const key of Object.keys(over)) {
    const value = over[key];
    if (value === undefined) continue;
    safeSet(out, key, Object.hasOwn(out, key) ? mergeNode(propertyNode(node, key), out[key], value) : cloneDocument(value));
  }
  return out;
}

/**
 * Elements with the same `key` value merge (in the lower layer's position); new ones are appended
 * in the higher layer's order; elements without the key (or not objects) are appended as they are.
 */
function mergeByKey(items: unknown, key: string, base: readonly unknown[], over: readonly unknown[]): unknown[] {
  const out = cloneDocument(base) as unknown[];
  const at = new Map<unknown, number>();
  out.forEach((item, i) => {
    if (isPlainObject(item) && Object.hasOwn(item, key) && !at.has(item[key])) at.set(item[key], i);
  });
  for (const item of over) {
    const id = isPlainObject(item) && Object.hasOwn(item, key) ? item[key] : undefined;
    const index = id === undefined ? undefined : at.get(id);
    if (index === undefined) {
      if (id !== undefined) at.set(id, out.length);
      out.push(cloneDocument(item));
    } else {
      out[index] = mergeNode(items, out[index], item);
    }
  }
  return out;
}
