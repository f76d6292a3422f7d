/**
 * The environment layer: `<PREFIX>__API__PORT=9000` sets `api.port` to the number 9000.
 *
 * - Segments are separated by `__`. Each is matched to an existing key of the configuration
 *   case-insensitively and ignoring `_` and `-` (`SHUTDOWN_GRACE_SECONDS` and `SHUTDOWNGRACESECONDS`
 *   both find `shutdownGraceSeconds`); a segment that matches nothing becomes a new lower-case key.
 *   A numeric segment indexes into an existing list.
 * - Values are parsed as YAML scalars (core schema): `9000` is a number, `true` a boolean, `null` and
 *   `~` null, `"9000"` (quoted) the string `9000`, an empty value the empty string. A flow list or map
 *   (`[a, b]`, `{x: 1}`) is parsed too; anything else stays the raw string.
 * - Variables apply shallowest first, then by name, so `APP__SERVER__PORT` wins over `APP__SERVER`;
 *   an object value merges into an existing object, like every other layer.
 */
import { cloneDocument, getPath, hasPath, isPlainObject, mergeDocuments, setPath } from '../document/tree.js';
import { InvalidNameError } from '../errors.js';
import { yamlLib } from '../core/lazy-deps.js';
import { FORBIDDEN_KEYS } from '../core/names.js';

/** One variable of the prefix, parsed. */
export interface EnvEntry {
  variable: string;
  /** The name segments after the prefix, as written (`['API', 'PORT']`). */
  segments: string[];
  value: unknown;
}

/** A variable as applied: the configuration path it set. */
export interface AppliedEnv {
  variable: string;
  path: string[];
  value: unknown;
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
    entries.push({ variable, segments, value: parseEnvValue(raw) });
  }
  return entries.sort((a, b) => a.segments.length - b.segments.length || (a.variable < b.variable ? -1 : a.variable > b.variable ? 1 : 0));
}

/** Parses an environment value as a YAML scalar (see the module comment). */
export function parseEnvValue(raw: string): unknown {
  if (raw.trim() === '') return raw;
  const plain = plainScalar(raw);
  if (plain !== NOT_PLAIN) return plain;
  let value: unknown;
  try {
    value = yamlLib().parse(raw, { schema: 'core', strict: true, uniqueKeys: true, maxAliasCount: 0, logLevel: 'error' });
  } catch {
    return raw; // not YAML (an unbalanced quote, a stray colon): the value is the text itself
  }
  if (value !== null && typeof value === 'object') {
    const flow = /^\s*[[{]/.test(raw);
    return flow && (isPlainObject(value) || Array.isArray(value)) ? cloneDocument(value) : raw;
  }
  return value;
}

const NOT_PLAIN = Symbol('not a plain scalar');

/** Words the YAML 1.2 core schema reads as booleans or null (yaml's core `bool` and `null` tags). */
const CORE_WORDS = new Map<string, boolean | null>([
  ['true', true], ['True', true], ['TRUE', true],
  ['false', false], ['False', false], ['FALSE', false],
  ['null', null], ['Null', null], ['NULL', null], ['~', null],
]);

/**
 * The common shapes of environment values, read without loading `yaml` (it is a large part of a
 * cold start): decimal integers and fractions, the core schema's booleans and nulls, and words of
 * letters, digits and `_ . / -` that start with a letter (always plain strings in the core schema).
 * Anything else (quotes, `:`, spaces, exponents, hex, flow collections) goes to `yaml`.
 * test/env.test.ts checks that this agrees with `yaml` on every shape it accepts.
 */
function plainScalar(raw: string): unknown {
  const word = CORE_WORDS.get(raw);
  if (word !== undefined) return word;
  // At most 15 digits: exactly representable, so Number() and yaml's parseInt agree.
  if (/^-?(?:0|[1-9][0-9]{0,14})$/.test(raw)) return Number(raw);
  if (/^-?(?:0|[1-9][0-9]{0,14})\.[0-9]{1,15}$/.test(raw)) return parseFloat(raw);
  if (/^[A-Za-z][A-Za-z0-9_./-]*$/.test(raw)) return raw;
  return NOT_PLAIN;
}

/**
 * Applies the entries over `doc` (not modified): returns the new document and what each variable set.
 * Key matching looks at the document as built so far.
 */
export function applyEnv(doc: Record<string, unknown>, entries: readonly EnvEntry[]): { data: Record<string, unknown>; applied: AppliedEnv[] } {
  let data = doc;
  const applied: AppliedEnv[] = [];
  for (const entry of entries) {
    const path = resolvePath(data, entry.segments);
    const existing = getPath(data, path);
    const value = isPlainObject(existing) && isPlainObject(entry.value) ? mergeDocuments(existing, entry.value) : entry.value;
    data = setPath(data, path, value);
    applied.push({ variable: entry.variable, path, value: cloneDocument(value) });
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
    if (Array.isArray(node) && /^\d+$/.test(segment)) key = segment;
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
