/**
 * Arbitrary environment variable names mapped onto configuration paths, as deployments name them
 * (`DATABASE_URL`, `PORT`) rather than by our `<PREFIX>__A__B` scheme: declared in the schema with
 * `"x-env": "DATABASE_URL"` on the field. Only `properties` are followed (not `$ref`/`allOf`): a
 * mapping must name one path, and a combinator could give the same variable two.
 */
import { isPlainObject } from '../document/tree.js';
import { InvalidNameError } from '../errors.js';

/** The keyword as ajv learns it: `"x-env": 5` or `"x-env": "lower case"` is a schema error. */
export const X_ENV_KEYWORD = { keyword: 'x-env', metaSchema: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } } as const;

/** One variable → path mapping. */
export interface EnvMapping {
  variable: string;
  path: string[];
}

/** The `x-env` declarations of a schema, shallowest first. */
export function schemaEnvMappings(schema: unknown): EnvMapping[] {
  const out: EnvMapping[] = [];
  const walk = (node: unknown, path: string[]): void => {
    if (!isPlainObject(node)) return;
    if (typeof node['x-env'] === 'string' && path.length > 0) out.push({ variable: node['x-env'], path });
    const props = node.properties;
    if (!isPlainObject(props)) return;
    for (const [key, child] of Object.entries(props)) walk(child, [...path, key]);
  };
  walk(schema, []);
  return out.sort((a, b) => a.path.length - b.path.length);
}

/**
 * The mappings of a node-config style `custom-environment-variables` document: the same shape as
 * the configuration, each leaf the variable's name (`{ "database": { "url": "DATABASE_URL" } }`).
 */
export function documentEnvMappings(doc: unknown, file: string): EnvMapping[] {
  const out: EnvMapping[] = [];
  const walk = (node: unknown, path: string[]): void => {
    if (typeof node === 'string' && path.length > 0) {
      out.push({ variable: node, path });
      return;
    }
    if (!isPlainObject(node)) throw new InvalidNameError(`${file}: "${path.join('.')}" must be an environment variable's name (a string) or an object of them.`, file);
    for (const [key, child] of Object.entries(node)) walk(child, [...path, key]);
  };
  walk(doc, []);
  return out.sort((a, b) => a.path.length - b.path.length);
}
