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
export function editJson(previous: string, before: unknown, after: unknown, indent: string | number): string | undefined {
  const changes: Array<{ path: JSONPath; value: unknown }> = [];
  if (!collect(before, after, [], changes)) return undefined;
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
