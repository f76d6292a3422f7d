/**
 * The environment layer: `<PREFIX>__API__PORT=9000` sets `api.port` to the number 9000.
 *
 * - Segments are separated by `__`. Each is matched to an existing key of the configuration
 *   case-insensitively and ignoring `_` and `-` (`SHUTDOWN_GRACE_SECONDS` and `SHUTDOWNGRACESECONDS`
 *   both find `shutdownGraceSeconds`); a segment that matches nothing becomes a new lower-case key.
 *   A numeric segment indexes into an existing list.
 * - A value is typed only where that is unambiguous: a JSON number (`9000`, `-1.5`, `2e3`; an integer
 *   past 2^53 or a number past a double's range stays the text, it would lose digits), `true`,
 *   `false`, `null`, or a JSON array or object (`["a","b"]`, `{"x":1}`). Anything else is the exact
 *   string given — `p@ss #1`, `a # b`, `.inf`, `|`, `&a x`, `'quoted'`, an empty value — nothing is
 *   read as YAML, so nothing is dropped as a comment or an anchor.
 * - Where the schema declares the field a string, the value is always the exact string (`PORT=8080`
 *   for a string field is `"8080"`).
 * - Variables apply shallowest first, then by name, so `APP__SERVER__PORT` wins over `APP__SERVER`;
 *   an object value merges into an existing object, like every other layer.
 */
import { cloneDocument, getPath, hasPath, isPlainObject, mergeDocuments, setPath } from '../document/tree.js';
import { InvalidNameError } from '../errors.js';
import { FORBIDDEN_KEYS } from '../core/names.js';

/** One variable of the prefix, parsed. */
export interface EnvEntry {
  variable: string;
  /** The name segments after the prefix, as written (`['API', 'PORT']`). */
  segments: string[];
  /** The variable's text, exactly. */
  raw: string;
  /** The typed value (see the module comment). */
  value: unknown;
  /** The path a named variable is mapped to (`x-env`, the mapping file), instead of matching `segments`. */
  path?: string[];
  /** The `.env` file and line it was read from, when not from the real environment. */
  origin?: { file: string; line: number };
}

/** A variable as applied: the configuration path it set. */
export interface AppliedEnv {
  variable: string;
  path: string[];
  value: unknown;
  origin?: { file: string; line: number };
}

/** Reads the variables of `prefix` (`APP` or `APP__`; matched case-insensitively). */
export function readEnv(env: Readonly<Record<string, string | undefined>>, prefix: string): EnvEntry[] {
  const head = `${prefix.replace(/_+$/, '')}__`.toUpperCase();
  if (head === '__') throw new InvalidNameError('envPrefix must not be empty; use a name such as "APP" (variables then look like APP__API__PORT).');
  const entries: EnvEntry[] = [];
  for (const variable of Object.keys(env)) {
    const raw = env[variable];
    if (raw === undefined || variable.slice(0, head.length).toUpperCase() !== head) continue;
    const segments = variable.slice(head.length).split('__');
    for (const segment of segments) {
      if (segment === '') {
        throw new InvalidNameError(`Environment variable ${variable} has an empty path segment ("____" or a trailing "__"); write it like ${head}API__PORT.`);
      }
      if (FORBIDDEN_KEYS.has(segment.toLowerCase())) {
        throw new InvalidNameError(`Environment variable ${variable}: "${segment}" is not allowed as a key; rename or unset the variable.`);
      }
    }
    entries.push({ variable, segments, raw, value: parseEnvValue(raw) });
  }
  return entries.sort((a, b) => a.segments.length - b.segments.length || (a.variable < b.variable ? -1 : a.variable > b.variable ? 1 : 0));
}

const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$/;

/** Types an environment value where that is unambiguous, else returns the exact text (see the module comment). */
export function parseEnvValue(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (raw === 'null') return null;
  if (JSON_NUMBER.test(raw)) {
    const n = Number(raw);
    const integer = !/[.eE]/.test(raw);
    return Number.isFinite(n) && (!integer || Number.isSafeInteger(n)) ? n : raw;
  }
  if (raw.startsWith('[') || raw.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(raw);
      // A copy through safeSet: a `__proto__` key stays plain data.
      return cloneDocument(value);
    } catch {
      return raw; // not JSON (`[not a list]`): the text itself
    }
  }
  return raw;
}

/** How the schema types a path, for values it declares strings; none when there is no schema. */
export interface EnvTyping {
  isString(path: readonly string[]): boolean;
}

/**
 * Applies the entries over `doc` (not modified): returns the new document and what each variable set.
 * Key matching looks at the document as built so far; `typing` keeps string fields exact.
 */
export function applyEnv(doc: Record<string, unknown>, entries: readonly EnvEntry[], typing?: EnvTyping): { data: Record<string, unknown>; applied: AppliedEnv[] } {
  let data = doc;
  const applied: AppliedEnv[] = [];
  for (const entry of entries) {
    const path = entry.path ?? resolvePath(data, entry.segments);
    const existing = getPath(data, path);
    const typed = typing?.isString(path) ? entry.raw : entry.value;
    const value = isPlainObject(existing) && isPlainObject(typed) ? mergeDocuments(existing, typed) : typed;
    data = setPath(data, path, value);
    applied.push({ variable: entry.variable, path, value: cloneDocument(value), ...(entry.origin ? { origin: entry.origin } : {}) });
  }
  return { data, applied };
}

/** The document that holds only what the environment set (for attributing validation issues). */
export function envDocument(applied: readonly AppliedEnv[]): Record<string, unknown> {
  let data: Record<string, unknown> = {};
  for (const a of applied) data = setPath(data, a.path, a.value);
  return data;
}

function resolvePath(doc: unknown, segments: readonly string[]): string[] {
  const path: string[] = [];
  let node: unknown = doc;
  for (const segment of segments) {
    let key: string;
    if (Array.isArray(node) && /^(?:0|[1-9][0-9]*)$/.test(segment)) key = segment;
    else key = matchKey(isPlainObject(node) ? Object.keys(node) : [], segment);
    path.push(key);
    node = node !== null && typeof node === 'object' && hasPath(node, [key]) ? (node as Record<string, unknown>)[key] : undefined;
  }
  return path;
}

function matchKey(all: readonly string[], segment: string): string {
  // A document may hold a `__proto__` key as data; never route a variable into it.
  const keys = all.filter((k) => !FORBIDDEN_KEYS.has(k));
  const lower = segment.toLowerCase();
  const exact = keys.find((k) => k.toLowerCase() === lower);
  if (exact !== undefined) return exact;
  const loose = normalise(segment);
  return keys.find((k) => normalise(k) === loose) ?? lower;
}

function normalise(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}
