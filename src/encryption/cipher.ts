/**
 * The encrypted object format (AES-256-GCM, Node's `crypto`), used for backups, history contents,
 * snapshots, bundles and — with `encryptFiles` — live files:
 *
 * ```
 * offset  size  field
 * 0       4     magic "\0CPE"
 * 4       1     format version (1)
 * 5       8     key id: the first 8 bytes of HMAC-SHA256(key, "config-persistence key id")
 * 13      12    nonce, random per object
 * 25      n     ciphertext
 * 25+n    16    GCM tag
 * ```
 *
 * The whole 25-byte header is the additional authenticated data: a changed magic, version, key id
 * or nonce fails the tag like a changed ciphertext byte does. A wrong key is told apart from
 * damage by the key id, before any decryption is tried. The key itself is never stored anywhere.
 */
import * as crypto from 'node:crypto';
import { ConfigPersistenceError, DecryptionError } from '../errors.js';

/** The 4 bytes every encrypted object starts with. */
export const MAGIC = Buffer.from([0x00, 0x43, 0x50, 0x45]); // \0 C P E
/** Format version written by this release. */
export const FORMAT_VERSION = 1;
const KEY_ID_BYTES = 8;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Header length: magic, version, key id, nonce. */
export const HEADER_BYTES = MAGIC.length + 1 + KEY_ID_BYTES + NONCE_BYTES;
/** Bytes an encrypted object has beyond its plaintext. */
export const OVERHEAD = HEADER_BYTES + TAG_BYTES;

/** A parsed key: its 32 bytes and its public id (16 hex digits). */
export interface EncryptionKey {
  readonly id: string;
  /** @internal the raw key; never logged, never written. */
  readonly bytes: Buffer;
}

/** What a key may be given as: 32 bytes, 64 hex digits, or base64 of 32 bytes. */
export type KeyInput = string | Uint8Array;

/**
 * Parses a key. Anything but 32 bytes (raw, 64 hex digits, base64 or base64url) is `E_VALIDATION`
 * saying how to make one; `source` names where the key came from, never the key.
 */
export function parseKey(input: KeyInput, source = 'encryptionKey'): EncryptionKey {
  const bytes = keyBytes(input);
  if (!bytes) {
    throw new ConfigPersistenceError(
      'E_VALIDATION',
      `${source} is not an AES-256 key: give 32 random bytes as 64 hex digits or base64 (make one with: node -e "console.log(require('crypto').randomBytes(32).toString('hex'))").`,
    );
  }
  return { id: keyIdOf(bytes), bytes };
}

function keyBytes(input: KeyInput): Buffer | undefined {
  if (input instanceof Uint8Array) return input.byteLength === 32 ? Buffer.from(input) : undefined;
  if (typeof input !== 'string') return undefined;
  const text = input.trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(text)) {
    const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    return bytes.byteLength === 32 ? bytes : undefined;
  }
  return undefined;
}

/** The public id of a key: 16 hex digits that name it in headers and the settings file. */
export function keyIdOf(bytes: Uint8Array): string {
  return crypto.createHmac('sha256', bytes).update('config-persistence key id').digest().subarray(0, KEY_ID_BYTES).toString('hex');
}

/** Whether `bytes` start like an encrypted object (they may still be damaged). */
export function isSealed(bytes: Uint8Array): boolean {
  return bytes.byteLength >= MAGIC.length && Buffer.from(bytes.buffer, bytes.byteOffset, MAGIC.length).equals(MAGIC);
}

/** The key id in an encrypted object's header, or `undefined` when it has no complete header. */
export function keyIdIn(bytes: Uint8Array): string | undefined {
  if (!isSealed(bytes) || bytes.byteLength < HEADER_BYTES) return undefined;
  return Buffer.from(bytes.buffer, bytes.byteOffset + MAGIC.length + 1, KEY_ID_BYTES).toString('hex');
}

/** Encrypts `plain` with `key` under a fresh random nonce. */
export function seal(key: EncryptionKey, plain: Uint8Array): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header[MAGIC.length] = FORMAT_VERSION;
  Buffer.from(key.id, 'hex').copy(header, MAGIC.length + 1);
  crypto.randomFillSync(header, MAGIC.length + 1 + KEY_ID_BYTES, NONCE_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', key.bytes, header.subarray(HEADER_BYTES - NONCE_BYTES), { authTagLength: TAG_BYTES });
  cipher.setAAD(header);
  return Buffer.concat([header, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

/**
 * Decrypts an object `seal` made. `what` names it in the error (`config/backups/x.yaml`, `the
 * bundle`). Throws {@link DecryptionError}: `no-key` without a key, `wrong-key` when the header
 * names another key, `damaged` when the bytes were changed or cut; never returns unauthenticated bytes.
 */
export function open(key: EncryptionKey | undefined, sealed: Uint8Array, what: string): Buffer {
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (!isSealed(bytes)) throw new DecryptionError('not-encrypted', what, `${what} is not encrypted, but this directory keeps it encrypted: it was replaced by hand or by a process without the key.`, ADVICE);
  const damaged = (why: string): never => {
    throw new DecryptionError('damaged', what, `${what} cannot be decrypted: ${why}; it was changed or damaged after it was written.`, ADVICE);
  };
  if (bytes.byteLength < OVERHEAD) return damaged('it is shorter than an encrypted object');
  if (bytes[MAGIC.length] !== FORMAT_VERSION) return damaged(`its format version is ${bytes[MAGIC.length]}, not ${FORMAT_VERSION}`);
  const id = keyIdIn(bytes)!;
  if (!key) throw new DecryptionError('no-key', what, `${what} is encrypted (key ${id}) and no key was given.`, 'Set CONFIG_PERSISTENCE_KEY, encryptionKey or a key file (--key-file); nothing was read or written.');
  if (id !== key.id) throw new DecryptionError('wrong-key', what, `${what} is encrypted with key ${id}, not with the key given (${key.id}).`, 'Use the key it was encrypted with; nothing was read or written.');
  const header = bytes.subarray(0, HEADER_BYTES);
  const decipher = crypto.createDecipheriv('aes-256-gcm', key.bytes, header.subarray(HEADER_BYTES - NONCE_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(header);
  decipher.setAuthTag(bytes.subarray(bytes.byteLength - TAG_BYTES));
  const body = decipher.update(bytes.subarray(HEADER_BYTES, bytes.byteLength - TAG_BYTES));
  try {
    const rest = decipher.final(); // GCM is a stream mode: empty, unless the platform buffers a block
    return rest.byteLength === 0 ? body : Buffer.concat([body, rest]);
  } catch {
    // final() throws only when the tag does not authenticate header + ciphertext: the bytes above are discarded.
    return damaged('its authentication tag does not match');
  }
}

const ADVICE = 'Nothing was read or written; restore another backup or version (verify lists what is affected).';
