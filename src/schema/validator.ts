/**
 * JSON Schema validation (draft 2020-12 + formats; draft-07 schemas are recognised by their
 * `$schema`). Validators are compiled once per process (src/schema/compiler.ts) and kept in the
 * validator cache (src/storage/local/validator-cache.ts), so a later process loads the compiled code instead of
 * ajv; every violation is reported at once, with the file:line:column of the offending value.
 *
 * Defaults: `validate(..., { applyDefaults: true })` fills missing values from the schema's `default`
 * keywords. Only loads ask for it; saves validate without defaults, so defaults are never written
 * back to a file unless the caller saves the loaded document themselves.
 */
import { readUserFileRaw, readUserFileSync } from '../storage/local/files.js';
import path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import jsyaml from 'js-yaml';
import { cloneDocument } from '../document/tree.js';
import { ioError, isErrno, ParseError, ValidationError, type ValidationIssue } from '../errors.js';
import { codeOptions, compileSchema, compilerVersions, draftOf } from './compiler.js';
import { redactor } from './secrets.js';
import type { SourcePosition } from '../types.js';
import { cacheKey, noteUncacheable, type ValidatorCache } from '../storage/local/validator-cache.js';

/** The schema used when none is configured, if the file exists in `schemaDir`. */
export const DEFAULT_SCHEMA_FILE = 'config.schema.json';

/** Finds where an entry's key (default) or value sits in the source text, for messages. */
export type Locate = (path: ReadonlyArray<string | number>, target?: 'key' | 'value') => SourcePosition | undefined;

interface Compiled {
  check: ValidateFunction;
  /** Same schema with `useDefaults`; `check` itself when the schema declares no defaults. */
  withDefaults: ValidateFunction;
  hasDefaults: boolean;
  /** The schema document compiled. */
  schema: object;
}

/** Compiled validators by schema text: compiling costs tens of ms, validating microseconds. */
const compiledCache = new Map<string, Compiled>();

function compile(schema: object, file: string | undefined, cache: ValidatorCache | undefined): Compiled {
  const text = JSON.stringify(schema);
  let compiled = compiledCache.get(text);
  if (compiled) return compiled;
  const draft = draftOf(schema);
  // The meta-schema check runs once: the second variant is the same schema, already proven valid
  // (it was a third of a cold start). A variant read from the cache was proven valid when written.
  let metaChecked = false;
  const make = (useDefaults: boolean): ValidateFunction => {
    const key = cache ? keyOf(text, draft, useDefaults, file) : undefined;
    const cached = key === undefined ? undefined : cache!.load(key);
    if (cached) return cached;
    const result = compileSchema({ schema, draft, useDefaults, checkSchema: !metaChecked, standalone: key !== undefined, file });
    metaChecked = true;
    if (key !== undefined && result.source !== undefined) cache!.store(key, result.source);
    else if (key !== undefined) noteUncacheable(file, result.sourceError);
    return result.validate;
  };
  const hasDefaults = declaresDefaults(schema);
  // Each variant is compiled on first use: a loader that only fills defaults never pays for the other.
  let check: ValidateFunction | undefined;
  let withDefaults: ValidateFunction | undefined;
  compiled = {
    get check() {
      return (check ??= make(false));
    },
    get withDefaults() {
      return hasDefaults ? (withDefaults ??= make(true)) : this.check;
    },
    hasDefaults,
    schema,
  };
  compiledCache.set(text, compiled);
  return compiled;
}

/** The validator cache key; `undefined` (no caching) when a version it needs cannot be read. */
function keyOf(text: string, draft: string, useDefaults: boolean, file: string | undefined): string | undefined {
  try {
    return cacheKey({ schema: text, draft, options: codeOptions(useDefaults), versions: compilerVersions() });
  } catch (err) {
    noteUncacheable(file, err);
    return undefined;
  }
}

