/**
 * Which YAML documents js-yaml may read instead of `yaml` (8–14× faster): those without any
 * construct where the two disagree, or where only `yaml` guards against abuse.
 *
 * Sent to `yaml` (the document needs the full parser when it holds any of these):
 * - anchors, aliases, tags, merge keys (`&`, `*`, `!`, `<<` anywhere, even inside strings), `%` directives;
 * - explicit or empty keys (`? k`, `: v`, `[:]`) and collections as keys (`[a]: v`);
 * - list items empty on their line (`-`, `- -`, `- # note`): js-yaml merges an empty last item of
 *   a nested list with the parent's next item;
 * - quoted scalars that continue on the next line: js-yaml accepts continuation lines that are not
 *   indented;
 * - numbers YAML 1.1 and 1.2 read differently: `0b101`, `+.5`/`-.5`, signed hex/octal (`-0x1` is a
 *   number to js-yaml, a string to YAML 1.2), `-0` (js-yaml reads 0);
 * - null-like keys (`~: x`, `null: x`);
 * - what YAML 1.2 forbids and js-yaml lets by: a comment touching a quote or a flow indicator
 *   (`"x"# c`, `[1]# c`), a flow collection that continues on the next line (its continuation
 *   lines must be indented past the key, which js-yaml does not check), content after `---` on its
 *   line or a `...` marker, a block scalar whose first line is blank or that has an indentation
 *   indicator, and tabs in a line's indentation (block scalars and flow collections included).
 *
 * (Several documents in one file: js-yaml refuses them itself, then `yaml` reports the error.)
 *
 * test/codecs-differential.test.ts generates documents and hand-written-looking texts and checks
 * that wherever this says yes, js-yaml and `yaml` give the same result; it found the signed
 * numbers, `-0`, the key forms, the empty items and the quoted continuations.
 *
 * Cost: every check jumps from one occurrence of its trigger character to the next with the
 * engine's native substring search; nothing walks the text character by character. A regular
 * expression with these alternatives, or a per-character scan, cost 35–55 ms on a 5 MB file — up
 * to a sixth of js-yaml's own parse; this costs a few ms (bench/load.mjs). The checks are
 * conservative: a false alarm (say, ` : ` inside a comment) only means the slower parser reads it.
 */

import jsyaml from 'js-yaml';

/**
 * js-yaml's own core schema. (An extended float type that read `1e400` as Infinity, as YAML 1.2
 * and `yaml` do, made js-yaml a third slower on every document; such exponents go to `yaml`
 * instead, see {@link bigExponent}.)
 */
export const FAST_PATH_SCHEMA = jsyaml.CORE_SCHEMA;

const NL = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const HASH = 0x23;
const DASH = 0x2d;
const COLON = 0x3a;

/** Whether js-yaml may read `source` (see the module comment). */
export function fastPathApplies(source: string): boolean {
  const s = source;
  if (s.includes('&') || s.includes('*') || s.includes('!') || s.includes('<<')) return false;
  if (s.charCodeAt(0) === 0x25 /* % */ || s.includes('\n%')) return false;
  if (bigExponent(s)) return false;
  return !(
    emptyOrExplicitKey(s, ':') ||
    emptyOrExplicitKey(s, '?') ||
    unclosedQuote(s) ||
    emptyListItem(s) ||
    collectionKey(s, ']') ||
    collectionKey(s, '}') ||
    oddNumber(s) ||
    stuckComment(s) ||
    multiLineFlow(s, '[') ||
    multiLineFlow(s, '{') ||
    markerContent(s, '---') ||
    markerContent(s, '...') ||
    blockScalarLead(s, '|') ||
    blockScalarLead(s, '>') ||
    tabIndent(s) ||
    nullLikeKey(s, '~') ||
    nullLikeKey(s, 'null') ||
    nullLikeKey(s, 'Null') ||
    nullLikeKey(s, 'NULL')
  );
}

/**
 * A number with an exponent of three digits or more (`1e400`): js-yaml reads one past a double's
 * range as a string, YAML 1.2 as Infinity. One native regular-expression search (~2 ms on 5 MB).
 */
