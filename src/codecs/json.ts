/**
 * JSON: parsed with the built-in JSON.parse (fastest), positions found with jsonc-parser only when a
 * message needs one (it is loaded then, src/core/lazy-deps.ts). Saving keeps the file's indentation, key order and final newline.
 */
import type { Node as JsonNode, ParseError as JsoncError } from 'jsonc-parser';
import { jsoncLib } from '../core/lazy-deps.js';
import type { Codec, SourcePosition } from '../types.js';
import { deepEqual, MAX_DEPTH, orderLike } from '../document/tree.js';
import { editJson } from './json-edit.js';
import { CodecLimitError, CodecSyntaxError, positionAt, stripBom } from './shared.js';

/** The JSON codec (`.json`, and the fallback for unknown extensions). */
export const jsonCodec: Codec = {
  extensions: ['json'],

  parse(text: string): unknown {
    const source = stripBom(text);
    let data: unknown;
    try {
      data = JSON.parse(source);
    } catch (err) {
      throw describeJsonError(source, err);
    }
    assertUniqueKeys(source, data);
    return data;
  },

  stringify(data: unknown, previousText?: string): string {
    if (previousText === undefined) return `${JSON.stringify(data, null, 2)}\n`;
    const previous = stripBom(previousText);
    const indent = detectIndent(previous);
    const known = recalled(previous);
    let before: unknown;
    try {
      before = known ? known.data : JSON.parse(previous);
    } catch {
      // An unparsable previous file has no layout or key order worth keeping.
    }
    if (before !== undefined && (known ? known.printed : isPrinted(previous, before, indent))) {
      // Laid out exactly as JSON.stringify lays it out: printing again in its key order keeps all
      // of it, at a fifth of the cost of an edit and the re-read that checks it.
      const ordered = orderLike(data, before); // a fresh copy: the next save may use it as `before`
      const text = `${JSON.stringify(ordered, null, indent)}${previous.endsWith('\n') ? '\n' : ''}`;
      remember(text, ordered, true);
      return text;
    }
    const edited = before === undefined || previous.length > MAX_EDITED_LENGTH ? undefined : editJson(previous, before, data, indent);
    const reread = edited === undefined ? undefined : parseOrUndefined(edited);
    if (edited !== undefined && deepEqual(reread, data)) {
      remember(edited, reread, false);
      return edited;
    }
    const body = JSON.stringify(orderLike(data, before), null, indent);
    return previous.length === 0 || previous.endsWith('\n') ? `${body}\n` : body;
  },

  locate(text: string, path: ReadonlyArray<string | number>, target: 'key' | 'value' = 'key'): SourcePosition | undefined {
    const source = stripBom(text);
    const tree = treeOf(source);
    if (!tree) return undefined;
    const node = nodeAt(tree, path);
    if (!node) return undefined;
    // A property's key is where a human looks for the entry; its value, for what is wrong with it.
    const anchor = target === 'key' && node.parent?.type === 'property' ? node.parent : node;
    return positionAt(source, anchor.offset);
  },
};

/**
 * The texts this codec made lately, by text, with the document each reads as (checked when it was
 * made) and whether it is printed as JSON.stringify prints it: the next save of that file needs no
 * parse of it and no print to compare. Several, not one: saves of 16 files in turn (or together)
 * found only the last file's text and parsed and printed the other 15 again.
 */
// A list searched by length, not a Map keyed by text: hashing a 2 KB text costs more than 64
// length comparisons and the one full comparison of a hit.
const written: Array<{ text: string; data: unknown; printed: boolean }> = [];
/** Bounds of {@link written}: texts kept, and their characters together. */
const WRITTEN_MAX = 64;
const WRITTEN_MAX_CHARS = 4 * 1024 * 1024;
let writtenChars = 0;

function recalled(text: string): { data: unknown; printed: boolean } | undefined {
  for (let i = written.length - 1; i >= 0; i--) {
    const entry = written[i]!;
    if (entry.text.length === text.length && entry.text === text) return entry;
  }
  return undefined;
}

function remember(text: string, data: unknown, printed: boolean): void {
  if (text.length > WRITTEN_MAX_CHARS) return;
  written.push({ text, data, printed }); // newest last: searched first, evicted last
  writtenChars += text.length;
  while (written.length > WRITTEN_MAX || writtenChars > WRITTEN_MAX_CHARS) writtenChars -= written.shift()!.text.length;
}

/** Whether `text` is `before` as JSON.stringify prints it with `indent` (a final newline aside). */
function isPrinted(text: string, before: unknown, indent: string | number): boolean {
  const printed = JSON.stringify(before, null, indent);
  return text === printed || text === `${printed}\n`;
}

/** Larger files are re-printed on save: every edit re-reads the text (json-edit.ts). */
const MAX_EDITED_LENGTH = 4 * 1024 * 1024;

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // an edit that does not parse is re-printed instead (the caller compares)
  }
}

// One validation locates every issue in the same text, synchronously: parse it once, not once per
// issue, and let go of the tree right after so a large file is not kept alive.
let lastTree: { text: string; tree: JsonNode | undefined } | undefined;

