/**
 * TOML (`.toml`), read and written with smol-toml (loaded lazily, src/core/lazy-deps.ts).
 * Dates and times become their ISO text, since a configuration document holds JSON values only
 * (the schema can check them with `format: date-time`). TOML has no null: saving a null is refused
 * with the path, instead of dropping the key as the serialiser would. Saving re-prints the file in
 * the original key order; comments in a TOML file are not kept (smol-toml has no document model).
 */
import { tomlLib } from '../core/lazy-deps.js';
import { isPlainObject, orderLike } from '../document/tree.js';
import type { Codec } from '../types.js';
import { CodecSyntaxError, CodecValueError, stripBom } from './shared.js';

/** The TOML codec (`.toml`). */
export const tomlCodec: Codec = {
  extensions: ['toml'],

  parse(text: string): unknown {
    const toml = tomlLib();
    try {
      return plain(toml.parse(stripBom(text)));
    } catch (err) {
      if (err instanceof toml.TomlError) throw new CodecSyntaxError(err.message.split('\n')[0]!, { line: err.line, column: err.column }, err);
      throw err;
    }
  },

  stringify(data: unknown, previousText?: string): string {
    if (!isPlainObject(data)) throw new CodecSyntaxError('a TOML file holds a table of settings at its top level');
    const nullAt = findNull(data, []);
    if (nullAt !== undefined) throw new CodecValueError(nullAt, 'is null, which TOML cannot hold; delete the key instead');
    let before: unknown;
    try {
      before = previousText === undefined ? undefined : tomlCodec.parse(previousText);
    } catch {
      // An unparsable previous file gives no key order to keep.
    }
    const text = tomlLib().stringify(orderLike(data, before) as Record<string, unknown>);
    return text.endsWith('\n') ? text : `${text}\n`;
  },

  locate(text: string, path: ReadonlyArray<string | number>): { line: number; column: number } | undefined {
    return locateToml(stripBom(text), path.map(String));
  },
};

/** Dates (TomlDate extends Date) as ISO text, everything else as parsed. */
function plain(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: plain(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

function findNull(value: unknown, path: string[]): string | undefined {
  if (value === null) return path.join('.');
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const at = findNull(value[i], [...path, String(i)]);
      if (at !== undefined) return at;
    }
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      const at = findNull(v, [...path, k]);
      if (at !== undefined) return at;
    }
  }
  return undefined;
}

/**
 * Where `a.b.c` is written, for messages: the line of `c = ...` under the table header `[a.b]`, or
 * `b.c = ...` under `[a]`, or a dotted key at the top. A courtesy: undefined when not found.
 */
function locateToml(text: string, path: readonly string[]): { line: number; column: number } | undefined {
  let table: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const header = /^\s*\[\[?\s*([^\]]+?)\s*\]\]?/.exec(line);
    if (header) {
      table = splitKey(header[1]!);
      if (sameStart(path, table) && table.length === path.length) return { line: i + 1, column: line.indexOf('[') + 1 };
      continue;
    }
    const assignment = /^(\s*)([^=#]+?)\s*=/.exec(line);
    if (!assignment) continue;
    const full = [...table, ...splitKey(assignment[2]!)];
    if (sameStart(full, path) || sameStart(path, full)) return { line: i + 1, column: assignment[1]!.length + 1 };
  }
  return undefined;
}

function splitKey(key: string): string[] {
  return key.split('.').map((s) => s.trim().replace(/^["']|["']$/g, ''));
}

function sameStart(path: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
}