function bigExponent(s: string): boolean {
  return /[0-9.][eE][-+]?[0-9]{3}/.test(s);
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}

/** A token may start here: line start, after a blank or a flow indicator. */
function tokenStart(s: string, i: number): boolean {
  if (i === 0) return true;
  const p = s.charCodeAt(i - 1);
  return p === NL || isBlank(p) || p === 0x2c /* , */ || p === 0x5b /* [ */ || p === 0x7b; /* { */
}

/** A number may start here: a token start, or after `:` or `-` (as js-yaml's resolvers see it). */
function numberStart(s: string, i: number): boolean {
  if (tokenStart(s, i)) return true;
  const p = s.charCodeAt(i - 1);
  return p === COLON || p === DASH;
}

/** End of the text, a line, a blank or a flow indicator that ends a (possibly empty) key. */
function endsKey(s: string, j: number): boolean {
  if (j >= s.length) return true;
  const c = s.charCodeAt(j);
  return isBlank(c) || c === NL || c === CR || c === 0x2c /* , */ || c === 0x5d /* ] */ || c === 0x7d; /* } */
}

/** Everything between the line's start and `pos` is indentation and list indicators (`- - `). */
function onlyItemsBefore(s: string, pos: number): boolean {
  for (let k = pos - 1; k >= 0; k--) {
    const c = s.charCodeAt(k);
    if (c === NL) return true;
    if (isBlank(c)) continue;
    if (c === DASH && k + 1 < pos && isBlank(s.charCodeAt(k + 1))) continue;
    return false;
  }
  return true;
}

/** `: v`, `[:]`, `? k`: the indicator at a token start, followed by a blank, a flow end or nothing. */
function emptyOrExplicitKey(s: string, indicator: string): boolean {
  for (let i = s.indexOf(indicator); i !== -1; i = s.indexOf(indicator, i + 1)) {
    if (!tokenStart(s, i)) continue;
    if (endsKey(s, i + 1)) return true;
    // `:[b]`, `:"x"`: an empty key before a flow collection or a quoted value
    if (indicator === ':' && '[{"\''.includes(s[i + 1] ?? '')) return true;
  }
  return false;
}

/** A quoted scalar opened at a token start that does not close on its line. */
function unclosedQuote(s: string): boolean {
  let dq = s.indexOf('"');
  let sq = s.indexOf("'");
  let from = 0;
  while (dq !== -1 || sq !== -1) {
    const double = dq !== -1 && (sq === -1 || dq < sq);
    const open = double ? dq : sq;
    let next = open + 1;
    if (tokenStart(s, open)) {
      const close = closingQuote(s, open, double);
      if (close === -1) return true;
      next = close + 1;
    }
    from = next;
    if (dq !== -1 && dq < from) dq = s.indexOf('"', from);
    if (sq !== -1 && sq < from) sq = s.indexOf("'", from);
  }
  return false;
}

/** Index of the quote closing the scalar opened at `open`, or -1 when the line ends first. */
function closingQuote(s: string, open: number, double: boolean): number {
  const quote = double ? 0x22 : 0x27;
  for (let j = open + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === NL || c === CR) return -1;
    if (double && c === 0x5c /* \ */) {
      j++; // an escape (a backslash before the newline continues the scalar: caught next round)
      if (j < s.length && (s.charCodeAt(j) === NL || s.charCodeAt(j) === CR)) return -1;
      continue;
    }
    if (c !== quote) continue;
    if (!double && s.charCodeAt(j + 1) === 0x27) {
      j++; // '' is an escaped quote
      continue;
    }
    return j;
  }
  return -1;
}

