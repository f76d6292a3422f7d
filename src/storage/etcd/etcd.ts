/**
 * `EtcdStorage`: the storage protocol on an etcd cluster, so that several processes on several
 * machines share one configuration. Each protocol call maps natively (see src/storage/types.ts):
 * reads are linearizable gets, `list` a range folded at `/`, a commit ONE transaction whose
 * compares are the revisions it read (the compare-and-set behind `ifVersion`, `update()` and
 * fencing), locks leases (src/storage/etcd/locks.ts), watch etcd's watch from a revision
 * (src/storage/etcd/watch.ts). Key layout: src/storage/etcd/layout.ts.
 *
 * Limits: etcd refuses a request over its size limit (1.5 MiB by default) and a transaction of
 * more than 128 operations; both are checked before anything is sent. A commit over the operation
 * limit writes its new backups first, in transactions of their own, when that brings the rest
 * within it (src/storage/etcd/split.ts); otherwise it is refused with `E_TOO_LARGE`.
 *
 * This class composes: it decides when to read, retry, stage and send. How a commit's keys are
 * read is src/storage/etcd/reads.ts, the one send of a commit's transaction and what became of a
 * lost answer src/storage/etcd/outcome.ts, the open watches src/storage/etcd/watches.ts, how each
 * call is made (errors, retries, the stale fallback) src/storage/etcd/calls.ts.
 */
import { ConfigPersistenceError, HeldLockError, ioError, LockedError, StaleError, TooLargeError } from '../../errors.js';
import { EtcdCalls } from './calls.js';
import { keySegments, validateCommitKeys } from '../keys.js';
import type { Commit, LockOptions, ReadOptions, Release, Storage, StorageEntry, StorageFinding, StorageWatcher, StorageWatchEvent } from '../types.js';
import { againIfCompacted, EtcdClient, prefixEnd, type ClientOptions, type Compare, type TxnOp } from './client.js';
import { fileNamesBelow, listChildren, type Lister } from './listing.js';
import { entryOf, Layout } from './layout.js';
import { EtcdLocks } from './locks.js';
import { Lookups, type Looked } from './batch.js';
import { CommitMarkers, sendOnce, type Sender } from './outcome.js';
import { checkExpectations, checkLimits, firstKey } from './limits.js';
import { RecentReads } from './recent.js';
import { WriteScopes, type WriteScope } from './for-write.js';
import { Staging, toTxn } from './stage.js';
import { CommitReads } from './reads.js';
import { abandonedParts, dropEarly, PARTS_DIR, recordCompares, sendEarly, splitTxn, type PartsView } from './split.js';
import { WatchSet } from './watches.js';

/** Options of {@link EtcdStorage}. */
export interface EtcdStorageOptions {
  /** Client URLs of the cluster's members, e.g. `['http://127.0.0.1:2379']`. */
  endpoints: readonly string[] | string;
  /** Every key of the store starts with it (default `config/`); several stores can share a cluster. */
  prefix?: string;
  /** User and password, when the cluster has authentication on. */
  auth?: { username: string; password: string };
  /** TLS: the CA that signed the members' certificates, and a client certificate and key. */
  tls?: { ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string };
  /** How long a call (and the first connection) may take before it fails with `E_IO` (ms, default 5000). */
  connectTimeoutMs?: number;
  /** etcd's request size limit (`--max-request-bytes`, default 1.5 MiB): larger commits are `E_TOO_LARGE`. */
  maxRequestBytes?: number;
  /** etcd's operations per transaction (`--max-txn-ops`, default 128). */
  maxTxnOps?: number;
  /** TTL of the lease behind this process's locks (seconds, default 10): a holder that stalls longer loses them. */
  leaseTtlSeconds?: number;
  /**
   * How often a watch checks that its member can still answer a linearizable read (ms, default
   * 1000); one that cannot within twice that (at most `connectTimeoutMs`) is left for the next
   * endpoint, the watch resuming from the last revision it delivered + 1.
   */
  watchHealthMs?: number;
}

