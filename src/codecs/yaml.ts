/**
 * YAML. Two parsers, each for what it does best:
 * - js-yaml (core schema) reads plain documents 12–15× faster than `yaml` (the `load` benchmark, 50 KB–1 MB);
 * - `yaml`'s Document API reads anything with anchors, aliases, tags or merge keys (it counts alias
 *   expansion, so alias bombs are refused), gives node positions for messages, and edits a file in
 *   place so comments, blank lines and key order survive a save.
 * test/codecs-differential.test.ts checks that both parsers agree on every document the fast path accepts.
 * `yaml` is loaded on first use (src/core/lazy-deps.ts): reading a plain file never needs it.
 */
import jsyaml from 'js-yaml';
import type { Document, LineCounter, Node as YamlNode, Pair } from 'yaml';
import { yamlLib } from '../core/lazy-deps.js';
import type { Codec, SourcePosition } from '../types.js';
import { isPlainObject } from '../document/tree.js';
import { CodecLimitError, CodecSyntaxError, stripBom } from './shared.js';
import { fastPathApplies } from './yaml-fast-path.js';

/** Alias expansions accepted per document; the "billion laughs" family needs far more. */
export const MAX_ALIAS_COUNT = 100;

/** Whether js-yaml may read a document: see yaml-fast-path.ts for what is sent to `yaml` and why. */
export { fastPathApplies };

/** The YAML codec (`.yaml`, `.yml`). */
export const yamlCodec: Codec = {
  extensions: ['yaml', 'yml'],

  parse(text: string): unknown {
    const source = stripBom(text);
    if (fastPathApplies(source)) {
      try {
        return jsyaml.load(source, { schema: jsyaml.CORE_SCHEMA }) ?? null;
      } catch {
        // Fall through: the full parser gives the better message and position.
      }
    }
    return parseFull(source);
  },

  stringify(data: unknown, previousText?: string): string {
    if (previousText !== undefined) {
      // Same tag handling as parse: a !!binary or !!timestamp node must take the plain string value.
      const doc = yamlLib().parseDocument(stripBom(previousText), { resolveKnownTags: false, logLevel: 'error' });
      if (doc.errors.length === 0 && doc.contents !== null) {
        doc.contents = applyValue(doc, doc.contents as YamlNode, data) as typeof doc.contents;
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

// One validation locates every issue in the same text, synchronously: parse it once, not once per
// issue, and let go of the document right after so a large file is not kept alive.
let lastParsed: { text: string; doc: Document; lineCounter: LineCounter } | undefined;

function positionsOf(source: string): { doc: Document; lineCounter: LineCounter } {
  if (lastParsed?.text !== source) {
    if (!lastParsed) queueMicrotask(() => (lastParsed = undefined));
    const { LineCounter, parseDocument } = yamlLib();
    const lineCounter = new LineCounter();
    lastParsed = { text: source, doc: parseDocument(source, { lineCounter, logLevel: 'error' }), lineCounter };
  }
  return lastParsed;
}

function parseFull(source: string): unknown {
  const { LineCounter, parseDocument } = yamlLib();
  const lineCounter = new LineCounter();
  // resolveKnownTags: false — YAML 1.1 tags (!!binary, !!timestamp, !!set, !!omap) would yield
  // Uint8Array, Date, Set and Map: not JSON-like data (they cannot be frozen, merged or saved as
  // JSON). Unresolved, they stay the plain scalars, maps and lists they are written as.
  const doc = parseDocument(source, { lineCounter, uniqueKeys: true, prettyErrors: false, resolveKnownTags: false, logLevel: 'error' });
  const error = doc.errors[0];
  if (error) {
    // The parser's own advice for this one names its API (`YAML.parseAllDocuments()`), not what a user does.
    const reason = error.code === 'MULTIPLE_DOCS' ? 'a second YAML document starts here (`---`), and a config file holds one: remove the `---` line or split the file' : firstLine(error.message);
    throw new CodecSyntaxError(reason, toPosition(lineCounter, error.pos[0]), error);
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? null;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // Only the expansion limit is a bomb; "Unresolved alias" is a plain syntax error.
    if (/excessive alias/i.test(message)) {
      throw new CodecLimitError(`aliases expand too much (more than ${MAX_ALIAS_COUNT} expansions): refusing a possible alias bomb`);
    }
    throw new CodecSyntaxError(message, undefined, err);
  }
}

function stringifyFresh(data: unknown): string {
  const doc = yamlLib().parseDocument('');
  doc.contents = doc.createNode(data) as typeof doc.contents;
  return doc.toString({ lineWidth: 0 });
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

function toPosition(lineCounter: LineCounter, offset: number): SourcePosition {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
