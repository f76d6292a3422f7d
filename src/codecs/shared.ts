import type { SourcePosition } from '../types.js';

/**
 * A syntax error raised by a codec, with the position when known. The document layer turns it into
 * a `ParseError` that names the file.
 */
/**
 * A value the format cannot hold (TOML has no null), thrown by a codec's stringify; the registry
 * turns it into `E_VALIDATION` naming the file and the path.
 */
export class CodecValueError extends Error {
  constructor(readonly path: string, reason: string) {
    super(reason);
  }
}

export class CodecSyntaxError extends Error {
  readonly position?: SourcePosition;

  constructor(reason: string, position?: SourcePosition, cause?: unknown) {
    super(reason, cause === undefined ? undefined : { cause });
    if (position) this.position = position;
  }
}

/**
 * Raised by a codec when a document is too expensive to accept (alias expansion, nesting).
 * Becomes `E_TOO_LARGE`.
 */
export class CodecLimitError extends Error {}

/** Drops a UTF-8 byte-order mark: editors on Windows add one and JSON.parse rejects it. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** 1-based line and column of a character offset. */
export function positionAt(text: string, offset: number): SourcePosition {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}