const DEFAULT_MAX_REQUEST = 1.5 * 1024 * 1024;

/** The storage protocol on etcd. */
export class EtcdStorage implements Storage {
  readonly location: string;
  /** A commit resolves once a quorum of members has it on disk. */
  readonly durable = true;
  /** Commits compare what they change (see Storage.optimistic): single-file saves skip the lock's two writes. */
  readonly optimistic = true;
  private readonly client: EtcdClient;
  private readonly clientOptions: ClientOptions;
  private readonly layout: Layout;
  private readonly locks: EtcdLocks;
  private readonly markers: CommitMarkers;
  /** What the last reads saw: a commit right after them is staged on them (src/storage/etcd/recent.ts). */
  private readonly recent = new RecentReads();
  /** Lookups made together go as one transaction (src/storage/etcd/batch.ts). */
  private readonly lookups: Lookups;
  /** Reads made for a write, answered from memory where that is safe (src/storage/etcd/for-write.ts). */
  private readonly scopes: WriteScopes;
  private readonly endpoints: readonly string[];
  private readonly maxRequestBytes: number;
  private readonly maxTxnOps: number;
  /** The open watches and where each starts (src/storage/etcd/watches.ts). */
  private readonly watches: WatchSet;
  /** How a commit's keys are read from etcd (src/storage/etcd/reads.ts). */
  private readonly reads: CommitReads;
  private applied = '0';
  /** How each etcd call is made: errors, retries, the stale fallback (src/storage/etcd/calls.ts). */
  private readonly calls: EtcdCalls;

  /** Connects lazily: the first call reaches the cluster (or fails with `E_IO` naming the endpoints). */
  constructor(opts: EtcdStorageOptions) {
    this.endpoints = typeof opts.endpoints === 'string' ? opts.endpoints.split(',').map((e) => e.trim()) : [...opts.endpoints];
    if (this.endpoints.length === 0) throw new ConfigPersistenceError('E_INVALID_NAME', 'EtcdStorage needs at least one endpoint, e.g. http://127.0.0.1:2379.');
    const prefix = opts.prefix ?? 'config/';
    this.layout = new Layout(prefix);
    this.location = `etcd:${prefix}`;
    this.calls = new EtcdCalls(this.endpoints, (key) => this.describe(key));
    this.clientOptions = { endpoints: this.endpoints, auth: opts.auth, tls: opts.tls, callTimeoutMs: opts.connectTimeoutMs ?? 5000 };
    this.client = new EtcdClient(this.clientOptions);
    this.watches = new WatchSet(this.clientOptions, this.layout, opts.watchHealthMs ?? 1000);
    this.markers = new CommitMarkers(this.client, this.layout);
    this.locks = new EtcdLocks(this.client, this.layout, opts.leaseTtlSeconds ?? 10, (display) => this.sender(display));
    this.maxRequestBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST;
    this.maxTxnOps = opts.maxTxnOps ?? 128;
    this.reads = new CommitReads(this.client, this.layout, this.maxTxnOps);
    this.lookups = new Lookups(this.client, this.layout, Math.max(1, Math.floor(this.maxTxnOps / 2)));
    this.scopes = new WriteScopes(this.recent, () => this.applied);
  }

  /** The scoped write running now (readForWrite): the next one starts when it has ended. */
  private writing: Promise<unknown> = Promise.resolve();

  /**
   * Runs a write whose reads may be answered from what this storage's own last commit wrote (see
   * Storage.readForWrite and src/storage/etcd/for-write.ts): its commit compares them all, and is
   * refused with `StaleError` rather than staged again when one was stale.
   */
  readForWrite<R>(fn: (scoped: Storage) => Promise<R>): Promise<R> {
    // One at a time: the writes of one process all append to the same journals (the audit log,
    // the backup index), so two planned together fail each other's compare, and the loser is
    // planned again with fresh reads after a random pause — 16 saves of different files issued
    // together took 180-216 ms in 63-71 transactions, 54-75 ms in 16 one after another (measured).
    // In turn, each is planned on the commit before it and makes one transaction.
    const run = this.writing.then(() => fn(this.scopes.view(this)));
    this.writing = run.then(
      () => undefined,
      () => undefined, // its failure is its caller's; the next write goes on
    );
    return run;
  }

