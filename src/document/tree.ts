/**
 * Pure functions over parsed documents: dot-path access, deep merge, diff, key ordering, cloning.
 * Every write into an object goes through {@link safeSet}, so keys such as `__proto__` stay plain
 * data and never reach a prototype.
 */
import { ConfigPersistenceError, InvalidNameError, TooLargeError } from '../errors.js';
import { FORBIDDEN_KEYS, parseDotPath } from '../core/names.js';
import type { Change } from '../types.js';

/** Nesting deeper than this is refused: recursive consumers (merge, schema, stringify) would overflow. */
export const MAX_DEPTH = 256;

/** A JSON-like object (not an array, not null, not a class instance such as Date). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Assigns `obj[key] = value` as an own data property, even for `__proto__`. */
export function safeSet(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (FORBIDDEN_KEYS.has(key)) {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

/** Deep copy of a JSON-like value (plain objects, arrays, scalars). */
export function cloneDocument<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => cloneDocument(item)) as T;
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) safeSet(out, key, cloneDocument(value[key]));
    return out as T;
  }
  return value;
}

/** Recursively freezes a document so a snapshot handed to callers cannot be changed under us. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/**
 * Throws `E_TOO_LARGE` when a document nests deeper than {@link MAX_DEPTH}. The walk recurses at
 * most MAX_DEPTH + 1 frames (it stops there), so the check itself cannot overflow the stack; it
 * allocates nothing, because it runs on every load and a 5 MB document has ~10^6 nodes.
 */
export function assertDepth(value: unknown, file: string): void {
  if (typeof value === 'object' && value !== null && nestsDeeper(value, 0)) throw new TooLargeError(`${file} nests deeper than ${MAX_DEPTH} levels; flatten it.`, file);
}

function nestsDeeper(node: object, depth: number): boolean {
  if (depth > MAX_DEPTH) return true;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const child: unknown = node[i];
      if (typeof child === 'object' && child !== null && nestsDeeper(child, depth + 1)) return true;
    }
    return false;
  }
  // for-in without hasOwn: parsed documents are plain objects, and an inherited enumerable value
  // (a polluted Object.prototype) would only be checked too, never missed. 3× faster than
  // Object.values/keys, which allocate an array per object.
  for (const key in node) {
    const child: unknown = (node as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null && nestsDeeper(child, depth + 1)) return true;
  }
  return false;
}

