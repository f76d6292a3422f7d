/**
 * The storage protocol's watch on etcd: one etcd watch over the store's documents, from the last
 * revision this watcher applied + 1, so a reconnect resumes where it stopped (the client library
 * re-creates the stream from there) and never re-watches from "now" (confd#671). The events of
 * one transaction arrive together and are delivered together, in revision order, once.
 *
 * When the revision to resume from has been compacted away, the changes in between cannot be
 * replayed: the watcher reads its keys at one revision (a snapshot), reports each of them, and
 * watches again from that revision + 1 — a reader re-reads and ends at the final state, nothing
 * skipped (apache/apisix#13721 skipped ahead instead).
 */
import type { StorageWatcher, StorageWatchEvent } from '../types.js';
import type { EtcdClient, WatchChange } from './client.js';
import { decodeValue, type Layout } from './layout.js';

/** What the watch reports to its storage (the revision this process has applied, for stats). */
export interface WatchSink {
  onEvent(event: StorageWatchEvent): void;
  onError(error: Error): void;
  applied(revision: string): void;
}

/** The protocol's event for one change; a document's bytes go with it (a journal's live elsewhere: re-read). */
function eventOf(key: string, revision: string, change: WatchChange): StorageWatchEvent {
  if (change.type === 'delete') return { type: 'remove', key, revision };
  const stored = decodeValue(change.kv.value, revision);
  return stored.header.g === undefined ? { type: 'change', key, revision, value: stored.body } : { type: 'change', key, revision };
}

/** A running watch of some keys of one store. */
export class EtcdWatch implements StorageWatcher {
  private keys: Set<string>;
  private last = '0';
  private stream: { close(): Promise<void> } | undefined;
  private closed = false;

  constructor(
    private readonly client: EtcdClient,
    private readonly layout: Layout,
    keys: readonly string[],
    private readonly sink: WatchSink,
  ) {
    this.keys = new Set(keys);
  }

  /** Arms the watch from the current revision + 1. */
  async start(): Promise<void> {
    const { revision } = await this.client.range(this.layout.docs('\0'), { countOnly: true });
    await this.resume(revision);
  }

  private async resume(applied: string): Promise<void> {
    this.last = applied;
    const stream = await this.client.watch(this.layout.docs(), String(BigInt(applied) + 1n), {
      onRevision: (revision, changes) => this.deliver(revision, changes),
      onCompacted: () => void this.reload(),
      onError: (err) => {
        if (!this.closed) this.sink.onError(err);
      },
    });
    if (this.closed) await stream.close();
    else this.stream = stream;
  }

  private deliver(revision: string, changes: WatchChange[]): void {
    if (this.closed || BigInt(revision) <= BigInt(this.last)) return; // a replay after a reconnect: already delivered
    this.last = revision;
    for (const change of changes) {
      const key = this.layout.keyOf(change.kv.key);
      if (this.keys.has(key)) this.sink.onEvent(eventOf(key, revision, change));
    }
    this.sink.applied(revision);
  }

  /** After a compaction: report every watched key as of one snapshot, then watch from there. */
  private async reload(): Promise<void> {
    if (this.closed) return;
    try {
      // etcd already cancelled that stream: cancelling it again never resolves.
      this.stream = undefined;
      const { revision } = await this.client.range(this.layout.docs('\0'), { countOnly: true });
      for (const key of this.keys) {
        const { kvs } = await this.client.range(this.layout.doc(key), { revision, keysOnly: true });
        this.sink.onEvent({ type: kvs.length > 0 ? 'change' : 'remove', key, revision });
      }
      this.sink.applied(revision);
      await this.resume(revision);
    } catch (err) {
      this.sink.onError(err as Error);
    }
  }

  /** Watches exactly these keys from now on. */
  async update(keys: readonly string[]): Promise<void> {
    this.keys = new Set(keys);
  }

  /** Stops the stream; nothing is reported afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    await this.stream?.close();
  }
}
