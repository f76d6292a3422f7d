/**
 * How the storage protocol's keys sit in etcd, under the store's `prefix`:
 *
 * - `<prefix>d/<key>`: one value per key, a one-line JSON header and then the bytes. The header
 *   holds what etcd does not keep for a key (size, permission bits, modification time); the key's
 *   `mod_revision` is the protocol's revision token, so a compare on it is the compare-and-set.
 * - A journal (AppendOp: history, audit log, backup index) has only a header under `d/` (with a
 *   generation `g`), and one etcd key per record under `<prefix>j/<key>/<g>/<commit>.<n>`. Records
 *   are read in commit order (create revision, then name); replacing or removing the journal
 *   deletes the old generation's range, which a new generation's records never overlap (etcd
 *   refuses a put inside a range the same transaction deletes).
 * - `<prefix>l/<name>`: a lock, held by the lease its value is attached to.
 * - `<prefix>p/<commit id>`: a commit split over several transactions is in progress, on its
 *   writer's lease; `d/.parts/<commit id>.<n>` records what its early parts wrote (split.ts).
 * - `<prefix>t/<commit id>`: a commit's marker, on a lease that expires by itself: tells whether a
 *   transaction whose answer was lost was applied (src/storage/etcd/outcome.ts).
 */
import type { StorageEntry } from '../types.js';

/** What the header line of a `d/` value says. */
export interface Header {
  /** Size of the content (a journal's records together). */
  s: number;
  /** Permission bits. */
  m: number;
  /** Modification time (ms since the epoch). */
  t: number;
  /** A journal's generation: its records live under `j/<key>/<g>/`. */
  g?: string;
}

/** A stored `d/` value, decoded. */
export interface Stored {
  header: Header;
  /** A document's bytes (empty for a journal). */
  body: Buffer;
  revision: string;
}

/** The etcd key names of one store. */
export class Layout {
  constructor(readonly prefix: string) {}

  doc(key: string): Buffer {
    return Buffer.from(`${this.prefix}d/${key}`);
  }

  /** The prefix every document key of the store starts with (what a watch covers). */
  docs(below = ''): Buffer {
    return Buffer.from(`${this.prefix}d/${below}`);
  }

  /** The storage key of a `d/` etcd key. */
  keyOf(etcdKey: Buffer): string {
    return etcdKey.toString().slice(this.prefix.length + 2);
  }

  /** The range of one generation of a journal's records. */
  records(key: string, generation: string): Buffer {
    return Buffer.from(`${this.prefix}j/${key}/${generation}/`);
  }

  record(key: string, generation: string, name: string): Buffer {
    return Buffer.from(`${this.prefix}j/${key}/${generation}/${name}`);
  }

  marker(commitId: string): Buffer {
    return Buffer.from(`${this.prefix}t/${commitId}`);
  }

  /** A split commit in progress: on its writer's kept-alive lease (src/storage/etcd/split.ts). */
  alive(commitId: string): Buffer {
    return Buffer.from(`${this.prefix}p/${commitId}`);
  }

  lock(name: string): Buffer {
    return Buffer.from(`${this.prefix}l/${name}`);
  }
}

/** Header line + bytes. */
export function encodeValue(header: Header, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), body]);
}

/** Splits a `d/` value; a value written by someone else without a header reads as a plain document. */
export function decodeValue(value: Buffer, revision: string): Stored {
  const nl = value.indexOf(0x0a);
  if (value[0] === 0x7b && nl > 0) {
    try {
      const header = JSON.parse(value.subarray(0, nl).toString()) as Header;
      if (typeof header.s === 'number' && typeof header.m === 'number' && typeof header.t === 'number') {
        return { header, body: value.subarray(nl + 1), revision };
      }
    } catch {
      // not our header: the whole value is the document (a key put by etcdctl)
    }
  }
  return { header: { s: value.length, m: 0o644, t: 0 }, body: value, revision };
}

/** The protocol's entry for a stored value. */
export function entryOf(key: string, stored: Stored): StorageEntry {
  const { s, m, t } = stored.header;
  return { key, name: key.slice(key.lastIndexOf('/') + 1), kind: 'file', size: s, mtimeMs: t, mode: m, revision: stored.revision };
}
