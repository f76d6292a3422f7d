/**
 * Human output of the command line: aligned tables, relative times, sizes, values and colour.
 * Pure functions (no I/O) so the formatting is tested without spawning processes.
 */
import { stringify as yamlStringify } from 'yaml';
import { parseCliValue } from './values.js';

/** ANSI styles; every function is the identity when colour is off. */
export interface Palette {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

/**
 * Whether to colour a stream: never with `NO_COLOR` (any non-empty value, see no-color.org) or
 * `--no-color`, always with `FORCE_COLOR` (non-empty and not "0"), otherwise only on a terminal.
 */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv, flag: boolean | undefined): boolean {
  if (flag === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

/**
 * Our styles are not escape sequences until the moment they are written: the palette marks them
 * with this token, and {@link terminalText} turns only marked codes into ESC sequences after it has
 * escaped every control character in the text. Data cannot forge the token: it is drawn at random
 * per process, after every file was written. So colour comes from the CLI's own styling only, and a
 * `\e[41m` in a config file is printed as the text `\e[41m` — whatever path the value took.
 */
const STYLE_TOKEN = `\uE000${Math.random().toString(36).slice(2, 10)}\uE001`;
const STYLE_MARK = new RegExp(`${STYLE_TOKEN}([0-9;]*)m`, 'g');

/** A palette that styles only when `enabled`. */
export function palette(enabled: boolean): Palette {
  const wrap = (open: number, close: number) => (text: string) => (enabled && text !== '' ? `${STYLE_TOKEN}${open}m${text}${STYLE_TOKEN}${close}m` : text);
  return {
    enabled,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  };
}

/** Printed width of a string: styles take no room. */
export function visibleWidth(text: string): number {
  return [...text.replace(STYLE_MARK, '')].length;
}

/** One table column. */
export interface Column<R> {
  header: string;
  value: (row: R) => string;
  /** Right-aligned (numbers, sizes). */
  align?: 'left' | 'right';
  /**
   * The last column only: a value of several lines keeps them, each continuation line starting
   * under the column (verify's messages list their issues on lines of their own).
   */
  multiline?: boolean;
}

/**
 * An aligned table with a header row; the last column is not padded (no trailing spaces).
 * Returns the lines without a final newline. A cell is one line: line breaks and tabs in data are
 * shown escaped so they cannot break the layout (except in a `multiline` last column).
 */
export function table<R>(rows: readonly R[], columns: ReadonlyArray<Column<R>>, p: Palette = palette(false), indent = ''): string {
  const lastIndex = columns.length - 1;
  const cells = rows.map((row) => columns.map((c, i) => (i === lastIndex && c.multiline ? c.value(row).replace(/\t/g, '\\t') : oneLine(c.value(row)))));
  const firstLines = cells.map((r) => r.map((v) => v.split('\n')[0]!));
  const widths = columns.map((c, i) => Math.max(visibleWidth(c.header), ...firstLines.map((r) => visibleWidth(r[i]!))));
  const line = (values: string[], style: (s: string) => string = (s) => s): string =>
    indent +
    values
      .map((v, i) => {
        const last = i === values.length - 1;
        const pad = ' '.repeat(widths[i]! - visibleWidth(v));
        if (columns[i]!.align === 'right') return pad + style(v);
        return last ? style(v) : style(v) + pad;
      })
      .join('  ')
      .replace(/\s+$/, '');
  const offset = indent + ' '.repeat(widths.slice(0, lastIndex).reduce((sum, w) => sum + w + 2, 0));
  const body = cells.flatMap((r, i) => [line(firstLines[i]!), ...r[lastIndex]!.split('\n').slice(1).map((more) => `${offset}${more.trimEnd()}`)]);
  return [line(columns.map((c) => c.header), p.dim), ...body].join('\n');
}

/**
 * Key/value lines with the keys aligned: `label  value`. With `columns` (the terminal's width) a
 * long value wraps between words, continuing under the value column: a terminal would break it
 * mid-word. Words joined by a no-break space stay together (printed as a plain space).
 */
export function pairs(entries: ReadonlyArray<readonly [string, string]>, p: Palette = palette(false), indent = '', columns?: number): string {
  const width = Math.max(0, ...entries.map(([k]) => visibleWidth(k)));
  const lead = indent.length + width + 2;
  return entries
    .map(([k, v]) => `${indent}${p.dim(oneLine(k).padEnd(width))}  ${wrapWords(oneLine(v), columns === undefined ? Infinity : columns - lead).join(`\n${' '.repeat(lead)}`).replace(/\u00a0/g, ' ')}`)
    .join('\n');
}

/** `text` in lines of at most `width` visible characters, broken at spaces only (a longer word keeps its own line). */
export function wrapWords(text: string, width: number): string[] {
  if (visibleWidth(text) <= width) return [text];
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && visibleWidth(line) + 1 + visibleWidth(word) > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines;
}

/** Text for one line of a table: its line breaks and tabs shown as `\n`, `\t`. */
function oneLine(text: string): string {
  return text.replace(/[\n\t]/g, (c) => (c === '\n' ? '\\n' : '\\t'));
}

/**
 * Control characters a terminal would act on: C0 (all but the line feed), DEL, C1 (U+0080–U+009F;
 * U+009B is a CSI on some terminals), and the bidirectional overrides and isolates that reorder
 * what is displayed.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Shows every control character of `text` as visible text (`\e`, `\r`, `\x07`, `\u202e`): values
 * from config files are data, never terminal instructions. The CLI's own styles are not affected
 * (they are not escape sequences yet, see {@link terminalText}).
 */
export function sanitize(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    if (code === 0x1b) return '\\e';
    if (code === 0x0d) return '\\r';
    if (code === 0x09) return '\\t';
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}

/**
 * The text of human output as it reaches the terminal: every control character escaped
 * ({@link sanitize}), then the palette's styles turned into ANSI sequences. Every line the CLI
 * prints for humans goes through here.
 */
export function terminalText(text: string): string {
  return sanitize(text).replace(STYLE_MARK, '\u001b[$1m');
}

/**
 * JSON output as it reaches the terminal: `JSON.stringify` escapes C0 but leaves DEL, C1 and the
 * bidirectional controls raw; they are written as `\u` escapes (the same JSON value).
 */
export function jsonText(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

/** `512 B`, `12.4 KiB`, `3.0 MiB` (binary units). */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.max(0, Math.round(bytes || 0))} B`;
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${UNITS[unit]}`;
}

/**
 * How long ago `when` was, for humans: `just now`, `42 s ago`, `3 min ago`, `5 h ago`,
 * `2 days ago`; older than 30 days shows the date. Future times read `in 3 min`.
 */
export function relativeTime(when: string | number | Date, now: number = Date.now()): string {
  const time = when instanceof Date ? when.getTime() : typeof when === 'number' ? when : Date.parse(when);
  if (!Number.isFinite(time)) return String(when);
  const delta = now - time;
  const abs = Math.abs(delta);
  const s = Math.round(abs / 1000);
  let text: string;
  if (s < 5) return 'just now';
  if (s < 60) text = `${s} s`;
  else if (s < 3600) text = `${Math.floor(s / 60)} min`;
  else if (s < 86_400) text = `${Math.floor(s / 3600)} h`;
  else if (s < 30 * 86_400) {
    const days = Math.floor(s / 86_400);
    text = `${days} day${days === 1 ? '' : 's'}`;
  } else return new Date(time).toISOString().slice(0, 10);
  return delta >= 0 ? `${text} ago` : `in ${text}`;
}

/** A document value on one line: scalars as YAML would print them, collections as flow JSON. */
export function formatValue(value: unknown, maxWidth = 60): string {
  let text: string;
  if (value === undefined) text = '(unset)';
  else if (value === null) text = 'null';
  else if (typeof value === 'string') text = needsQuotes(value) ? JSON.stringify(value) : value;
  else if (typeof value === 'object') text = JSON.stringify(value);
  else text = String(value);
  text = sanitize(text);
  return [...text].length > maxWidth ? `${[...text].slice(0, maxWidth - 1).join('')}…` : text;
}

/**
 * Strings that would read as another type (as `set` parses them: `8080`, `true`, `null`) or whose
 * edges are invisible are shown quoted.
 */
function needsQuotes(value: string): boolean {
  if (value === '' || value !== value.trim() || /[\n\r\t]/.test(value)) return true;
  try {
    return typeof parseCliValue(value) !== 'string';
  } catch {
    return true; // malformed flow syntax such as "[a": quoting shows it is text
  }
}

/** A document as YAML for `get` of a subtree. */
export function formatDocument(value: unknown): string {
  return yamlStringify(value, { lineWidth: 0 }).replace(/\n$/, '');
}

/**
 * Flattens a document into `[dot path, value]` leaves, in document order. Arrays are leaves (they
 * replace whole under the merge rules); empty objects are leaves too, so nothing is hidden.
 */
export function leaves(doc: unknown, prefix = ''): Array<[string, unknown]> {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return prefix ? [[prefix, doc]] : [];
  const keys = Object.keys(doc);
  if (keys.length === 0) return prefix ? [[prefix, doc]] : [];
  return keys.flatMap((key) => leaves((doc as Record<string, unknown>)[key], prefix ? `${prefix}.${key}` : key));
}

/** `1 backup`, `3 backups`. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
