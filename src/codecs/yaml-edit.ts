/**
 * Saving YAML by editing its text: only the nodes whose value changed are rewritten, everything
 * else — numbers as spelled (`9007199254740993`, `1e400`), flow collections, aliases, quoting,
 * comment alignment, blank lines — stays byte for byte as the human wrote it.
 *
 * The old and new values are walked side by side over the `yaml` Document of the old text, and each
 * difference becomes a splice of the text at the node's source range:
 * - a changed scalar is replaced in place, in its own quoting style when the new value allows;
 * - a removed key or list item loses its own lines only (comments above it stay: they may be a
 *   header, and text a human wrote is never dropped silently);
 * - a new key or item is appended at the collection's indentation;
 * - an alias stays an alias while the value it must have is still the anchor's; a merge key
 *   (`<<: *base`) stays while the merged values are still wanted;
 * - a changed flow collection (`[1, 2]`) is rewritten in flow style on its line.
 *
 * `editYaml` returns `undefined` for an edit it cannot express this way (a key that is a
 * collection, an inherited key removed); the caller then falls back to re-printing the document.
 */
import type { Document, Node as YamlNode, Pair, Scalar } from 'yaml';
import { yamlLib } from '../core/lazy-deps.js';
import { deepEqual, isPlainObject } from '../document/tree.js';

interface Splice {
  start: number;
  end: number;
  text: string;
}

/** Thrown inside the walk when an edit cannot be made by splicing; `editYaml` returns undefined. */
class CannotSplice extends Error {}

interface Walk {
  source: string;
  splices: Splice[];
  /** What each anchor's node holds after the edit, for the aliases that follow it. */
  anchors: Map<string, unknown>;
  render: (value: unknown) => string;
}

/**
 * The text of `source` (read as `doc`, whose value is `before`) changed so that it reads as
 * `after`; `undefined` when the change needs a re-print. `render` prints a value as block YAML.
 */
export function editYaml(source: string, doc: Document, before: unknown, after: unknown, render: (value: unknown) => string): string | undefined {
  if (!doc.contents) return undefined;
  const walk: Walk = { source, splices: [], anchors: new Map(), render };
  try {
    visit(walk, doc.contents as YamlNode, before, after);
  } catch (err) {
    if (err instanceof CannotSplice) return undefined;
    throw err;
  }
  // Lines the walk adds end in \n; a file written with CRLF keeps CRLF.
  const eol = source.includes('\r\n') ? '\r\n' : '\n';
  let text = source;
  let floor = Infinity;
  for (const s of walk.splices.sort((a, b) => b.start - a.start || b.end - a.end)) {
    if (s.end > floor) return undefined; // two edits of one stretch of text: re-print instead
    floor = s.start;
    text = text.slice(0, s.start) + (eol === '\n' ? s.text : s.text.replace(/\r?\n/g, eol)) + text.slice(s.end);
  }
  return text;
}

function visit(w: Walk, node: YamlNode, before: unknown, after: unknown): void {
  const { isAlias, isMap, isSeq, isScalar } = yamlLib();
  if (isAlias(node)) {
    const target = w.anchors.has(node.source) ? w.anchors.get(node.source) : before;
    if (!deepEqual(target, after)) replace(w, node, after);
    return;
  }
  if (node.anchor) w.anchors.set(node.anchor, after);
  if (deepEqual(before, after)) return;
  if (isMap(node) && isPlainObject(after) && isPlainObject(before) && !node.flow && Object.keys(after).length > 0) return editMap(w, node.items as Pair[], before, after);
  if (isSeq(node) && Array.isArray(after) && Array.isArray(before) && !node.flow && after.length > 0) return editSeq(w, node.items as YamlNode[], before, after);
  if (isScalar(node) && !isPlainObject(after) && !Array.isArray(after)) return replaceScalar(w, node, after);
  replace(w, node, after);
}

