/**
 * Which documents the managed directory holds: the top-level config files (`default.*`,
 * `current.*`, others) and the profiles. Listing goes through the library's storage interface.
 */
import { NotFoundError } from '../errors.js';
import { RESERVED_NAMES } from '../core/names.js';
import type { KeyOptions } from '../encryption/key-source.js';

/** Extension of a file name, lower-case, without the dot (as the codec registry reads it). */
function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

/** Extensions the CLI treats as configuration documents. */
const DOCUMENT_EXTENSIONS = new Set(['json', 'yaml', 'yml']);

/** The documents of a directory, as names the library accepts (`current.yaml`, `profiles/dev.yaml`). */
export interface Inventory {
  configs: string[];
  profiles: Array<{ name: string; file: string }>;
}

/** Lists configuration documents under `baseDir` without changing anything. */
export async function inventory(baseDir: string): Promise<Inventory> {
  const { LocalStorage } = await import('./library.js');
  const storage = new LocalStorage(baseDir, { durable: false });
  try {
    const top = await storage.list('');
    const configs = top
      .filter((e) => e.kind === 'file' && !e.name.startsWith('.') && !RESERVED_NAMES.has(e.name) && DOCUMENT_EXTENSIONS.has(extensionOf(e.name)))
      .map((e) => e.name)
      .sort(byRole);
    const profiles = (await storage.list('profiles'))
      .filter((e) => e.kind === 'file' && !e.name.startsWith('.') && DOCUMENT_EXTENSIONS.has(extensionOf(e.name)))
      .map((e) => ({ name: e.name.slice(0, -(extensionOf(e.name).length + 1)), file: `profiles/${e.name}` }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return { configs, profiles };
  } finally {
    await storage.close();
  }
}

/** default.* first, then current.*, then the rest by name. */
function byRole(a: string, b: string): number {
  const rank = (n: string) => (n.startsWith('default.') ? 0 : n.startsWith('current.') ? 1 : 2);
  return rank(a) - rank(b) || a.localeCompare(b);
}

/**
 * The parsed content of `current.*` exactly as written: no schema defaults filled in (unlike
 * `loadConfig`), so saving it elsewhere does not copy defaults into another file.
 */
export async function readCurrentAsWritten(baseDir: string, keys: KeyOptions = {}): Promise<unknown> {
  const { configs } = await inventory(baseDir);
  const file = configs.find((name) => name.startsWith('current.'));
  const { LocalStorage, CodecRegistry, EncryptedStorage, readSettings, resolveKey } = await import('./library.js');
  const local = new LocalStorage(baseDir, { durable: false });
  // Through the encryption layer: with encryptFiles, current.* is stored encrypted (docs/encryption.md).
  const storage = new EncryptedStorage(local, { key: resolveKey(keys, {}), files: false, recorded: readSettings(local).values.encryption });
  try {
    const bytes = file === undefined ? undefined : await storage.read(file);
    if (file === undefined || bytes === undefined) {
      throw new NotFoundError(`${storage.describe('current.*')} does not exist: there are no current values to save; name a source file or - for stdin.`);
    }
    return new CodecRegistry().decode(storage.describe(file), bytes);
  } finally {
    await storage.close();
  }
}
