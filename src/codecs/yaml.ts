/**
 * YAML. Two parsers, each for what it does best:
 * - js-yaml (core schema) reads plain documents 12–15× faster than `yaml` (the `load` benchmark, 50 KB–1 MB);
 * - `yaml`'s Document API reads anything with anchors, aliases, tags or merge keys (yaml-read.ts:
 *   merge keys, unique keys, explicit tags, alias expansion bounded by size), gives node positions
 *   for messages, and is the map of the text a save edits in place (yaml-edit.ts), so everything
 *   a save does not change stays byte for byte.
 * test/codecs-differential.test.ts checks that both parsers agree on every document the fast path
 * accepts, and refuse every invalid one alike.
 * `yaml` is loaded on first use (src/core/lazy-deps.ts): reading a plain file never needs it.
 */
import jsyaml from 'js-yaml';
import type { Document, LineCounter, Node as YamlNode, Pair } from 'yaml';
import { yamlLib } from '../core/lazy-deps.js';
import type { Codec, SourcePosition } from '../types.js';
import { deepEqual, isPlainObject } from '../document/tree.js';
import { stripBom } from './shared.js';
import { FAST_PATH_SCHEMA, fastPathApplies } from './yaml-fast-path.js';
import { editYaml } from './yaml-edit.js';
import { assertExpansion, readDocument, readOptions, readValue, toPosition } from './yaml-read.js';

export { MAX_ALIAS_EXPANSION } from './yaml-read.js';

/** Whether js-yaml may read a document: see yaml-fast-path.ts for what is sent to `yaml` and why. */
export { fastPathApplies };

/** The YAML codec (`.yaml`, `.yml`). */
export const yamlCodec: Codec = {
  extensions: ['yaml', 'yml'],

  parse(text: string): unknown {
    const source = stripBom(text);
    if (fastPathApplies(source)) {
      try {
        return jsyaml.load(source, { schema: FAST_PATH_SCHEMA }) ?? null;
      } catch {
        // Fall through: the full parser gives the better message and position.
      }
    }
    return readValue(source);
  },

  stringify(data: unknown, previousText?: string): string {
    if (previousText !== undefined) {
      const previous = stripBom(previousText);
      const edited = editInPlace(previous, data);
      if (edited !== undefined) return edited;
      // Same reading as parse (merge keys, tags): a !!binary node must take the plain string value.
      const doc = yamlLib().parseDocument(previous, readOptions());
      if (doc.errors.length === 0 && doc.contents !== null) {
        doc.contents = applyValue(doc, doc.contents as YamlNode, data) as typeof doc.contents;
        quoteMergeLookalikes(doc);
        return doc.toString({ lineWidth: 0 });
      }
    }
    if (data === undefined) return '';
    return stringifyFresh(data);
  },

  locate(text: string, path: ReadonlyArray<string | number>, target: 'key' | 'value' = 'key'): SourcePosition | undefined {
    const { doc, lineCounter } = positionsOf(stripBom(text));
    if (path.length === 0) return doc.contents?.range ? toPosition(lineCounter, doc.contents.range[0]) : undefined;
    const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
    const last = path[path.length - 1]!;
    if (yamlLib().isMap(parent)) {
      const pair = parent.items.find((p) => keyOf(p) === String(last));
      const keyRange = (pair?.key as YamlNode | undefined)?.range;
      const valueRange = (pair?.value as YamlNode | undefined)?.range;
      const at = target === 'value' ? (valueRange ?? keyRange) : (keyRange ?? valueRange);
      return at ? toPosition(lineCounter, at[0]) : undefined;
    }
    const node = doc.getIn(path, true) as YamlNode | undefined;
    return node?.range ? toPosition(lineCounter, node.range[0]) : undefined;
  },
};

/**
 * The previous text with only what changed rewritten (yaml-edit.ts), when that edit reads back as
 * exactly `data`; undefined when the text is unreadable, empty, or the edit is not expressible.
 * Comments are never dropped: a file holding only comments keeps them above the new document.
 */
