/**
 * Finding out what became of a commit whose answer was lost (a connection reset, a deadline, a
 * leader change after the transaction was sent): etcd may have applied it or not, and resending
 * it blindly could apply it twice. So every commit's transaction carries a marker of its own:
 *
 *   compare  version(<prefix>t/<commit id>) == 0      put  <prefix>t/<commit id> = "c"
 *
 * After a lost answer ONE question settles it, in a transaction of its own:
 *
 *   if version(t/<id>) == 0  then put t/<id> = "a"  else get t/<id>
 *
 * - the marker is there with "c": the commit was applied, at the marker's mod revision;
 * - it was not there: the "a" just written makes the commit's own compare fail from now on, so a
 *   transaction still on its way (held in a socket buffer, a proposal not yet applied) can never
 *   apply: nothing was written, and a retry is safe;
 * - "a": an earlier try of this question wrote it and its own answer was lost — not written either.
 * The question is idempotent, so it is asked again (on whichever member answers) a few times; when
 * no member answers within that bound, the outcome stays unknown. It is asked on a connection of its
 * own: its deadlines (a cluster without quorum) must not open the circuit breaker of the member that
 * still answers the storage's stale reads.
 *
 * Markers live on a lease of their own (TTL {@link MARKER_TTL_SECONDS}, never kept alive): etcd
 * deletes them by itself. A commit uses a lease with at least half its TTL left, so its marker (or
 * the "a" that blocks it) outlives by far any transaction still in flight and any question asked.
 */
import { EtcdClient, type ClientOptions, type Compare, type TxnOp, type TxnResult } from './client.js';
import { TooLargeError } from '../../errors.js';
import { etcdError, isAuthFailure, notSent, OUTCOME_ATTEMPTS, READ_BACKOFF_MS, refused, sleep } from './errors.js';
import type { Layout } from './layout.js';

/** How long a marker lives at most (s); a lease is used for commits during the first half. */
export const MARKER_TTL_SECONDS = 120;

/** What the question found: applied at `revision`, or not applied and never to be. */
export type Outcome = { applied: true; revision: string } | { applied: false };

/** The markers of one EtcdStorage's commits. */
export class CommitMarkers {
  private current: { id: string; grantedAt: number } | undefined;
  private granting: Promise<string> | undefined;

  constructor(
    private readonly client: EtcdClient,
    private readonly layout: Layout,
  ) {}

  /** A lease with at least half its TTL left (a new one is granted, through `client`, when the last is older). */
  lease(client: EtcdClient = this.client): Promise<string> {
    const now = Date.now();
    if (this.current && now - this.current.grantedAt < (MARKER_TTL_SECONDS * 1000) / 2) return Promise.resolve(this.current.id);
    this.granting ??= client
      .grant(MARKER_TTL_SECONDS)
      .then((id) => {
        this.current = { id, grantedAt: now }; // measured before the grant was sent: the lease lives at least this long
        return id;
      })
      .finally(() => (this.granting = undefined));
    return this.granting;
  }

  /** The compare and the put that mark commit `id` in its transaction. */
  mark(id: string, lease: string): { compare: Compare; op: TxnOp } {
    const key = this.layout.marker(id);
    return { compare: { key, target: 'version', result: 'equal', value: '0' }, op: { put: { key, value: Buffer.from('c'), lease } } };
  }

  /**
   * Asks once, through `client`, whether commit `id` was applied, blocking it for good if it was not
   * (see the file's comment).
   */
  async ask(client: EtcdClient, id: string, timeoutMs: number): Promise<Outcome> {
    const key = this.layout.marker(id);
    const lease = await this.lease(client);
    const res = await client.txn([{ key, target: 'version', result: 'equal', value: '0' }], [{ put: { key, value: Buffer.from('a'), lease } }], [{ range: { key } }], { timeoutMs });
    if (res.succeeded) return { applied: false };
    const kv = res.ranges[0]?.[0];
    if (!kv) throw new Error(`the marker ${key.toString()} exists but could not be read`); // one transaction: cannot happen
    return kv.value.toString() === 'c' ? { applied: true, revision: kv.modRevision } : { applied: false };
  }
}