function editMap(w: Walk, pairs: Pair[], before: Record<string, unknown>, after: Record<string, unknown>): void {
  const own = new Set<string>();
  let merges = false;
  for (const pair of pairs) {
    const key = keyText(pair);
    if (key === MERGE) {
      merges = true;
      continue;
    }
    own.add(key);
  }
  // Inherited keys (from merges) cannot be removed without dropping the merge: re-print.
  if (merges && Object.keys(before).some((k) => !own.has(k) && !Object.hasOwn(after, k))) throw new CannotSplice();
  pairs.forEach((pair, i) => {
    const key = keyText(pair);
    if (key === MERGE) return;
    if (!Object.hasOwn(after, key)) return removePair(w, pairs, i);
    if (pair.value === null || pair.value === undefined) throw new CannotSplice();
    visit(w, pair.value as YamlNode, before[key], after[key]);
  });
  const added = Object.keys(after).filter((k) => !own.has(k) && !(Object.hasOwn(before, k) && deepEqual(before[k], after[k])));
  if (added.length === 0) return;
  const first = pairs.find((p) => keyText(p) !== MERGE) ?? pairs[0];
  if (!first) throw new CannotSplice();
  const indent = columnOf(w.source, rangeOf(first.key).start);
  const entries: Record<string, unknown> = {};
  for (const k of added) Object.defineProperty(entries, k, { value: after[k], enumerable: true });
  insertLines(w, endOfPair(pairs[pairs.length - 1]!), indentLines(w.render(entries), indent));
}

function editSeq(w: Walk, items: YamlNode[], before: unknown[], after: unknown[]): void {
  items.forEach((item, i) => {
    if (i >= after.length) return removeItem(w, item);
    if (item === null) throw new CannotSplice();
    visit(w, item, before[i], after[i]);
  });
  if (after.length <= items.length) return;
  const firstItem = items[0];
  if (!firstItem) throw new CannotSplice();
  const dash = dashBefore(w.source, rangeOf(firstItem).start);
  const indent = columnOf(w.source, dash);
  insertLines(w, rangeOf(items[items.length - 1]!).end, indentLines(w.render(after.slice(items.length)), indent));
}

const MERGE = Symbol('merge key');

function keyText(pair: Pair): string | typeof MERGE {
  const { isScalar } = yamlLib();
  const key = pair.key;
  if (!isScalar(key)) throw new CannotSplice();
  if (typeof key.value === 'symbol') return MERGE;
  return key.value === null || key.value === undefined ? '' : String(key.value);
}

/** Start and end (after its trailing comment and line break) of a node. */
function rangeOf(node: unknown): { start: number; valueEnd: number; end: number } {
  const range = (node as YamlNode | null)?.range;
  if (!range) throw new CannotSplice();
  return { start: range[0], valueEnd: range[1], end: range[2] };
}

function endOfPair(pair: Pair): number {
  return pair.value ? rangeOf(pair.value).end : rangeOf(pair.key).end;
}

function lineStart(source: string, at: number): number {
  return source.lastIndexOf('\n', at - 1) + 1;
}

function columnOf(source: string, at: number): number {
  return at - lineStart(source, at);
}

function onlyBlanksBefore(source: string, at: number): boolean {
  return /^[ \t]*$/.test(source.slice(lineStart(source, at), at));
}

/** Where the line after `at` starts (`at` itself when it already is a line start). */
function nextLine(source: string, at: number): number {
  if (at === 0 || source.charCodeAt(at - 1) === 0x0a) return at;
  const nl = source.indexOf('\n', at);
  return nl === -1 ? source.length : nl + 1;
}

function removePair(w: Walk, pairs: Pair[], i: number): void {
  const start = rangeOf(pairs[i]!.key).start;
  const end = endOfPair(pairs[i]!);
  if (onlyBlanksBefore(w.source, start)) {
    w.splices.push({ start: lineStart(w.source, start), end: nextLine(w.source, end), text: '' });
    return;
  }
  // First key after `- `: the next key moves up to take its place.
  const next = pairs[i + 1];
  if (!next) throw new CannotSplice();
  w.splices.push({ start, end: rangeOf(next.key).start, text: '' });
}

function removeItem(w: Walk, item: YamlNode | null): void {
  if (item === null) throw new CannotSplice();
  const dash = dashBefore(w.source, rangeOf(item).start);
  if (!onlyBlanksBefore(w.source, dash)) throw new CannotSplice();
  w.splices.push({ start: lineStart(w.source, dash), end: nextLine(w.source, rangeOf(item).end), text: '' });
}