  /** The newest revision this process has applied (from its linearizable reads, commits and watches). */
  get appliedRevision(): string {
    return this.applied;
  }

  /**
   * Whether the last `read`/`readEntry`/`stat`/`list`/`fileNames` was answered by one member
   * without a quorum (the cluster had lost it, or was electing a leader for longer than the call's
   * timeout): the answer is the newest that member knows, possibly stale.
   */
  get lastReadStale(): boolean {
    return this.calls.stale;
  }

  /** `etcd:<prefix><key>`. */
  describe(key: string): string {
    return `${this.location}${key}`;
  }

  /** Content of `key` (a journal's records concatenated), or `undefined`. */
  async read(key: string, opts: ReadOptions = {}): Promise<Uint8Array | undefined> {
    return (await this.readEntry(key, opts))?.bytes;
  }

  /**
   * Content and metadata of `key`, read at one revision. A journal's records are read at its
   * header's revision; a compaction passing it in between (its answer: that revision is gone) means
   * reading both again.
   */
  async readEntry(key: string, opts: ReadOptions = {}): Promise<{ bytes: Uint8Array; entry: StorageEntry } | undefined> {
    keySegments(key);
    return againIfCompacted(() => this.readEntryOnce(key, opts));
  }

  private async readEntryOnce(key: string, opts: ReadOptions): Promise<{ bytes: Uint8Array; entry: StorageEntry } | undefined> {
    const { stored, revision, hasChildren, cached } = await this.calls.call('read', key, () => this.readGet(key, true));
    const linearizable = !this.calls.stale && !cached;
    if (!stored) {
      if (linearizable) this.recent.note(key, { stored: undefined, hasChildren });
      if (hasChildren) throw ioError('read', this.describe(key), Object.assign(new Error('EISDIR: is a directory'), { code: 'EISDIR' }));
      return undefined;
    }
    if (opts.maxBytes !== undefined && stored.header.s > opts.maxBytes) {
      const display = this.describe(key);
      throw new TooLargeError(`${display} is ${stored.header.s} bytes, over the limit of ${opts.maxBytes} (maxFileBytes). Shrink it or raise maxFileBytes.`, display);
    }
    if (stored.header.g === undefined) {
      if (linearizable) this.recent.note(key, { stored });
      return { bytes: Buffer.from(stored.body), entry: entryOf(key, stored) };
    }
    // At the header's revision. A header the cluster answered can still be followed by a quorum
    // lost (or an election outlasting the call) before its records: they then come from one member
    // too, flagged stale, like the header would have been a moment later.
    const records = await this.calls.orStale(
      (serializable) => this.calls.call('read', key, () => this.reads.records(key, stored, revision, serializable), { retry: !serializable }),
      !this.calls.stale, // a stale header: its records from one member at once, not after a linearizable read's timeout
    );
    if (linearizable && !this.calls.stale) this.recent.note(key, { stored, records });
    return { bytes: Buffer.concat(records), entry: entryOf(key, stored) };
  }

  /** Metadata of a key, or of a prefix other keys live under. */
  async stat(key: string): Promise<StorageEntry | undefined> {
    keySegments(key);
    const { stored, hasChildren, cached } = await this.calls.call('stat', key, () => this.readGet(key, false));
    const linearizable = !this.calls.stale && !cached;
    if (stored) {
      if (linearizable) this.recent.note(key, { stored });
      return entryOf(key, stored);
    }
    if (linearizable) this.recent.note(key, { stored: undefined, hasChildren });
    return hasChildren ? { key, name: key.slice(key.lastIndexOf('/') + 1), kind: 'directory', size: 0, mtimeMs: 0, revision: 'd' } : undefined;
  }