/** A line that holds only list indicators, possibly followed by blanks or a comment. */
function emptyListItem(s: string): boolean {
  // Lines ending (before blanks) with `-`: look back from every line end.
  for (let end = s.indexOf('\n'); ; end = s.indexOf('\n', end + 1)) {
    const lineEnd = end === -1 ? s.length : end;
    let k = lineEnd - 1;
    while (k >= 0 && (isBlank(s.charCodeAt(k)) || s.charCodeAt(k) === CR)) k--;
    if (k >= 0 && s.charCodeAt(k) === DASH && onlyItemsBefore(s, k)) return true;
    if (end === -1) break;
  }
  // `- # note`: a comment right after list indicators.
  for (let i = s.indexOf('#'); i !== -1; i = s.indexOf('#', i + 1)) {
    if (i === 0 || !isBlank(s.charCodeAt(i - 1))) continue;
    let k = i - 1;
    while (k >= 0 && isBlank(s.charCodeAt(k))) k--;
    if (k >= 0 && s.charCodeAt(k) === DASH && onlyItemsBefore(s, k)) return true;
  }
  return false;
}

/** `[a]: v`, `{a: 1}: v`: a flow collection used as a key. */
function collectionKey(s: string, close: string): boolean {
  for (let i = s.indexOf(close); i !== -1; i = s.indexOf(close, i + 1)) {
    let k = i + 1;
    while (k < s.length && isBlank(s.charCodeAt(k))) k++;
    if (s.charCodeAt(k) === COLON && endsKey(s, k + 1)) return true;
  }
  return false;
}

/** `0b…`, `+.5`, `-.5`, `+0x…`, `-0o…`, `-0` at a number start. */
function oddNumber(s: string): boolean {
  for (const prefix of ['0b', '+.', '-.', '+0', '-0']) {
    for (let i = s.indexOf(prefix); i !== -1; i = s.indexOf(prefix, i + 1)) {
      if (!numberStart(s, i)) continue;
      const after = i + 2 < s.length ? s.charCodeAt(i + 2) : -1;
      const isDigit = after >= 0x30 && after <= 0x39;
      if (prefix === '0b') {
        if (after === 0x30 || after === 0x31 || after === 0x5f /* _ */) return true;
      } else if (prefix[1] === '.') {
        if (isDigit) return true;
      } else if (after !== -1 && 'xXoObB'.includes(String.fromCharCode(after))) {
        return true;
      } else if (prefix === '-0' && !isDigit && (after === -1 || !'.eE_'.includes(String.fromCharCode(after)))) {
        return true;
      }
    }
  }
  return false;
}

/** `~: x`, `null: x`... as a key: at a line's content start (after list indicators) or in a flow mapping. */
function nullLikeKey(s: string, word: string): boolean {
  for (let i = s.indexOf(word); i !== -1; i = s.indexOf(word, i + 1)) {
    let k = i + word.length;
    while (k < s.length && isBlank(s.charCodeAt(k))) k++;
    const next = s.charCodeAt(k);
    // `null: v` as a block key, after `{`/`,`, or after `[` (`[null: v]`, a one-pair mapping in a flow sequence)
    if (next === COLON && (onlyItemsBefore(s, i) || afterEntryStart(s, i) || afterFlowSequenceStart(s, i))) return true;
    // `{a: 1, null}`: a key without a value in a flow mapping (a comma in a list is a false alarm)
    if ((next === 0x2c || next === 0x7d) && afterEntryStart(s, i)) return true;
  }
  return false;
}

/** `"x"# c`, `[1]#`, `,#`: a `#` right after a quote or flow indicator, which YAML 1.2 refuses. */
function stuckComment(s: string): boolean {
  for (let i = s.indexOf('#'); i !== -1; i = s.indexOf('#', i + 1)) {
    if (i > 0 && '"\'[]{},'.includes(s[i - 1]!)) return true;
  }
  return false;
}

