/**
 * JSON with comments (`.jsonc`, `.json5`-style `//` and `/* *\/` comments, trailing commas): read
 * with jsonc-parser, saved by editing the text in place (json-edit.ts), so the comments a human
 * wrote survive `set()` + `save()`. Only when an edit cannot be made (the root changes type, very
 * many changes) is the document re-printed, and then its comments are lost: there is no place left
 * to attach them to.
 */
import type { ParseError as JsoncError } from 'jsonc-parser';
import { jsoncLib } from '../core/lazy-deps.js';
import { deepEqual, orderLike } from '../document/tree.js';
import type { Codec } from '../types.js';
import { detectIndent, jsonCodec } from './json.js';
import { editJson } from './json-edit.js';
import { CodecSyntaxError, positionAt, stripBom } from './shared.js';

const OPTIONS = { disallowComments: false, allowTrailingComma: true, allowEmptyContent: false } as const;

/** Parses JSON with comments, throwing at the first syntax problem with its position. */
function parseJsonc(text: string): unknown {
  const source = stripBom(text);
  const { parse, printParseErrorCode } = jsoncLib();
  const errors: JsoncError[] = [];
  const data: unknown = parse(source, errors, OPTIONS);
  const first = errors[0];
  if (first) {
    const words = printParseErrorCode(first.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
    throw new CodecSyntaxError(words, positionAt(source, first.offset));
  }
  if (source.trim() === '') throw new CodecSyntaxError('the file is empty', { line: 1, column: 1 });
  return data;
}

/** The JSON-with-comments codec (`.jsonc`, `.json5`). */
export const jsoncCodec: Codec = {
  extensions: ['jsonc', 'json5'],

  parse: parseJsonc,

  stringify(data: unknown, previousText?: string): string {
    if (previousText === undefined) return `${JSON.stringify(data, null, 2)}\n`;
    const previous = stripBom(previousText);
    const indent = detectIndent(previous);
    let before: unknown;
    try {
      before = parseJsonc(previous);
    } catch {
      // An unparsable previous file has no layout or comments to keep: it is re-printed.
    }
    const edited = before === undefined ? undefined : editJson(previous, before, data, indent, { comments: true });
    if (edited !== undefined && deepEqual(tryParse(edited), data)) return edited;
    const body = JSON.stringify(orderLike(data, before), null, indent);
    return `${body}\n`;
  },

  // jsonc-parser's tree tolerates comments, so the JSON codec's locate works unchanged.
  locate: (text, path, target) => jsonCodec.locate?.(text, path, target),
};

function tryParse(text: string): unknown {
  try {
    return parseJsonc(text);
  } catch {
    return undefined; // the caller re-prints when the edit does not read back as the data
  }
}
