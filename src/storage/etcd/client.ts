/**
 * The thin adapter between EtcdStorage and the etcd client library: everything that knows about
 * the `etcd3` package lives here, so that moving to `@grpc/grpc-js` with etcd's own protos touches
 * this file only. It speaks in etcd's terms (keys as bytes, revisions as strings, transactions of
 * compares and operations) and nothing of the storage protocol.
 *
 * `etcd3` is an optional peer dependency, loaded with `await import()` on first use: an application
 * that never opens an EtcdStorage does not need it installed.
 */
import { ConfigPersistenceError } from '../../errors.js';

/** A key-value pair as etcd returns it. */
export interface Kv {
  key: Buffer;
  value: Buffer;
  modRevision: string;
  createRevision: string;
  lease: string;
}

/** A compare of a transaction: `target` of `key` (of every key up to `rangeEnd`) `=` / `!=` the value. */
export interface Compare {
  key: Buffer;
  rangeEnd?: Buffer;
  target: 'mod' | 'version' | 'lease';
  result: 'equal' | 'not-equal';
  value: string;
}

/** An operation of a transaction. */
export type TxnOp =
  | { put: { key: Buffer; value: Buffer; lease?: string } }
  | { deleteRange: { key: Buffer; rangeEnd?: Buffer } }
  | { range: { key: Buffer; rangeEnd?: Buffer; countOnly?: boolean; serializable?: boolean } };

/** A transaction's outcome: which branch ran, at which revision, and the ranges it read (with their counts). */
export interface TxnResult {
  succeeded: boolean;
  revision: string;
  ranges: Kv[][];
  counts: number[];
}

/** One change seen by a watch. */
export interface WatchChange {
  type: 'put' | 'delete';
  kv: Kv;
}

/** Callbacks of {@link EtcdClient.watch}. */
export interface WatchHandlers {
  /** All changes of one revision, together, in revision order. */
  onRevision(revision: string, changes: WatchChange[]): void;
  /** The revision asked for was compacted (or etcd cancelled the watch): reload a snapshot and watch again. */
  onCompacted(): void;
  onError(err: Error): void;
}

/** How to reach etcd. */
export interface ClientOptions {
  endpoints: readonly string[];
  auth?: { username: string; password: string };
  tls?: { ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string };
  /** Deadline of each unary call (ms). */
  callTimeoutMs: number;
}

type Etcd3Module = typeof import('etcd3');
type Etcd3 = InstanceType<Etcd3Module['Etcd3']>;

let loading: Promise<Etcd3Module> | undefined;

/** `etcd3`, or a clear error saying how to install it. */
async function etcd3(): Promise<Etcd3Module> {
  loading ??= import('etcd3').catch((err: unknown) => {
    loading = undefined;
    throw new ConfigPersistenceError('E_UNSUPPORTED', 'EtcdStorage needs the optional peer dependency "etcd3": install it with `npm install etcd3`.', { cause: err });
  });
  return loading;
}

const buf = (v: Buffer | string | undefined): Buffer | undefined => (v === undefined ? undefined : Buffer.isBuffer(v) ? v : Buffer.from(v));

function kvOf(raw: { key: Buffer; value: Buffer; mod_revision: string; create_revision: string; lease: string }): Kv {
  return { key: raw.key, value: raw.value, modRevision: String(raw.mod_revision), createRevision: String(raw.create_revision), lease: String(raw.lease) };
}

/** The end of the range of keys starting with `prefix` (etcd's `rangeEnd`). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * etcd3's default policy retries every "recoverable" error 3 times, a deadline included: a
 * transaction that timed out after etcd applied it would be sent again (an update() applied twice),
 * and three deadlines in a row open the circuit breaker of the one member still answering (its
 * member-local reads refused for 5 s). Ours resends only a call that never reached a member (no
 * connection), on the next member; any other failure goes to the caller as it is.
 */
function failover(attempts: number): { execute<T>(fn: () => Promise<T>): Promise<T> } {
  const notSent = (err: unknown): boolean => err instanceof Error && /No connection established|ECONNREFUSED|ECONNRESET before/i.test(err.message);
  return {
    async execute(fn) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn();
        } catch (err) {
          if (attempt >= attempts || !notSent(err)) throw err;
        }
      }
    },
  };
}

/**
 * Keys per answer of a range. etcd counts the whole range for every page, so small pages cost
 * O(n²): a fresh process's first read of a 14,616-record history took ~780 ms in pages of 500,
 * ~570 ms in pages of 2,000, ~570 ms in one answer (measured).
 */
export const RANGE_PAGE = 2000;

/** How often a read pinned to a revision that a compaction passed is made again from the start. */
const COMPACTED_ATTEMPTS = 3;

