/**
 * Where a process's encryption key comes from, first found wins: the `encryptionKey` option, the
 * `encryptionKeyFile` option, env `CONFIG_PERSISTENCE_KEY`, env `CONFIG_PERSISTENCE_KEY_FILE`.
 *
 * A key file holds the key as text (64 hex digits or base64, surrounding whitespace ignored) or as
 * 32 raw bytes. It is refused when its group or others may read it (as ssh refuses a private key):
 * a key readable by everyone protects nothing, and a warning is too easy to miss in a service log.
 * The key file lives outside the managed directory (it is never stored there), like a schema file.
 */
import { readPrivateFileSync } from '../storage/local/files.js';
import path from 'node:path';
import { ConfigPersistenceError, IOError } from '../errors.js';
import { parseKey, type EncryptionKey, type KeyInput } from './cipher.js';

/** Env variable holding the key itself. */
export const KEY_ENV = 'CONFIG_PERSISTENCE_KEY';
/** Env variable naming a key file. */
export const KEY_FILE_ENV = 'CONFIG_PERSISTENCE_KEY_FILE';

/** The options that can carry a key. */
export interface KeyOptions {
  encryptionKey?: KeyInput;
  encryptionKeyFile?: string;
}

/** The key of this process, or `undefined` when none is given anywhere. */
export function resolveKey(options: KeyOptions, env: NodeJS.ProcessEnv = process.env): EncryptionKey | undefined {
  if (options.encryptionKey !== undefined) return parseKey(options.encryptionKey, 'encryptionKey');
  if (options.encryptionKeyFile !== undefined) return readKeyFile(options.encryptionKeyFile);
  const fromEnv = env[KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return parseKey(fromEnv, `env ${KEY_ENV}`);
  const file = env[KEY_FILE_ENV];
  if (file !== undefined && file !== '') return readKeyFile(file);
  return undefined;
}

/** Reads and parses a key file (see the module comment). */
export function readKeyFile(file: string): EncryptionKey {
  const full = path.resolve(file);
  let bytes: Buffer;
  try {
    const read = readPrivateFileSync(full);
    if (process.platform !== 'win32' && (read.mode & 0o077) !== 0) {
      throw new ConfigPersistenceError(
        'E_VALIDATION',
        `The key file ${full} may be read by other users (mode ${(read.mode & 0o777).toString(8)}); a key only its owner can read protects something. Run: chmod 600 ${full}`,
        { file: full },
      );
    }
    bytes = read.bytes;
  } catch (err) {
    if (err instanceof ConfigPersistenceError) throw err;
    throw new IOError(`Cannot read the key file ${full} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the path given as the key file.`, full, err);
  }
  const text = bytes.toString('utf8').trim();
  if (bytes.byteLength === 32 && !/^[0-9a-fA-F]{64}$|^[A-Za-z0-9+/_-]{43}=?$/.test(text)) return parseKey(bytes, `the key file ${full}`);
  return parseKey(text, `the key file ${full}`);
}