/** True when some subschema has a `default` (otherwise filling defaults needs no copy at all). */
function declaresDefaults(schema: unknown): boolean {
  const stack: unknown[] = [schema];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    if (!Array.isArray(node) && Object.hasOwn(node, 'default')) return true;
    for (const child of Object.values(node)) stack.push(child);
  }
  return false;
}

/** Where the schema comes from. */
export interface SchemaSource {
  /** A schema object, or a file name under `schemaDir` (`.json`, `.yaml` or `.yml`). */
  schema?: object | string;
  schemaDir: string;
  /** Where compiled validators are kept between processes; `undefined`: compile in every process. */
  cache?: ValidatorCache;
}

/** Options of {@link SchemaValidator.validate}. */
export interface ValidateOptions {
  /** Finds source positions for the issues (the document's text is known). */
  locate?: Locate;
  /** Return the document with the schema's defaults filled in. */
  applyDefaults?: boolean;
  /**
   * The caller owns `data` (freshly parsed, shared with nobody): defaults may be written into it
   * directly instead of into a copy. Saves a deep copy of large documents on every load.
   */
  owned?: boolean;
}

/** Validates documents against the configured schema (or accepts everything when there is none). */
export class SchemaValidator {
  private readonly source: SchemaSource;
  private compiled: Compiled | null | undefined;

  constructor(source: SchemaSource) {
    this.source = source;
    if (source.schema !== undefined && typeof source.schema === 'object') this.compiled = compile(source.schema, undefined, source.cache);
  }

  /** The schema file in use, when the schema comes from a file. */
  get schemaFile(): string | undefined {
    if (typeof this.source.schema === 'object') return undefined;
    return path.resolve(this.source.schemaDir, this.source.schema ?? DEFAULT_SCHEMA_FILE);
  }

  /** Whether {@link ready} has nothing left to do. */
  get isReady(): boolean {
    return this.compiled !== undefined;
  }

  /** Loads and compiles the schema (once). */
  async ready(): Promise<void> {
    if (this.compiled !== undefined) return;
    const file = this.schemaFile!;
    let text: string;
    try {
      text = await readUserFileRaw(file);
    } catch (err) {
      this.compiled = this.missing(file, err);
      return;
    }
    this.compiled ??= compile(parseSchema(file, text), file, this.source.cache);
  }

  /** Synchronous {@link ready} for `Configuration.openSync`. */
  readySync(): void {
    if (this.compiled !== undefined) return;
    const file = this.schemaFile!;
    let text: string;
    try {
      text = readUserFileSync(file);
    } catch (err) {
      this.compiled = this.missing(file, err);
      return;
    }
    this.compiled = compile(parseSchema(file, text), file, this.source.cache);
  }

  /** The schema document in use (loaded on first use), or undefined when validation is off. */
  get document(): object | undefined {
    if (this.compiled === undefined) this.readySync();
    return this.compiled ? this.compiled.schema : undefined;
  }

  /** True when a schema is configured and loaded. */
  get active(): boolean {
    return Boolean(this.compiled);
  }

  /**
   * Throws `E_VALIDATION` listing every issue. With `applyDefaults`, returns the document with the
   * schema's defaults filled in — a copy, unless the caller declared it `owned`; the input is
   * otherwise never modified. Without `applyDefaults`, returns the input.
   */
  validate<T>(file: string, data: T, opts: ValidateOptions = {}): T {
    if (this.compiled === undefined) this.readySync();
    const compiled = this.compiled;
    if (!compiled) return data;
    const fill = Boolean(opts.applyDefaults) && compiled.hasDefaults;
    const target = fill && !opts.owned ? cloneDocument(data) : data;
    const fn = fill ? compiled.withDefaults : compiled.check;
    if (fn(target)) return target;
    throw new ValidationError(file, toIssues(fn.errors ?? [], data, opts.locate, compiled.schema));
  }

