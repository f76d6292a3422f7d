/**
 * Listing a "directory" of the storage protocol on etcd, where a directory is only a key prefix
 * and a file's size, mode and time live in its value: the keys below are read first without
 * values, so what lies deeper (a directory's backups, its history contents) is never read to list
 * one level — listing the root read the whole store before, ~1.8 MB for a 300 KB file with 5
 * backups. Then only the values that say something at that level are read, together: each file's
 * (its header) and each subdirectory's newest entry (its time).
 */
import type { StorageEntry } from '../types.js';
import { prefixEnd, type EtcdClient, type Kv } from './client.js';
import { decodeValue, entryOf, type Layout } from './layout.js';

/** What a listing needs of its storage; `call` wraps each etcd call (errors, retries). */
export interface Lister {
  client: EtcdClient;
  layout: Layout;
  maxTxnOps: number;
  /** Answered by one member from what it has (no quorum needed; maybe stale). */
  serializable?: boolean;
  call<R>(fn: () => Promise<R>): Promise<R>;
}

/** Every key below `prefix` ('' is the root), without values, and the storage-key prefix they share. */
async function keysBelow(l: Lister, prefix: string): Promise<{ start: string; kvs: Kv[] }> {
  const start = prefix === '' ? '' : `${prefix}/`;
  const from = l.layout.docs(start);
  const { kvs } = await l.call(() => l.client.range(from, { rangeEnd: prefixEnd(from), keysOnly: true, serializable: l.serializable }));
  return { start, kvs };
}

/** Direct children of `prefix`, sorted by key (Storage.list). */
export async function listChildren(l: Lister, prefix: string): Promise<StorageEntry[]> {
  const { start, kvs } = await keysBelow(l, prefix);
  const files: Buffer[] = [];
  const newest = new Map<string, Kv>();
  for (const kv of kvs) {
    const key = l.layout.keyOf(kv.key);
    const slash = key.indexOf('/', start.length);
    if (slash === -1) files.push(kv.key);
    else {
      const dir = key.slice(0, slash);
      const old = newest.get(dir);
      if (!old || BigInt(kv.modRevision) > BigInt(old.modRevision)) newest.set(dir, kv);
    }
  }
  const values = await l.call(() => valuesOf(l, [...files, ...[...newest.values()].map((kv) => kv.key)]));
  const children: StorageEntry[] = [];
  for (const etcdKey of files) {
    const kv = values.get(etcdKey.toString('latin1'));
    if (kv) children.push(entryOf(l.layout.keyOf(etcdKey), decodeValue(kv.value, kv.modRevision))); // else removed in between: gone
  }
  for (const [dir, kv] of newest) {
    const value = values.get(kv.key.toString('latin1'));
    children.push({ key: dir, name: dir.slice(dir.lastIndexOf('/') + 1), kind: 'directory', size: 0, mtimeMs: value ? decodeValue(value.value, '').header.t : 0, revision: `d${value?.modRevision ?? kv.modRevision}` });
  }
  return children.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Names of the files directly in `prefix`, from their keys alone (Storage.fileNames). */
export async function fileNamesBelow(l: Lister, prefix: string): Promise<string[]> {
  const { start, kvs } = await keysBelow(l, prefix);
  const names: string[] = [];
  for (const kv of kvs) {
    const rest = l.layout.keyOf(kv.key).slice(start.length);
    if (!rest.includes('/')) names.push(rest);
  }
  return names.sort();
}

/** The values of these keys (by their bytes, latin1), in read-only transactions of at most maxTxnOps reads, sent together. */
async function valuesOf(l: Lister, keys: readonly Buffer[]): Promise<Map<string, Kv>> {
  const found = new Map<string, Kv>();
  const per = Math.max(1, l.maxTxnOps);
  const parts: Array<readonly Buffer[]> = [];
  for (let i = 0; i < keys.length; i += per) parts.push(keys.slice(i, i + per));
  await Promise.all(
    parts.map(async (part) => {
      const res = await l.client.txn([], part.map((key) => ({ range: { key, serializable: l.serializable } })));
      for (const [kv] of res.ranges) if (kv) found.set(kv.key.toString('latin1'), kv);
    }),
  );
  return found;
}
