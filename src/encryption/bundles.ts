/**
 * Encrypted bundles: a bundle that leaves the process (`writeBundle`, CLI `export`, admin
 * `POST export`) while a key is set is wrapped in a JSON envelope holding the bundle's JSON as one
 * encrypted object (encryption/cipher.ts), base64-encoded, so the same shape works as a file, an
 * HTTP body and a JavaScript object:
 *
 * ```json
 * { "format": "config-persistence-bundle-encrypted", "version": 1, "keyId": "…", "data": "…" }
 * ```
 *
 * `importBundle` opens it before anything else: a missing or wrong key, or any changed byte, is
 * `E_CHECKSUM` naming the bundle, with nothing planned or written.
 */
import { isPlainObject } from '../document/tree.js';
import { ConfigPersistenceError, DecryptionError, ParseError } from '../errors.js';
import type { Bundle, EncryptedBundle } from '../types.js';
import { keyIdIn, open, seal, type EncryptionKey } from './cipher.js';

/** `format` of an encrypted bundle envelope. */
export const ENCRYPTED_BUNDLE_FORMAT = 'config-persistence-bundle-encrypted';

/** Whether `raw` (a parsed bundle file or a given object) is an encrypted envelope. */
export function isEncryptedBundle(raw: unknown): raw is EncryptedBundle {
  return isPlainObject(raw) && raw.format === ENCRYPTED_BUNDLE_FORMAT;
}

/** The bundle sealed with `key`. `key` missing: `E_VALIDATION` (encrypt was asked for without one). */
export function encryptBundle(key: EncryptionKey | undefined, bundle: Bundle): EncryptedBundle {
  if (!key) {
    throw new ConfigPersistenceError('E_VALIDATION', 'An encrypted bundle was asked for (encrypt: true) but no key is set: give encryptionKey, CONFIG_PERSISTENCE_KEY or a key file.');
  }
  const data = seal(key, Buffer.from(JSON.stringify(bundle)));
  return { format: ENCRYPTED_BUNDLE_FORMAT, version: 1, keyId: key.id, data: data.toString('base64') };
}

/** The bundle JSON inside an envelope (parsed, still to be checked), or `E_CHECKSUM` naming `label`. */
export function decryptBundle(key: EncryptionKey | undefined, envelope: EncryptedBundle, label: string): unknown {
  if (envelope.version !== 1 || typeof envelope.data !== 'string') {
    throw new ParseError(label, `it is an encrypted bundle of an unknown layout (version ${JSON.stringify(envelope.version)}); upgrade config-persistence to import it`);
  }
  const sealed = Buffer.from(envelope.data, 'base64');
  if (keyIdIn(sealed) !== undefined && keyIdIn(sealed) !== envelope.keyId) {
    throw new DecryptionError('damaged', label, `${label}: its envelope names key ${String(envelope.keyId)} but its content key ${keyIdIn(sealed)}; it was changed after export.`, 'Nothing was imported; export it again.');
  }
  const plain = open(key, sealed, label);
  try {
    return JSON.parse(plain.toString('utf8')) as unknown;
  } catch (err) {
    // Authenticated bytes that are not JSON were sealed by something other than writeBundle.
    throw new ParseError(label, `the encrypted bundle does not hold JSON (${(err as Error).message})`, undefined, err);
  }
}