function treeOf(source: string): JsonNode | undefined {
  if (lastTree?.text !== source) {
    if (!lastTree) queueMicrotask(() => (lastTree = undefined));
    lastTree = { text: source, tree: jsoncLib().parseTree(source) };
  }
  return lastTree.tree;
}

/**
 * The node at `path`. Validation paths spell array indices as strings ("allowedOrigins.1"), so each
 * segment is read by the type of the node it applies to.
 */
function nodeAt(tree: JsonNode, path: ReadonlyArray<string | number>): JsonNode | undefined {
  let node: JsonNode | undefined = tree;
  for (const segment of path) {
    if (!node) return undefined;
    if (node.type === 'array') {
      const index = typeof segment === 'number' ? segment : /^(0|[1-9]\d*)$/.test(segment) ? Number(segment) : -1;
      node = node.children?.[index];
    } else if (node.type === 'object') {
      // The last property of a name wins, as in JSON.parse.
      const property: JsonNode | undefined = node.children?.findLast((p) => p.children?.[0]?.value === String(segment));
      node = property?.children?.[1];
    } else return undefined;
  }
  return node;
}

/** Builds a syntax error with the position of the first problem, found by a tolerant parser. */
function describeJsonError(source: string, cause: unknown): CodecSyntaxError {
  const { parse: parseTolerant, printParseErrorCode } = jsoncLib();
  const errors: JsoncError[] = [];
  parseTolerant(source, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first) {
    return new CodecSyntaxError(humanJsonError(printParseErrorCode(first.error)), positionAt(source, first.offset), cause);
  }
  if (source.trim() === '') return new CodecSyntaxError('the file is empty', { line: 1, column: 1 }, cause);
  return new CodecSyntaxError(cause instanceof Error ? cause.message : String(cause), undefined, cause);
}

function humanJsonError(code: string): string {
  const words = code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return words === 'value expected' ? 'a value is expected here' : words;
}

/** The indentation unit of a JSON text: the first indented line's leading whitespace, else 2 spaces. */
export function detectIndent(text: string): string | number {
  const match = /\n([ \t]+)["}\]\d\w-]/.exec(text);
  return match ? match[1]! : 2;
}

/**
 * JSON.parse keeps the last of two equal keys without a word; a configuration with `"port"` twice
 * is a mistake to report (`E_PARSE` at the second), as YAML does. The exact check (a tokenizer
 * pass) runs only when counting says a duplicate is possible. Every member of an object is a string
 * followed by blanks and a `:`, so the colons that follow a `"` (blanks between) are at least the
 * members of the text — more when a string holds `":` itself. If they are no more than the members
 * of the parsed value, no member was lost to a duplicate. Cost on a 5 MB file: a few ms against
 * JSON.parse's ~27 (one native search per colon, one walk counting keys).
 */
function assertUniqueKeys(source: string, data: unknown): void {
  if (data === null || typeof data !== 'object') return;
  let keyColons = 0;
  for (let i = source.indexOf(':'); i !== -1; i = source.indexOf(':', i + 1)) {
    let k = i - 1;
    let c = source.charCodeAt(k);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = source.charCodeAt(--k);
    if (c === 0x22) keyColons++;
  }
  if (keyColons <= membersWithin(data)) return;
  const duplicate = firstDuplicateKey(source);
  if (duplicate) throw new CodecSyntaxError(`duplicate key ${JSON.stringify(duplicate.key)}: remove one of them`, positionAt(source, duplicate.offset));
}

/**
 * Object members in a parsed value, at every depth. It is also the JSON codec's nesting check
 * (one walk instead of two; the registry skips its own for JSON): deeper than MAX_DEPTH is
 * `E_TOO_LARGE`, and the walk never recurses further than that.
 */
function membersWithin(data: object): number {
  const count = members(data, 0);
  if (count === -1) throw new CodecLimitError(`it nests deeper than ${MAX_DEPTH} levels; flatten it`);
  return count;
}

function members(node: object, depth: number): number {
  if (depth > MAX_DEPTH) return -1;
  let count = 0;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const item: unknown = node[i];
      if (typeof item !== 'object' || item === null) continue;
      const inner = members(item, depth + 1);
      if (inner === -1) return -1;
      count += inner;
    }
    return count;
  }
  // for-in without hasOwn, as in assertDepth (src/document/tree.ts): parsed objects are plain.
  for (const key in node) {
    count++;
    const value: unknown = (node as Record<string, unknown>)[key];
    if (typeof value !== 'object' || value === null) continue;
    const inner = members(value, depth + 1);
    if (inner === -1) return -1;
    count += inner;
  }
  return count;
}

/** The second occurrence of a key within one object, by a tokenizer pass over the text. */
function firstDuplicateKey(source: string): { key: string; offset: number } | undefined {
  const seen: Array<Set<string>> = [];
  let found: { key: string; offset: number } | undefined;
  jsoncLib().visit(source, {
    onObjectBegin: () => {
      seen.push(new Set());
    },
    onObjectEnd: () => {
      seen.pop();
    },
    onObjectProperty: (property, offset) => {
      const keys = seen[seen.length - 1]!;
      if (keys.has(property)) found ??= { key: property, offset };
      keys.add(property);
    },
  });
  return found;
}
