/**
 * The config type a `schema` option gives: a schema declared `as const` types the whole API
 * (json-schema-to-ts's FromSchema), an explicit type argument wins, anything else is open-ended.
 */
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

/** What the `schema` option accepts: a JSON Schema object, or a file name under `schemaDir`. */
export type SchemaOption = object | string;

/**
 * The document type of a schema known at compile time. Only a literal object schema (`as const`,
 * with `type: 'object'` or `properties`) is read; a file name or a schema loaded at run time
 * (`object`) gives `Record<string, unknown>`. Defaulted properties stay optional: a saved document
 * need not spell out what the schema fills in.
 */
export type SchemaConfig<S> = S extends { readonly type: 'object' } | { readonly properties: object }
  ? S extends JSONSchema
    ? FromSchema<S, { keepDefaultedPropertiesOptional: true }>
    : Record<string, unknown>
  : Record<string, unknown>;

/** `T` when given explicitly (not `never`), else the type the schema `S` gives. */
export type ConfigOf<T, S> = [T] extends [never] ? SchemaConfig<S> : T;
