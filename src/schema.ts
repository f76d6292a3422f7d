/**
 * JSON Schema validation with ajv (draft 2020-12 + formats). Schemas are compiled once and cached;
 * every violation is reported at once, with the file:line:column of the offending value.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { cloneDocument } from './document.js';
import { ioError, isErrno, ParseError, ValidationError, type ValidationIssue } from './errors.js';
import type { SourcePosition } from './types.js';

// ajv-formats ships CommonJS with a default export; under NodeNext the callable sits on `.default`.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => void;

/** The schema used when none is configured, if the file exists in `schemaDir`. */
export const DEFAULT_SCHEMA_FILE = 'config.schema.json';

type Locate = (path: ReadonlyArray<string | number>) => SourcePosition | undefined;

interface Compiled {
  check: ValidateFunction;
  withDefaults: ValidateFunction;
}

const compiledCache = new Map<string, Compiled>();

function compile(schema: object): Compiled {
  const key = JSON.stringify(schema);
  let compiled = compiledCache.get(key);
  if (!compiled) {
    const make = (useDefaults: boolean): ValidateFunction => {
      const ajv = new Ajv2020({ allErrors: true, strict: false, useDefaults, allowUnionTypes: true });
      addFormats(ajv);
      return ajv.compile(schema);
    };
    compiled = { check: make(false), withDefaults: make(true) };
    compiledCache.set(key, compiled);
  }
  return compiled;
}

/** Where the schema comes from. */
export interface SchemaSource {
  /** A schema object, or a file name under `schemaDir`. */
  schema?: object | string;
  schemaDir: string;
}

/** Validates documents against the configured schema (or accepts everything when there is none). */
export class SchemaValidator {
  private readonly source: SchemaSource;
  private compiled: Compiled | null | undefined;

  constructor(source: SchemaSource) {
    this.source = source;
    if (source.schema !== undefined && typeof source.schema === 'object') this.compiled = compile(source.schema);
  }

  /** The schema file in use, when the schema comes from a file. */
  get schemaFile(): string | undefined {
    if (typeof this.source.schema === 'object') return undefined;
    return path.join(this.source.schemaDir, this.source.schema ?? DEFAULT_SCHEMA_FILE);
  }

  /** Loads and compiles the schema (once). */
  async ready(): Promise<void> {
    if (this.compiled !== undefined) return;
    const file = this.schemaFile!;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      this.compiled = this.missing(file, err);
      return;
    }
    this.compiled = compile(parseSchema(file, text));
  }

  /** Synchronous {@link ready} for `Configuration.openSync`. */
  readySync(): void {
    if (this.compiled !== undefined) return;
    const file = this.schemaFile!;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      this.compiled = this.missing(file, err);
      return;
    }
    this.compiled = compile(parseSchema(file, text));
  }

  /** True when a schema is configured and loaded. */
  get active(): boolean {
    return Boolean(this.compiled);
  }

  /**
   * Throws `E_VALIDATION` listing every issue. With `applyDefaults`, returns a copy with the schema's
   * defaults filled in (the input is never modified); otherwise returns the input.
   */
  validate<T>(file: string, data: T, opts: { locate?: Locate; applyDefaults?: boolean } = {}): T {
    if (this.compiled === undefined) this.readySync();
    if (!this.compiled) return data;
    const target = opts.applyDefaults ? cloneDocument(data) : data;
    const fn = opts.applyDefaults ? this.compiled.withDefaults : this.compiled.check;
    if (fn(target)) return target;
    throw new ValidationError(file, toIssues(fn.errors ?? [], data, opts.locate));
  }

  private missing(file: string, err: unknown): null {
    // No explicit schema and no default file: validation is simply off.
    if (isErrno(err, 'ENOENT') && this.source.schema === undefined) return null;
    throw ioError('read the schema', file, err);
  }
}

function parseSchema(file: string, text: string): object {
  try {
    return JSON.parse(text) as object;
  } catch (err) {
    throw new ParseError(file, `the schema is not valid JSON (${(err as Error).message})`);
  }
}

/** Turns ajv errors into issues with dot paths, values and source positions. */
export function toIssues(errors: ErrorObject[], data: unknown, locate?: Locate): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    const segments = pointerToSegments(error.instancePath);
    let pathSegments = segments;
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'required') {
      const missing = String((error.params as { missingProperty: string }).missingProperty);
      pathSegments = [...segments, missing];
      message = 'is required';
    } else if (error.keyword === 'additionalProperties') {
      const extra = String((error.params as { additionalProperty: string }).additionalProperty);
      pathSegments = [...segments, extra];
      message = 'is not allowed here (unknown property)';
    } else if (error.keyword === 'enum') {
      message = `must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    const dotPath = pathSegments.join('.');
    const dedupe = `${dotPath}\u0000${message}`;
    if (seen.has(dedupe)) continue;
    seen.add(dedupe);
    const issue: ValidationIssue = { path: dotPath, message, keyword: error.keyword };
    const value = valueAt(data, segments);
    if (error.keyword !== 'required' && value !== undefined) issue.value = value;
    const position = locateNearest(locate, error.keyword === 'required' ? segments : pathSegments);
    if (position) {
      issue.line = position.line;
      issue.column = position.column;
    }
    issues.push(issue);
  }
  return issues;
}

function locateNearest(locate: Locate | undefined, segments: string[]): SourcePosition | undefined {
  if (!locate) return undefined;
  // A missing value has no position: point at the closest parent that exists.
  for (let n = segments.length; n >= 0; n--) {
    const position = locate(segments.slice(0, n));
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
