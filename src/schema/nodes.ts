/**
 * Which schema nodes apply to a value: the node itself and everything it pulls in — local `$ref`s
 * (`#/$defs/...`, `#/definitions/...`, `#`), `allOf` / `anyOf` / `oneOf`, `if` / `then` / `else`
 * and `dependentSchemas` — and, one level down, the nodes for a property (`properties`,
 * `patternProperties`, `additionalProperties`) or a list item (`prefixItems`, `items`). Keywords
 * such as `x-secret` are honoured wherever any applicable node declares them, as a reader of the
 * schema would expect; a `$ref` to another file is not followed (there is only one schema here).
 */
import { isPlainObject } from '../document/tree.js';

/** The schema nodes that apply at one place of a document (empty: nothing is known there). */
export type Nodes = readonly Record<string, unknown>[];

const IN_PLACE = ['allOf', 'anyOf', 'oneOf'] as const;
const CONDITIONAL = ['if', 'then', 'else'] as const;

/** The nodes applying to a whole document validated by `schema`. */
export function rootNodes(schema: unknown): Nodes {
  return expand([schema], schema);
}

/** The nodes applying to property `key` of an object described by `nodes`. */
export function propertyNodes(nodes: Nodes, key: string, root: unknown): Nodes {
  const found: unknown[] = [];
  for (const node of nodes) {
    let matched = false;
    if (isPlainObject(node.properties) && Object.hasOwn(node.properties, key)) {
      found.push(node.properties[key]);
      matched = true;
    }
    if (isPlainObject(node.patternProperties)) {
      for (const [pattern, sub] of Object.entries(node.patternProperties)) {
        if (safeTest(pattern, key)) {
          found.push(sub);
          matched = true;
        }
      }
    }
    if (!matched && isPlainObject(node.additionalProperties)) found.push(node.additionalProperties);
  }
  return expand(found, root);
}

/** The nodes applying to item `index` of a list described by `nodes`. */
export function itemNodes(nodes: Nodes, index: number, root: unknown): Nodes {
  const found: unknown[] = [];
  for (const node of nodes) {
    const prefix = Array.isArray(node.prefixItems) ? node.prefixItems : Array.isArray(node.items) ? node.items : undefined;
    if (prefix && index < prefix.length) found.push(prefix[index]);
    else if (isPlainObject(node.items)) found.push(node.items);
    else if (prefix && isPlainObject(node.additionalItems)) found.push(node.additionalItems);
  }
  return expand(found, root);
}

/** The nodes applying at a dot path's segments below `schema`. */
export function nodesAt(schema: unknown, segments: readonly string[], stop?: (nodes: Nodes) => boolean): Nodes {
  let nodes = rootNodes(schema);
  for (const segment of segments) {
    if (stop?.(nodes)) return nodes;
    nodes = /^(?:0|[1-9][0-9]*)$/.test(segment) && nodes.some(describesList) ? itemNodes(nodes, Number(segment), schema) : propertyNodes(nodes, segment, schema);
  }
  return nodes;
}

function describesList(node: Record<string, unknown>): boolean {
  return node.items !== undefined || node.prefixItems !== undefined;
}

/** `nodes` with every node they pull in, each once (a recursive `$ref` ends the walk). */
function expand(start: readonly unknown[], root: unknown): Nodes {
  const out: Record<string, unknown>[] = [];
  const pending = [...start];
  while (pending.length > 0) {
    const node = pending.pop();
    if (!isPlainObject(node) || out.includes(node)) continue;
    out.push(node);
    if (typeof node.$ref === 'string') pending.push(resolveRef(root, node.$ref));
    for (const keyword of IN_PLACE) if (Array.isArray(node[keyword])) pending.push(...(node[keyword] as unknown[]));
    for (const keyword of CONDITIONAL) pending.push(node[keyword]);
    if (isPlainObject(node.dependentSchemas)) pending.push(...Object.values(node.dependentSchemas));
  }
  return out;
}

/** A local JSON pointer reference (`#`, `#/$defs/user`), else undefined. */
function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  let node = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const key = safeDecode(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if ((!isPlainObject(node) && !Array.isArray(node)) || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function safeDecode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    // ajv refuses a malformed escape when compiling; here it simply names no node.
    return '\u0000';
  }
}

function safeTest(pattern: string, key: string): boolean {
  try {
    return new RegExp(pattern, 'u').test(key);
  } catch {
    // An invalid pattern would have failed ajv's compile; treat it as matching nothing.
    return false;
  }
}