/** A flow collection opened at a token start that is not closed on the same line, or has a collection as a key. */
function multiLineFlow(s: string, open: string): boolean {
  for (let i = s.indexOf(open); i !== -1; i = s.indexOf(open, i + 1)) {
    if (!tokenStart(s, i)) continue;
    let depth = 0;
    let quote = 0;
    const opens: number[] = [];
    let j = i;
    for (; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (c === NL || c === CR) break;
      if (quote !== 0) {
        if (c === quote) quote = 0;
        continue;
      }
      if (c === 0x22 || c === 0x27) quote = c;
      else if (c === 0x5b || c === 0x7b) {
        // `{a: 1, [b]}`: a collection as a key of a flow mapping (js-yaml stringifies it otherwise)
        if (opens.length > 0 && opens[opens.length - 1] === 0x7b && afterEntryStart(s, j)) return true;
        opens.push(c);
        depth++;
      } else if (c === 0x5d || c === 0x7d) {
        opens.pop();
        if (--depth === 0) break;
      } else if (c === HASH && isBlank(s.charCodeAt(j - 1))) break;
    }
    if (depth !== 0 || quote !== 0) return true;
    i = j; // the collections nested in this one were on the stretch just scanned (linear, not quadratic)
  }
  return false;
}

/** The previous non-blank character is `{` or `,`: an entry of a flow collection starts here. */
/** The previous non-blank character opens a flow sequence (`[`). */
function afterFlowSequenceStart(s: string, j: number): boolean {
  let k = j - 1;
  while (k >= 0 && isBlank(s.charCodeAt(k))) k--;
  return k >= 0 && s.charCodeAt(k) === 0x5b;
}

function afterEntryStart(s: string, j: number): boolean {
  let k = j - 1;
  while (k >= 0 && isBlank(s.charCodeAt(k))) k--;
  return k >= 0 && (s.charCodeAt(k) === 0x7b || s.charCodeAt(k) === 0x2c);
}

/** `--- value`, `---x` (anything but a comment on the marker's line) or any `...` at a line start. */
function markerContent(s: string, marker: string): boolean {
  for (let i = s.indexOf(marker); i !== -1; i = s.indexOf(marker, i + 1)) {
    if (i > 0 && s.charCodeAt(i - 1) !== NL) continue;
    if (marker === '...') return true;
    const after = s.charCodeAt(i + 3);
    if (Number.isNaN(after) || after === NL || after === CR) continue;
    if (!isBlank(after)) return true; // `---x`: a plain scalar to YAML 1.2, a marker to js-yaml
    let k = i + 3;
    while (k < s.length && isBlank(s.charCodeAt(k))) k++;
    if (k < s.length && s.charCodeAt(k) !== NL && s.charCodeAt(k) !== CR && s.charCodeAt(k) !== HASH) return true;
  }
  return false;
}

/** A block scalar header (`|`, `>-`, `|2`) followed by a blank line, or with an indentation indicator. */
function blockScalarLead(s: string, indicator: string): boolean {
  for (let i = s.indexOf(indicator); i !== -1; i = s.indexOf(indicator, i + 1)) {
    if (!tokenStart(s, i)) continue;
    let k = i + 1;
    let digits = false;
    for (; k < s.length && '+-0123456789'.includes(s[k]!); k++) digits ||= s[k] !== '+' && s[k] !== '-';
    while (k < s.length && isBlank(s.charCodeAt(k))) k++;
    if (k < s.length && s.charCodeAt(k) === HASH) k = s.indexOf('\n', k) === -1 ? s.length : s.indexOf('\n', k);
    if (k < s.length && s.charCodeAt(k) === CR) k++;
    if (k < s.length && s.charCodeAt(k) !== NL) continue; // not a header: `|` inside a plain scalar
    if (digits) return true;
    let m = k + 1;
    while (m < s.length && (isBlank(s.charCodeAt(m)) || s.charCodeAt(m) === CR)) m++;
    if (m < s.length && s.charCodeAt(m) === NL) return true;
  }
  return false;
}

/** A tab among a line's leading blanks. */
function tabIndent(s: string): boolean {
  for (let i = s.indexOf('\t'); i !== -1; i = s.indexOf('\t', i + 1)) {
    let k = i - 1;
    while (k >= 0 && isBlank(s.charCodeAt(k))) k--;
    if (k < 0 || s.charCodeAt(k) === NL) return true;
    while (i + 1 < s.length && isBlank(s.charCodeAt(i + 1))) i++; // the rest of this run has the same answer
  }
  return false;
}
