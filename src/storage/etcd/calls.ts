/**
 * How EtcdStorage makes each call to etcd: a failure becomes `E_IO` naming the key and the
 * endpoints, a read that failed for a passing reason is made again, and a read the cluster cannot
 * answer (no quorum) is answered by one member and flagged stale.
 */
import { ConfigPersistenceError } from '../../errors.js';
import { isCompacted } from './client.js';
import { etcdError, isTransient, READ_ATTEMPTS, READ_BACKOFF_MS, sleep } from './errors.js';

/** The calls of one EtcdStorage. */
export class EtcdCalls {
  /** Whether the last read through {@link orStale} was answered by one member without a quorum. */
  stale = false;
  /** Set by close(): a read being retried gives up instead of outliving the store. */
  closing = false;

  constructor(
    private readonly endpoints: readonly string[],
    private readonly describe: (key: string) => string,
  ) {}

  /** What an error names: `display` (a key as the storage describes it) and the endpoints. */
  at(display: string): string {
    return `${display} on ${this.endpoints.join(',')}`;
  }

  /**
   * Runs one etcd call; a failure becomes `E_IO` naming the endpoints (our own coded errors pass
   * through). A `retry` call only reads, so a transient failure (a leader election, a member that
   * timed out) is tried again a few times with backoff before it is reported. A commit's own
   * transaction does not go through here but through outcome.ts: it is never resent.
   */
  async call<R>(action: string, key: string, fn: () => Promise<R>, how: { retry?: boolean } = {}): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof ConfigPersistenceError) throw err;
        const wrapped = etcdError(action, this.at(this.describe(key)), err);
        if (!how.retry || attempt >= READ_ATTEMPTS || !isTransient(wrapped) || this.closing) throw wrapped;
        await sleep(READ_BACKOFF_MS * 2 ** (attempt - 1) * (0.5 + Math.random()));
      }
    }
  }

  /**
   * A read answered by the cluster (linearizable), or when it cannot answer (no quorum, an
   * election outlasting the call's timeout) by one member from what it has, flagged in
   * {@link stale} (EtcdStorage.lastReadStale). The member-local read is tried on up to every
   * endpoint: etcd3 sends each call to one host picked at random and gives up when that host is
   * down. Without `linearizableFirst` (a read that goes on from a stale answer) only the
   * member-local read.
   */
  async orStale<R>(read: (serializable: boolean) => Promise<R>, linearizableFirst = true): Promise<R> {
    let error: unknown;
    if (linearizableFirst) {
      try {
        const got = await read(false);
        this.stale = false;
        return got;
      } catch (err) {
        if (isCompacted(err)) throw err; // a revision gone, not a member short of its quorum: the caller reads again
        error = err;
      }
    }
    for (let attempt = 0; attempt < this.endpoints.length * 2 && !this.closing; attempt++) {
      const local = await read(true).then(
        (got) => ({ got }),
        (err: unknown) => void (error ??= err),
      );
      if (!local) continue;
      this.stale = true;
      return local.got;
    }
    throw error; // no member answers at all: the linearizable read's error says why
  }
}
