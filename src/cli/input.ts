/**
 * Documents the user hands to the CLI from outside the managed directory: a JSON or YAML file named
 * on the command line, or `-` for stdin. Parsed with the library's codecs, so errors carry the same
 * codes and positions as everywhere else.
 */
import { readFile } from 'node:fs/promises';
import { ioError, isErrno, NotFoundError, TooLargeError } from '../errors.js';
import type { Io } from './runtime.js';

/** The library's default `maxFileBytes` (10 MiB): a document handed in is held to the same limit. */
export const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;

/**
 * Reads and parses `source`: a path (format by extension), or `-` for stdin, read as `stdinFormat`
 * (YAML by default, which also accepts JSON).
 */
export async function readInputDocument(source: string, io: Io, stdinFormat: 'yaml' | 'json' = 'yaml'): Promise<unknown> {
  const name = source === '-' ? `stdin.${stdinFormat}` : source;
  const bytes = source === '-' ? await readAll(io.stdin) : await readFile(source).catch((err: unknown) => Promise.reject(readError(source, err)));
  if (bytes.byteLength > DEFAULT_MAX_FILE_BYTES) {
    throw new TooLargeError(`${source === '-' ? 'stdin' : source} is larger than ${DEFAULT_MAX_FILE_BYTES} bytes; split it.`, name);
  }
  const { CodecRegistry } = await import('./library.js');
  return new CodecRegistry().decode(name, bytes);
}

function readError(source: string, err: unknown): Error {
  if (isErrno(err, 'ENOENT')) return new NotFoundError(`${source} does not exist; check the path.`, source);
  return ioError('read', source, err);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    total += buf.byteLength;
    if (total > DEFAULT_MAX_FILE_BYTES) throw new TooLargeError(`stdin is larger than ${DEFAULT_MAX_FILE_BYTES} bytes; split it.`, 'stdin');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