/** The `-` indicator of the block sequence item that starts at `at`. */
function dashBefore(source: string, at: number): number {
  let k = at - 1;
  while (k >= 0 && (source[k] === ' ' || source[k] === '\t')) k--;
  if (source[k] !== '-') throw new CannotSplice();
  return k;
}

function insertLines(w: Walk, at: number, lines: string): void {
  const needsBreak = at > 0 && w.source.charCodeAt(at - 1) !== 0x0a;
  const pos = needsBreak ? at : nextLine(w.source, at);
  w.splices.push({ start: pos, end: pos, text: `${needsBreak ? '\n' : ''}${lines}` });
}

function indentLines(block: string, indent: number): string {
  const pad = ' '.repeat(indent);
  const body = block.endsWith('\n') ? block : `${block}\n`;
  return body.replace(/^(?=[^\n])/gm, pad);
}

/** Replaces a scalar's text (not its comment), keeping its quoting style when the value allows. */
function replaceScalar(w: Walk, node: Scalar, value: unknown): void {
  const { start, valueEnd } = rangeOf(node);
  const old = w.source.slice(start, valueEnd);
  let text = flowText(value, node.type);
  if (old.endsWith('\n')) text += '\n'; // a block scalar's range ends with its line break
  w.splices.push({ start, end: valueEnd, text });
}

/** Replaces a whole node: block collections stay block, anything else becomes one flow line. */
function replace(w: Walk, node: YamlNode, value: unknown): void {
  const { isCollection } = yamlLib();
  const { start, valueEnd } = rangeOf(node);
  const wasBlock = isCollection(node) && !node.flow;
  const isCollectionValue = (Array.isArray(value) && value.length > 0) || (isPlainObject(value) && Object.keys(value).length > 0);
  let text: string;
  if (wasBlock && isCollectionValue && onlyBlanksBefore(w.source, start)) {
    text = indentLines(w.render(value), columnOf(w.source, start)).slice(columnOf(w.source, start));
    w.splices.push({ start, end: valueEnd, text });
    return;
  }
  text = flowText(value, undefined);
  if (w.source.slice(start, valueEnd).endsWith('\n')) text += '\n';
  // A block collection under `key:` starts on the next line; its replacement goes after the colon.
  const colon = wasBlock ? colonBefore(w.source, start) : -1;
  if (colon !== -1) w.splices.push({ start: colon + 1, end: valueEnd, text: ` ${text}` });
  else w.splices.push({ start, end: valueEnd, text });
}

/** The `:` of the key whose value starts at `at`, when only blanks and line breaks lie between. */
function colonBefore(source: string, at: number): number {
  let k = at - 1;
  while (k >= 0 && /[ \t\r\n]/.test(source[k]!)) k--;
  return source[k] === ':' ? k : -1;
}

const PLAIN_SAFE = /^[A-Za-z_][A-Za-z0-9_./@+-]*$/;
const CORE_WORDS = /^(?:true|True|TRUE|false|False|FALSE|null|Null|NULL)$/;

/** A value on one line, valid in block and flow context alike. */
export function flowText(value: unknown, style?: Scalar['type']): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return '.nan';
    if (!Number.isFinite(value)) return value > 0 ? '.inf' : '-.inf';
    return Object.is(value, -0) ? '-0' : String(value);
  }
  if (typeof value === 'string') return stringText(value, style);
  if (Array.isArray(value)) return `[${value.map((v) => flowText(v)).join(', ')}]`;
  if (isPlainObject(value)) return `{${Object.keys(value).map((k) => `${stringText(k)}: ${flowText(value[k])}`).join(', ')}}`;
  throw new CannotSplice();
}

function stringText(value: string, style?: Scalar['type']): string {
  const printable = !/[\u0000-\u001f\u007f\u2028\u2029\ud800-\udfff]/.test(value);
  if (style === 'QUOTE_SINGLE' && printable) return `'${value.replace(/'/g, "''")}'`;
  if (style !== 'QUOTE_DOUBLE' && PLAIN_SAFE.test(value) && !CORE_WORDS.test(value)) return value;
  return JSON.stringify(value);
}
