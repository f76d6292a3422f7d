/**
 * Saving JSON by editing its text (jsonc-parser's `modify`): only the values that changed are
 * rewritten, so a number spelled beyond double precision (`9007199254740993`, `1e400`, `-0`), an
 * inline `[1, 2]` and the file's spacing survive a save of an unrelated key.
 *
 * Changes are found by walking the old and new values side by side: objects key by key, arrays item
 * by item while their length stays (a list that grows or shrinks is rewritten whole: a list is one
 * value in the merge rules too). Past {@link MAX_EDITS} changes the document is re-printed instead,
 * since each edit re-reads the text.
 */
import type { FormattingOptions, JSONPath } from 'jsonc-parser';
import { jsoncLib } from '../core/lazy-deps.js';
import { deepEqual, isPlainObject } from '../document/tree.js';

/** More changes than this in one save re-print the document (each edit costs a parse of the text). */
export const MAX_EDITS = 64;

/**
 * `previous` changed so that it reads as `after` (`before` is what it reads as now), or undefined
 * when the change is better made by re-printing (the root's type changed, too many changes).
 */
export function editJson(previous: string, before: unknown, after: unknown, indent: string | number, opts: { comments?: boolean } = {}): string | undefined {
  const changes: Array<{ path: JSONPath; value: unknown }> = [];
  if (!collect(before, after, [], changes)) return undefined;
  // The fast scan knows no comments: a text that may hold them is edited by jsonc-parser only.
  const replaced = opts.comments ? undefined : replaceScalars(previous, changes);
  if (replaced !== undefined) return replaced;
  const { applyEdits, modify } = jsoncLib();
  const formattingOptions: FormattingOptions = {
    insertSpaces: typeof indent === 'number' || !indent.includes('\t'),
    tabSize: typeof indent === 'number' ? indent : indent.includes('\t') ? 1 : indent.length,
    eol: previous.includes('\r\n') ? '\r\n' : '\n',
  };
  let text = previous;
  for (const change of changes) text = applyEdits(text, modify(text, change.path, change.value, { formattingOptions }));
  return text;
}

/** Adds the changes from `before` to `after` at `path`; false when the document is to be re-printed. */
function collect(before: unknown, after: unknown, path: JSONPath, out: Array<{ path: JSONPath; value: unknown }>): boolean {
  if (deepEqual(before, after)) return true;
  if (out.length > MAX_EDITS) return false;
  if (isPlainObject(before) && isPlainObject(after)) {
    for (const key of Object.keys(before)) {
      if (!Object.hasOwn(after, key)) out.push({ path: [...path, key], value: undefined });
      else if (!collect(before[key], after[key], [...path, key], out)) return false;
    }
    for (const key of Object.keys(after)) if (!Object.hasOwn(before, key)) out.push({ path: [...path, key], value: after[key] });
    return out.length <= MAX_EDITS;
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    for (let i = 0; i < after.length; i++) if (!collect(before[i], after[i], [...path, i], out)) return false;
    return out.length <= MAX_EDITS;
  }
  if (path.length === 0) return false; // the root itself is replaced: nothing to keep
  out.push({ path, value: after });
  return true;
}

/**
 * The common save — a few scalars changed in place — without jsonc-parser: each value is found by
 * a scan of the (valid, already parsed) text that steps over whole values, and its text replaced by
 * its JSON. jsonc-parser's `modify` tokenizes and re-formats the whole text per change: 5× the cost
 * of a durable-write floor's margin on a 2 KB file. Undefined when a change adds, removes or makes
 * a collection, or a path is not found; the caller checks the result parses back to the data.
 */
function replaceScalars(previous: string, changes: ReadonlyArray<{ path: JSONPath; value: unknown }>): string | undefined {
  const splices: Array<{ start: number; end: number; text: string }> = [];
  for (const change of changes) {
    const value = change.value;
    if (value !== null && typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return undefined;
    const start = valueAt(previous, change.path);
    if (start === -1 || previous[start] === '{' || previous[start] === '[') return undefined;
    splices.push({ start, end: endOfValue(previous, start), text: JSON.stringify(value) });
  }
  let text = previous;
  for (const s of splices.sort((a, b) => b.start - a.start)) text = text.slice(0, s.start) + s.text + text.slice(s.end);
  return text;
}

function skipBlanks(text: string, i: number): number {
  let c = text.charCodeAt(i);
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++i);
  return i;
}

/** Offset where the value at `path` starts, or -1. */
function valueAt(text: string, path: JSONPath): number {
  let i = skipBlanks(text, 0);
  for (const segment of path) {
    const open = text[i];
    if (open !== '{' && open !== '[') return -1;
    let index = 0;
    i = skipBlanks(text, i + 1);
    for (;;) {
      if (text[i] === '}' || text[i] === ']' || i >= text.length) return -1;
      let found = false;
      if (open === '{') {
        const keyEnd = endOfValue(text, i);
        found = JSON.parse(text.slice(i, keyEnd)) === String(segment);
        i = skipBlanks(text, skipBlanks(text, keyEnd) + 1); // past the colon
      } else found = index++ === segment;
      if (found) break;
      i = skipBlanks(text, endOfValue(text, i));
      if (text[i] === ',') i = skipBlanks(text, i + 1);
    }
  }
  return i;
}

/** Offset just past the value (string, number, literal, object or array) that starts at `i`. */
function endOfValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return endOfString(text, i) + 1;
  if (c !== '{' && c !== '[') {
    let j = i;
    while (j < text.length && !',}] \t\r\n'.includes(text[j]!)) j++;
    return j;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const d = text[j];
    if (d === '"') j = endOfString(text, j);
    else if (d === '{' || d === '[') depth++;
    else if ((d === '}' || d === ']') && --depth === 0) return j + 1;
  }
  return text.length;
}

/** Offset of the quote that closes the string opened at `i`. */
function endOfString(text: string, i: number): number {
  for (let k = text.indexOf('"', i + 1); k !== -1; k = text.indexOf('"', k + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(k - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return k;
  }
  return text.length;
}
