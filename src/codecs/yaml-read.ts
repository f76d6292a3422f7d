/**
 * Reading YAML with `yaml` (the full parser): the options every read uses, so a document means the
 * same thing whether it is loaded, edited or located, and the checks `yaml` leaves to its caller.
 *
 * - Merge keys (`<<: *defaults`) merge, as YAML 1.1 defined them and `yaml`'s `merge: true` does.
 * - Keys are unique by what they become in the loaded object: `1:` and `"1":` are one key, and so
 *   are `null:` and `"":` (the object cannot hold both, so a silent last-wins would lose one).
 * - Explicit core tags mean what they say: `!!float 3` is the number 3, `!!int 0x1F` is 31, and a
 *   tag that cannot hold its text (`!!int abc`) is a syntax error instead of a silent string.
 * - Aliases are judged by what they expand to, counted in nodes before anything is expanded: a
 *   hundred references to one scalar is a normal document, a "billion laughs" is refused in
 *   milliseconds however few aliases it uses (and far-gone bombs before `yaml` even reads them).
 * - A second `%YAML` directive for one document is an error (YAML 1.2, 6.8.1), which `yaml` lets by.
 */
import type { Document, DocumentOptions, LineCounter, Node as YamlNode, ParseOptions, SchemaOptions, ScalarTag } from 'yaml';
import jsyaml from 'js-yaml';
import { yamlLib } from '../core/lazy-deps.js';
import type { SourcePosition } from '../types.js';
import { CodecLimitError, CodecSyntaxError } from './shared.js';
import { FAST_PATH_SCHEMA } from './yaml-fast-path.js';

/**
 * Nodes that aliases may add to a document: at least this many, or as many as the text itself
 * holds when that is more (so a large document may reuse its anchors freely).
 */
export const MAX_ALIAS_EXPANSION = 100_000;

type ReadOptions = ParseOptions & DocumentOptions & SchemaOptions;

const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const SPECIAL_FLOAT = new Map<string, number>([
  ['.inf', Infinity], ['.Inf', Infinity], ['.INF', Infinity], ['+.inf', Infinity], ['+.Inf', Infinity], ['+.INF', Infinity],
  ['-.inf', -Infinity], ['-.Inf', -Infinity], ['-.INF', -Infinity], ['.nan', NaN], ['.NaN', NaN], ['.NAN', NaN],
]);
const INT = /^[-+]?[0-9]+$/;

function explicitTag(name: string, resolve: (text: string) => unknown): ScalarTag {
  return {
    tag: `tag:yaml.org,2002:${name}`,
    resolve(text: string, onError: (message: string) => void): unknown {
      const value = resolve(text);
      if (value === undefined) onError(`"${text}" cannot be read as !!${name}; write a ${name} value or drop the tag`);
      return value ?? text;
    },
    stringify: ({ value }) => (typeof value === 'number' && !Number.isFinite(value) ? (Number.isNaN(value) ? '.nan' : value > 0 ? '.inf' : '-.inf') : String(value)),
  };
}

/** `!!float`, `!!int`, `!!bool`, `!!null` written explicitly: read as the core schema spells them. */
const EXPLICIT_TAGS: ScalarTag[] = [
  explicitTag('float', (t) => (FLOAT.test(t) ? Number(t) : SPECIAL_FLOAT.get(t))),
  explicitTag('int', (t) => (INT.test(t) ? Number(t) : /^0x[0-9a-fA-F]+$/.test(t) ? parseInt(t.slice(2), 16) : /^0o[0-7]+$/.test(t) ? parseInt(t.slice(2), 8) : undefined)),
  explicitTag('bool', (t) => (/^(?:true|True|TRUE)$/.test(t) ? true : /^(?:false|False|FALSE)$/.test(t) ? false : undefined)),
  explicitTag('null', (t) => (/^(?:~|null|Null|NULL|)$/.test(t) ? null : undefined)),
];

/** The key a node becomes in the loaded object (a null key is `""`, as `yaml` writes it). */
function loadedKey(node: unknown): string | undefined {
  const { isScalar } = yamlLib();
  if (!isScalar(node)) return undefined;
  if (typeof node.value === 'symbol') return undefined; // a merge key: `yaml` allows several
  return node.value === null || node.value === undefined ? '' : String(node.value);
}

function sameLoadedKey(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const ka = loadedKey(a);
  return ka !== undefined && ka === loadedKey(b);
}

/** The options of every full read (load, edit, locate). */
export function readOptions(lineCounter?: LineCounter): ReadOptions {
  return {
    ...(lineCounter ? { lineCounter } : {}),
    merge: true,
    uniqueKeys: sameLoadedKey,
    customTags: (tags) => [...EXPLICIT_TAGS, ...tags],
    prettyErrors: false,
    // YAML 1.1 tags (!!binary, !!timestamp, !!set, !!omap) would yield Uint8Array, Date, Set and
    // Map: not JSON-like data (they cannot be frozen, merged or saved as JSON). Unresolved, they
    // stay the plain scalars, maps and lists they are written as.
    resolveKnownTags: false,
    logLevel: 'error',
  };
}

