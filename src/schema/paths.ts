/**
 * What a schema says about the value at a path, read from the schema document itself (no
 * validation): used where a value's type must be decided before validating, such as an
 * environment variable that the schema declares a string (src/api/env.ts).
 */
import { isPlainObject } from '../document/tree.js';

type SchemaNode = Record<string, unknown>;

/**
 * True when the schema declares the value at `path` a string: `type: "string"` (or only string
 * types, `const`/`enum` of strings) at the node reached through `properties`,
 * `additionalProperties`, `items`/`prefixItems` and local `$ref`s, in any `allOf` branch.
 */
export function schemaDeclaresString(schema: unknown, path: readonly string[]): boolean {
  if (!isPlainObject(schema)) return false;
  return nodesAt(schema, schema, path, 0).some(isStringNode);
}

function nodesAt(root: SchemaNode, node: SchemaNode, path: readonly string[], depth: number): SchemaNode[] {
  const resolved = depth > 64 ? undefined : deref(root, node);
  if (!resolved) return [];
  const branches = Array.isArray(resolved.allOf) ? resolved.allOf.filter(isPlainObject) : [];
  const inBranches = branches.flatMap((b) => nodesAt(root, b, path, depth + 1));
  if (path.length === 0) return [resolved, ...inBranches];
  const child = childOf(resolved, path[0]!);
  return [...(child ? nodesAt(root, child, path.slice(1), depth + 1) : []), ...inBranches];
}

function childOf(node: SchemaNode, segment: string): SchemaNode | undefined {
  const properties = node.properties;
  if (isPlainObject(properties) && Object.hasOwn(properties, segment) && isPlainObject(properties[segment])) return properties[segment];
  if (/^(0|[1-9]\d*)$/.test(segment)) {
    const prefix = node.prefixItems;
    if (Array.isArray(prefix) && isPlainObject(prefix[Number(segment)])) return prefix[Number(segment)] as SchemaNode;
    if (isPlainObject(node.items)) return node.items;
  }
  return isPlainObject(node.additionalProperties) ? node.additionalProperties : undefined;
}

/** Follows a local `$ref` (`#/$defs/x`, `#/definitions/x`); bounded so a cycle cannot loop. */
function deref(root: SchemaNode, node: SchemaNode): SchemaNode | undefined {
  let current: SchemaNode = node;
  for (let hops = 0; typeof current.$ref === 'string'; hops++) {
    if (!current.$ref.startsWith('#')) return current; // a remote schema: only what is written here counts
    if (hops > 32) return undefined;
    let target: unknown = root;
    for (const part of current.$ref.slice(1).split('/').filter(Boolean)) {
      const key = decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~');
      target = isPlainObject(target) && Object.hasOwn(target, key) ? target[key] : undefined;
    }
    if (!isPlainObject(target)) return undefined;
    current = target;
  }
  return current;
}

function isStringNode(node: SchemaNode): boolean {
  const type = node.type;
  if (type === 'string') return true;
  if (Array.isArray(type) && type.length > 0 && type.every((t) => t === 'string')) return true;
  if (typeof node.const === 'string') return true;
  return Array.isArray(node.enum) && node.enum.length > 0 && node.enum.every((v) => typeof v === 'string');
}
