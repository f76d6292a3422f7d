/**
 * The names of a directory's files through whatever the backend offers: `Storage.fileNames` where
 * it has one (no entry per file: on etcd an entry costs its content, locally an lstat), else the
 * files of `list`.
 */
import type { Storage } from './types.js';

/** Names of the files directly in `prefix`, sorted. */
export async function fileNamesOf(storage: Storage, prefix: string): Promise<string[]> {
  if (storage.fileNames) return storage.fileNames(prefix);
  return (await storage.list(prefix)).filter((e) => e.kind === 'file').map((e) => e.name);
}
