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

/**
 * Where the value at `segments` of the merged document sits in each layer (lowest first), for
 * `explain()`: through a list merged with `append` an index is the element's own index in the one
 * layer it came from, through `{ by }` the index of the element with the same key in every layer
 * that has it. A layer that does not hold that element gets `undefined`. Elsewhere the path is the
 * same in every layer.
 */
export function layerPaths(schema: unknown, layers: readonly unknown[], merged: unknown, segments: readonly string[]): Array<string[] | undefined> {
  let paths: Array<string[] | undefined> = layers.map(() => []);
  let node = schema;
  let value = merged;
  for (const segment of segments) {
    const strategy = strategyOf(node);
    const index = Number(segment);
    if (Array.isArray(value) && Number.isInteger(index) && (strategy === 'append' || typeof strategy === 'object')) {
      const item = value[index];
      paths = strategy === 'append' ? appendedAt(layers, paths, index) : keyedAt(layers, paths, strategy.by, item);
      node = itemsNode(node);
      value = item;
      continue;
    }
    paths = paths.map((p) => (p === undefined ? undefined : [...p, segment]));
    node = Array.isArray(value) ? itemsNode(node) : propertyNode(node, segment);
    value = isPlainObject(value) || Array.isArray(value) ? (value as Record<string, unknown>)[segment] : undefined;
  }
  return paths;
}

/** The one layer whose own list holds element `index` of the appended list, at its own index. */
function appendedAt(layers: readonly unknown[], paths: Array<string[] | undefined>, index: number): Array<string[] | undefined> {
  let offset = 0;
  return paths.map((p, i) => {
    const list = p === undefined ? undefined : valueAt(layers[i], p);
    if (p === undefined || !Array.isArray(list)) return undefined;
    const local = index - offset;
    offset += list.length;
    return local >= 0 && local < list.length ? [...p, String(local)] : undefined;
  });
}

/** Every layer's element with the same `key` value as the merged `item`. */
function keyedAt(layers: readonly unknown[], paths: Array<string[] | undefined>, key: string, item: unknown): Array<string[] | undefined> {
  const id = isPlainObject(item) && Object.hasOwn(item, key) ? item[key] : undefined;
  return paths.map((p, i) => {
    const list = p === undefined ? undefined : valueAt(layers[i], p);
    if (p === undefined || !Array.isArray(list) || id === undefined) return undefined;
    const local = list.findIndex((e) => isPlainObject(e) && e[key] === id);
    return local < 0 ? undefined : [...p, String(local)];
  });
}

function valueAt(doc: unknown, path: readonly string[]): unknown {
  let node = doc;
  for (const s of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[s];
  }
  return node;
}
