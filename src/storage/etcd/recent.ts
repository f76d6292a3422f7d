/**
 * What this storage's own linearizable reads saw in the last moment, for the commit that usually
 * follows them: a save reads the document and stats its journals and backup names, then commits
 * changes to exactly those keys. The commit's transaction compares every key at the mod revision
 * it is staged on, so staging it on these reads is as safe as reading the keys again at one
 * revision (a key that changed since fails its compare, and the commit is staged again on a fresh
 * read): one round trip fewer between a save and the watchers that hear it.
 *
 * What this storage's own commits wrote is remembered the same way (a save always appends to the
 * audit log, which nothing reads before): the next commit's compare checks that nobody wrote it since.
 * It also answers the reads a write makes before its commit (readForWrite in etcd.ts), for longer.
 *
 * Used only when every key the commit needs is here (fresh, with whether a missing target has keys
 * below it and a journal source's records) — a key read only as a parent of a target, or where a
 * cleanup keeps a removed key, may be missing: it is staged as absent (with nothing below it),
 * which its compares then check (`version == 0` on the key and on the range below it).
 */
import type { Commit } from '../types.js';
import type { TxnOp } from './client.js';
import { decodeValue, type Layout } from './layout.js';
import { keysOf, type Found } from './stage.js';

/** How long a read stays usable (ms): the time between a save's reads and its commit, with room. */
const FRESH_MS = 1000;
/**
 * How long what this storage's own commit wrote answers the reads of the next write (ms,
 * {@link RecentReads.forWrite}): a burst of saves from one process reads nothing before each
 * commit; a stale answer costs that save one failed transaction and a retry.
 */
export const FOR_WRITE_MS = 10_000;
/** At most this many keys are remembered. */
const MAX_KEYS = 512;

/** One remembered key; `own`: written by this storage's commit (not read). */
interface Seen {
  found: Found;
  at: number;
  own: boolean;
}

/** The keys this storage read lately. */
export class RecentReads {
  private readonly seen = new Map<string, Seen>();

  /** A linearizable read found `found` for `key` (merged with what is known of it at the same revision). */
  note(key: string, found: Found, own = false): void {
    const old = this.seen.get(key);
    const same = old && old.found.stored?.revision === found.stored?.revision && Date.now() - old.at < (old.own ? FOR_WRITE_MS : FRESH_MS);
    this.seen.delete(key);
    this.seen.set(key, { found: same ? { ...old.found, ...found } : found, at: Date.now(), own: own || (same === true && old.own) });
    if (this.seen.size > MAX_KEYS) this.seen.delete(this.seen.keys().next().value!);
  }

  /** A commit applied at `revision` put these values: the next commit may be staged on them. */
  wrote(layout: Layout, ops: readonly TxnOp[], revision: string): void {
    const docs = layout.docs().toString();
    for (const op of ops) {
      if (!('put' in op)) continue;
      const name = op.put.key.toString();
      if (name.startsWith(docs)) this.note(name.slice(docs.length), { stored: decodeValue(op.put.value, revision) }, true);
    }
  }

  /**
   * What a read made for a write may be answered with (src/storage/etcd/etcd.ts, readForWrite):
   * a fresh read, or what this storage's own commit wrote within {@link FOR_WRITE_MS}.
   */
  forWrite(key: string): { found: Found; own: boolean } | undefined {
    const hit = this.seen.get(key);
    if (!hit || Date.now() - hit.at >= (hit.own ? FOR_WRITE_MS : FRESH_MS)) return undefined;
    return { found: hit.found, own: hit.own };
  }

  /** Forgets `keys` (a commit changed them, or one staged on them failed its compare). */
  forget(keys: Iterable<string>): void {
    for (const key of keys) this.seen.delete(key);
  }

  /** What the commit needs, from recent reads only, or `undefined` when something must be read. */
  lookup(commit: Commit): Map<string, Found> | undefined {
    const { keys, sources, targets } = keysOf(commit);
    const needed = new Set([...sources, ...targets, ...(commit.expect ?? []).map((e) => e.key)]);
    for (const op of [...(commit.prepare ?? []), ...(commit.changes ?? []), ...(commit.after ?? [])]) if (op.type === 'remove') needed.add(op.key);
    // Content-addressed history objects: where a cleanup keeps a removed key, or where a copy is
    // made only if missing (the old content of a file saved without a backup). Nearly always absent;
    // when one exists, its compare fails and the commit is staged again on a fresh read.
    const assumable = new Set(commit.cleanup?.keepAs?.values() ?? []);
    for (const op of commit.prepare ?? []) if (op.type === 'copy' && op.ifMissing) assumable.add(op.to);
    const now = Date.now();
    const found = new Map<string, Found>();
    for (const key of keys) {
      const hit = this.seen.get(key);
      const fresh = hit && now - hit.at < (hit.own ? FOR_WRITE_MS : FRESH_MS) ? hit.found : undefined;
      if (!fresh) {
        // Staged as absent (and, for a target, with nothing below): the commit's compares check both.
        if (needed.has(key) && !assumable.has(key)) return undefined;
        found.set(key, targets.has(key) ? { stored: undefined, hasChildren: false } : { stored: undefined });
        continue;
      }
      if (targets.has(key) && !fresh.stored && fresh.hasChildren === undefined) return undefined;
      // Reads that completed out of order can leave an older one here: read again rather than call the caller stale.
      if ((commit.expect ?? []).some((e) => e.key === key && e.revision !== (fresh.stored?.revision ?? null))) return undefined;
      if (sources.has(key) && fresh.stored?.header.g !== undefined && !fresh.records) return undefined;
      // Only a missing target carries hasChildren (the commit compares it); records only a source needs.
      found.set(key, { stored: fresh.stored, ...(fresh.records ? { records: fresh.records } : {}), ...(targets.has(key) && !fresh.stored ? { hasChildren: fresh.hasChildren } : {}) });
    }
    return found;
  }
}