  /** Direct children of `prefix` (src/storage/etcd/listing.ts: the keys below, then the values of this level only). */
  async list(prefix: string): Promise<StorageEntry[]> {
    if (prefix !== '') keySegments(prefix);
    return this.calls.orStale((serializable) => listChildren(this.lister(prefix, serializable), prefix));
  }

  /** Names of the files directly in `prefix`, from their keys alone (Storage.fileNames). */
  async fileNames(prefix: string): Promise<string[]> {
    if (prefix !== '') keySegments(prefix);
    return this.calls.orStale((serializable) => fileNamesBelow(this.lister(prefix, serializable), prefix));
  }

  private lister(prefix: string, serializable: boolean): Lister {
    return { client: this.client, layout: this.layout, maxTxnOps: this.maxTxnOps, serializable, call: (fn) => this.calls.call('list', prefix || '.', fn, { retry: !serializable }) };
  }

  /**
   * Applies the commit as one transaction: the keys it touches are read at one revision, the
   * commit is staged on that view, and the transaction compares every key read (and every lock
   * this process holds) before writing. A compare that fails on a key the caller `expect`ed is
   * `E_CONFLICT`; on a held lock `E_LOCKED` (its lease expired); on any other key someone wrote
   * in between, so the commit is staged again on a fresh read.
   */
  async commit(commit: Commit): Promise<void> {
    validateCommitKeys(commit);
    const scope = this.scopes.take(this);
    for (let c = commit; ; ) {
      try {
        return await this.commitOnce(c, scope);
      } catch (err) {
        // Commit.cleanup is best effort: removals that do not fit the transaction are left for
        // the next pass rather than failing the commit (a save after maxBackups was lowered from
        // 200 to 5 was E_TOO_LARGE, and so was every save after it). Over the limit, nothing was
        // written: staged again with half of them, on fresh reads compared with the same scope.
        const keys = c.cleanup?.keys ?? [];
        if (!(err instanceof TooLargeError) || keys.length === 0) throw err;
        const kept = keys.slice(0, Math.floor(keys.length / 2));
        const keeping = new Set(kept);
        const keepAs = c.cleanup!.keepAs && new Map([...c.cleanup!.keepAs].filter(([k]) => keeping.has(k))); // each is read and compared too
        c = { ...c, cleanup: { ...c.cleanup!, keys: kept, ...(keepAs ? { keepAs } : {}) } };
      }
    }
  }

