/**
 * Reads issued together travel together: the lookups of one key (its value, and whether keys live
 * below it) made in the same turn of the event loop go to etcd as ONE read-only transaction, one
 * gRPC call at one revision, instead of one call each. A save reads its document and stats its
 * journal together, then stats its backup name and the backup index together: two calls instead of
 * four. Per call, the client library's own work (HTTP/2 stream, metadata, protobuf) costs more CPU
 * than etcd's answer on loopback, so on a busy machine this is what a save waits for.
 */
import type { EtcdClient, TxnOp } from './client.js';
import { prefixEnd } from './client.js';
import { decodeValue, type Layout, type Stored } from './layout.js';

/** A key as one read found it: its value, the revision read at, whether keys live below it. */
export interface Looked {
  stored: Stored | undefined;
  revision: string;
  hasChildren: boolean;
}

interface Waiting {
  key: string;
  resolve(looked: Looked): void;
  reject(err: unknown): void;
}

/** Batches the lookups of one storage, linearizable and member-local (`serializable`) apart. */
export class Lookups {
  private readonly pending = new Map<boolean, Waiting[]>();

  constructor(
    private readonly client: EtcdClient,
    private readonly layout: Layout,
    /** Keys per transaction: each takes two of its operations. */
    private readonly maxKeys: number,
  ) {}

  /** `key` as etcd has it now (`serializable`: as one member has it, without a quorum). */
  look(key: string, serializable: boolean): Promise<Looked> {
    return new Promise((resolve, reject) => {
      let queue = this.pending.get(serializable);
      if (!queue) {
        queue = [];
        this.pending.set(serializable, queue);
        // After every microtask of this turn: lookups a few awaits apart still share the call.
        setImmediate(() => this.flush(serializable));
      }
      queue.push({ key, resolve, reject });
    });
  }

  private flush(serializable: boolean): void {
    const queue = this.pending.get(serializable) ?? [];
    this.pending.delete(serializable);
    for (let i = 0; i < queue.length; i += this.maxKeys) void this.send(queue.slice(i, i + this.maxKeys), serializable);
  }

  private async send(part: Waiting[], serializable: boolean): Promise<void> {
    const ops: TxnOp[] = [];
    for (const { key } of part) {
      const below = this.layout.docs(`${key}/`);
      ops.push({ range: { key: this.layout.doc(key), serializable } }, { range: { key: below, rangeEnd: prefixEnd(below), countOnly: true, serializable } });
    }
    try {
      const res = await this.client.txn([], ops);
      part.forEach((w, i) => {
        const kv = res.ranges[2 * i]![0];
        w.resolve({ stored: kv ? decodeValue(kv.value, kv.modRevision) : undefined, revision: res.revision, hasChildren: res.counts[2 * i + 1]! > 0 });
      });
    } catch (err) {
      for (const w of part) w.reject(err);
    }
  }
}
