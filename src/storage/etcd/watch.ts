/**
 * The storage protocol's watch on etcd: one etcd watch over the watched documents' range, from the last
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
import { prefixEnd, type EtcdClient, type WatchChange } from './client.js';
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
  /** Which stream may deliver: bumped whenever the stream is replaced (new keys, failover, reload). */
  private generation = 0;
  private closed = false;
  private endpoint: number;
  private client: EtcdClient;
  private timer: NodeJS.Timeout | undefined;
  private moving: Promise<void> | undefined;
  /** A snapshot reload after a compaction is running. */
  private reloading = false;
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
    const generation = ++this.generation;
    const live = (): boolean => client === this.client && generation === this.generation;
    const stream = await client.watch(this.range(), String(BigInt(applied) + 1n), {
      onRevision: (revision, changes) => {
        if (live()) this.deliver(revision, changes);
      },
      onCompacted: () => {
        if (live()) void this.reload();
      },
      onError: (err) => {
        if (this.closed || !live()) return;
        // etcd3 reports a watch the server ended (not a compaction): that stream is over. The
        // listener hears why; the health check arms a new one from the last revision delivered + 1.
        this.sink.onError(err);
        this.stream?.abandon();
        this.stream = undefined;
      },
    });
    if (this.closed || !live()) stream.abandon();
    else this.stream = stream;
  }

  /**
   * The smallest range holding the watched keys: one key is watched alone, several from the first
   * to the last (etcd orders keys by their bytes). A save's transaction also writes its backup and
   * its journals' headers: a listener of one file then neither receives nor decodes them (etcd
   * sends a watch every event of its range, values and all).
   */
  private range(): { key: Buffer; rangeEnd?: Buffer } {
    const keys = [...this.keys].map((k) => this.layout.doc(k)).sort(Buffer.compare);
    if (keys.length === 0) return { key: this.layout.docs(), rangeEnd: prefixEnd(this.layout.docs()) }; // nothing delivered anyway
    if (keys.length === 1) return { key: keys[0]! };
    return { key: keys[0]!, rangeEnd: Buffer.concat([keys.at(-1)!, Buffer.from([0])]) };
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
      return;
    }
    // Healthy, but without a stream (a reload after a compaction failed half-way, or the server
    // ended the watch): arm one again here, from the last revision delivered + 1.
    if (!this.stream && !this.reloading && !this.closed && !this.moving) {
      this.moving = this.resume(this.last)
        .catch(() => undefined) // still failing: the next check tries again
        .finally(() => (this.moving = undefined));
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
    if (this.closed || this.reloading) return;
    this.reloading = true;
    try {
      // etcd already cancelled that stream: cancelling it again never resolves.
      this.stream = undefined;
      const { revision } = await this.client.range(this.layout.docs('\0'), { countOnly: true });
      const found: StorageWatchEvent[] = [];
      for (const key of this.keys) {
        const { kvs } = await this.client.range(this.layout.doc(key), { revision, keysOnly: true });
        found.push({ type: kvs.length > 0 ? 'change' : 'remove', key, revision });
      }
      // Reported once every read has answered: a reload that fails half-way is made again whole.
      for (const event of found) this.sink.onEvent(event);
      this.sink.applied(revision);
      this.last = revision;
      await this.resume(revision);
    } catch {
      // A member restarting or between leaders ("leader changed"): not the listener's problem.
      // Without a stream, the next health check arms one from the last revision delivered + 1,
      // which (compacted) brings this reload back.
    } finally {
      this.reloading = false;
    }
  }

  /**
   * Watches exactly these keys from now on: a stream over their range, from the last revision
   * delivered + 1 (a change of a new key made just before may be reported: a reader re-reads).
   */
  async update(keys: readonly string[]): Promise<void> {
    const before = this.range();
    this.keys = new Set(keys);
    const after = this.range();
    const same = before.key.equals(after.key) && (before.rangeEnd ?? Buffer.alloc(0)).equals(after.rangeEnd ?? Buffer.alloc(0));
    if (same || this.closed || !this.stream) return;
    const old = this.stream;
    this.stream = undefined;
    await this.resume(this.last);
    await old.close().catch(() => undefined); // its member may be gone: the new stream is what counts
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