  private async commitOnce(commit: Commit, scope: WriteScope | undefined): Promise<void> {
    const key = firstKey(commit);
    const stale = (): StaleError => new StaleError(`${this.describe(key)} changed since this process last wrote it (the write was prepared on that); nothing was written. Read it again and retry.`, key);
    for (let attempt = 0; ; attempt++) {
      const lease = this.markers.lease(); // granted (rarely) while the keys are read
      lease.catch(() => undefined); // awaited below; a read failing first must not leave it unhandled
      // First staged on what this storage just read, when that covers the commit; then on a fresh read.
      const recent = attempt === 0 ? this.recent.lookup(commit) : undefined;
      const found = recent ?? (await this.calls.call('write', key, () => this.reads.forCommit(commit), { retry: true }));
      this.recent.forget(found.keys()); // changed by this commit, or its compare failed: read again next time
      // Prepared on answers from memory: a fresh read that disagrees with one means the plan is stale.
      if (!recent && scope?.speculated && [...scope.answers].some(([k, r]) => found.has(k) && (found.get(k)!.stored?.revision ?? null) !== r)) throw stale();
      checkExpectations(commit, found, (k) => this.describe(k));
      const staging = new Staging(found);
      try {
        staging.run(commit);
      } catch (err) {
        throw ioError('write', this.describe(key), err);
      }
      if (staging.next.size === 0) return;
      const now = Date.now();
      const { compare, ops, bytes, commitId } = toTxn(this.layout, found, staging.next, now, { guardChildren: recent !== undefined });
      const fences = [...this.locks.held.values()];
      // Locks this commit goes without: nobody else may hold them when it applies.
      const ours = new Set(fences.map((f) => f.name));
      const unheld = (commit.respectLocks ?? []).filter((name) => !ours.has(name)).map((name): Compare => ({ key: this.layout.lock(name), target: 'version', result: 'equal', value: '0' }));
      const guards = fences.length + unheld.length;
      const over = Math.max(compare.length + 1 + guards, ops.length + 1) > this.maxTxnOps;
      if (recent && over) {
        if (scope?.speculated) throw stale();
        continue; // its extra compares may be what does not fit: read and stage again
      }
      // Over the operation limit: the new backups go ahead in transactions of their own (split.ts).
      const split = over ? splitTxn(this.layout, commit, { found, next: staging.next }, { commitId, now, guardChildren: false, lease: await this.calls.call('write', key, () => this.locks.liveLease()), maxTxnOps: this.maxTxnOps }) : undefined;
      const last = split ? { compare: split.final.compare.length + split.early.length, ops: split.final.ops.length } : { compare: compare.length, ops: ops.length };
      const limits = { maxRequestBytes: this.maxRequestBytes, maxTxnOps: this.maxTxnOps };
      checkLimits(commit, { compares: last.compare + 1 + guards, ops: last.ops + 1, bytes, earlyKeys: split?.early.reduce((n, p) => n + p.keys.length, 0) }, limits, (k) => this.describe(k));
      const marker = this.markers.mark(commitId, await this.calls.call('write', key, () => lease));
      const landed = split ? await sendEarly(this.sender(this.describe(key)), this.layout, split.early, { commitId, applied: (r) => this.advance(r) }) : [];
      if (landed === undefined) {
        if (scope?.speculated) throw stale();
        continue; // a new backup's name was taken meanwhile: stage again
      }
      const drop = (): Promise<void> => dropEarly(this.client, this.layout, commitId, landed);
      const failure: TxnOp[] = [...fences.map((f) => ({ range: { key: f.compare.key } })), ...unheld.map((u) => ({ range: { key: u.key } }))];
      const finalCompare = [...(split?.final.compare ?? compare), ...recordCompares(this.layout, landed), marker.compare, ...fences.map((f) => f.compare), ...unheld];
      const finalOps = [...(split?.final.ops ?? ops), marker.op];
      const res = await sendOnce(this.sender(this.describe(key)), { commitId, compare: finalCompare, ops: finalOps, failure }, drop);
      if (res.succeeded) {
        this.advance(res.revision);
        this.recent.wrote(this.layout, finalOps, res.revision);
        return;
      }
      await drop();
      const lost = fences.find((f, i) => res.ranges[i]?.[0]?.lease !== f.compare.value);
      if (lost) throw new LockedError(`${this.describe(lost.name)}: this process lost its lock (its lease expired while it was stalled or cut off); nothing was written. Take the lock again and retry.`, lost.name);
      const taken = (commit.respectLocks ?? []).filter((name) => !ours.has(name)).find((_, i) => (res.ranges[fences.length + i]?.length ?? 0) > 0);
      if (taken !== undefined) throw new HeldLockError(`${this.describe(taken)} is locked by another process; nothing was written. Take the lock and retry.`, taken);
      if (scope?.speculated) throw stale(); // its plan may rest on what failed the compare: the caller reads again
      if (attempt >= 20) throw new StaleError(`${this.describe(key)} kept changing while this commit was prepared; nothing was written. Retry.`, key);
    }
  }

  /** How a transaction that must not be resent is sent (outcome.ts); `display` names what it writes. */
  private sender(display: string): Sender {
    return { client: this.client, clientOptions: this.clientOptions, markers: this.markers, where: this.calls.at(display), closing: () => this.calls.closing };
  }

