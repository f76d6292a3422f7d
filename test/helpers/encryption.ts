/**
 * Fixtures of the encryption tests (test/encryption*.test.ts): stores on a backend with a key, a
 * raw view of the same backend (no encryption layer: the bytes as they are stored), and checks
 * over those bytes.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { ConfigPersistence } from '../../src/index.js';
import type { ConfigPersistenceOptions } from '../../src/index.js';
import { LocalStorage, MemoryStorage, type Storage } from '../../src/storage/index.js';
import { isSealed, keyIdIn } from '../../src/encryption/cipher.js';
import { tempDir } from './tmp.js';

/** A fresh random key as 64 hex digits. */
export const newKey = (): string => randomBytes(32).toString('hex');

/** A backend under test: a way to open instances over one shared place, and the raw bytes there. */
export interface Place {
  name: string;
  dir: string;
  /** A storage over the place for a store (each store gets its own instance). */
  storage(): Storage;
  /** A storage over the place without any layer, for reading and tampering with stored bytes. */
  raw: Storage;
  open(opts?: ConfigPersistenceOptions): ConfigPersistence;
}

/** The backends every encryption test runs on. */
export const BACKENDS: Array<{ name: string; make(): Promise<Place> }> = [
  {
    name: 'LocalStorage',
    async make() {
      const work = await tempDir('cp-enc-');
      const dir = path.join(work, 'config');
      const storage = (): Storage => new LocalStorage(dir);
      return place('LocalStorage', work, dir, storage, storage());
    },
  },
  {
    name: 'MemoryStorage',
    async make() {
      const work = await tempDir('cp-enc-');
      const first = new MemoryStorage();
      const storage = (): Storage => new MemoryStorage({ volume: first.shared });
      return place('MemoryStorage', work, path.join(work, 'config'), storage, first);
    },
  },
];

function place(name: string, work: string, dir: string, storage: () => Storage, raw: Storage): Place {
  return {
    name,
    dir,
    storage,
    raw,
    open: (opts = {}) => new ConfigPersistence({ baseDir: dir, schemaDir: path.join(work, 'schemas'), validatorCache: false, storage: storage(), ...opts }),
  };
}

/** Every stored key and its bytes (lock directories left out). */
export async function rawDump(s: Storage, prefix = ''): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const entry of await s.list(prefix)) {
    if (entry.kind === 'directory') {
      if (entry.key !== '.locks') for (const [k, v] of await rawDump(s, entry.key)) out.set(k, v);
    } else {
      const bytes = await s.read(entry.key);
      if (bytes) out.set(entry.key, Buffer.from(bytes));
    }
  }
  return out;
}

/** The dump as comparable text (hex per key). */
export async function snapshotOf(s: Storage): Promise<Record<string, string>> {
  return Object.fromEntries([...(await rawDump(s))].map(([k, v]) => [k, v.toString('hex')]));
}

/** Keys that hold content: backups (not the index), history objects; not a write's temp files (dot names: staged, never visible). */
export function isContentKey(key: string): boolean {
  if (key.slice(key.lastIndexOf('/') + 1).startsWith('.')) return false;
  return (key.startsWith('backups/') && key !== 'backups/index.jsonl') || key.startsWith('history/objects/');
}

/** The content keys with their header's key id (`undefined` for plain bytes). */
export async function keyIds(s: Storage, also: (key: string) => boolean = () => false): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  for (const [k, v] of await rawDump(s)) if (isContentKey(k) || also(k)) out.set(k, isSealed(v) ? keyIdIn(v) : undefined);
  return out;
}

/** The error a promise rejects with (fails when it resolves). */
export async function errorOf(p: Promise<unknown>): Promise<Error & { code?: string; reason?: string; object?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string; reason?: string; object?: string };
  }
  throw new Error('expected a rejection, but it resolved');
}
