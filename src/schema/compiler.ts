/**
 * Compiling a JSON Schema with ajv (draft 2020-12 + ajv-formats; draft-06/07 schemas are recognised
 * by their `$schema`), and ajv's standalone code for the compiled validator, which the validator
 * cache (src/storage/local/validator-cache.ts) keeps on disk so later processes skip this module's work.
 *
 * ajv is loaded on the first compile of the process only (src/core/lazy-deps.ts): loading it and running
 * its compiler were most of a cold start.
 */
import type { ValidateFunction } from 'ajv';
import { ConfigPersistenceError } from '../errors.js';
import { requireDependency } from '../core/lazy-deps.js';
import { X_MERGE_KEYWORD } from './merge.js';
import { X_SECRET_KEYWORD } from './secrets.js';
import { X_ENV_KEYWORD } from './env-names.js';

/** The ajv dialect a schema is compiled with. */
export type Draft = '2020-12' | 'draft-07';

/** Draft-04/06/07 schemas name their draft in `$schema`; everything else is read as 2020-12. */
const OLD_DRAFT = /json-schema\.org\/draft-0[67]\/schema/;

/** The dialect `schema` asks for. */
export function draftOf(schema: object): Draft {
  const draft = (schema as { $schema?: unknown }).$schema;
  return typeof draft === 'string' && OLD_DRAFT.test(draft) ? 'draft-07' : '2020-12';
}

/**
 * The ajv options that shape the generated code (part of the validator cache key).
 * allErrors: a human fixes every problem in one go; strict off: schemas written for other tools
 * often carry extra keywords (title, examples, x-*) that are harmless here. Our own keywords
 * (x-merge, x-secret, x-env) are known with meta-schemas so a typo is a schema error; being options, they
 * are in the cache key too, so a validator cached before they existed is not reused unchecked.
 */
export function codeOptions(useDefaults: boolean): Record<string, unknown> {
  return { allErrors: true, strict: false, useDefaults, allowUnionTypes: true, formats: 'ajv-formats/full', keywords: [X_MERGE_KEYWORD, X_SECRET_KEYWORD, X_ENV_KEYWORD] };
}

/** What to compile. */
export interface CompileRequest {
  schema: object;
  draft: Draft;
  /** Fill missing values from the schema's `default` keywords while validating. */
  useDefaults: boolean;
  /** Check the schema against its meta-schema (once per schema is enough: it is the same schema). */
  checkSchema: boolean;
  /** Also generate the standalone source (for the validator cache). */
  standalone: boolean;
  /** The schema file, for the message of an invalid schema. */
  file: string | undefined;
}

/** A compiled validator, with its standalone source when asked for and ajv could produce it. */
export interface CompileResult {
  validate: ValidateFunction;
  source?: string;
  /** Why there is no source although it was asked for. */
  sourceError?: unknown;
}

interface AjvInstance {
  compile(schema: object): ValidateFunction;
}
type AjvClass = new (opts: Record<string, unknown>) => AjvInstance;

/** CommonJS modules with a default export: the callable sits on `.default` or is the module itself. */
function interop<F>(mod: unknown): F {
  return ((mod as { default?: unknown }).default ?? mod) as F;
}

/** Compiles `request.schema`; an invalid schema throws `E_PARSE` naming the schema file. */
export function compileSchema(request: CompileRequest): CompileResult {
  const AjvCtor: AjvClass =
    request.draft === 'draft-07' ? interop<AjvClass>(requireDependency('ajv')) : requireDependency<{ Ajv2020: AjvClass }>('ajv/dist/2020.js').Ajv2020;
  const addFormats = interop<(ajv: AjvInstance) => void>(requireDependency('ajv-formats'));
  const { formats: _formats, ...options } = codeOptions(request.useDefaults);
  const ajv = new AjvCtor({ ...options, validateSchema: request.checkSchema, ...(request.standalone ? { code: { source: true } } : {}) });
  // With `code.source`, ajv-formats makes the generated code require its formats module instead of
  // referring to functions that only exist in this process.
  addFormats(ajv);
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(request.schema);
  } catch (err) {
    const where = request.file ?? 'the schema given in the options';
    throw new ConfigPersistenceError('E_PARSE', `${where} is not a valid JSON Schema (${err instanceof Error ? err.message : String(err)}); fix the schema.`, {
      file: where,
      cause: err,
    });
  }
  if (!request.standalone) return { validate };
  try {
    const standaloneCode = interop<(ajv: AjvInstance, fn: ValidateFunction) => string>(requireDependency('ajv/dist/standalone/index.js'));
    return { validate, source: standaloneCode(ajv, validate) };
  } catch (err) {
    // Some schemas cannot be written out standalone; they are compiled in every process instead.
    return { validate, sourceError: err };
  }
}

/** The versions that shape the generated code (part of the validator cache key). */
export function compilerVersions(): { ajv: string; ajvFormats: string } {
  return (versions ??= {
    ajv: requireDependency<{ version: string }>('ajv/package.json').version,
    ajvFormats: requireDependency<{ version: string }>('ajv-formats/package.json').version,
  });
}
let versions: { ajv: string; ajvFormats: string } | undefined;
