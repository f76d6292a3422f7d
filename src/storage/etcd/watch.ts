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
 *
 * etcd does not require a leader on watch streams: a watch on a member that is frozen or cut off
 * from the others stays open and hears nothing (portworx/kvdb#66). So the watch is held on ONE
 * endpoint at a time (the storage spreads its watches' first endpoints, so that a fleet's streams
 * do not all land on the first member listed), with a client of its own, and that member is asked for a linearizable read
 * every `healthMs`: a member that cannot answer one within `healthTimeoutMs` (frozen, partitioned,
 * without a leader) is left for the next endpoint, and the watch resumes there from the last
 * revision delivered + 1 — the revision guard in deliver() drops anything delivered twice.
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

/** Where a watch may run: a client on endpoint `i` of `count` (`first` to start with), and how often its member is checked. */
export interface WatchEndpoints {
  count: number;
  first: number;
  open(i: number): EtcdClient;
  healthMs: number;
  healthTimeoutMs: number;
}

/** The protocol's event for one change; a document's bytes go with it (a journal's live elsewhere: re-read). */
function eventOf(key: string, revision: string, change: WatchChange): StorageWatchEvent {
  if (change.type === 'delete') return { type: 'remove', key, revision };
  const stored = decodeValue(change.kv.value, revision);
  return stored.header.g === undefined ? { type: 'change', key, revision, value: stored.body } : { type: 'change', key, revision };
}

type Stream = Awaited<ReturnType<EtcdClient['watch']>>;

/** A running watch of some keys of one store. */
export class EtcdWatch implements StorageWatcher {
  private keys: Set<string>;
  private last = '0';
  private stream: Stream | undefined;
  private closed = false;
  private endpoint: number;
  private client: EtcdClient;
  private timer: NodeJS.Timeout | undefined;
  private moving: Promise<void> | undefined;
  /** Failovers made (tests and stats). */
  failovers = 0;

  constructor(
    private readonly endpoints: WatchEndpoints,
    private readonly layout: Layout,
    keys: readonly string[],
    private readonly sink: WatchSink,
  ) {
    this.keys = new Set(keys);
    this.endpoint = endpoints.first;
    this.client = endpoints.open(this.endpoint);
  }

  /** The index of the endpoint the watch is on now. */
  get on(): number {
    return this.endpoint;
  }

  /** Arms the watch from the current revision + 1, on the first endpoint that answers (from `first` on). */
  async start(): Promise<void> {
    for (let tried = 1; ; tried++) {
      try {
        const { revision } = await this.client.range(this.layout.docs('\0'), { countOnly: true });
        await this.resume(revision);
        break;
      } catch (err) {
        if (tried >= this.endpoints.count) throw err;
        await this.next();
      }
    }
    this.timer = setInterval(() => void this.check(), this.endpoints.healthMs);
    this.timer.unref();
  }

  private async resume(applied: string): Promise<void> {
    this.last = applied;
    const client = this.client;
    const stream = await client.watch(this.layout.docs(), String(BigInt(applied) + 1n), {
      onRevision: (revision, changes) => {
        if (client === this.client) this.deliver(revision, changes);
      },
      onCompacted: () => {
        if (client === this.client) void this.reload();
      },
      onError: (err) => {
        if (!this.closed && client === this.client) this.sink.onError(err);
      },
    });
    if (this.closed || client !== this.client) stream.abandon();
    else this.stream = stream;
  }

  /**
   * The member's health: a linearizable read needs its leader, so a frozen member, one cut off
   * from the others and one without a leader all fail it (a watch on them would hear nothing).
   */
  private async check(): Promise<void> {
    if (this.closed || this.moving) return;
    try {
      await this.client.range(this.layout.docs('\0'), { countOnly: true, timeoutMs: this.endpoints.healthTimeoutMs });
    } catch {
      // unhealthy (the error itself says nothing more): go on from another member
      if (!this.closed && !this.moving) this.moving = this.failover().finally(() => (this.moving = undefined));
    }
  }

  /** Moves the watch to the next endpoint, resuming from the last revision delivered + 1; tries each in turn. */
  private async failover(): Promise<void> {
    for (let tried = 0; !this.closed && tried < this.endpoints.count * 2; tried++) {
      await this.next();
      try {
        await this.client.range(this.layout.docs('\0'), { countOnly: true, timeoutMs: this.endpoints.healthTimeoutMs });
        await this.resume(this.last);
        this.failovers++;
        return;
      } catch {
        // this one is not healthy either: the next
      }
    }
  }

  /** Drops the stream and client of the current endpoint (without waiting for its member) and opens the next. */
  private async next(): Promise<void> {
    this.stream?.abandon();
    this.stream = undefined;
    const old = this.client;
    this.endpoint = (this.endpoint + 1) % this.endpoints.count;
    this.client = this.endpoints.open(this.endpoint);
    await old.close();
  }

  private deliver(revision: string, changes: WatchChange[]): void {
    if (this.closed || BigInt(revision) <= BigInt(this.last)) return; // a replay after a reconnect or failover: already delivered
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

  /** Stops the stream and the health checks; nothing is reported afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.moving;
    this.stream?.abandon();
    this.stream = undefined;
    await this.client.close();
  }
}