function editInPlace(previous: string, data: unknown): string | undefined {
  if (data === undefined) return undefined;
  let doc: Document;
  let before: unknown;
  try {
    doc = readDocument(previous).doc;
    assertExpansion(doc);
    before = doc.toJS({ maxAliasCount: -1 });
  } catch {
    return undefined; // an unreadable previous file has no layout to keep: it is written afresh
  }
  // A file of comments only: the comments stay, the document follows them.
  const text = doc.contents
    ? editYaml(previous, doc, before, data, stringifyFresh)
    : previous.trim() === ''
      ? undefined
      : `${previous}${previous.endsWith('\n') ? '' : '\n'}${stringifyFresh(data)}`;
  if (text === undefined) return undefined;
  let reread: unknown;
  try {
    reread = yamlCodec.parse(text);
  } catch {
    return undefined; // an edit that does not parse is a bug of the splicer: re-print instead
  }
  return deepEqual(reread, data) ? text : undefined;
}

// One validation locates every issue in the same text, synchronously: parse it once, not once per
// issue, and let go of the document right after so a large file is not kept alive.
let lastParsed: { text: string; doc: Document; lineCounter: LineCounter } | undefined;

function positionsOf(source: string): { doc: Document; lineCounter: LineCounter } {
  if (lastParsed?.text !== source) {
    if (!lastParsed) queueMicrotask(() => (lastParsed = undefined));
    const { LineCounter, parseDocument } = yamlLib();
    const lineCounter = new LineCounter();
    lastParsed = { text: source, doc: parseDocument(source, readOptions(lineCounter)), lineCounter };
  }
  return lastParsed;
}

function stringifyFresh(data: unknown): string {
  const doc = yamlLib().parseDocument('');
  doc.contents = doc.createNode(data) as typeof doc.contents;
  quoteMergeLookalikes(doc);
  return doc.toString({ lineWidth: 0 });
}

/**
 * `yaml` prints a key that is the string "<<" plain, which reads back as a merge key: quote it.
 * (A merge key read from a file holds a symbol, so it is never touched here.)
 */
function quoteMergeLookalikes(doc: Document): void {
  const { isScalar, visit } = yamlLib();
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === '<<') pair.key.type = 'QUOTE_DOUBLE';
    },
  });
}

/**
 * Rewrites `node` so it holds `value`, changing only what differs: keys that stay keep their
 * position and comments, removed keys disappear, new keys are appended.
 */
function applyValue(doc: Document, node: YamlNode | null, value: unknown): YamlNode {
  const { isAlias, isMap, isScalar, isSeq } = yamlLib();
  if (node && isMap(node) && isPlainObject(value)) {
    const wanted = value as Record<string, unknown>;
    node.items = node.items.filter((pair) => Object.hasOwn(wanted, keyOf(pair)));
    const present = new Set<string>();
    for (const pair of node.items) {
      const key = keyOf(pair);
      present.add(key);
      pair.value = applyValue(doc, pair.value as YamlNode | null, wanted[key]);
    }
    for (const key of Object.keys(wanted)) {
      if (!present.has(key)) node.items.push(doc.createPair(key, wanted[key]) as Pair<unknown, unknown>);
    }
    return node;
  }
  if (node && isSeq(node) && Array.isArray(value)) {
    node.items = node.items.slice(0, value.length);
    value.forEach((item, i) => {
      node.items[i] = i < node.items.length ? applyValue(doc, node.items[i] as YamlNode | null, item) : doc.createNode(item);
    });
    return node;
  }
  if (node && isScalar(node) && !isPlainObject(value) && !Array.isArray(value)) {
    if (!Object.is(node.value, value)) {
      node.value = value;
      // A style chosen for the old value (block literal, quotes) may not fit the new one.
      if (typeof value !== 'string') node.type = undefined;
    }
    return node;
  }
  const fresh = doc.createNode(value) as YamlNode;
  if (node && !isAlias(node)) {
    fresh.commentBefore = node.commentBefore;
    fresh.comment = node.comment;
    fresh.spaceBefore = node.spaceBefore;
  }
  return fresh;
}

function keyOf(pair: Pair<unknown, unknown>): string {
  const key = pair.key;
  return yamlLib().isScalar(key) ? String(key.value) : String(key);
}
