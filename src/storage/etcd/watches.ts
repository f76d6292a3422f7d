/**
 * The open watches of one EtcdStorage, and where each starts: the first on a random endpoint,
 * each further one on the next, so that the watch streams of a fleet are spread over the members
 * instead of all held by the first one listed (failover within a watch is src/storage/etcd/watch.ts).
 * Kept apart from etcd.ts, whose commits and reads share nothing with this bookkeeping.
 */
import { randomInt } from 'node:crypto';
import { EtcdClient, type ClientOptions } from './client.js';
import type { Layout } from './layout.js';
import { EtcdWatch, type WatchSink } from './watch.js';

/** The watches of one storage. */
export class WatchSet {
  private readonly open = new Set<EtcdWatch>();
  private next: number;

  constructor(
    private readonly clientOptions: ClientOptions,
    private readonly layout: Layout,
    /** How often a watch checks its member (ms, EtcdStorageOptions.watchHealthMs). */
    private readonly healthMs: number,
  ) {
    this.next = randomInt(clientOptions.endpoints.length);
  }

  /** The endpoint each open watch is on now, in the order they were opened. */
  get endpoints(): string[] {
    return [...this.open].map((w) => this.clientOptions.endpoints[w.on]!);
  }

  /** A watch of `keys` on the next endpoint, not started yet (see {@link add}). */
  create(keys: readonly string[], sink: WatchSink): EtcdWatch {
    const endpoints = this.clientOptions.endpoints;
    const first = this.next;
    this.next = (first + 1) % endpoints.length;
    const plan = {
      count: endpoints.length,
      first,
      open: (i: number) => new EtcdClient({ ...this.clientOptions, endpoints: [endpoints[i]!] }),
      healthMs: this.healthMs,
      healthTimeoutMs: Math.min(this.clientOptions.callTimeoutMs, 2 * this.healthMs),
    };
    return new EtcdWatch(plan, this.layout, keys, sink);
  }

  /** Counts a started watch as open (listed by {@link endpoints}, closed by {@link closeAll}). */
  add(watch: EtcdWatch): void {
    this.open.add(watch);
  }

  /** Closes one watch. */
  async close(watch: EtcdWatch): Promise<void> {
    this.open.delete(watch);
    await watch.close();
  }

  /** Closes every open watch. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.open].map((w) => w.close()));
    this.open.clear();
  }
}