/** A document read with {@link readOptions}; throws a positioned `CodecSyntaxError` on the first error. */
export function readDocument(source: string): { doc: Document; lineCounter: LineCounter } {
  const { LineCounter, parseDocument } = yamlLib();
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, readOptions(lineCounter));
  const error = doc.errors[0];
  if (error) {
    // The parser's own advice for this one names its API (`YAML.parseAllDocuments()`), not what a user does.
    const reason = error.code === 'MULTIPLE_DOCS' ? 'a second YAML document starts here (`---`), and a config file holds one: remove the `---` line or split the file' : firstLine(error.message);
    throw new CodecSyntaxError(reason, toPosition(lineCounter, error.pos[0]), error);
  }
  const directive = repeatedYamlDirective(source);
  if (directive !== -1) throw new CodecSyntaxError('a document may have only one %YAML directive', toPosition(lineCounter, directive));
  return { doc, lineCounter };
}

/** Parses `source` fully (see the module comment); the value of the document, `null` when empty. */
export function readValue(source: string): unknown {
  refuseBombEarly(source);
  const { doc } = readDocument(source);
  assertExpansion(doc);
  try {
    // assertExpansion already bounded what aliases produce; yaml's own count (aliases per anchor)
    // would refuse normal documents.
    return doc.toJS({ maxAliasCount: -1 }) ?? null;
  } catch (err) {
    // Unresolved aliases and merges of a non-map are reported by toJS; both are syntax errors.
    throw new CodecSyntaxError(err instanceof Error ? err.message : String(err), undefined, err);
  }
}

/**
 * Refuses a document whose aliases would expand to too many nodes. Sizes are computed once per
 * anchor in document order (an alias refers to the last anchor of its name before it), so the
 * check is linear in the document however deep the aliases nest.
 */
export function assertExpansion(doc: Document): void {
  const { isAlias, isCollection, isPair, isScalar } = yamlLib();
  if (!doc.contents) return;
  const anchors = new Map<string, number>();
  let written = 0;
  let expanded = 0;
  const sizeOf = (node: unknown): number => {
    if (node === null || node === undefined) return 1;
    if (isAlias(node)) {
      const size = anchors.get(node.source);
      if (size === undefined) return 1; // unresolved or its own ancestor: toJS reports it
      expanded += size;
      return size;
    }
    written++;
    let size = 1;
    if (isPair(node)) size = sizeOf(node.key) + sizeOf(node.value);
    else if (isCollection(node)) for (const item of node.items) size += sizeOf(item);
    else if (!isScalar(node)) return size;
    const anchor = (node as YamlNode).anchor;
    if (anchor) anchors.set(anchor, size);
    return size;
  };
  sizeOf(doc.contents);
  const limit = Math.max(MAX_ALIAS_EXPANSION, written);
  if (expanded > limit) {
    throw new CodecLimitError(`aliases expand to more than ${limit} nodes (${expanded} counted): refusing a possible alias bomb`);
  }
}

/**
 * Refuses an alias bomb before `yaml` reads it (its parse alone is ~0.5 MB/s: a 90 KB text of
 * 10,000 aliases takes a third of a second just to read, then is refused). js-yaml reads it in a
 * few ms, aliases as shared objects, so the expansion is counted per distinct object. Only a
 * document far past the exact limit of {@link assertExpansion} is refused here (8× the most that
 * check could ever accept for a text of this length), so the two never disagree on a document
 * that limit accepts; anything js-yaml cannot read is left to the exact check.
 */
function refuseBombEarly(source: string): void {
  if (!source.includes('*')) return;
  let value: unknown;
  try {
    value = jsyaml.load(source, { schema: FAST_PATH_SCHEMA });
  } catch {
    return; // not for js-yaml (tags, merges it reads differently, errors): the exact check decides
  }
  const bound = 8 * Math.max(MAX_ALIAS_EXPANSION, source.length);
  const sizes = new Map<object, number>();
  const sizeOf = (node: unknown, depth: number): number => {
    if (node === null || typeof node !== 'object') return 1;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    if (depth > 512) return 1; // nesting is the depth check's business, not this estimate's
    sizes.set(node, 1); // an alias inside its own anchor counts once: yaml reports the cycle
    let size = 1;
    if (Array.isArray(node)) for (const item of node) size += sizeOf(item, depth + 1);
    else for (const key of Object.keys(node)) size += 2 + sizeOf((node as Record<string, unknown>)[key], depth + 1);
    sizes.set(node, size);
    return size;
  };
  const expanded = sizeOf(value, 0);
  if (expanded > bound) {
    throw new CodecLimitError(`aliases expand to more than ${bound} nodes (${expanded} counted): refusing a possible alias bomb`);
  }
}

/** Offset of a second `%YAML` directive before the first document starts, or -1. */
function repeatedYamlDirective(source: string): number {
  let seen = false;
  for (let at = source.startsWith('%YAML') ? 0 : source.indexOf('\n%YAML'); at !== -1; at = source.indexOf('\n%YAML', at + 1)) {
    const start = source.charCodeAt(at) === 0x0a ? at + 1 : at;
    const before = source.slice(0, start);
    if (/^(?:---|\.\.\.)(?:[ \t\r]|$)/m.test(before)) return -1; // directives of a later document
    if (seen) return start;
    seen = true;
  }
  return -1;
}

/** 1-based line and column of an offset, through the document's line counter. */
export function toPosition(lineCounter: LineCounter, offset: number): SourcePosition {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