  private missing(file: string, err: unknown): null {
    // No explicit schema and no default file: validation is simply off.
    if (isErrno(err, 'ENOENT') && this.source.schema === undefined) return null;
    throw ioError('read the schema', file, err);
  }
}

function parseSchema(file: string, text: string): object {
  const yaml = /\.ya?ml$/i.test(file);
  let schema: unknown;
  try {
    schema = yaml ? jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA }) : JSON.parse(text);
  } catch (err) {
    throw new ParseError(file, `the schema is not valid ${yaml ? 'YAML' : 'JSON'} (${(err as Error).message})`);
  }
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw new ParseError(file, 'a JSON Schema must be an object');
  }
  return schema;
}

/** Keywords whose own error only repeats the errors of their subschemas. */
const ECHO_KEYWORDS = new Set(['if']);

/**
 * Turns ajv errors into issues with dot paths, offending values and source positions, sorted by
 * position so they read top to bottom like compiler output.
 *
 * Positions: the offending value itself for a bad value (`current.yaml:6:9 api.port must be <=
 * 65535` points at `70000`), the unknown key for `additionalProperties`, and the parent's key for a
 * missing required property (a missing value has no position of its own).
 */
export function toIssues(errors: ErrorObject[], data: unknown, locate?: Locate, schema?: unknown): ValidationIssue[] {
  // An issue's value is shown wherever the error goes (logs, CLI, HTTP): a secret one is "***".
  const hide = redactor(schema);
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (ECHO_KEYWORDS.has(error.keyword)) continue;
    const segments = pointerToSegments(error.instancePath);
    let pathSegments = segments;
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'required') {
      const missing = String((error.params as { missingProperty: string }).missingProperty);
      pathSegments = [...segments, missing];
      message = 'is required';
    } else if (error.keyword === 'additionalProperties' || error.keyword === 'unevaluatedProperties') {
      const params = error.params as { additionalProperty?: string; unevaluatedProperty?: string };
      pathSegments = [...segments, String(params.additionalProperty ?? params.unevaluatedProperty)];
      message = 'is not allowed here (unknown property)';
    } else if (error.keyword === 'enum') {
      message = `must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    const dotPath = pathSegments.join('.');
    const dedupe = `${dotPath}\u0000${message}`;
    if (seen.has(dedupe)) continue;
    seen.add(dedupe);
    const issue: ValidationIssue = { path: dotPath, message, keyword: error.keyword };
    if (error.keyword !== 'required') {
      const value = valueAt(data, pathSegments);
      if (value !== undefined) issue.value = hide.at(value, pathSegments);
    }
    const target = error.keyword === 'required' || pathSegments !== segments ? 'key' : 'value';
    const position = locateNearest(locate, error.keyword === 'required' ? segments : pathSegments, target);
    if (position) {
      issue.line = position.line;
      issue.column = position.column;
    }
    issues.push(issue);
  }
  return sortByPosition(issues);
}

function sortByPosition(issues: ValidationIssue[]): ValidationIssue[] {
  const rank = (i: ValidationIssue): number => (i.line === undefined ? Number.MAX_SAFE_INTEGER : i.line * 1e6 + (i.column ?? 0));
  // Array.prototype.sort is stable: issues at the same place keep ajv's order.
  return issues.sort((a, b) => rank(a) - rank(b));
}

function locateNearest(locate: Locate | undefined, segments: string[], target: 'key' | 'value'): SourcePosition | undefined {
  if (!locate) return undefined;
  const exact = locate(segments, target);
  if (exact) return exact;
  // A missing value has no position: point at the closest parent that exists.
  for (let n = segments.length - 1; n >= 0; n--) {
    const position = locate(segments.slice(0, n), 'key');
    if (position) return position;
  }
  return undefined;
}

function pointerToSegments(pointer: string): string[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function valueAt(data: unknown, segments: string[]): unknown {
  let node = data;
  for (const s of segments) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, s)) return undefined;
    node = (node as Record<string, unknown>)[s];
  }
  return node;
}
