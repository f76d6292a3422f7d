/**
 * Locks as etcd leases: a lock is the key `<prefix>l/<name>` put with this process's lease, only
 * when it does not exist (one transaction). A holder that dies or stalls past the lease's TTL loses
 * the key with the lease, and every commit it makes while it believes it holds the lock carries a
 * compare that the key is still attached to its lease: a stalled holder that wakes up cannot
 * overwrite what the next holder wrote (fencing).
 *
 * Taking a lock is a transaction whose answer can be lost like a commit's, and one that etcd
 * applied unseen would leave the key held by the lease this process keeps alive: every process,
 * this one included, would wait for it in vain. So each try carries a commit marker and goes
 * through {@link sendMarked} (outcome.ts): applied → the lock is held; not applied → it never will
 * be (a late delivery fails the marker's compare); unknown → the lease is given up, so whatever
 * it holds goes at its TTL at the latest.
 */
import { ConfigPersistenceError, LockedError } from '../../errors.js';
import type { Release } from '../types.js';
import type { Compare, EtcdClient } from './client.js';
import type { Layout } from './layout.js';
import { sendMarked, type Sender } from './outcome.js';
import { newCommitId } from './stage.js';
import { isTransient, READ_ATTEMPTS, READ_BACKOFF_MS, sleep } from './errors.js';

/** One held lock: the compare its holder's commits carry. */
export interface Fence {
  name: string;
  compare: Compare;
}

/** The locks one EtcdStorage holds. */
export class EtcdLocks {
  private lease: Promise<{ id: string; release(): Promise<void> }> | undefined;
  readonly held = new Map<Release, Fence>();

  constructor(
    private readonly client: EtcdClient,
    private readonly layout: Layout,
    private readonly ttlSeconds: number,
    /** How a try is sent, `display` naming the lock in errors. */
    private readonly sender: (display: string) => Sender,
  ) {}

  /** This process's lease, granted once and kept alive; a lost one is replaced on the next lock. */
  private leaseId(): Promise<{ id: string; release(): Promise<void> }> {
    this.lease ??= this.client.lease(this.ttlSeconds, () => {
      this.lease = undefined;
    });
    this.lease.catch(() => (this.lease = undefined));
    return this.lease;
  }

  /** The id of this process's kept-alive lease: what shows that a split commit's writer still lives (split.ts). */
  async liveLease(): Promise<string> {
    return (await this.leaseId()).id;
  }

  /**
   * Takes `name`, polling until `timeoutMs` has passed; `display` names it in the error. A try
   * known not to have applied that failed for a passing reason (an election, a reset connection)
   * is made again, like a read, a few times within the wait.
   */
  async acquire(name: string, timeoutMs: number, display: string): Promise<Release> {
    const deadline = Date.now() + timeoutMs;
    const key = this.layout.lock(name);
    let failures = 0;
    for (let wait = 10; ; wait = Math.min(wait * 2, 100)) {
      const how: Sender = { ...this.sender(display), action: 'lock' };
      const [{ id }] = await Promise.all([this.leaseId(), how.markers.lease()]);
      const free: Compare = { key, target: 'version', result: 'equal', value: '0' };
      const take = { put: { key, value: Buffer.from(String(process.pid)), lease: id } };
      let known = false; // known not to have applied
      const res = await sendMarked(how, newCommitId(Date.now()), { compare: [free], ops: [take] }, async () => {
        known = true;
      }).catch(async (err: unknown) => {
        if (!known) {
          await this.dropLease().catch(() => undefined); // maybe applied: the key must not outlive the lease's TTL
          throw err;
        }
        if (!isTransient(err as ConfigPersistenceError) || ++failures >= READ_ATTEMPTS || Date.now() > deadline) throw err;
        return undefined;
      });
      if (res?.succeeded) return this.holding(name, key, id, res.revision);
      if (Date.now() + wait > deadline) throw new LockedError(`${display} is locked by another holder; retry later.`, name);
      await sleep(res ? wait : READ_BACKOFF_MS * 2 ** (failures - 1) * (0.5 + Math.random()));
    }
  }

  /** `revision`: the one that put the key, so that a release delivered late cannot delete a later hold of this lease. */
  private holding(name: string, key: Buffer, leaseId: string, revision: string): Release {
    let released = false;
    const release: Release = async () => {
      if (released) return;
      released = true;
      this.held.delete(release);
      // Only our own key goes: a lock taken over after our lease expired stays with its holder.
      // Retried: a member lost under the call must not leave the key behind, held by a lease this
      // process keeps alive (every other process would wait for it in vain).
      for (let attempt = 0; ; attempt++) {
        try {
          await this.client.txn(
            [
              { key, target: 'lease', result: 'equal', value: leaseId },
              { key, target: 'mod', result: 'equal', value: revision },
            ],
            [{ deleteRange: { key } }],
          );
          return;
        } catch (err) {
          if (attempt >= 5) {
            await this.dropLease(); // the lock goes with the lease, at worst after its TTL
            throw err;
          }
          await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
        }
      }
    };
    this.held.set(release, { name, compare: { key, target: 'lease', result: 'equal', value: leaseId } });
    return release;
  }

  /** Gives up this process's lease: every lock held with it is gone once etcd sees the revoke or the TTL runs out. */
  private async dropLease(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await (await lease.catch(() => undefined))?.release();
  }

  /** Releases every lock and revokes the lease (like a process that exits). */
  async close(): Promise<void> {
    await Promise.all([...this.held.keys()].map((release) => release().catch(() => undefined))); // the lease revoke below drops them anyway
    await this.dropLease();
  }
}