/** etcd's answer to a read at a revision it has compacted away. */
export function isCompacted(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    if (/required revision has been compacted/i.test(e.message)) return true;
  }
  return false;
}

/**
 * Runs `read` — a read whose later steps are pinned to the revision its first step answered at —
 * again from the start when a compaction passed that revision meanwhile (up to 3 times).
 */
export async function againIfCompacted<R>(read: () => Promise<R>): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      if (!isCompacted(err) || attempt >= COMPACTED_ATTEMPTS) throw err;
    }
  }
}

/** A connection to an etcd cluster. */
export class EtcdClient {
  private client: Etcd3 | undefined;
  private connecting: Promise<Etcd3> | undefined;

  constructor(private readonly opts: ClientOptions) {}

  private async raw(): Promise<Etcd3> {
    if (this.client) return this.client;
    this.connecting ??= etcd3().then((mod) => {
      const { ca, cert, key } = this.opts.tls ?? {};
      const tls = this.opts.tls ? { credentials: { rootCertificate: buf(ca) ?? Buffer.alloc(0), privateKey: buf(key), certChain: buf(cert) } } : {};
      this.client = new mod.Etcd3({
        hosts: [...this.opts.endpoints],
        ...(this.opts.auth ? { auth: this.opts.auth } : {}),
        ...tls,
        dialTimeout: this.opts.callTimeoutMs,
        // grpc-js refuses an answer over 4 MiB by default: a history of ~14,000 saves, or three
        // backups of a large file, no longer read (RESOURCE_EXHAUSTED). Ranges come in pages
        // (range() below), so an answer is bounded by a page, a transaction by its request limit.
        grpcOptions: { 'grpc.max_receive_message_length': -1 },
        faultHandling: { global: failover(this.opts.endpoints.length + 1) as never },
        defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.opts.callTimeoutMs }),
      });
      return this.client;
    });
    return this.connecting;
  }

  /**
   * A linearizable range (`rangeEnd` for a prefix); `revision` reads an older state; `serializable`
   * answers from one member without a quorum (maybe stale). A range of many keys is read in pages
   * of {@link RANGE_PAGE} keys, every page after the first at the first one's revision: one
   * snapshot, however many answers it takes. A compaction that passes that revision between two
   * pages (revision-mode auto-compaction on a busy cluster) makes it unreadable: the range is then
   * read again from its first page, at a fresh revision — unless the caller fixed the revision.
   */
  async range(key: Buffer, opts: { rangeEnd?: Buffer; revision?: string; keysOnly?: boolean; countOnly?: boolean; serializable?: boolean; timeoutMs?: number } = {}): Promise<{ kvs: Kv[]; revision: string; count: number }> {
    const c = await this.raw();
    const call = opts.timeoutMs === undefined ? undefined : { deadline: Date.now() + opts.timeoutMs };
    const paged = opts.rangeEnd !== undefined && !opts.countOnly;
    const ask = (from: Buffer, revision: string | undefined) =>
      c.kv.range({ key: from, range_end: opts.rangeEnd, revision, keys_only: opts.keysOnly, count_only: opts.countOnly, serializable: opts.serializable, ...(paged ? { limit: RANGE_PAGE } : {}) }, call);
    const once = async (): Promise<{ kvs: Kv[]; revision: string; count: number }> => {
      let res = await ask(key, opts.revision);
      const revision = String(res.header.revision);
      const kvs = res.kvs.map(kvOf);
      const count = Number(res.count);
      while (paged && res.more && res.kvs.length > 0) {
        // The next page starts just after the last key (keys are ordered by their bytes).
        res = await ask(Buffer.concat([res.kvs.at(-1)!.key, Buffer.from([0])]), revision);
        for (const kv of res.kvs) kvs.push(kvOf(kv));
      }
      return { kvs, revision, count };
    };
    // One page is one answer at one revision: only a read in pages can meet a compaction between them.
    return paged && opts.revision === undefined ? againIfCompacted(once) : once();
  }

  /** One transaction: `success` when every compare holds, else `failure` (read-only with every range `serializable`: answered by one member). */
  async txn(compare: Compare[], success: TxnOp[], failure: TxnOp[] = [], opts: { timeoutMs?: number } = {}): Promise<TxnResult> {
    const c = await this.raw();
    const call = opts.timeoutMs === undefined ? undefined : { deadline: Date.now() + opts.timeoutMs };
    const target = { mod: 'Mod', version: 'Version', lease: 'Lease' } as const;
    const column = { mod: 'mod_revision', version: 'version', lease: 'lease' } as const;
    const op = (o: TxnOp): object =>
      'put' in o
        ? { request_put: { key: o.put.key, value: o.put.value, lease: o.put.lease } }
        : 'deleteRange' in o
          ? { request_delete_range: { key: o.deleteRange.key, range_end: o.deleteRange.rangeEnd } }
          : { request_range: { key: o.range.key, range_end: o.range.rangeEnd, count_only: o.range.countOnly, serializable: o.range.serializable } };
    const res = await c.kv.txn({
      compare: compare.map((cmp) => ({ key: cmp.key, range_end: cmp.rangeEnd, target: target[cmp.target], result: cmp.result === 'equal' ? 'Equal' : 'NotEqual', [column[cmp.target]]: cmp.value })) as never,
      success: success.map(op) as never,
      failure: failure.map(op) as never,
    }, call);
    const ranges = res.responses.map((r) => (r.response_range ? r.response_range.kvs.map(kvOf) : []));
    const counts = res.responses.map((r) => Number(r.response_range?.count ?? 0));
    return { succeeded: res.succeeded, revision: String(res.header.revision), ranges, counts };
  }

  /** A lease of `ttlSeconds` that is not kept alive: etcd revokes it, with every key put with it, when the TTL runs out. */
  async grant(ttlSeconds: number): Promise<string> {
    const c = await this.raw();
    return String((await c.leaseClient.leaseGrant({ TTL: ttlSeconds })).ID);
  }

  /** A lease of `ttlSeconds`, kept alive until released; `onLost` when etcd let it expire. */
  async lease(ttlSeconds: number, onLost: (err: Error) => void): Promise<{ id: string; release(): Promise<void> }> {
    const c = await this.raw();
    const lease = c.lease(ttlSeconds, { autoKeepAlive: true });
    lease.on('lost', onLost);
    const id = await lease.grant();
    return {
      id,
      release: async () => {
        lease.removeAllListeners('lost');
        await lease.revoke().catch(() => undefined); // an expired or unreachable lease ends by itself at its TTL
      },
    };
  }

  /**
   * Watches `range` (one key, or every key from `key` up to `rangeEnd`) from `fromRevision`
   * (inclusive); resolves once the watch is created. `abandon()` drops a stream whose member
   * stopped answering: `close()` would wait for that member to confirm the cancel, forever if it
   * is frozen.
   */
  async watch(range: { key: Buffer; rangeEnd?: Buffer | undefined }, fromRevision: string, handlers: WatchHandlers): Promise<{ close(): Promise<void>; abandon(): void }> {
    const c = await this.raw();
    const watcher = await c.watch().inRange({ start: range.key, end: range.rangeEnd ?? Buffer.alloc(0) }).startRevision(fromRevision).create();
    watcher.on('data', (res) => {
      if (res.compact_revision && String(res.compact_revision) !== '0') return;
      const byRevision = new Map<string, WatchChange[]>();
      for (const e of res.events) {
        const kv = kvOf(e.kv);
        const list = byRevision.get(kv.modRevision) ?? [];
        list.push({ type: e.type === 'Delete' ? 'delete' : 'put', kv });
        byRevision.set(kv.modRevision, list);
      }
      for (const [revision, changes] of byRevision) handlers.onRevision(revision, changes);
    });
    watcher.on('error', (err: Error) => {
      // etcd 3.4 cancels a watch whose start revision was compacted with an empty cancel_reason, and
      // etcd3 reports that as "Watcher canceled: " only: a cancelled watch cannot go on, so it is
      // treated as a compaction (a snapshot reload never skips a change, whatever the cause).
      if (/compacted|Watcher canceled/i.test(err.message)) handlers.onCompacted();
      else handlers.onError(err);
    });
    return {
      close: () => watcher.cancel(),
      abandon: () => {
        watcher.removeAllListeners('data');
        watcher.removeAllListeners('error');
        watcher.on('error', () => undefined); // an abandoned stream's late failure has no one left to tell
        // etcd3 keeps no handle to cancel one watcher locally: taking it off its manager's list and
        // failing the manager's stream ends the gRPC call now; the manager finds no watcher left
        // to re-create and stays idle.
        const manager = (watcher as unknown as { manager: { watchers: unknown[]; handleError(err: Error): void } }).manager;
        manager.watchers = manager.watchers.filter((w) => w !== watcher);
        manager.handleError(new Error('abandoned: the member stopped answering'));
      },
    };
  }

  /** Compacts the history up to `revision` (tests and operators). */
  async compact(revision: string): Promise<void> {
    const c = await this.raw();
    await c.kv.compact({ revision, physical: true });
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    this.client?.close();
    this.client = undefined;
    this.connecting = undefined;
  }
}