/**
 * Whether commit `commitId` was applied, asked up to {@link OUTCOME_ATTEMPTS} times; `undefined`
 * when no member could say (or the storage is `closing`).
 */
export async function askOutcome(clientOptions: ClientOptions, markers: CommitMarkers, commitId: string, closing: () => boolean): Promise<Outcome | undefined> {
  // A connection of its own, so that its deadlines leave the storage's circuit breakers alone (see client.ts).
  const asking = new EtcdClient(clientOptions);
  try {
    let deadlines = 0;
    for (let attempt = 1; attempt <= OUTCOME_ATTEMPTS && !closing(); attempt++) {
      try {
        return await markers.ask(asking, commitId, clientOptions.callTimeoutMs);
      } catch (err) {
        // Two deadlines: no quorum, most likely (a frozen member fails one, the next try goes elsewhere).
        if (/deadline/i.test(err instanceof Error ? err.message : String(err)) && ++deadlines >= 2) return undefined;
        await sleep(READ_BACKOFF_MS * 2 ** (attempt - 1) * (0.5 + Math.random()));
      }
    }
    return undefined;
  } finally {
    await asking.close();
  }
}

/** What {@link sendOnce} needs of its storage. */
export interface Sender {
  client: EtcdClient;
  clientOptions: ClientOptions;
  markers: CommitMarkers;
  /** The key and endpoints, for messages. */
  where: string;
  /** What the transaction does, for messages ("write" unless said). */
  action?: string;
  /** The storage is closing: a question being retried gives up. */
  closing: () => boolean;
}

/**
 * Sends a commit's transaction once (here, beside the markers it relies on, rather than in
 * etcd.ts: it is the one call that is never resent). When its answer is lost after it was sent,
 * the commit's marker says what became of it: applied → as if the answer had arrived; not applied
 * → `E_IO` saying nothing was written (it can no longer apply: retrying is safe); no member
 * answers the question → `E_IO` saying the outcome is unknown. `notApplied` runs first whenever
 * the transaction is known not to have applied (split.ts takes early parts back there).
 */
export async function sendOnce(how: Sender, txn: { commitId: string; compare: Compare[]; ops: TxnOp[]; failure: TxnOp[] }, notApplied: () => Promise<void>): Promise<Pick<TxnResult, 'succeeded' | 'revision' | 'ranges'>> {
  try {
    return await how.client.txn(txn.compare, txn.ops, txn.failure);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // Never sent, or refused by etcd itself: nothing applied, and nothing to ask.
    if (notSent(message) || isAuthFailure(err) || refused(err)) {
      await notApplied();
      if (/request is too large|too many operations/i.test(message)) {
        // The cluster's limits are below the ones this storage was told (maxRequestBytes, maxTxnOps).
        throw new TooLargeError(`${how.where}: etcd refused the commit as over its limits (${message.replace(/^\d+ [A-Z_]+: /, '')}): its --max-request-bytes / --max-txn-ops are below this storage's maxRequestBytes / maxTxnOps; nothing was written. Tell the storage the cluster's limits, or raise them on the cluster.`);
      }
      throw etcdError(how.action ?? 'write', how.where, err, 'unsent');
    }
    const outcome = await askOutcome(how.clientOptions, how.markers, txn.commitId, how.closing);
    if (outcome === undefined) throw etcdError(how.action ?? 'write', how.where, err, 'unknown');
    if (!outcome.applied) {
      await notApplied();
      throw etcdError(how.action ?? 'write', how.where, err, 'not-applied');
    }
    return { succeeded: true, revision: outcome.revision, ranges: [] };
  }
}

/**
 * {@link sendOnce} for a transaction that is not a commit (a lock's try, a split commit's early
 * part): marked here under `id`, on the markers' lease.
 */
export async function sendMarked(how: Sender, id: string, txn: { compare: Compare[]; ops: TxnOp[] }, notApplied: () => Promise<void>): Promise<Pick<TxnResult, 'succeeded' | 'revision' | 'ranges'>> {
  const marker = how.markers.mark(id, await how.markers.lease());
  return sendOnce(how, { commitId: id, compare: [...txn.compare, marker.compare], ops: [...txn.ops, marker.op], failure: [] }, notApplied);
}
