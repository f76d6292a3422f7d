/**
 * A document as JSON text with the line of every dot path, laid out exactly as
 * `JSON.stringify(doc, null, 2)`: the JSON editor shows validation issues by line with it.
 */

/** The text and the 1-based line where each path's value starts (`''` is the whole document). */
export function printJson(doc: unknown): { text: string; lineOf: Map<string, number> } {
  const lines: string[] = [];
  const lineOf = new Map<string, number>();
  const walk = (value: unknown, key: string, indent: string, path: string[], comma: string): void => {
    lineOf.set(path.join('.'), lines.length + 1);
    const entries = containerEntries(value);
    if (entries === undefined) {
      lines.push(`${indent}${key}${JSON.stringify(value)}${comma}`);
      return;
    }
    const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
    lines.push(`${indent}${key}${open}`);
    entries.forEach(([k, v], i) => walk(v, Array.isArray(value) ? '' : `${JSON.stringify(k)}: `, `${indent}  `, [...path, k], i < entries.length - 1 ? ',' : ''));
    lines.push(`${indent}${close}${comma}`);
  };
  walk(doc, '', '', [], '');
  return { text: lines.join('\n'), lineOf };
}

/** The entries of a non-empty array or object; undefined for anything printed on one line. */
function containerEntries(value: unknown): [string, unknown][] | undefined {
  if (Array.isArray(value)) return value.length > 0 ? value.map((v, i) => [String(i), v]) : undefined;
  if (typeof value === 'object' && value !== null && Object.keys(value).length > 0) return Object.entries(value);
  return undefined;
}

/** The line of `path`, or of the nearest path above it that has one. */
export function lineOfPath(lineOf: Map<string, number>, path: string): number | undefined {
  const segments = path.replace(/\[(\d+)\]/g, '.$1').split('.').filter((s) => s !== '');
  for (let n = segments.length; n >= 0; n--) {
    const line = lineOf.get(segments.slice(0, n).join('.'));
    if (line !== undefined) return line;
  }
  return undefined;
}

/** Start and end offsets of a 1-based line in `text`, to select it. */
export function lineRange(text: string, line: number): [number, number] {
  let start = 0;
  for (let n = 1; n < line; n++) {
    const next = text.indexOf('\n', start);
    if (next < 0) break;
    start = next + 1;
  }
  const end = text.indexOf('\n', start);
  return [start, end < 0 ? text.length : end];
}