  /** The early parts of split commits that never finished (see src/storage/etcd/split.ts), with their removal. */
  async findings(): Promise<StorageFinding[]> {
    const from = this.layout.docs(`${PARTS_DIR}/`);
    const { kvs } = await this.calls.call('verify', PARTS_DIR, () => this.client.range(from, { rangeEnd: prefixEnd(from) }), { retry: true });
    const view: PartsView = {
      records: kvs.map((kv) => ({ key: this.layout.keyOf(kv.key), revision: kv.modRevision, value: kv.value })),
      revisionOf: async (k) => (await this.calls.call('verify', k, () => this.reads.get(k), { retry: true })).stored?.revision,
      alive: async (id) => (await this.calls.call('verify', PARTS_DIR, () => this.client.range(this.layout.alive(id), { countOnly: true }), { retry: true })).count > 0,
    };
    return abandonedParts(view, (k) => this.describe(k));
  }

  /** A lease-backed lock shared by every process on the cluster; `E_LOCKED` after `timeoutMs` (default 10 s). */
  async lock(name: string, opts: LockOptions = {}): Promise<Release> {
    keySegments(name);
    const release = await this.calls.call('lock', name, () => this.locks.acquire(name, opts.timeoutMs ?? 10_000, this.describe(name)));
    return () => this.calls.call('unlock', name, release);
  }

  /**
   * The endpoint each open watch is on now, in the order they were opened (status and tests).
   * Watches start on a random endpoint and the next one for each further watch, so that the
   * streams of a fleet are spread over the members instead of all held by the first one listed.
   */
  get watchEndpoints(): string[] {
    return this.watches.endpoints;
  }

  /** Reports every committed change of `keys`, by any process, from the revision the watch was armed at. */
  async watch(keys: readonly string[], onEvent: (event: StorageWatchEvent) => void, onError: (error: Error) => void): Promise<StorageWatcher> {
    for (const key of keys) keySegments(key);
    const watch = this.watches.create(keys, { onEvent, onError, applied: (r) => this.advance(r) });
    try {
      await this.calls.call('watch', keys[0] ?? '.', () => watch.start());
    } catch (err) {
      await watch.close();
      throw err;
    }
    this.watches.add(watch);
    return {
      update: (next) => {
        for (const key of next) keySegments(key);
        return watch.update(next);
      },
      close: () => this.watches.close(watch),
    };
  }

  /** Stops watches, releases locks and the lease, closes the connection. */
  async close(): Promise<void> {
    this.calls.closing = true;
    await this.watches.closeAll();
    await this.locks.close().catch(() => undefined); // unreachable cluster: the lease expires on its own
    await this.client.close();
  }

  /** Compacts the cluster's history up to its current revision (operators and tests). */
  async compact(): Promise<string> {
    const { revision } = await this.calls.call('compact', '.', () => this.client.range(this.layout.docs('\0'), { countOnly: true }));
    await this.calls.call('compact', '.', () => this.client.compact(revision));
    return revision;
  }

  private advance(revision: string): void {
    if (BigInt(revision) > BigInt(this.applied)) this.applied = revision;
  }

  /**
   * A linearizable get of a key and whether other keys live below it, in one read-only
   * transaction (one round trip: a missing key is a file, a directory or nothing). When the
   * cluster cannot answer one (no quorum), the member-local state, flagged in
   * {@link lastReadStale}: reads still answer, and say that they may be stale.
   */
  private async readGet(key: string, content: boolean): Promise<Looked & { cached?: boolean }> {
    const cached = await this.scopes.look(this, key, content);
    if (cached) return { ...cached, cached: true };
    return this.calls.orStale(async (serializable) => {
      const got = await this.lookKey(key, serializable);
      if (!serializable) this.advance(got.revision); // a linearizable read has seen the store up to this revision
      return got;
    });
  }

  private lookKey(key: string, serializable = false): Promise<Looked> {
    return this.lookups.look(key, serializable);
  }
}
