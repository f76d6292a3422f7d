/**
 * The codec registry: picks a format by file extension and turns bytes into documents and back,
 * converting codec failures into the library's coded errors with the file name.
 */
import { ConfigPersistenceError, ParseError, TooLargeError, ValidationError } from '../errors.js';
import { assertDepth } from '../document/tree.js';
import type { Codec, SourcePosition } from '../types.js';
import { jsonCodec } from './json.js';
import { CodecLimitError, CodecSyntaxError, CodecValueError } from './shared.js';
import { yamlCodec } from './yaml.js';
import { jsoncCodec } from './jsonc.js';
import { tomlCodec } from './toml.js';

export { jsonCodec } from './json.js';
export { yamlCodec, MAX_ALIAS_EXPANSION } from './yaml.js';
export { jsoncCodec } from './jsonc.js';
export { tomlCodec } from './toml.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Extension of a file name, lower-case, without the dot ('' when there is none). */
export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

/** Codecs by extension. Built-ins: json, yaml, yml, jsonc, json5, toml; anything unknown is read as JSON. */
export class CodecRegistry {
  private readonly byExtension = new Map<string, Codec>();

  constructor(extra: readonly Codec[] = []) {
    for (const codec of [jsonCodec, yamlCodec, jsoncCodec, tomlCodec, ...extra]) {
      for (const ext of codec.extensions) this.byExtension.set(ext.replace(/^\./, '').toLowerCase(), codec);
    }
  }

  /** Every extension a codec handles (lower case, without the dot). */
  extensions(): string[] {
    return [...this.byExtension.keys()];
  }

  /** True when some codec handles this extension. */
  knows(extension: string): boolean {
    return this.byExtension.has(extension.toLowerCase());
  }

  /** The codec for a file name (JSON for unknown extensions). */
  forFile(name: string): Codec {
    return this.byExtension.get(extensionOf(name)) ?? jsonCodec;
  }

  /** Decodes and parses `bytes` read from `file` (used in messages). */
  decode(file: string, bytes: Uint8Array): unknown {
    return this.parse(file, this.text(file, bytes));
  }

  /** The text of `bytes` read from `file`; `E_PARSE` (with the position) when it is not UTF-8. */
  text(file: string, bytes: Uint8Array): string {
    try {
      return decoder.decode(bytes);
    } catch (err) {
      throw new ParseError(file, 'the file is not valid UTF-8 text', invalidUtf8Position(bytes), err);
    }
  }

  /** Parses text from `file` with its codec. */
  parse(file: string, text: string): unknown {
    let data: unknown;
    const codec = this.forFile(file);
    try {
      data = codec.parse(text);
    } catch (err) {
      if (err instanceof ConfigPersistenceError) throw err;
      if (err instanceof CodecLimitError) throw new TooLargeError(`${file}: ${err.message}.`, file);
      if (err instanceof CodecSyntaxError) throw new ParseError(file, err.message, err.position, err);
      if (err instanceof RangeError) throw new TooLargeError(`${file} is nested too deeply to parse.`, file);
      throw new ParseError(file, err instanceof Error ? err.message : String(err), undefined, err);
    }
    // The JSON codec checks nesting in the walk it makes anyway (its duplicate-key check).
    if (codec !== jsonCodec) assertDepth(data, file);
    return data;
  }

  /** Serialises `data` for `file`, keeping the layout of `previousText` when given. */
  encode(file: string, data: unknown, previousText?: string): Uint8Array {
    try {
      return Buffer.from(this.forFile(file).stringify(data, previousText), 'utf8');
    } catch (err) {
      if (err instanceof CodecValueError) throw new ValidationError(file, [{ path: err.path, message: err.message }], `what a .${extensionOf(file)} file can hold`);
      throw err;
    }
  }

  /** Where the value at `path` sits in `text`, when the codec can tell. */
  locate(file: string, text: string, path: ReadonlyArray<string | number>, target: 'key' | 'value' = 'key'): SourcePosition | undefined {
    try {
      return this.forFile(file).locate?.(text, path, target);
    } catch {
      return undefined; // positions are a courtesy in messages; never fail the real error over them
    }
  }
}

function invalidUtf8Position(bytes: Uint8Array): SourcePosition {
  // Find the first byte sequence the decoder rejects, to point a human at it.
  let line = 1;
  let column = 1;
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    const len = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (len === 0) break;
    let ok = i + len <= bytes.length;
    for (let k = 1; ok && k < len; k++) ok = (bytes[i + k]! & 0xc0) === 0x80;
    if (!ok) break;
    if (b === 10) {
      line++;
      column = 1;
    } else column++;
    i += len;
  }
  return { line, column };
}
