/**
 * The reads a commit is staged on, and the plain gets beside them: the keys a commit touches read
 * at one revision (with a journal source's records and whether a missing target has keys below
 * it), a key at a revision, a journal's records. Kept apart from EtcdStorage (etcd.ts), which
 * decides when to read (retries, stale flags, answers from memory); this module only knows how
 * to ask etcd in as few round trips as the transaction limit allows.
 */
import type { Commit } from '../types.js';
import { againIfCompacted, prefixEnd, type EtcdClient, type TxnOp } from './client.js';
import { decodeValue, type Layout, type Stored } from './layout.js';
import { keysOf, type Found } from './stage.js';

/** A key as read, and the revision it was read at. */
export interface Got {
  stored: Stored | undefined;
  revision: string;
}

/** How one EtcdStorage reads keys for its commits. */
export class CommitReads {
  constructor(
    private readonly client: EtcdClient,
    private readonly layout: Layout,
    /** etcd's operations per transaction: a wider read goes in steps. */
    private readonly maxTxnOps: number,
  ) {}

  /** A key at `revision` (default: now, linearizable unless `serializable`). */
  async get(key: string, revision?: string, serializable = false): Promise<Got> {
    const res = await this.client.range(this.layout.doc(key), { revision, serializable });
    const kv = res.kvs[0];
    return { stored: kv ? decodeValue(kv.value, kv.modRevision) : undefined, revision: revision ?? res.revision };
  }

  /** A journal's records at `revision`, in commit order. */
  async records(key: string, stored: Stored, revision: string, serializable = false): Promise<Buffer[]> {
    const from = this.layout.records(key, stored.header.g!);
    const { kvs } = await this.client.range(from, { rangeEnd: prefixEnd(from), revision, serializable });
    kvs.sort((a, b) => (a.createRevision === b.createRevision ? Buffer.compare(a.key, b.key) : BigInt(a.createRevision) < BigInt(b.createRevision) ? -1 : 1));
    return kvs.map((kv) => kv.value);
  }

  /**
   * The keys a commit touches, read at one revision (journal sources with their records). Every key
   * and whether each target has keys below it come from one read-only transaction: one round trip
   * before the commit's own instead of two or three (a watcher in another process hears a save
   * that much sooner). A commit touching more keys than a transaction may hold reads them in steps.
   * What is read after the first answer is read at its revision; a compaction passing that revision
   * in between means reading it all again.
   */
  forCommit(commit: Commit): Promise<Map<string, Found>> {
    return againIfCompacted(() => this.forCommitOnce(commit));
  }

  private async forCommitOnce(commit: Commit): Promise<Map<string, Found>> {
    const { keys, sources, targets } = keysOf(commit);
    const list = [...keys];
    const below = list.filter((k) => targets.has(k));
    if (list.length === 0) return new Map();
    if (list.length + below.length > this.maxTxnOps) return this.inSteps(list, sources, targets);
    const ops: TxnOp[] = list.map((k) => ({ range: { key: this.layout.doc(k) } }));
    for (const k of below) {
      const from = this.layout.docs(`${k}/`);
      ops.push({ range: { key: from, rangeEnd: prefixEnd(from), countOnly: true } });
    }
    const res = await this.client.txn([], ops);
    const stored = list.map((_, i) => {
      const kv = res.ranges[i]![0];
      return kv ? decodeValue(kv.value, kv.modRevision) : undefined;
    });
    return this.complete(list, stored, res.revision, sources, targets, async (key) => res.counts[list.length + below.indexOf(key)]! > 0);
  }

  /** Whether other keys live under `key/` at `revision`. */
  private async isDirectory(key: string, revision?: string): Promise<boolean> {
    const from = this.layout.docs(`${key}/`);
    return (await this.client.range(from, { rangeEnd: prefixEnd(from), countOnly: true, revision })).count > 0;
  }

  /** forCommit for a commit too wide for one transaction: the first key fixes the revision the others are read at. */
  private async inSteps(list: string[], sources: ReadonlySet<string>, targets: ReadonlySet<string>): Promise<Map<string, Found>> {
    const head = await this.get(list[0]!);
    const revision = head.revision;
    const all = await Promise.all([Promise.resolve(head), ...list.slice(1).map((k) => this.get(k, revision))]);
    return this.complete(list, all.map((a) => a.stored), revision, sources, targets, (key) => this.isDirectory(key, revision));
  }

  /** What a commit needs of each key read at `revision`: a journal source's records, whether a missing target is a directory. */
  private async complete(list: string[], stored: (Stored | undefined)[], revision: string, sources: ReadonlySet<string>, targets: ReadonlySet<string>, hasChildren: (key: string) => Promise<boolean>): Promise<Map<string, Found>> {
    const found = new Map<string, Found>();
    await Promise.all(
      list.map(async (key, i) => {
        const f: Found = { stored: stored[i] };
        if (f.stored?.header.g !== undefined && sources.has(key)) f.records = await this.records(key, f.stored, revision);
        if (!f.stored && targets.has(key)) f.hasChildren = await hasChildren(key);
        found.set(key, f);
      }),
    );
    return new Map(list.map((k) => [k, found.get(k)!]));
  }
}