/** Value at a dot path (`api.port`, `servers.0.host`), or `undefined`. */
export function getPath(doc: unknown, path: string | readonly string[]): unknown {
  const segments = typeof path === 'string' ? parseDotPath(path) : path;
  let node: unknown = doc;
  for (const segment of segments) {
    if (node === null || typeof node !== 'object') return undefined;
    if (!hasEntry(node, segment)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

/** A canonical list index (`0`, `17`; not `01`, `-1`, `1e3`): the only segments that address list items. */
const INDEX = /^(?:0|[1-9][0-9]*)$/;

/** Whether `segment` names an entry of `node`: an own key of an object, an item of a list. */
function hasEntry(node: object, segment: string): boolean {
  if (Array.isArray(node)) return INDEX.test(segment) && Number(segment) < node.length;
  return Object.hasOwn(node, segment);
}

/**
 * The list index `segment` names for a write into `list`: a canonical non-negative integer within
 * the list, or exactly its length (to append). Anything else is `E_INVALID_NAME` at once — a
 * sparse write (`list.99999999`) would make a list of a hundred million nulls, and `-1`, `1e3` or
 * `4294967295` would be properties a JSON or YAML file cannot hold.
 */
export function listIndex(list: readonly unknown[], segment: string, path: readonly string[]): number {
  const shown = path.join('.');
  if (!INDEX.test(segment)) {
    throw new InvalidNameError(`Invalid path "${shown}": "${segment}" is not a list index; use 0 to ${list.length} (${list.length} appends).`);
  }
  const index = Number(segment);
  if (index > list.length) {
    throw new InvalidNameError(`Invalid path "${shown}": index ${segment} is past the end of the list (${list.length} items); use 0 to ${list.length} (${list.length} appends).`);
  }
  return index;
}

/** True when a value exists at the path (even `null`). */
export function hasPath(doc: unknown, path: string | readonly string[]): boolean {
  const segments = typeof path === 'string' ? parseDotPath(path) : path;
  let node: unknown = doc;
  for (const segment of segments) {
    if (node === null || typeof node !== 'object' || !hasEntry(node, segment)) return false;
    node = (node as Record<string, unknown>)[segment];
  }
  return true;
}

/**
 * Returns a copy of `doc` with `value` at the path, creating objects on the way.
 * The input is never modified.
 */
export function setPath<T>(doc: T, path: string | readonly string[], value: unknown): T {
  const segments = typeof path === 'string' ? parseDotPath(path) : path;
  if (segments.length === 0) return cloneDocument(value) as T;
  const root = (isPlainObject(doc) || Array.isArray(doc) ? cloneDocument(doc) : {}) as Record<string, unknown>;
  let node = root;
  for (const [i, segment] of segments.entries()) {
    const index = Array.isArray(node) ? listIndex(node, segment, segments) : -1;
    if (i === segments.length - 1) {
      if (index !== -1) (node as unknown as unknown[])[index] = cloneDocument(value);
      else safeSet(node, segment, cloneDocument(value));
      break;
    }
    // Own properties only: an inherited `__proto__` would hand back Object.prototype to write into.
    const next = hasEntry(node, segment) ? node[segment] : undefined;
    if (!isPlainObject(next) && !Array.isArray(next)) {
      const created = {};
      if (index !== -1) (node as unknown as unknown[])[index] = created;
      else safeSet(node, segment, created);
      node = created;
    } else {
      node = next as Record<string, unknown>;
    }
  }
  return root as T;
}

/** Returns a copy of `doc` without the value at the path. */
export function deletePath<T>(doc: T, path: string | readonly string[]): T {
  const segments = typeof path === 'string' ? parseDotPath(path) : path;
  if (segments.length === 0) return {} as T;
  const root = cloneDocument(doc) as Record<string, unknown>;
  let node: unknown = root;
  for (const segment of segments.slice(0, -1)) {
    if (node === null || typeof node !== 'object' || !hasEntry(node, segment)) return root as T;
    node = (node as Record<string, unknown>)[segment];
  }
  const last = segments[segments.length - 1]!;
  if (Array.isArray(node)) {
    if (hasEntry(node, last)) node.splice(Number(last), 1);
  } else if (node !== null && typeof node === 'object') delete (node as Record<string, unknown>)[last];
  return root as T;
}

/**
 * Merges layers, lowest first. Objects merge deeply; arrays and scalars replace; `null` is a value
 * (it replaces too); `undefined` means "not set here". Inputs are never modified.
 */
export function mergeDocuments(...layers: unknown[]): unknown {
  let result: unknown = undefined;
  for (const layer of layers) {
    if (layer === undefined) continue;
    result = mergeTwo(result, layer);
  }
  return result;
}

function mergeTwo(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return cloneDocument(over);
  const out = cloneDocument(base) as Record<string, unknown>;
  for (const key of Object.keys(over)) {
    const value = over[key];
    if (value === undefined) continue;
    safeSet(out, key, Object.hasOwn(out, key) ? mergeTwo(out[key], value) : cloneDocument(value));
  }
  return out;
}

/** Structural equality of JSON-like values (key order ignored). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
  }
  return false;
}

/**
 * Changes from `before` to `after` by dot path. Objects are compared key by key; arrays and scalars
 * are compared whole (matching the merge rule that arrays replace).
 */
export function diffDocuments(before: unknown, after: unknown, prefix = ''): Change[] {
  if (deepEqual(before, after)) return [];
  if (isPlainObject(before) && isPlainObject(after)) {
    const changes: Change[] = [];
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    for (const key of keys) {
      const path = prefix ? `${prefix}.${key}` : key;
      const inBefore = Object.hasOwn(before, key);
      const inAfter = Object.hasOwn(after, key);
      if (!inAfter) changes.push({ path, type: 'removed', oldValue: before[key] });
      else if (!inBefore) changes.push({ path, type: 'added', newValue: after[key] });
      else changes.push(...diffDocuments(before[key], after[key], path));
    }
    return changes;
  }
  if (before === undefined) return [{ path: prefix, type: 'added', newValue: after }];
  if (after === undefined) return [{ path: prefix, type: 'removed', oldValue: before }];
  return [{ path: prefix, type: 'changed', oldValue: before, newValue: after }];
}

/**
 * Reorders the keys of `data` to follow `like` where both have them; keys new in `data` follow in
 * their own order. Keeps a human's key order when a document is saved again.
 */
export function orderLike(data: unknown, like: unknown): unknown {
  if (Array.isArray(data)) {
    return data.map((item, i) => (Array.isArray(like) ? orderLike(item, like[i]) : item));
  }
  if (!isPlainObject(data)) return data;
  const out: Record<string, unknown> = {};
  const ref = isPlainObject(like) ? like : {};
  for (const key of Object.keys(ref)) {
    if (Object.hasOwn(data, key)) safeSet(out, key, orderLike(data[key], ref[key]));
  }
  for (const key of Object.keys(data)) {
    if (!Object.hasOwn(out, key)) safeSet(out, key, orderLike(data[key], undefined));
  }
  return out;
}

/** Re-throws anything that is not one of ours as-is; used where a callback supplied by the user runs. */
export function isOwnError(err: unknown): err is ConfigPersistenceError {
  return err instanceof ConfigPersistenceError;
}
